"""Report section 4a: zero-shot translation into English, its scores, correlations and examples."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from regpt2.analysis import published as study
from regpt2.core.stats import correlate
from regpt2.report.document import DASH, Block, Plot, Section, Table
from regpt2.report.figures import OURS, STUDY, new_figure, png_bytes, scatter_with_fit
from regpt2.report.formatting import fmt, fmt_corr, language_cell, make_table, not_run, xnli_order
from regpt2.report.inputs import Context, Inputs

CORRELATION_NAMES = {
    "nli_zeroshot": "zero-shot NLI accuracy",
    "nli_finetuned": "per-language NLI accuracy",
    "fertility_gpt2": "GPT-2 fertility",
}


def translation_section(ctx: Context, section: Section) -> None:
    data = ctx.inputs.translate()
    if not data or not data.get("languages"):
        section.blocks.append(not_run("translate", "metrics/translate.json"))
        section.status = "not run"
        return
    languages = data["languages"]
    zeroshot = ctx.inputs.zeroshot_accuracy()
    rows = []
    for lang in xnli_order(languages):
        m = languages[lang]
        published = study.TRANSLATION.get(lang, {})
        rows.append(
            (
                language_cell(lang),
                f"`{m.get('template', '')}`".replace("\n", "\\n"),
                fmt(m.get("n")),
                fmt(m.get("grammar")),
                fmt(m.get("meaning")),
                fmt(m.get("chrf"), 1),
                fmt(m.get("bleu"), 1),
                fmt(published.get("grammar")),
                fmt(published.get("meaning")),
                fmt(zeroshot.get(lang)),
            )
        )
    section.blocks.append(
        make_table(
            (
                "Language",
                "Template",
                "n",
                "Grammar",
                "Meaning",
                "chrF",
                "BLEU",
                "Study grammar",
                "Study meaning",
                "Zero-shot NLI",
            ),
            rows,
            caption="Translation scores (pretrained GPT-2, sampled, seeded)",
            note="Grammar and meaning: the study's 1-5 heuristics (surface checks and word "
            "overlap); chrF and BLEU (0-100, sacrebleu) are real MT metrics. Signatures: "
            + "; ".join(f"{k} `{v}`" for k, v in data.get("signatures", {}).items()),
        )
    )
    section.blocks.append(translation_correlation_table(ctx.inputs))
    examples = translation_examples_table(ctx.inputs.json("data/translate/examples.json"))
    if examples:
        section.blocks.append(examples)
    section.blocks.append(translation_plot(languages, zeroshot))


def translation_correlation_table(inputs: Inputs) -> Block:
    table = inputs.correlations("translate")
    rows = []
    for score, others in (table or {}).items():
        for other, stats in others.items():
            rows.append((score, CORRELATION_NAMES.get(other, other), fmt_corr(stats)))
    published = {
        lang: (study.TRANSLATION[lang]["grammar"], study.ZEROSHOT[lang])
        for lang in study.TRANSLATION
    }
    recomputed = correlate(*zip(*published.values(), strict=True))
    rows += [
        (
            "study: grammar",
            "NLI accuracy (reported)",
            f"Pearson r = {study.TRANSLATION_GRAMMAR_NLI_PEARSON}",
        ),
        (
            "study: grammar",
            "zero-shot NLI accuracy (recomputed from its tables)",
            fmt_corr(recomputed),
        ),
    ]
    if not table:
        rows.insert(0, ("this run", DASH, "metrics/translate_correlations.json is missing"))
    return make_table(
        ("Score", "Against", "Correlation across languages"),
        rows,
        caption="Translation scores vs per-language numbers",
    )


def _clip(text: str, limit: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def translation_examples_table(examples: Mapping[str, Any] | None) -> Table | None:
    rows = []
    for lang in xnli_order(examples or {}):
        items = (examples[lang] or {}).get("examples") or []
        if items:
            first = items[0]
            rows.append(
                (
                    lang,
                    _clip(first.get("source", "")),
                    _clip(first.get("reference", "")),
                    _clip(first.get("output", "")),
                    fmt(first.get("grammar")),
                    fmt(first.get("meaning")),
                )
            )
    if not rows:
        return None
    return make_table(
        ("Lang", "Source", "Reference", "GPT-2 output", "Grammar", "Meaning"),
        rows,
        caption="One translation per language (the first evaluated row)",
    )


def translation_plot(languages: Mapping[str, Any], zeroshot: Mapping[str, float]) -> Plot:
    fig, axes = new_figure(14, 4.4, ncols=3)
    panels = (
        (axes[0], "grammar", "grammar heuristic (1-5)", "This run: grammar"),
        (axes[1], "chrf", "chrF (0-100)", "This run: chrF"),
    )
    for ax, key, label, title in panels:
        points = {
            lang: (m.get(key, math.nan), zeroshot.get(lang, math.nan))
            for lang, m in languages.items()
        }
        scatter_with_fit(ax, points, color=OURS)
        ax.set(xlabel=label, ylabel="zero-shot NLI accuracy (%)", title=title)
    published = {
        lang: (values["grammar"], study.ZEROSHOT[lang])
        for lang, values in study.TRANSLATION.items()
    }
    scatter_with_fit(axes[2], published, color=STUDY)
    axes[2].set(
        xlabel="grammar heuristic (1-5)",
        ylabel="zero-shot NLI accuracy (%)",
        title=f"Study: grammar (reported r = {study.TRANSLATION_GRAMMAR_NLI_PEARSON})",
    )
    fig.suptitle("Translation quality vs NLI accuracy")
    return Plot(
        "translation_vs_nli",
        png_bytes(fig),
        "Per-language translation scores against zero-shot NLI accuracy, with least-squares "
        "lines; right: the study's grammar scores against its zero-shot accuracy.",
    )
