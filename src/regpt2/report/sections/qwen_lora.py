"""Report section 4c: the LoRA-tuned modern multilingual model against GPT-2, per language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regpt2.analysis import published as study
from regpt2.report.document import DASH, Paragraph, Plot, Section, model_name
from regpt2.report.figures import (
    GREY,
    OURS,
    STUDY,
    bars,
    chance_line,
    ci_intervals,
    markers,
    new_figure,
    png_bytes,
)
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
from regpt2.report.sections.zeroshot import floor_cell


def qwen_section(ctx: Context, section: Section) -> None:
    data = ctx.inputs.qwen_lora()
    if not data or not data.get("languages"):
        section.blocks.append(not_run("qwen_lora_test", "metrics/qwen_lora.json"))
        section.status = "not run"
        return
    languages = data["languages"]
    gpt2 = ctx.inputs.zeroshot()
    same_base = ctx.sources.get("qwen") == ctx.sources.get("gpt2")
    floor = ctx.inputs.untuned("qwen") or (ctx.inputs.untuned("gpt2") if same_base else {})
    paired = (ctx.inputs.json("data/analysis/tests.json") or {}).get("lora_vs_zeroshot", {})
    rows = []
    for lang in xnli_order(languages):
        m = languages[lang]
        study_gpt2, study_qwen = study.ZEROSHOT.get(lang), study.QWEN_LORA.get(lang)
        gpt2_accuracy = m.get("gpt2_zeroshot_strict_accuracy")
        change = paired.get(lang)
        rows.append(
            (
                language_cell(lang),
                accuracy_ci(gpt2.get(lang)) if lang in gpt2 else fmt(gpt2_accuracy),
                accuracy_ci(m),
                floor_cell(floor.get(lang)),
                f"{fmt_signed(change['estimate'])} [{fmt(change['ci95_low'], 1)}, "
                f"{fmt(change['ci95_high'], 1)}]"
                if change
                else fmt_signed(m.get("change_vs_gpt2")),
                fmt(study_gpt2 if study_qwen else None),
                fmt(study_qwen),
                fmt_signed(study_qwen - study_gpt2) if study_qwen and study_gpt2 else DASH,
            )
        )
    section.blocks += [
        Paragraph(
            f"LoRA: {fmt(data.get('trainable_parameters'))} trainable of "
            f"{fmt(data.get('total_parameters'))} parameters; {fmt(data.get('steps'))} steps, "
            f"train loss {fmt(data.get('train_loss'), 4)}, bf16 {fmt(data.get('bf16'))}, "
            f"{fmt(data.get('train_seconds'), 0)} s."
        ),
        make_table(
            (
                "Language",
                "GPT-2 side [95% CI]",
                "LoRA model [95% CI]",
                "LoRA base untuned (floor)",
                "Paired change [95% CI]",
                "Study GPT-2",
                "Study Qwen2.5",
                "Study change",
            ),
            rows,
            caption=f"Zero-shot accuracy: {model_name(ctx.sources, 'qwen')} with LoRA on English "
            f"vs {model_name(ctx.sources, 'gpt2')} fine-tuned on English",
            note=(
                "Both sides are the same base model here, so this compares LoRA with full "
                "fine-tuning, not a modern model with GPT-2 (the findings say so). "
                if same_base
                else ""
            )
            + "Paired change: on the rows both models scored, with a bootstrap over premises. "
            "Floor: the LoRA model's base before any fine-tuning. The study reported only en, "
            "th, ar, de and zh.",
        ),
        qwen_plot(gpt2, languages),
    ]


def qwen_plot(gpt2: Mapping[str, Mapping[str, Any]], lora: Mapping[str, Mapping[str, Any]]) -> Plot:
    langs = xnli_order(lora)
    fig, (ax,) = new_figure(10, 4.2)
    offsets = bars(
        ax,
        langs,
        [
            (
                "GPT-2 (95% CI)",
                {k: v["strict_accuracy"] for k, v in gpt2.items()},
                ci_intervals(gpt2),
                GREY,
            ),
            (
                "LoRA model (95% CI)",
                {k: v["strict_accuracy"] for k, v in lora.items()},
                ci_intervals(lora),
                OURS,
            ),
        ],
    )
    study_gpt2 = {lang: study.ZEROSHOT[lang] for lang in study.QWEN_LORA}
    markers(ax, langs, study_gpt2, offsets[0], marker="x", color="black", s=30, label="study GPT-2")
    markers(
        ax, langs, study.QWEN_LORA, offsets[1], marker="D", color=STUDY, s=30, label="study Qwen2.5"
    )
    chance_line(ax)
    ax.set(
        xlabel="language",
        ylabel="test accuracy (%)",
        ylim=(0, 100),
        title="GPT-2 vs the LoRA model, zero-shot from English",
    )
    ax.legend(fontsize=8, ncols=3, loc="upper right")
    return Plot(
        "gpt2_vs_lora",
        png_bytes(fig),
        "Zero-shot test accuracy of the two English-tuned models by language; markers: the "
        "study's published numbers (5 languages).",
    )
