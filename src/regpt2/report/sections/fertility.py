"""Report section 3b: tokenizer fertility per language and the study's language selection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

from regpt2.analysis import published as study
from regpt2.report.document import Block, Paragraph, Plot, Section
from regpt2.report.figures import (
    OURS,
    PALETTE,
    STUDY,
    bars,
    chance_line,
    markers,
    new_figure,
    png_bytes,
    scatter_with_fit,
)
from regpt2.report.formatting import fmt, language_cell, make_table, not_run, xnli_order
from regpt2.report.inputs import Context


def fertility_section(ctx: Context, section: Section) -> None:
    data = ctx.inputs.json("metrics/fertility.json")
    if not data:
        section.blocks.append(not_run("fertility", "metrics/fertility.json"))
        section.status = "not run"
        return
    tokenizers = list(data)
    tiers = ctx.inputs.tiers()
    langs = xnli_order(lang for values in data.values() for lang in values)
    columns = ["Language"]
    for name in tokenizers:
        columns += [f"{name} /word", f"{name} /seg. word"]
    columns += ["gpt2 vs en", "Study /word", "FLORES vs en (ref.)", "Tier", "Study tier"]
    rows = []
    for lang in langs:
        row = [language_cell(lang)]
        for name in tokenizers:
            values = data[name].get(lang, {})
            row += [
                fmt(values.get("tokens_per_word")),
                fmt(values.get("tokens_per_segmented_word")),
            ]
        study_tier = (
            study.study_tier(study.FERTILITY[lang], study.ZEROSHOT[lang])
            if lang in study.FERTILITY and lang in study.ZEROSHOT
            else None
        )
        row += [
            fmt(data.get("gpt2", {}).get(lang, {}).get("tokens_vs_en")),
            fmt(study.FERTILITY.get(lang)),
            fmt(study.FLORES_TOKENS_VS_EN.get(lang)),
            fmt(tiers.get(lang)),
            fmt(study_tier),
        ]
        rows.append(row)
    section.blocks.append(
        make_table(
            columns,
            rows,
            caption="Fertility: tokens per whitespace word (/word) and per segmented word",
            note="nli_model: the tokenizer of the model the NLI stages fine-tune (sources.gpt2; "
            "GPT-2's own in the paper profile); this run's tiers and claim 2 use it. Segmented "
            "words use a real word segmenter for zh and th (whitespace words are meaningless "
            "there). The study measured XNLI-MT training rows, which are punctuation-tokenized; "
            "FLORES: Petrov et al. 2023, tokens relative to English.",
        )
    )
    section.blocks += selection_blocks(ctx.inputs.selection())
    section.blocks.append(fertility_bars_plot(data))
    own = ctx.inputs.fertility(tokenizer="nli_model") or ctx.inputs.fertility()
    plot = fertility_scatter_plot(own, ctx.inputs.zeroshot_accuracy())
    if plot:
        section.blocks.append(plot)
    else:
        section.blocks.append(not_run("zeroshot (fertility vs accuracy)", "metrics/zeroshot.json"))
        section.status = "partial"


def selection_blocks(selection: Mapping[str, Any] | None) -> list[Block]:
    if not selection:
        return [not_run("fertility (selection)", "metrics/selection.json")]

    def codes(key: str) -> str:
        return ", ".join(selection.get(key, [])) or "none"

    return [
        Paragraph(
            f"Tier rule (the study's): Tier 1 fertility < {study.TIER1_MAX_FERTILITY} and "
            f"zero-shot > {study.TIER1_MIN_ACCURACY:.0f}%; Tier 3 fertility > "
            f"{study.TIER3_MIN_FERTILITY} and zero-shot < {study.TIER3_MAX_ACCURACY:.0f}%; "
            "else Tier 2, on the fertility of the fine-tuned model's own tokenizer. Proposed by "
            "the rule on this run's numbers: "
            f"{codes('proposed_by_rule')}. "
            f"Fine-tuned (params): {codes('finetune_list')}. Proposed but not fine-tuned: "
            f"{codes('proposed_but_not_in_list')}. Fine-tuned although Tier 3: "
            f"{codes('in_list_but_tier_3')}. The study chose {', '.join(study.SELECTED_LANGUAGES)}."
        )
    ]


def fertility_bars_plot(data: Mapping[str, Mapping[str, Any]]) -> Plot:
    langs = xnli_order(lang for values in data.values() for lang in values)
    series = []
    for (name, values), color in zip(data.items(), PALETTE, strict=False):
        series.append(
            (
                f"{name}, whitespace words",
                {k: v["tokens_per_word"] for k, v in values.items()},
                {},
                color,
            )
        )
    fig, (ax,) = new_figure(10, 4.2)
    offsets = bars(ax, langs, series)
    segmented = {
        k: v["tokens_per_segmented_word"]
        for k, v in data.get("gpt2", {}).items()
        if v.get("tokens_per_segmented_word") != v.get("tokens_per_word")
    }
    markers(
        ax,
        langs,
        segmented,
        offsets[0],
        marker="v",
        color="black",
        s=30,
        label="gpt2, segmented words (zh, th)",
    )
    markers(
        ax, langs, study.FERTILITY, offsets[0], marker="D", color=STUDY, s=30, label="study (GPT-2)"
    )
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.5)
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set(
        xlabel="language",
        ylabel="tokens per word (log scale)",
        title="Tokenizer fertility by language",
    )
    ax.legend(fontsize=8)
    return Plot(
        "fertility",
        png_bytes(fig),
        "Tokens per whitespace word by language and tokenizer (log scale); triangles: GPT-2 per "
        "segmented word where it differs; red diamonds: the study's GPT-2 figures.",
    )


def fertility_scatter_plot(
    fertility: Mapping[str, float], accuracy: Mapping[str, float]
) -> Plot | None:
    ours = {lang: (fertility[lang], accuracy[lang]) for lang in fertility if lang in accuracy}
    if not ours:
        return None
    published = {
        lang: (study.FERTILITY[lang], study.ZEROSHOT[lang])
        for lang in study.FERTILITY
        if lang in study.ZEROSHOT
    }
    fig, axes = new_figure(12, 4.6, ncols=2)
    for ax, points, color, title, tokens in (
        (axes[0], ours, OURS, "This run", "the fine-tuned model's"),
        (axes[1], published, STUDY, "Study (published)", "GPT-2"),
    ):
        scatter_with_fit(ax, points, color=color, log_x=True)
        chance_line(ax)
        ax.set(
            xlabel=f"{tokens} tokens per whitespace word (log scale)",
            ylabel="zero-shot test accuracy (%)",
            title=title,
        )
    fig.suptitle("Fertility vs zero-shot accuracy")
    return Plot(
        "fertility_vs_zeroshot",
        png_bytes(fig),
        "Fertility vs zero-shot accuracy, with a least-squares line on log10 fertility; Pearson r "
        "is on log10 fertility, Spearman r on ranks (scale-free).",
    )
