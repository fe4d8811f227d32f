"""Report section 3a: zero-shot transfer of the English model to every XNLI language."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from regpt2.analysis import published as study
from regpt2.report.document import DASH, Plot, Section, model_name
from regpt2.report.figures import (
    OURS,
    OURS_LIGHT,
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


def _top_prediction(evaluation: Mapping[str, Any] | None) -> str:
    """The most frequent strict prediction and its share: a constant predictor shows ~100%."""
    if not evaluation or "confusion_strict" not in evaluation:
        return DASH
    matrix = np.asarray(evaluation["confusion_strict"], dtype=float)
    totals = matrix.sum(axis=0)
    if totals.sum() == 0:
        return DASH
    labels = [*evaluation.get("labels", []), "non-label"]
    top = int(totals.argmax())
    name = labels[top] if top < len(labels) else str(top)
    return f"{name} {100 * totals[top] / totals.sum():.0f}%"


def zeroshot_section(ctx: Context, section: Section) -> None:
    zeroshot = ctx.inputs.zeroshot()
    if not zeroshot:
        section.blocks.append(not_run("zeroshot", "metrics/zeroshot.json"))
        section.status = "not run"
        return
    evaluations = ctx.inputs.details("data/eval/zeroshot.json")
    floor = ctx.inputs.untuned("gpt2")
    rows = []
    for lang in xnli_order(zeroshot):
        m = zeroshot[lang]
        published = study.ZEROSHOT.get(lang)
        rows.append(
            (
                language_cell(lang),
                fmt(m.get("n")),
                accuracy_ci(m),
                accuracy_ci(m, "restricted"),
                floor_cell(floor.get(lang)),
                fmt(m.get("non_label_outputs")),
                fmt(m.get("truncated")),
                _top_prediction(evaluations.get(lang)),
                fmt(published),
                fmt_signed(m["strict_accuracy"] - published) if published else DASH,
                fmt(study.MBERT_ZEROSHOT.get(lang), 1),
            )
        )
    section.blocks += [
        make_table(
            (
                "Language",
                "n",
                "Strict [95% CI]",
                "Restricted [95% CI]",
                "Untuned (floor)",
                "Non-label",
                "Truncated",
                "Top prediction",
                "Study",
                "vs study",
                "mBERT (ref.)",
            ),
            rows,
            caption=f"Zero-shot accuracy of {model_name(ctx.sources, 'gpt2')} fine-tuned on "
            "English",
            note="Untuned (floor): the same pretrained model before any NLI fine-tuning "
            "(stage untuned@gpt2), strict / restricted, on the first rows of the same test set; "
            "a model that learned nothing scores about a third restricted by always naming one "
            "label. Top prediction: the most frequent predicted label and its share of the test "
            "set; near 100% means the model answers one label whatever the input. mBERT: "
            "published zero-shot XNLI, for context.",
        ),
        zeroshot_plot(zeroshot),
    ]


def floor_cell(metrics: Mapping[str, Any] | None) -> str:
    """The untuned model's strict / restricted accuracy, e.g. `0.00 / 33.33`."""
    if not metrics:
        return DASH
    return f"{fmt(metrics.get('strict_accuracy'))} / {fmt(metrics.get('restricted_accuracy'))}"


def zeroshot_plot(zeroshot: Mapping[str, Mapping[str, Any]]) -> Plot:
    langs = xnli_order(zeroshot)
    strict = {lang: zeroshot[lang]["strict_accuracy"] for lang in langs}
    restricted = {lang: zeroshot[lang].get("restricted_accuracy", math.nan) for lang in langs}
    fig, (ax,) = new_figure(10, 4.2)
    offsets = bars(
        ax,
        langs,
        [
            ("this run, strict (95% CI)", strict, ci_intervals(zeroshot), OURS),
            ("this run, restricted", restricted, {}, OURS_LIGHT),
        ],
    )
    markers(
        ax,
        langs,
        study.ZEROSHOT,
        offsets[0],
        marker="D",
        color=STUDY,
        s=30,
        label="study (published)",
    )
    chance_line(ax)
    ax.set(
        xlabel="language",
        ylabel="test accuracy (%)",
        ylim=(0, 100),
        title="Zero-shot accuracy by language (English fine-tuned GPT-2)",
    )
    ax.legend(fontsize=8, ncols=4, loc="upper right")
    return Plot(
        "zeroshot_accuracy",
        png_bytes(fig),
        "Zero-shot test accuracy by language with 95% bootstrap intervals; red diamonds: the "
        "study's published values; dotted: chance.",
    )
