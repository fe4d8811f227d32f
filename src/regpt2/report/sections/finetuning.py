"""Report section 3c: per-language and all-language fine-tuning against zero-shot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regpt2.analysis import published as study
from regpt2.report.document import DASH, Plot, Section, Table, model_name
from regpt2.report.figures import GREY, OURS, bars, chance_line, ci_intervals, new_figure, png_bytes
from regpt2.report.formatting import (
    accuracy_ci,
    fmt,
    fmt_signed,
    language_cell,
    make_table,
    not_run,
    xnli_order,
)
from regpt2.report.inputs import Context


def finetuning_section(ctx: Context, section: Section) -> None:
    per_language = ctx.inputs.per_language()
    all_languages = ctx.inputs.finetune_all()
    zeroshot = ctx.inputs.zeroshot_accuracy()
    tests = ctx.inputs.json("data/analysis/tests.json") or {}
    base = model_name(ctx.sources, "gpt2")
    if per_language:
        start = (
            f"{base} fine-tuned on English first (a deviation from the study)"
            if ctx.deviation("finetune_per_lang.start")
            else f"pretrained {base}"
        )
        paired = tests.get("per_language_vs_zeroshot", {})
        section.blocks.append(
            per_language_table(per_language, zeroshot, ctx.inputs.tiers(), paired, start)
        )
    else:
        section.blocks.append(not_run("finetune_per_lang_test", "metrics/finetune_per_lang/*.json"))
    if all_languages:
        paired = tests.get("all_languages_vs_zeroshot", {})
        section.blocks.append(all_language_table(all_languages, zeroshot, paired, base))
    else:
        section.blocks.append(not_run("finetune_all_test", "metrics/finetune_all.json"))
    if not per_language and not all_languages:
        section.status = "not run"
        return
    if not per_language or not all_languages:
        section.status = "partial"
    section.blocks.append(finetuning_plot(ctx.inputs.zeroshot(), per_language, all_languages))


def paired_cell(test: Mapping[str, Any] | None, fallback: Any) -> str:
    """A paired difference with its interval, `+1.2 [-0.8, 3.4]`; the plain change without one."""
    if not test:
        return fmt_signed(fallback)
    return (
        f"{fmt_signed(test['estimate'])} [{fmt(test['ci95_low'], 1)}, {fmt(test['ci95_high'], 1)}]"
    )


def per_language_table(
    per_language: Mapping[str, Mapping[str, Any]],
    zeroshot: Mapping[str, float],
    tiers: Mapping[str, int],
    paired: Mapping[str, Any] | None = None,
    start: str = "pretrained GPT-2",
) -> Table:
    paired = paired or {}
    rows = []
    for lang in xnli_order(per_language):
        m = per_language[lang]
        base = m.get("zeroshot_strict_accuracy", zeroshot.get(lang))
        change = m.get("change_vs_zeroshot")
        reported = study.PER_LANGUAGE_REPORTED.get(lang)
        study_zero = study.ZEROSHOT.get(lang)
        rows.append(
            (
                language_cell(lang),
                fmt(tiers.get(lang)),
                f"{fmt(m.get('fraction'))}\u00a0{m.get('mode', '')}".strip(),
                fmt(m.get("train_examples")),
                fmt(base),
                accuracy_ci(m.get("test")),
                paired_cell(paired.get(lang), change),
                fmt(reported),
                fmt(study.PER_LANGUAGE_NOTEBOOK.get(lang)),
                fmt_signed(reported - study_zero) if reported and study_zero else DASH,
            )
        )
    return make_table(
        (
            "Language",
            "Tier",
            "Fraction",
            "Train rows",
            "Zero-shot",
            "Per-language [95% CI]",
            "Change, paired [95% CI]",
            "Study (write-up)",
            "Study (notebook)",
            "Study change",
        ),
        rows,
        caption=f"Per-language fine-tuning: {start}, then each language's own rows",
        note="The study used the first 1% of rows (3,927); change = fine-tuned minus zero-shot "
        "strict accuracy on the rows both scored, with a bootstrap over premises; the study's "
        "change uses its write-up numbers.",
    )


def all_language_table(
    data: Mapping[str, Any],
    zeroshot: Mapping[str, float],
    paired: Mapping[str, Any] | None = None,
    base: str = "GPT-2",
) -> Table:
    paired = paired or {}
    trained = set(data.get("trained_on", []))
    languages = data.get("languages", {})
    rows = []
    for lang in xnli_order(languages):
        m = languages[lang]
        notebook = study.ALL_LANGUAGE_NOTEBOOK.get(lang)
        study_zero = study.ZEROSHOT.get(lang)
        rows.append(
            (
                language_cell(lang),
                "yes" if lang in trained else "no",
                fmt(zeroshot.get(lang)),
                accuracy_ci(m),
                paired_cell(paired.get(lang), m.get("change_vs_zeroshot")),
                fmt_signed(m.get("change_vs_per_language")),
                fmt(notebook),
                fmt_signed(notebook - study_zero) if notebook and study_zero else DASH,
            )
        )
    return make_table(
        (
            "Language",
            "Trained on",
            "Zero-shot",
            "All-language [95% CI]",
            "vs zero-shot, paired [95% CI]",
            "vs per-language",
            "Study (notebook)",
            "Study vs zero-shot",
        ),
        rows,
        caption=(
            f"All-language fine-tuning: one {base} on {', '.join(data.get('trained_on', []))} "
            f"({fmt(data.get('train_examples'))} rows, {fmt(data.get('train_truncated'))} "
            "truncated)"
        ),
        note="The study's all-language numbers come from its notebook; the write-up never "
        "reported them.",
    )


def finetuning_plot(
    zeroshot: Mapping[str, Mapping[str, Any]],
    per_language: Mapping[str, Mapping[str, Any]],
    all_data: Mapping[str, Any] | None,
) -> Plot:
    all_languages = (all_data or {}).get("languages", {})
    trained = set((all_data or {}).get("trained_on", [])) | set(per_language)
    langs = xnli_order(lang for lang in trained if lang in zeroshot or lang in per_language)
    per_lang_metrics = {lang: m["test"] for lang, m in per_language.items() if "test" in m}
    fig, axes = new_figure(12, 4.4, ncols=2)
    bars(
        axes[0],
        langs,
        [
            (
                "zero-shot",
                {k: v["strict_accuracy"] for k, v in zeroshot.items()},
                ci_intervals(zeroshot),
                GREY,
            ),
            (
                "per-language",
                {k: v["strict_accuracy"] for k, v in per_lang_metrics.items()},
                ci_intervals(per_lang_metrics),
                OURS,
            ),
            (
                "all-language",
                {k: v["strict_accuracy"] for k, v in all_languages.items()},
                ci_intervals(all_languages),
                "#ff7f0e",
            ),
        ],
    )
    study_langs = xnli_order(study.ALL_LANGUAGE_NOTEBOOK)
    bars(
        axes[1],
        study_langs,
        [
            ("zero-shot", dict(study.ZEROSHOT), {}, GREY),
            ("per-language (write-up)", dict(study.PER_LANGUAGE_REPORTED), {}, OURS),
            ("all-language (notebook)", dict(study.ALL_LANGUAGE_NOTEBOOK), {}, "#ff7f0e"),
        ],
    )
    for ax, title in ((axes[0], "This run (95% CI)"), (axes[1], "Study (published)")):
        chance_line(ax)
        ax.set(xlabel="language", ylabel="test accuracy (%)", ylim=(0, 100), title=title)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle("Zero-shot vs per-language vs all-language fine-tuning")
    return Plot(
        "finetuning_comparison",
        png_bytes(fig),
        "Test accuracy of the zero-shot, per-language and all-language models by language; "
        "left this run with 95% intervals, right the study's numbers.",
    )
