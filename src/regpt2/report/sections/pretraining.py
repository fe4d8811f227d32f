"""Report section 1: the toy GPT-2 pretraining, its losses and loss curve beside the study's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from regpt2.analysis import published as study
from regpt2.analysis.verdicts import finite
from regpt2.report.document import DASH, Paragraph, Plot, Section
from regpt2.report.figures import OURS, STUDY, new_figure, png_bytes
from regpt2.report.formatting import fmt, make_table, not_run
from regpt2.report.inputs import Context

PRETRAIN_ROWS: tuple[tuple[str, str, float | None, str], ...] = (
    (
        "study_global_avg_train_loss",
        "Global average train loss, padding included (the study's figure)",
        study.PRETRAIN_GLOBAL_AVG_TRAIN_LOSS,
        "cumulative mean of every step's loss; padding positions count",
    ),
    ("train_loss_real_tokens", "Train loss, real tokens only (all epochs)", None, ""),
    ("last_epoch_train_loss_real_tokens", "Train loss, real tokens, last epoch", None, ""),
    ("validation_loss", "Held-out validation loss (real tokens)", None, "no split in the study"),
    ("validation_perplexity", "Held-out validation perplexity", None, "exp(validation loss)"),
    ("validation_loss_with_padding", "Held-out validation loss, padding included", None, ""),
)


def pretraining_section(ctx: Context, section: Section) -> None:
    metrics = ctx.inputs.pretrain()
    if metrics is None:
        section.blocks.append(not_run("pretrain", "metrics/pretrain.json"))
        section.status = "not run"
        return
    rows = [
        (label, fmt(metrics.get(key), 4), fmt(published, 4), note)
        for key, label, published, note in PRETRAIN_ROWS
    ]
    tokenize = ctx.inputs.json("metrics/tokenize.json") or {}
    section.blocks += [
        make_table(("Measure", "This run", "Study", "Note"), rows, caption="Pretraining losses"),
        Paragraph(
            f"Optimised loss: `{metrics.get('optimised_loss', DASH)}`; "
            f"{fmt(metrics.get('steps'))} steps, {fmt(metrics.get('parameters'))} parameters, "
            f"{fmt(metrics.get('train_tokens_per_second'), 0)} train tokens/s. "
            f"Tokenizer vocabulary {fmt(tokenize.get('vocab_size'))}; mean padding fraction of "
            f"a slot {fmt(tokenize.get('mean_padding_fraction'), 3)} -- the share of positions "
            "that deflates the study-style figure."
        ),
    ]
    plot = pretrain_loss_plot(ctx.inputs.csv("data/plots/pretrain_loss.csv"), metrics)
    if plot:
        section.blocks.append(plot)
    else:
        section.blocks.append(not_run("pretrain (loss curve)", "data/plots/pretrain_loss.csv"))
        section.status = "partial"


def _smooth(values: pd.Series) -> pd.Series:
    window = max(1, len(values) // 50)
    return values.rolling(window, min_periods=1).mean()


def pretrain_loss_plot(curve: pd.DataFrame | None, metrics: Mapping[str, Any]) -> Plot | None:
    if curve is None or curve.empty or "step" not in curve:
        return None
    fig, (ax,) = new_figure(10, 4.2)
    series = [
        ("loss_with_padding", "with padding (the study's loss)", OURS),
        ("loss_real_tokens", "real tokens only", "#ff7f0e"),
    ]
    if not any(name in curve for name, _, _ in series):
        series = [("loss", "loss", OURS)]
    for name, label, color in series:
        if name in curve:
            ax.plot(curve["step"], curve[name], color=color, alpha=0.25, linewidth=0.8)
            ax.plot(curve["step"], _smooth(curve[name]), color=color, label=f"{label} (smoothed)")
    study_column = "loss_with_padding" if "loss_with_padding" in curve else series[0][0]
    cumulative = curve[study_column].expanding().mean()
    ax.plot(
        curve["step"],
        cumulative,
        color=OURS,
        linestyle="--",
        label="cumulative mean, with padding (study-style figure)",
    )
    if finite(metrics.get("validation_loss")):
        ax.axhline(
            metrics["validation_loss"],
            color="#2ca02c",
            linestyle=":",
            label=f"held-out loss, real tokens ({metrics['validation_loss']:.3f})",
        )
    ax.axhline(
        study.PRETRAIN_GLOBAL_AVG_TRAIN_LOSS,
        color=STUDY,
        linestyle="-.",
        linewidth=1,
        label=f"study's global average ({study.PRETRAIN_GLOBAL_AVG_TRAIN_LOSS})",
    )
    ax.set(
        xlabel="optimizer step", ylabel="cross-entropy (nats)", title="Pretraining loss per step"
    )
    ax.legend(fontsize=8)
    return Plot(
        "pretrain_loss",
        png_bytes(fig),
        "Pretraining loss per step: raw (faint) and smoothed, with and without padding positions; "
        "dashed: the study's cumulative-mean figure; red: the study's published value.",
    )
