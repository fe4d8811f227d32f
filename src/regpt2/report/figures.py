"""Matplotlib helpers shared by the sections' figures: a styled figure, PNG bytes without a
software stamp (same numbers, same bytes), grouped bars with intervals, markers, scatter with
a fit."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

from regpt2.analysis import published as study
from regpt2.analysis.verdicts import finite
from regpt2.core.stats import correlate
from regpt2.report.formatting import fmt, fmt_p

# One colour per role in every figure: this run, this run's second series, the study's published
# numbers, reference lines (chance); PALETTE for several series of this run.
OURS = "#1f77b4"
OURS_LIGHT = "#9ecae1"
STUDY = "#d62728"
GREY = "#7f7f7f"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def new_figure(width: float, height: float, ncols: int = 1) -> tuple[MplFigure, list[Any]]:
    fig = MplFigure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.grid(True, axis="y", color="#e5e5e5", linewidth=0.8)
        ax.set_axisbelow(True)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
    return fig, list(axes)


def png_bytes(fig: MplFigure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" metadata: the same numbers give the same bytes, so DVC caches stay stable.
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def chance_line(ax: Any) -> None:
    ax.axhline(study.CHANCE, color=GREY, linestyle=":", linewidth=1.2, label="chance (33.3%)")


def _errors(values: Sequence[float], lows: Sequence[float], highs: Sequence[float]) -> np.ndarray:
    """Matplotlib's (2, N) yerr from intervals; zero where an interval is missing."""
    below = [
        v - lo if finite(lo) and finite(v) else 0.0 for v, lo in zip(values, lows, strict=True)
    ]
    above = [
        hi - v if finite(hi) and finite(v) else 0.0 for v, hi in zip(values, highs, strict=True)
    ]
    return np.clip(np.array([below, above], dtype=float), 0.0, None)


def scatter_with_fit(
    ax: Any,
    points: Mapping[str, tuple[float, float]],
    *,
    color: str,
    log_x: bool = False,
) -> dict[str, Any]:
    """Labelled scatter, least-squares line (on log10 x when `log_x`), r and p in the legend."""
    langs = [lang for lang, (x, y) in points.items() if finite(x) and finite(y) and x > 0]
    xs = np.array([points[lang][0] for lang in langs], dtype=float)
    ys = np.array([points[lang][1] for lang in langs], dtype=float)
    fit_x = np.log10(xs) if log_x else xs
    stats = correlate(fit_x, ys)
    ax.scatter(xs, ys, color=color, s=36, zorder=3)
    for lang, x, y in zip(langs, xs, ys, strict=True):
        ax.annotate(lang, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if len(langs) >= 2 and np.ptp(fit_x) > 0:
        slope, intercept = np.polyfit(fit_x, ys, 1)
        grid = np.linspace(fit_x.min(), fit_x.max(), 50)
        label = (
            f"least squares; Pearson r = {fmt(stats['pearson_r'])} ({fmt_p(stats['pearson_p'])})"
            f"\nSpearman r = {fmt(stats['spearman_r'])} ({fmt_p(stats['spearman_p'])}),"
            f" n = {stats['n']}"
        )
        ax.plot(
            10**grid if log_x else grid,
            slope * grid + intercept,
            color=color,
            alpha=0.6,
            label=label,
        )
        ax.legend(fontsize=8, loc="best")
    if log_x:
        ax.set_xscale("log")
    return stats


def bars(
    ax: Any,
    langs: Sequence[str],
    series: Sequence[tuple[str, Mapping[str, float], Mapping[str, tuple[float, float]], str]],
) -> list[float]:
    """Grouped bars: one group per language, one bar per (label, values, intervals, colour).

    A language missing from a series gets no bar. Returns each series' x offset in its group,
    so markers can sit on the bar they compare with.
    """
    width = 0.8 / max(len(series), 1)
    offsets = []
    for number, (label, values, intervals, color) in enumerate(series):
        offset = (number - (len(series) - 1) / 2) * width
        offsets.append(offset)
        shown = [i for i, lang in enumerate(langs) if finite(values.get(lang))]
        x = np.array(shown, dtype=float) + offset
        heights = [float(values[langs[i]]) for i in shown]
        ax.bar(x, heights, width, color=color, label=label)
        lows = [intervals.get(langs[i], (math.nan, math.nan))[0] for i in shown]
        highs = [intervals.get(langs[i], (math.nan, math.nan))[1] for i in shown]
        if any(finite(lo) for lo in lows):
            ax.errorbar(
                x,
                heights,
                yerr=_errors(heights, lows, highs),
                fmt="none",
                ecolor="#333333",
                elinewidth=0.9,
                capsize=2,
            )
    ax.set_xticks(np.arange(len(langs)), langs)
    return offsets


def markers(
    ax: Any, langs: Sequence[str], values: Mapping[str, float], offset: float = 0.0, **style: Any
) -> None:
    xs = [i for i, lang in enumerate(langs) if lang in values]
    if xs:
        ax.scatter(np.array(xs) + offset, [values[langs[i]] for i in xs], zorder=4, **style)


def ci_intervals(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[float, float]]:
    return {
        lang: (m.get("strict_ci95_low", math.nan), m.get("strict_ci95_high", math.nan))
        for lang, m in metrics.items()
    }
