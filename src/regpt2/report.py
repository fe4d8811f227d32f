"""The study report: every table and figure of the study, beside this run's numbers.

`build_report(root, out_dir, ...)` reads what the stages wrote under `root` (metrics/*.json,
data/plots/*.csv, data/eval, data/translate, data/probe), builds a list of `Section`s -- each
a small structured document of paragraphs, tables and figures -- and renders it twice:

- `index.html`: self-contained (inline CSS, figures as base64 PNG data URIs, a Content Security
  Policy that forbids every network fetch), so it renders offline and can be mailed on its own;
- `index.md`: the Markdown twin, small and diff-friendly, with figures as relative files under
  `figures/`.

A stage that has not run gets a clearly marked "not run" section; nothing needs every stage.
The findings section checks the study's claims from the numbers; no conclusion is hard-coded.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, ScalarFormatter
from scipy import stats as scipy_stats

from regpt2.analysis import published as study
from regpt2.core.errors import UserError
from regpt2.core.io import atomic_path, write_text
from regpt2.core.languages import LANGUAGE_NAMES, XNLI_LANGUAGES
from regpt2.core.stats import correlate

DASH = "—"
FIGURES_DIR = "figures"
#: Languages written in the Latin script; the others count as "distant scripts" for claim 6.
LATIN_SCRIPT = frozenset({"en", "fr", "es", "de", "tr", "vi", "sw"})
#: A zero-shot accuracy within this many points of chance counts as "near chance" (claim 1).
NEAR_CHANCE_POINTS = 5.0
ALPHA = 0.05

VERDICTS = (
    "supported",
    "partly supported",
    "not supported",
    "contradicted",
    "inconclusive",
    "not run",
)

# ============================================================================ document model


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text with inline Markdown: `code` and **bold**."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of preformatted cells. Columns whose cells all look numeric are right-aligned;
    `badge_column` names a column whose cells are verdicts, drawn as coloured badges in HTML."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    note: str = ""
    badge_column: int | None = None


@dataclass(frozen=True)
class Plot:
    """A figure: PNG bytes, the file stem it gets under figures/, and its caption."""

    name: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class NotRun:
    """A stage whose outputs are missing: the report says so instead of showing numbers."""

    stage: str
    missing: tuple[str, ...]


Block = Paragraph | Table | Plot | NotRun


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    status: str = "ok"  # "ok", "partial" (some inputs missing) or "not run"

    def plots(self) -> list[Plot]:
        return [block for block in self.blocks if isinstance(block, Plot)]


@dataclass(frozen=True)
class Finding:
    """One of the study's claims, the study's own evidence, ours, and the verdict on ours."""

    claim: str
    study: str
    ours: str
    verdict: str


# The models the study used, by source role, with the hub ids that are those models.
STUDY_MODELS = {
    "gpt2": ("GPT-2 124M", ("hub:gpt2", "hub:openai-community/gpt2")),
    "qwen": ("Qwen2.5-0.5B", ("hub:Qwen/Qwen2.5-0.5B", "hub:Qwen/Qwen2-0.5B")),
}


def _source_name(source: str | None) -> str:
    """A source string as a reader knows it: a file's name, else the string itself."""
    if not source:
        return "an unnamed model"
    if source.startswith(("hub:", "url:")):
        return source.split(":", 1)[1]
    return Path(source).name or source


@dataclass
class Report:
    title: str
    profile: str
    sources: dict[str, str]
    sections: list[Section]
    findings: list[Finding]

    def banner(self) -> tuple[str, str] | None:
        """(kind, text) of the warning shown above everything, or None for the paper profile."""
        demo_sources = sorted(name for name, value in self.sources.items() if value == "demo")
        if self.profile == "demo":
            return "demo", "DEMO PROFILE — synthetic data, toy models; not the study's numbers"
        if demo_sources:
            return "mixed", (
                f"PROFILE {self.profile.upper()} WITH DEMO SOURCES ({', '.join(demo_sources)}) — "
                "these numbers are not comparable to the study's"
            )
        standins = [
            f"{_source_name(self.sources[role])} stands in for {model}"
            for role, (model, study_sources) in STUDY_MODELS.items()
            if self.sources.get(role) not in study_sources
        ]
        if standins:
            return "standin", (
                f"REAL DATA, STAND-IN MODELS ({self.profile} profile): "
                + "; ".join(standins)
                + ". Where the data has no XNLI train split, NLI training uses dev rows held apart "
                "from the dev scores (see params.yaml). The study's numbers stand beside ours for "
                "orientation, not as a replication."
            )
        return None

    def plots(self) -> list[Plot]:
        return [plot for section in self.sections for plot in section.plots()]


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path
    figures: Path


# ============================================================================ inputs


@dataclass(frozen=True)
class Experiment:
    """One row of `dvc exp show`: the finetune_en params and metrics of a run."""

    name: str
    rev: str
    params: Mapping[str, Any]
    metrics: Mapping[str, Any] | None


class Inputs:
    """Read-only access to the files the stages wrote under `root`; a missing file is None."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._cache: dict[str, Any] = {}

    def exists(self, relative: str) -> bool:
        return (self.root / relative).exists()

    def json(self, relative: str) -> Any | None:
        if relative not in self._cache:
            path = self.root / relative
            if not path.is_file():
                self._cache[relative] = None
            else:
                try:
                    self._cache[relative] = json.loads(path.read_text(encoding="utf-8"))
                except json.JSONDecodeError as error:
                    raise UserError(
                        f"{relative}: not valid JSON ({error.msg}, line {error.lineno}); "
                        "rerun the stage that writes it"
                    ) from None
        return self._cache[relative]

    def csv(self, relative: str) -> pd.DataFrame | None:
        path = self.root / relative
        if not path.is_file():
            return None
        try:
            return pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise UserError(f"{relative}: not a readable CSV ({error}); rerun its stage") from None

    # ---- each stage's results, put together from the files its stages wrote: the training
    # summary (metrics/training), the scores (metrics), the details (data/eval), timings
    # (data/timings) and the comparisons of `analyze` (metrics/analysis, data/analysis)

    def _changes(self, name: str) -> dict[str, float]:
        return dict((self.json("metrics/analysis/changes.json") or {}).get(name, {}))

    def _details(self, relative: str) -> dict[str, dict]:
        return dict((self.json(relative) or {}).get("languages", {}))

    def pretrain(self) -> dict | None:
        metrics = self.json("metrics/pretrain.json")
        if metrics is None:
            return None
        timing = self.json("data/timings/pretrain.json") or {}
        return {**metrics, **{k: v for k, v in timing.items() if k != "steps"}}

    def finetune_en(self) -> dict | None:
        metrics = self.json("metrics/finetune_en.json")
        if metrics is None:
            return None
        training = self.json("metrics/training/finetune_en.json") or {}
        test = {**(self.json("data/eval/finetune_en.json") or {}).get("test", {})}
        test.update(metrics.get("test", {}))
        best_dev = training.get("best_dev_strict_accuracy")
        return {**training, "dev": {"strict_accuracy": best_dev}, "test": _scalars(test)}

    def per_language(self) -> dict[str, dict]:
        """Per-language fine-tuning, by language: training summary, test scores, change."""
        directory = self.root / "metrics" / "finetune_per_lang"
        zeroshot = self.zeroshot_accuracy()
        changes = self._changes("per_language_vs_zeroshot")
        found = {}
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            lang = path.stem
            metrics = self.json(f"metrics/finetune_per_lang/{path.name}") or {}
            training = self.json(f"metrics/training/finetune_per_lang/{path.name}") or {}
            found[lang] = {
                **training,
                "language": lang,
                "test": metrics.get("test", {}),
                "zeroshot_strict_accuracy": zeroshot.get(lang),
                "change_vs_zeroshot": changes.get(lang),
            }
        return found

    def finetune_all(self) -> dict | None:
        metrics = self.json("metrics/finetune_all.json")
        if metrics is None:
            return None
        training = self.json("metrics/training/finetune_all.json") or {}
        vs_zeroshot = self._changes("all_languages_vs_zeroshot")
        vs_per_language = self._changes("all_languages_vs_per_language")
        return {
            **training,
            "trained_on": (self.json("data/eval/finetune_all.json") or {}).get("trained_on", []),
            "languages": {
                lang: {
                    **m,
                    "change_vs_zeroshot": vs_zeroshot.get(lang),
                    "change_vs_per_language": vs_per_language.get(lang),
                }
                for lang, m in metrics.get("languages", {}).items()
            },
        }

    def qwen_lora(self) -> dict | None:
        metrics = self.json("metrics/qwen_lora.json")
        if metrics is None:
            return None
        training = self.json("metrics/training/qwen_lora.json") or {}
        timing = self.json("data/timings/qwen_lora.json") or {}
        gpt2 = self.zeroshot_accuracy()
        changes = self._changes("lora_vs_gpt2_zeroshot")
        return {
            **training,
            "train_seconds": timing.get("seconds"),
            "languages": {
                lang: {
                    **m,
                    "gpt2_zeroshot_strict_accuracy": gpt2.get(lang),
                    "change_vs_gpt2": changes.get(lang),
                }
                for lang, m in metrics.get("languages", {}).items()
            },
        }

    def translate(self) -> dict | None:
        metrics = self.json("metrics/translate.json")
        if metrics is None:
            return None
        details = self.json("data/translate/examples.json") or {}
        languages = {
            lang: {**_scalars(details.get(lang, {})), **m}
            for lang, m in metrics.get("languages", {}).items()
        }
        signatures = self.json("data/translate/signatures.json") or {}
        return {"languages": languages, "signatures": signatures}

    def selection(self) -> dict | None:
        return self.json("data/analysis/selection.json")

    def correlations(self, name: str) -> dict | None:
        """`analyze`'s correlation table of `translate` or `probe` (None before it ran)."""
        data = self.json("data/analysis/correlations.json")
        return None if data is None else data.get(name) or {}

    # ---- the per-language series several sections share

    def zeroshot(self) -> dict[str, dict]:
        """Zero-shot scores by language, with the counts kept in data/eval."""
        data = self.json("metrics/zeroshot.json")
        if not isinstance(data, dict):
            return {}
        details = self._details("data/eval/zeroshot.json")
        return {
            lang: {**_scalars(details.get(lang, {})), **m}
            for lang, m in data.get("languages", {}).items()
        }

    def zeroshot_accuracy(self) -> dict[str, float]:
        return {lang: m["strict_accuracy"] for lang, m in self.zeroshot().items()}

    def fertility(self, tokenizer: str = "gpt2", key: str = "tokens_per_word") -> dict[str, float]:
        data = self.json("metrics/fertility.json") or {}
        return {lang: m[key] for lang, m in data.get(tokenizer, {}).items() if key in m}

    def tiers(self) -> dict[str, int]:
        data = self.json("metrics/analysis/tiers.json") or {}
        return {lang: int(tier) for lang, tier in data.items()}


def _scalars(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The single numbers of a full evaluation (data/eval): no matrices or label lists."""
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str | type(None))}


@dataclass
class Context:
    inputs: Inputs
    profile: str
    sources: dict[str, str]


# ============================================================================ formatting


def _finite(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table cell; None / NaN / missing become a dash."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if _finite(value):
        return f"{float(value):.{digits}f}"
    if isinstance(value, str) and value:
        return value
    return DASH


def fmt_signed(value: Any, digits: int = 2) -> str:
    return f"{float(value):+.{digits}f}" if _finite(value) else DASH


def fmt_ci(value: Any, low: Any = None, high: Any = None, digits: int = 2) -> str:
    """`value [low, high]`, or just the value when there is no interval."""
    if not _finite(value):
        return DASH
    if _finite(low) and _finite(high):
        return f"{float(value):.{digits}f} [{float(low):.{digits}f}, {float(high):.{digits}f}]"
    return fmt(value, digits)


def fmt_p(p: Any) -> str:
    if not _finite(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def fmt_corr(stats: Mapping[str, Any]) -> str:
    """Pearson and Spearman r with p-values and n, in one line."""
    n = int(stats.get("n", 0) or 0)
    if not _finite(stats.get("pearson_r")) and not _finite(stats.get("spearman_r")):
        return f"n = {n}: too few languages or a constant series"
    return (
        f"Pearson r = {fmt(stats.get('pearson_r'))} ({fmt_p(stats.get('pearson_p'))}), "
        f"Spearman r = {fmt(stats.get('spearman_r'))} ({fmt_p(stats.get('spearman_p'))}), n = {n}"
    )


def _accuracy_ci(metrics: Mapping[str, Any] | None, kind: str = "strict") -> str:
    if not metrics:
        return DASH
    return fmt_ci(
        metrics.get(f"{kind}_accuracy"),
        metrics.get(f"{kind}_ci95_low"),
        metrics.get(f"{kind}_ci95_high"),
    )


def _order(languages: Iterable[str]) -> list[str]:
    """Languages in XNLI order, unknown codes last (alphabetically), no duplicates."""
    unique = set(languages)
    known = [lang for lang in XNLI_LANGUAGES if lang in unique]
    return known + sorted(unique - set(known))


def _language(lang: str) -> str:
    name = LANGUAGE_NAMES.get(lang)
    return f"{lang}\u00a0({name})" if name else lang  # no-break space: one line per cell


def _mean(values: Iterable[float]) -> float:
    values = [float(v) for v in values if _finite(v)]
    return float(np.mean(values)) if values else math.nan


def _table(columns: Sequence[str], rows: Iterable[Sequence[str]], **kwargs: Any) -> Table:
    return Table(tuple(columns), tuple(tuple(row) for row in rows), **kwargs)


def _not_run(stage: str, *missing: str) -> NotRun:
    return NotRun(stage, tuple(missing))


# ============================================================================ figures

OURS = "#1f77b4"
OURS_LIGHT = "#9ecae1"
STUDY = "#d62728"
GREY = "#7f7f7f"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _figure(width: float, height: float, ncols: int = 1) -> tuple[MplFigure, list[Any]]:
    fig = MplFigure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    for ax in axes:
        ax.grid(True, axis="y", color="#e5e5e5", linewidth=0.8)
        ax.set_axisbelow(True)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(False)
    return fig, list(axes)


def _png(fig: MplFigure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" metadata: the same numbers give the same bytes, so DVC caches stay stable.
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _chance_line(ax: Any) -> None:
    ax.axhline(study.CHANCE, color=GREY, linestyle=":", linewidth=1.2, label="chance (33.3%)")


def _errors(values: Sequence[float], lows: Sequence[float], highs: Sequence[float]) -> np.ndarray:
    """Matplotlib's (2, N) yerr from intervals; zero where an interval is missing."""
    below = [
        v - lo if _finite(lo) and _finite(v) else 0.0 for v, lo in zip(values, lows, strict=True)
    ]
    above = [
        hi - v if _finite(hi) and _finite(v) else 0.0 for v, hi in zip(values, highs, strict=True)
    ]
    return np.clip(np.array([below, above], dtype=float), 0.0, None)


def _scatter_with_fit(
    ax: Any,
    points: Mapping[str, tuple[float, float]],
    *,
    color: str,
    log_x: bool = False,
) -> dict[str, Any]:
    """Labelled scatter, least-squares line (on log10 x when `log_x`), r and p in the legend."""
    langs = [lang for lang, (x, y) in points.items() if _finite(x) and _finite(y) and x > 0]
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


def _bars(
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
        shown = [i for i, lang in enumerate(langs) if _finite(values.get(lang))]
        x = np.array(shown, dtype=float) + offset
        heights = [float(values[langs[i]]) for i in shown]
        ax.bar(x, heights, width, color=color, label=label)
        lows = [intervals.get(langs[i], (math.nan, math.nan))[0] for i in shown]
        highs = [intervals.get(langs[i], (math.nan, math.nan))[1] for i in shown]
        if any(_finite(lo) for lo in lows):
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


def _markers(
    ax: Any, langs: Sequence[str], values: Mapping[str, float], offset: float = 0.0, **style: Any
) -> None:
    xs = [i for i, lang in enumerate(langs) if lang in values]
    if xs:
        ax.scatter(np.array(xs) + offset, [values[langs[i]] for i in xs], zorder=4, **style)


def _intervals(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[float, float]]:
    return {
        lang: (m.get("strict_ci95_low", math.nan), m.get("strict_ci95_high", math.nan))
        for lang, m in metrics.items()
    }


# ============================================================================ sections


def overview_section(ctx: Context) -> Section:
    rows = [(name, f"`{value}`" if value else "(empty)") for name, value in ctx.sources.items()]
    status_rows = []
    for stage, path in STAGE_OUTPUTS:
        ran = ctx.inputs.exists(path)
        status_rows.append((f"`{stage}`", f"`{path}`", "ran" if ran else "not run"))
    return Section(
        "overview",
        "Build",
        [
            Paragraph(
                f"Profile **{ctx.profile}**. Each table puts the study's published number "
                "(from `src/regpt2/analysis/published.py`, transcribed from the study) beside "
                "this run's. "
                "Accuracies are test-set percentages; brackets are 95% bootstrap intervals; "
                "chance is 33.33%."
            ),
            _table(("Source", "Value"), rows, caption="Sources (params.yaml)"),
            _table(("Stage", "Metrics file", "Status"), status_rows, caption="Stages"),
        ],
    )


STAGE_OUTPUTS: tuple[tuple[str, str], ...] = (
    ("tokenize", "metrics/tokenize.json"),
    ("pretrain", "metrics/pretrain.json"),
    ("finetune_en", "metrics/finetune_en.json"),
    ("zeroshot", "metrics/zeroshot.json"),
    ("fertility", "metrics/fertility.json"),
    ("finetune_per_lang", "metrics/finetune_per_lang"),
    ("finetune_all", "metrics/finetune_all.json"),
    ("translate", "metrics/translate.json"),
    ("probe", "metrics/probe.json"),
    ("qwen_lora", "metrics/qwen_lora.json"),
)


# ---------------------------------------------------------------------------- pretraining

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
        section.blocks.append(_not_run("pretrain", "metrics/pretrain.json"))
        section.status = "not run"
        return
    rows = [
        (label, fmt(metrics.get(key), 4), fmt(published, 4), note)
        for key, label, published, note in PRETRAIN_ROWS
    ]
    tokenize = ctx.inputs.json("metrics/tokenize.json") or {}
    section.blocks += [
        _table(("Measure", "This run", "Study", "Note"), rows, caption="Pretraining losses"),
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
        section.blocks.append(_not_run("pretrain (loss curve)", "data/plots/pretrain_loss.csv"))
        section.status = "partial"


def _smooth(values: pd.Series) -> pd.Series:
    window = max(1, len(values) // 50)
    return values.rolling(window, min_periods=1).mean()


def pretrain_loss_plot(curve: pd.DataFrame | None, metrics: Mapping[str, Any]) -> Plot | None:
    if curve is None or curve.empty or "step" not in curve:
        return None
    fig, (ax,) = _figure(10, 4.2)
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
    if _finite(metrics.get("validation_loss")):
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
        _png(fig),
        "Pretraining loss per step: raw (faint) and smoothed, with and without padding positions; "
        "dashed: the study's cumulative-mean figure; red: the study's published value.",
    )


# ---------------------------------------------------------------------------- English NLI


def finetune_en_section(ctx: Context, section: Section) -> None:
    metrics = ctx.inputs.finetune_en()
    if metrics is None:
        section.blocks.append(_not_run("finetune_en", "metrics/finetune_en.json"))
        section.status = "not run"
    else:
        baseline = study.FINETUNE_EN_BASELINE
        rows = [
            (
                split,
                _accuracy_ci(metrics.get(split)),
                _accuracy_ci(metrics.get(split), "restricted"),
                fmt((metrics.get(split) or {}).get("non_label_outputs")),
                fmt(baseline[split]),
            )
            for split in ("dev", "test")
        ]
        rows.append(
            (
                "train loss",
                fmt(metrics.get("train_loss"), 4),
                DASH,
                DASH,
                fmt(baseline["train_loss"], 4),
            )
        )
        section.blocks.append(
            _table(
                ("Split", "Strict [95% CI]", "Restricted [95% CI]", "Non-label outputs", "Study"),
                rows,
                caption="English fine-tuning, this workspace (best dev checkpoint)",
                note="Strict = the study's metric (argmax over the whole vocabulary must be the "
                "gold digit); restricted = argmax over the three label digits only.",
            )
        )
    section.blocks.append(
        Paragraph(
            "Variants: run e.g. `dvc exp run -S finetune_en.training.lr=1e-4`, then "
            "`regpt2 experiments` for the table of every English fine-tuning run `dvc exp show` "
            "knows (the report reads only the pipeline's tracked outputs)."
        )
    )
    section.blocks.append(study_variants_table())
    plot = finetune_loss_plot(ctx.inputs)
    if plot:
        section.blocks.append(plot)


def study_variants_table() -> Table:
    base = study.FINETUNE_EN_BASELINE["test"]
    rows = [
        (name, fmt(v["dev"]), fmt(v["test"]), fmt(v["train_loss"], 4), fmt_signed(v["test"] - base))
        for name, v in study.FINETUNE_EN_VARIANTS.items()
    ]
    return _table(
        ("Study run", "Dev", "Test", "Train loss", "Test vs baseline"),
        rows,
        caption="The study's baseline and hyperparameter variants (published)",
    )


EXPERIMENT_PARAMS = ("lr", "batch_size", "grad_accum", "epochs", "weight_decay")


def experiments_blocks(experiments: list[Experiment] | None) -> list[Block]:
    if experiments is None:
        return [Paragraph("Experiments: `dvc exp show` did not run (is this a DVC project?).")]
    if not experiments:
        return [Paragraph("Experiments: `dvc exp show` listed no runs.")]
    reference = experiments[0].params
    rows = []
    for exp in experiments:
        metrics = exp.metrics or {}
        changed = [
            f"{key}={value}"
            for key, value in exp.params.items()
            if key in reference and reference[key] != value
        ]
        rows.append(
            (
                f"`{exp.name}`",
                *(
                    fmt(exp.params.get(key), 6) if key == "lr" else fmt(exp.params.get(key))
                    for key in EXPERIMENT_PARAMS
                ),
                _accuracy_ci(metrics.get("dev")),
                _accuracy_ci(metrics.get("test")),
                fmt(metrics.get("train_loss"), 4),
                ", ".join(changed) or DASH,
            )
        )
    blocks: list[Block] = [
        _table(
            (
                "Run",
                "lr",
                "Batch",
                "Accum.",
                "Epochs",
                "Weight decay",
                "Dev [95% CI]",
                "Test [95% CI]",
                "Train loss",
                "Changed vs first row",
            ),
            rows,
            caption="English fine-tuning runs from `dvc exp show` (workspace, commit, experiments)",
        )
    ]
    if len(experiments) <= 2:
        blocks.append(
            Paragraph(
                "No `dvc exp` variants found. Run the study's variants with "
                "`dvc exp run -S finetune_en.training.lr=1e-4` (and `=1e-5`, "
                "`-S finetune_en.training.batch_size=8`)."
            )
        )
    return blocks


LOSS_CURVES = (
    ("data/plots/finetune_en_loss.csv", "English (finetune_en)"),
    ("data/plots/finetune_all_loss.csv", "all languages (finetune_all)"),
    ("data/plots/qwen_lora_loss.csv", "LoRA model (qwen_lora)"),
)


def finetune_loss_plot(inputs: Inputs) -> Plot | None:
    curves = [(label, inputs.csv(path)) for path, label in LOSS_CURVES]
    curves = [(label, c) for label, c in curves if c is not None and {"step", "loss"} <= set(c)]
    if not curves:
        return None
    fig, (ax,) = _figure(10, 3.8)
    for (label, curve), color in zip(curves, PALETTE, strict=False):
        ax.plot(curve["step"], curve["loss"], color=color, alpha=0.2, linewidth=0.8)
        ax.plot(curve["step"], _smooth(curve["loss"]), color=color, label=f"{label} (smoothed)")
    ax.set(
        xlabel="optimizer step",
        ylabel="cross-entropy on the label digit",
        title="NLI fine-tuning loss per step",
    )
    ax.legend(fontsize=8)
    return Plot("finetune_loss", _png(fig), "NLI fine-tuning loss per step (label token only).")


# ---------------------------------------------------------------------------- zero-shot


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
        section.blocks.append(_not_run("zeroshot", "metrics/zeroshot.json"))
        section.status = "not run"
        return
    evaluations = (ctx.inputs.json("data/eval/zeroshot.json") or {}).get("languages", {})
    rows = []
    for lang in _order(zeroshot):
        m = zeroshot[lang]
        published = study.ZEROSHOT.get(lang)
        rows.append(
            (
                _language(lang),
                fmt(m.get("n")),
                _accuracy_ci(m),
                _accuracy_ci(m, "restricted"),
                fmt(m.get("non_label_outputs")),
                fmt(m.get("truncated")),
                _top_prediction(evaluations.get(lang)),
                fmt(published),
                fmt_signed(m["strict_accuracy"] - published) if published else DASH,
                fmt(study.MBERT_ZEROSHOT.get(lang), 1),
            )
        )
    section.blocks += [
        _table(
            (
                "Language",
                "n",
                "Strict [95% CI]",
                "Restricted [95% CI]",
                "Non-label",
                "Truncated",
                "Top prediction",
                "Study",
                "vs study",
                "mBERT (ref.)",
            ),
            rows,
            caption="Zero-shot accuracy of the English fine-tuned GPT-2",
            note="Top prediction: the most frequent predicted label and its share of the test "
            "set; near 100% means the model answers one label whatever the input. mBERT: "
            "published zero-shot XNLI, for context.",
        ),
        zeroshot_plot(zeroshot),
    ]


def zeroshot_plot(zeroshot: Mapping[str, Mapping[str, Any]]) -> Plot:
    langs = _order(zeroshot)
    strict = {lang: zeroshot[lang]["strict_accuracy"] for lang in langs}
    restricted = {lang: zeroshot[lang].get("restricted_accuracy", math.nan) for lang in langs}
    fig, (ax,) = _figure(10, 4.2)
    offsets = _bars(
        ax,
        langs,
        [
            ("this run, strict (95% CI)", strict, _intervals(zeroshot), OURS),
            ("this run, restricted", restricted, {}, OURS_LIGHT),
        ],
    )
    _markers(
        ax,
        langs,
        study.ZEROSHOT,
        offsets[0],
        marker="D",
        color=STUDY,
        s=30,
        label="study (published)",
    )
    _chance_line(ax)
    ax.set(
        xlabel="language",
        ylabel="test accuracy (%)",
        ylim=(0, 100),
        title="Zero-shot accuracy by language (English fine-tuned GPT-2)",
    )
    ax.legend(fontsize=8, ncols=4, loc="upper right")
    return Plot(
        "zeroshot_accuracy",
        _png(fig),
        "Zero-shot test accuracy by language with 95% bootstrap intervals; red diamonds: the "
        "study's published values; dotted: chance.",
    )


# ---------------------------------------------------------------------------- fertility


def fertility_section(ctx: Context, section: Section) -> None:
    data = ctx.inputs.json("metrics/fertility.json")
    if not data:
        section.blocks.append(_not_run("fertility", "metrics/fertility.json"))
        section.status = "not run"
        return
    tokenizers = list(data)
    tiers = ctx.inputs.tiers()
    langs = _order(lang for values in data.values() for lang in values)
    columns = ["Language"]
    for name in tokenizers:
        columns += [f"{name} /word", f"{name} /seg. word"]
    columns += ["gpt2 vs en", "Study /word", "FLORES vs en (ref.)", "Tier", "Study tier"]
    rows = []
    for lang in langs:
        row = [_language(lang)]
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
        _table(
            columns,
            rows,
            caption="Fertility: tokens per whitespace word (/word) and per segmented word",
            note="Segmented words use a real word segmenter for zh and th (whitespace words are "
            "meaningless there). The study measured XNLI-MT training rows, which are "
            "punctuation-tokenized; FLORES: Petrov et al. 2023, tokens relative to English.",
        )
    )
    section.blocks += selection_blocks(ctx.inputs.selection())
    section.blocks.append(fertility_bars_plot(data))
    plot = fertility_scatter_plot(ctx.inputs.fertility(), ctx.inputs.zeroshot_accuracy())
    if plot:
        section.blocks.append(plot)
    else:
        section.blocks.append(_not_run("zeroshot (fertility vs accuracy)", "metrics/zeroshot.json"))
        section.status = "partial"


def selection_blocks(selection: Mapping[str, Any] | None) -> list[Block]:
    if not selection:
        return [_not_run("fertility (selection)", "metrics/selection.json")]

    def codes(key: str) -> str:
        return ", ".join(selection.get(key, [])) or "none"

    return [
        Paragraph(
            f"Tier rule (the study's): Tier 1 fertility < {study.TIER1_MAX_FERTILITY} and "
            f"zero-shot > {study.TIER1_MIN_ACCURACY:.0f}%; Tier 3 fertility > "
            f"{study.TIER3_MIN_FERTILITY} and zero-shot < {study.TIER3_MAX_ACCURACY:.0f}%; "
            "else Tier 2. Proposed by the rule on this run's numbers: "
            f"{codes('proposed_by_rule')}. "
            f"Fine-tuned (params): {codes('finetune_list')}. Proposed but not fine-tuned: "
            f"{codes('proposed_but_not_in_list')}. Fine-tuned although Tier 3: "
            f"{codes('in_list_but_tier_3')}. The study chose {', '.join(study.SELECTED_LANGUAGES)}."
        )
    ]


def fertility_bars_plot(data: Mapping[str, Mapping[str, Any]]) -> Plot:
    langs = _order(lang for values in data.values() for lang in values)
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
    fig, (ax,) = _figure(10, 4.2)
    offsets = _bars(ax, langs, series)
    segmented = {
        k: v["tokens_per_segmented_word"]
        for k, v in data.get("gpt2", {}).items()
        if v.get("tokens_per_segmented_word") != v.get("tokens_per_word")
    }
    _markers(
        ax,
        langs,
        segmented,
        offsets[0],
        marker="v",
        color="black",
        s=30,
        label="gpt2, segmented words (zh, th)",
    )
    _markers(
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
        _png(fig),
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
    fig, axes = _figure(12, 4.6, ncols=2)
    for ax, points, color, title in (
        (axes[0], ours, OURS, "This run"),
        (axes[1], published, STUDY, "Study (published)"),
    ):
        _scatter_with_fit(ax, points, color=color, log_x=True)
        _chance_line(ax)
        ax.set(
            xlabel="GPT-2 tokens per whitespace word (log scale)",
            ylabel="zero-shot test accuracy (%)",
            title=title,
        )
    fig.suptitle("Fertility vs zero-shot accuracy")
    return Plot(
        "fertility_vs_zeroshot",
        _png(fig),
        "Fertility vs zero-shot accuracy, with a least-squares line on log10 fertility; Pearson r "
        "is on log10 fertility, Spearman r on ranks (scale-free).",
    )


# ---------------------------------------------------------------------------- fine-tuning


def finetuning_section(ctx: Context, section: Section) -> None:
    per_language = ctx.inputs.per_language()
    all_languages = ctx.inputs.finetune_all()
    zeroshot = ctx.inputs.zeroshot_accuracy()
    if per_language:
        section.blocks.append(per_language_table(per_language, zeroshot, ctx.inputs.tiers()))
    else:
        section.blocks.append(_not_run("finetune_per_lang", "metrics/finetune_per_lang/*.json"))
    if all_languages:
        section.blocks.append(all_language_table(all_languages, zeroshot))
    else:
        section.blocks.append(_not_run("finetune_all", "metrics/finetune_all.json"))
    if not per_language and not all_languages:
        section.status = "not run"
        return
    if not per_language or not all_languages:
        section.status = "partial"
    section.blocks.append(finetuning_plot(ctx.inputs.zeroshot(), per_language, all_languages))


def per_language_table(
    per_language: Mapping[str, Mapping[str, Any]],
    zeroshot: Mapping[str, float],
    tiers: Mapping[str, int],
) -> Table:
    rows = []
    for lang in _order(per_language):
        m = per_language[lang]
        base = m.get("zeroshot_strict_accuracy", zeroshot.get(lang))
        change = m.get("change_vs_zeroshot")
        reported = study.PER_LANGUAGE_REPORTED.get(lang)
        study_zero = study.ZEROSHOT.get(lang)
        rows.append(
            (
                _language(lang),
                fmt(tiers.get(lang)),
                f"{fmt(m.get('fraction'))}\u00a0{m.get('mode', '')}".strip(),
                fmt(m.get("train_examples")),
                fmt(base),
                _accuracy_ci(m.get("test")),
                fmt_signed(change),
                fmt(reported),
                fmt(study.PER_LANGUAGE_NOTEBOOK.get(lang)),
                fmt_signed(reported - study_zero) if reported and study_zero else DASH,
            )
        )
    return _table(
        (
            "Language",
            "Tier",
            "Fraction",
            "Train rows",
            "Zero-shot",
            "Per-language [95% CI]",
            "Change",
            "Study (write-up)",
            "Study (notebook)",
            "Study change",
        ),
        rows,
        caption="Per-language fine-tuning: pretrained GPT-2 on each language's own rows",
        note="The study used the first 1% of rows (3,927); change = fine-tuned minus zero-shot "
        "strict accuracy; the study's change uses its write-up numbers.",
    )


def all_language_table(data: Mapping[str, Any], zeroshot: Mapping[str, float]) -> Table:
    trained = set(data.get("trained_on", []))
    languages = data.get("languages", {})
    rows = []
    for lang in _order(languages):
        m = languages[lang]
        notebook = study.ALL_LANGUAGE_NOTEBOOK.get(lang)
        study_zero = study.ZEROSHOT.get(lang)
        rows.append(
            (
                _language(lang),
                "yes" if lang in trained else "no",
                fmt(zeroshot.get(lang)),
                _accuracy_ci(m),
                fmt_signed(m.get("change_vs_zeroshot")),
                fmt_signed(m.get("change_vs_per_language")),
                fmt(notebook),
                fmt_signed(notebook - study_zero) if notebook and study_zero else DASH,
            )
        )
    return _table(
        (
            "Language",
            "Trained on",
            "Zero-shot",
            "All-language [95% CI]",
            "vs zero-shot",
            "vs per-language",
            "Study (notebook)",
            "Study vs zero-shot",
        ),
        rows,
        caption=(
            f"All-language fine-tuning: one GPT-2 on {', '.join(data.get('trained_on', []))} "
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
    langs = _order(lang for lang in trained if lang in zeroshot or lang in per_language)
    per_lang_metrics = {lang: m["test"] for lang, m in per_language.items() if "test" in m}
    fig, axes = _figure(12, 4.4, ncols=2)
    _bars(
        axes[0],
        langs,
        [
            (
                "zero-shot",
                {k: v["strict_accuracy"] for k, v in zeroshot.items()},
                _intervals(zeroshot),
                GREY,
            ),
            (
                "per-language",
                {k: v["strict_accuracy"] for k, v in per_lang_metrics.items()},
                _intervals(per_lang_metrics),
                OURS,
            ),
            (
                "all-language",
                {k: v["strict_accuracy"] for k, v in all_languages.items()},
                _intervals(all_languages),
                "#ff7f0e",
            ),
        ],
    )
    study_langs = _order(study.ALL_LANGUAGE_NOTEBOOK)
    _bars(
        axes[1],
        study_langs,
        [
            ("zero-shot", dict(study.ZEROSHOT), {}, GREY),
            ("per-language (write-up)", dict(study.PER_LANGUAGE_REPORTED), {}, OURS),
            ("all-language (notebook)", dict(study.ALL_LANGUAGE_NOTEBOOK), {}, "#ff7f0e"),
        ],
    )
    for ax, title in ((axes[0], "This run (95% CI)"), (axes[1], "Study (published)")):
        _chance_line(ax)
        ax.set(xlabel="language", ylabel="test accuracy (%)", ylim=(0, 100), title=title)
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle("Zero-shot vs per-language vs all-language fine-tuning")
    return Plot(
        "finetuning_comparison",
        _png(fig),
        "Test accuracy of the zero-shot, per-language and all-language models by language; "
        "left this run with 95% intervals, right the study's numbers.",
    )


# ---------------------------------------------------------------------------- translation

CORRELATION_NAMES = {
    "nli_zeroshot": "zero-shot NLI accuracy",
    "nli_finetuned": "per-language NLI accuracy",
    "fertility_gpt2": "GPT-2 fertility",
}


def translation_section(ctx: Context, section: Section) -> None:
    data = ctx.inputs.translate()
    if not data or not data.get("languages"):
        section.blocks.append(_not_run("translate", "metrics/translate.json"))
        section.status = "not run"
        return
    languages = data["languages"]
    zeroshot = ctx.inputs.zeroshot_accuracy()
    rows = []
    for lang in _order(languages):
        m = languages[lang]
        published = study.TRANSLATION.get(lang, {})
        rows.append(
            (
                _language(lang),
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
        _table(
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
    return _table(
        ("Score", "Against", "Correlation across languages"),
        rows,
        caption="Translation scores vs per-language numbers",
    )


def _clip(text: str, limit: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def translation_examples_table(examples: Mapping[str, Any] | None) -> Table | None:
    rows = []
    for lang in _order(examples or {}):
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
    return _table(
        ("Lang", "Source", "Reference", "GPT-2 output", "Grammar", "Meaning"),
        rows,
        caption="One translation per language (the first evaluated row)",
    )


def translation_plot(languages: Mapping[str, Any], zeroshot: Mapping[str, float]) -> Plot:
    fig, axes = _figure(14, 4.4, ncols=3)
    panels = (
        (axes[0], "grammar", "grammar heuristic (1-5)", "This run: grammar"),
        (axes[1], "chrf", "chrF (0-100)", "This run: chrF"),
    )
    for ax, key, label, title in panels:
        points = {
            lang: (m.get(key, math.nan), zeroshot.get(lang, math.nan))
            for lang, m in languages.items()
        }
        _scatter_with_fit(ax, points, color=OURS)
        ax.set(xlabel=label, ylabel="zero-shot NLI accuracy (%)", title=title)
    published = {
        lang: (values["grammar"], study.ZEROSHOT[lang])
        for lang, values in study.TRANSLATION.items()
    }
    _scatter_with_fit(axes[2], published, color=STUDY)
    axes[2].set(
        xlabel="grammar heuristic (1-5)",
        ylabel="zero-shot NLI accuracy (%)",
        title=f"Study: grammar (reported r = {study.TRANSLATION_GRAMMAR_NLI_PEARSON})",
    )
    fig.suptitle("Translation quality vs NLI accuracy")
    return Plot(
        "translation_vs_nli",
        _png(fig),
        "Per-language translation scores against zero-shot NLI accuracy, with least-squares "
        "lines; right: the study's grammar scores against its zero-shot accuracy.",
    )


# ---------------------------------------------------------------------------- probing

PROBE_MODELS = {
    "pretrained": "pretrained GPT-2 (the study's setting)",
    "finetuned_en": "English fine-tuned GPT-2",
}


def probe_section(ctx: Context, section: Section) -> None:
    summary = ctx.inputs.json("metrics/probe.json")
    if not summary:
        section.blocks.append(_not_run("probe", "metrics/probe.json"))
        section.status = "not run"
        return
    details = ctx.inputs.json("data/probe/results.json") or {}
    for model, languages in summary.items():
        section.blocks.append(probe_table(model, languages, details.get(model, {})))
    first = next(iter(details.values()), {})
    if first:
        section.blocks.append(
            Paragraph(
                f"Layer ranges: early = study layers {first.get('early_layers')} (hidden states "
                f"{first.get('early_hidden_states')}), late = {first.get('late_layers')} (hidden "
                f"states {first.get('late_hidden_states')}) of a {first.get('n_layers')}-layer "
                f"model. {' '.join(first.get('notes', []))}"
            )
        )
    section.blocks.append(probe_correlation_table(ctx.inputs.correlations("probe")))
    curves = probe_curves(details, ctx.inputs.csv("data/plots/probe_similarity.csv"))
    if curves:
        section.blocks.append(similarity_plot(curves, details))
    section.blocks.append(entropy_plot(summary, details))


def probe_table(model: str, languages: Mapping[str, Any], details: Mapping[str, Any]) -> Table:
    per_language = details.get("languages", {})
    rows = []
    for lang in _order(languages):
        m = languages[lang]
        d = per_language.get(lang, {})
        entropy_ci = d.get("attention_entropy_interval") or (None, None)
        gain_ci = d.get("gain_interval") or (None, None)
        published = study.PROBE.get(lang, {}) if model == "pretrained" else {}
        rows.append(
            (
                _language(lang),
                fmt(d.get("n_sentences"))
                + (f" ({cut} cut)" if (cut := d.get("n_truncated")) else ""),
                fmt_ci(m.get("attention_entropy"), *entropy_ci, digits=3),
                fmt(m.get("attention_entropy_relative"), 3),
                fmt(m.get("early"), 4),
                fmt(m.get("late"), 4),
                fmt_ci(m.get("gain"), *gain_ci, digits=4),
                fmt(published.get("early"), 4),
                fmt(published.get("late"), 4),
                fmt_signed(published.get("gain"), 4),
            )
        )
    return _table(
        (
            "Language",
            "Sentences",
            "Attention entropy [95% CI]",
            "Entropy / uniform",
            "Early",
            "Late",
            "Gain [95% CI]",
            "Study early",
            "Study late",
            "Study gain",
        ),
        rows,
        caption=f"Probe: {PROBE_MODELS.get(model, model)}",
        note="Similarity = cosine between the mean-pooled hidden state of a sentence and of its "
        "English original; gain = late - early. Entropy / uniform divides by the entropy of "
        "uniform causal attention over as many tokens (the raw entropy mostly tracks length). "
        "'Cut' sentences exceeded probe.max_length tokens and were truncated. The study used "
        "4 sentences, pretrained GPT-2.",
    )


def probe_correlation_table(data: Mapping[str, Any] | None) -> Block:
    rows = [
        (PROBE_MODELS.get(model, model), name, fmt_corr(stats))
        for model, fields in (data or {}).items()
        for name, stats in fields.items()
    ]
    if not rows:
        return _not_run("probe (correlations)", "metrics/probe_correlations.json")
    return _table(
        ("Model", "Probe number", "vs zero-shot accuracy (languages but English)"),
        rows,
        caption="Probe numbers vs zero-shot NLI accuracy",
    )


def probe_curves(
    details: Mapping[str, Any], csv: pd.DataFrame | None
) -> dict[str, dict[str, list[float]]]:
    """model -> language -> similarity per hidden state, from results.json or the plot CSV."""
    curves = {
        model: {
            lang: list(d["similarity_per_layer"])
            for lang, d in result.get("languages", {}).items()
            if d.get("similarity_per_layer")
        }
        for model, result in details.items()
    }
    curves = {model: langs for model, langs in curves.items() if langs}
    if curves or csv is None or not {"model", "language", "layer", "similarity"} <= set(csv):
        return curves
    for (model, lang), group in csv.sort_values("layer").groupby(["model", "language"]):
        curves.setdefault(str(model), {})[str(lang)] = group["similarity"].tolist()
    return curves


def similarity_plot(
    curves: Mapping[str, Mapping[str, list[float]]], details: Mapping[str, Any]
) -> Plot:
    fig, axes = _figure(13, 4.6, ncols=len(curves))
    colors = [f"C{i}" for i in range(10)] + ["#444444", "#bcbd22", "#aec7e8", "#ffbb78", "#98df8a"]
    for ax, (model, languages) in zip(axes, curves.items(), strict=True):
        info = details.get(model, {})
        for key, shade in (("early_hidden_states", "#e8f1fb"), ("late_hidden_states", "#fdeeee")):
            span = info.get(key)
            if span:
                ax.axvspan(min(span) - 0.4, max(span) + 0.4, color=shade, zorder=0)
        for number, lang in enumerate(lang for lang in _order(languages) if lang != "en"):
            style = "-" if lang in LATIN_SCRIPT else "--"
            ax.plot(
                range(len(languages[lang])),
                languages[lang],
                style,
                marker="o",
                markersize=3,
                color=colors[number % len(colors)],
                label=lang,
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(
            xlabel="hidden state (0 = embeddings)",
            ylabel="cosine similarity to English",
            title=PROBE_MODELS.get(model, model),
        )
        ax.legend(fontsize=7, ncols=2, loc="lower right")
    fig.suptitle("Layer similarity to English by language (blue band: early, red: late)")
    return Plot(
        "probe_similarity",
        _png(fig),
        "Cosine similarity to the English sentence per hidden state; solid: Latin script, "
        "dashed: other scripts; shaded: the early and late ranges of the gain.",
    )


def entropy_plot(summary: Mapping[str, Any], details: Mapping[str, Any]) -> Plot:
    langs = _order(lang for languages in summary.values() for lang in languages)
    series = []
    for (model, languages), color in zip(summary.items(), PALETTE, strict=False):
        per_language = details.get(model, {}).get("languages", {})
        intervals = {
            lang: tuple(d["attention_entropy_interval"])
            for lang, d in per_language.items()
            if d.get("attention_entropy_interval")
        }
        values = {lang: m["attention_entropy"] for lang, m in languages.items()}
        series.append((PROBE_MODELS.get(model, model), values, intervals, color))
    fig, (ax,) = _figure(10, 4)
    _bars(ax, langs, series)
    ax.set(
        xlabel="language",
        ylabel="attention entropy (nats)",
        title="Attention entropy by language (95% CI)",
    )
    ax.legend(fontsize=8)
    return Plot(
        "attention_entropy",
        _png(fig),
        "Shannon entropy of the head- and layer-averaged attention map, by language and model.",
    )


# ---------------------------------------------------------------------------- LoRA model


def qwen_section(ctx: Context, section: Section) -> None:
    data = ctx.inputs.qwen_lora()
    if not data or not data.get("languages"):
        section.blocks.append(_not_run("qwen_lora", "metrics/qwen_lora.json"))
        section.status = "not run"
        return
    languages = data["languages"]
    gpt2 = ctx.inputs.zeroshot()
    rows = []
    for lang in _order(languages):
        m = languages[lang]
        study_gpt2, study_qwen = study.ZEROSHOT.get(lang), study.QWEN_LORA.get(lang)
        gpt2_accuracy = m.get("gpt2_zeroshot_strict_accuracy")
        change = m.get("change_vs_gpt2")
        rows.append(
            (
                _language(lang),
                _accuracy_ci(gpt2.get(lang)) if lang in gpt2 else fmt(gpt2_accuracy),
                _accuracy_ci(m),
                fmt_signed(change),
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
        _table(
            (
                "Language",
                "GPT-2 zero-shot [95% CI]",
                "LoRA model [95% CI]",
                "Change",
                "Study GPT-2",
                "Study Qwen2.5",
                "Study change",
            ),
            rows,
            caption="Zero-shot accuracy: English-tuned LoRA model vs English-tuned GPT-2",
            note="The study reported only en, th, ar, de and zh.",
        ),
        qwen_plot(gpt2, languages),
    ]


def qwen_plot(gpt2: Mapping[str, Mapping[str, Any]], lora: Mapping[str, Mapping[str, Any]]) -> Plot:
    langs = _order(lora)
    fig, (ax,) = _figure(10, 4.2)
    offsets = _bars(
        ax,
        langs,
        [
            (
                "GPT-2 (95% CI)",
                {k: v["strict_accuracy"] for k, v in gpt2.items()},
                _intervals(gpt2),
                GREY,
            ),
            (
                "LoRA model (95% CI)",
                {k: v["strict_accuracy"] for k, v in lora.items()},
                _intervals(lora),
                OURS,
            ),
        ],
    )
    study_gpt2 = {lang: study.ZEROSHOT[lang] for lang in study.QWEN_LORA}
    _markers(
        ax, langs, study_gpt2, offsets[0], marker="x", color="black", s=30, label="study GPT-2"
    )
    _markers(
        ax, langs, study.QWEN_LORA, offsets[1], marker="D", color=STUDY, s=30, label="study Qwen2.5"
    )
    _chance_line(ax)
    ax.set(
        xlabel="language",
        ylabel="test accuracy (%)",
        ylim=(0, 100),
        title="GPT-2 vs the LoRA model, zero-shot from English",
    )
    ax.legend(fontsize=8, ncols=3, loc="upper right")
    return Plot(
        "gpt2_vs_lora",
        _png(fig),
        "Zero-shot test accuracy of the two English-tuned models by language; markers: the "
        "study's published numbers (5 languages).",
    )


# ============================================================================ findings


def _not_run_finding(claim: str, study_text: str, missing: str) -> Finding:
    return Finding(claim, study_text, f"needs {missing}", "not run")


def significance_verdict(
    effect: Any,
    *,
    p: Any = None,
    ci: tuple[Any, Any] | None = None,
    expected_sign: int = 1,
) -> str:
    """The one significance rule of every claim: an effect is significant when p < ALPHA or its
    95% interval excludes zero; then its sign decides "supported" (the claim's direction) or
    "contradicted"; otherwise, or when the numbers are missing, "inconclusive"."""
    if not _finite(effect) or effect == 0:
        return "inconclusive"
    by_p = _finite(p) and p < ALPHA
    by_ci = ci is not None and all(_finite(v) for v in ci) and (ci[0] > 0 or ci[1] < 0)
    if not (by_p or by_ci):
        return "inconclusive"
    return "supported" if np.sign(effect) == np.sign(expected_sign) else "contradicted"


def change_outcome(low: Any, high: Any, baseline: Any) -> str:
    """Whether a change helps a language: "helps" when the new accuracy's 95% interval lies
    above the baseline, "hurts" when below, "unclear" when it covers it (or a number is missing).
    A gain of +0.01 points inside the interval is no help."""
    if not (_finite(low) and _finite(high) and _finite(baseline)):
        return "unclear"
    if low > baseline:
        return "helps"
    if high < baseline:
        return "hurts"
    return "unclear"


def every_language_verdict(outcomes: Mapping[str, str]) -> str:
    """A claim that a change helps every language: "supported" when it helps each one,
    "contradicted" when it hurts at least one, else "inconclusive"."""
    if not outcomes:
        return "inconclusive"
    if any(outcome == "hurts" for outcome in outcomes.values()):
        return "contradicted"
    if all(outcome == "helps" for outcome in outcomes.values()):
        return "supported"
    return "inconclusive"


def majority_verdict(verdicts: Mapping[str, str]) -> str:
    """A claim about most languages: "supported" / "contradicted" when more than half of the
    per-language verdicts (each under the one rule) are; else "inconclusive"."""
    for verdict in ("supported", "contradicted"):
        if sum(v == verdict for v in verdicts.values()) * 2 > len(verdicts):
            return verdict
    return "inconclusive"


def compound_verdict(parts: Sequence[str]) -> str:
    """A claim made of parts: "supported" when every part is, "partly supported" when some
    part is, else "contradicted" when some part is, else "inconclusive"."""
    if parts and all(part == "supported" for part in parts):
        return "supported"
    if "supported" in parts:
        return "partly supported"
    return "contradicted" if "contradicted" in parts else "inconclusive"


def _outcome_text(outcomes: Mapping[str, str]) -> str:
    groups = {name: [k for k in _order(outcomes) if outcomes[k] == name] for name in OUTCOMES}
    return "; ".join(f"{name}: {', '.join(langs)}" for name, langs in groups.items() if langs)


OUTCOMES = ("helps", "hurts", "unclear")


def _correlation_verdict(stats: Mapping[str, Any], key: str, sign: int) -> str:
    return significance_verdict(stats.get(f"{key}_r"), p=stats.get(f"{key}_p"), expected_sign=sign)


def claim_near_chance(inputs: Inputs) -> Finding:
    claim = "1. Zero-shot transfer from English is near chance for most languages."
    published = {k: v for k, v in study.ZEROSHOT.items() if k != "en"}
    near = [k for k, v in published.items() if abs(v - study.CHANCE) <= NEAR_CHANCE_POINTS]
    study_text = (
        f"{len(near)} of {len(published)} languages within {NEAR_CHANCE_POINTS:.0f} points of "
        f"chance (English {study.ZEROSHOT['en']:.2f}%)."
    )
    zeroshot = inputs.zeroshot()
    others = {k: v for k, v in zeroshot.items() if k != "en"}
    if not others:
        return _not_run_finding(claim, study_text, "metrics/zeroshot.json")
    close = [
        k
        for k, m in others.items()
        if abs(m["strict_accuracy"] - study.CHANCE) <= NEAR_CHANCE_POINTS
    ]
    covering = [
        k
        for k, m in others.items()
        if _finite(m.get("strict_ci95_low"))
        and m["strict_ci95_low"] <= study.CHANCE <= m["strict_ci95_high"]
    ]
    english = zeroshot.get("en", {}).get("strict_accuracy")
    ours = (
        f"{len(close)} of {len(others)} languages within {NEAR_CHANCE_POINTS:.0f} points of "
        f"chance; the 95% CI includes chance for {len(covering)}; English {fmt(english)}%."
    )
    verdict = "supported" if len(close) * 2 > len(others) else "not supported"
    if _finite(english) and english - study.CHANCE <= NEAR_CHANCE_POINTS:
        verdict = "inconclusive"
        ours += " English itself is near chance, so there is nothing to transfer."
    return Finding(claim, study_text, ours, verdict)


def fertility_correlation(
    fertility: Mapping[str, float], accuracy: Mapping[str, float]
) -> dict[str, Any]:
    """Fertility vs accuracy across languages: Pearson on log10 fertility, Spearman on ranks."""
    both = [lang for lang in _order(fertility) if lang in accuracy and _finite(fertility[lang])]
    both = [lang for lang in both if fertility[lang] > 0]
    return correlate([math.log10(fertility[k]) for k in both], [accuracy[k] for k in both])


def _fertility_text(stats: Mapping[str, Any]) -> str:
    return (
        f"Spearman r = {fmt(stats['spearman_r'])} ({fmt_p(stats['spearman_p'])}), Pearson r on "
        f"log10 fertility = {fmt(stats['pearson_r'])} ({fmt_p(stats['pearson_p'])}), "
        f"n = {stats['n']}"
    )


def claim_fertility(inputs: Inputs) -> Finding:
    claim = "2. Higher fertility goes with lower zero-shot accuracy."
    published = fertility_correlation(study.FERTILITY, study.ZEROSHOT)
    study_text = f"Claimed a strong negative relation; its numbers: {_fertility_text(published)}."
    accuracy = inputs.zeroshot_accuracy()
    fertility = inputs.fertility()
    if not accuracy or not fertility:
        return _not_run_finding(claim, study_text, "metrics/fertility.json, metrics/zeroshot.json")
    stats = fertility_correlation(fertility, accuracy)
    segmented = fertility_correlation(inputs.fertility(key="tokens_per_segmented_word"), accuracy)
    ours = (
        f"Whitespace fertility: {_fertility_text(stats)}. Segmented words (zh, th): Spearman r = "
        f"{fmt(segmented['spearman_r'])} ({fmt_p(segmented['spearman_p'])})."
    )
    return Finding(claim, study_text, ours, _correlation_verdict(stats, "spearman", -1))


def _tier_gap_text(changes: Mapping[str, float], tier1: set[str]) -> tuple[str, float, float]:
    """Tier 1 against the rest: per-language changes, means, and a one-sided Mann-Whitney p in
    the direction observed (Tier 1 larger, or smaller). Returns (text, mean difference, p)."""
    groups = [
        _order(k for k in changes if k in tier1),
        _order(k for k in changes if k not in tier1),
    ]
    values = [[float(changes[k]) for k in group] for group in groups]
    means = [_mean(v) for v in values]
    parts = [
        f"{label} ({', '.join(f'{k} {fmt_signed(changes[k])}' for k in group)}) mean "
        f"{fmt_signed(mean)}"
        for label, group, mean in zip(("Tier 1", "others"), groups, means, strict=True)
    ]
    difference = means[0] - means[1]
    direction = "greater" if not difference < 0 else "less"
    p = float(scipy_stats.mannwhitneyu(*values, alternative=direction).pvalue)
    side = "Tier 1 larger" if direction == "greater" else "Tier 1 smaller"
    return (
        f"{parts[0]} vs {parts[1]} points; one-sided Mann-Whitney ({side}) {fmt_p(p)}",
        difference,
        p,
    )


def _difference_verdict(difference: float, p: float) -> str:
    """Claim 3's difference (Tier 1 minus the others) under the one significance rule."""
    return significance_verdict(difference, p=p, expected_sign=1)


def claim_tier1_gain(inputs: Inputs) -> Finding:
    claim = "3. Per-language fine-tuning on 1% helps the Tier-1 languages more than the others."
    study_tier1 = {
        k
        for k in study.FERTILITY
        if k in study.ZEROSHOT and study.study_tier(study.FERTILITY[k], study.ZEROSHOT[k]) == 1
    }
    study_changes = {k: v - study.ZEROSHOT[k] for k, v in study.PER_LANGUAGE_REPORTED.items()}
    study_text = "Change vs zero-shot: " + _tier_gap_text(study_changes, study_tier1)[0] + "."
    per_language = inputs.per_language()
    changes = {
        k: m["change_vs_zeroshot"]
        for k, m in per_language.items()
        if _finite(m.get("change_vs_zeroshot"))
    }
    if not changes:
        return _not_run_finding(claim, study_text, "metrics/finetune_per_lang/*.json")
    tiers = inputs.tiers()
    tier1 = {k for k in changes if tiers.get(k) == 1}
    grouping = "this run's tiers"
    if not tier1 or tier1 == set(changes):
        tier1 = study_tier1 & set(changes)
        grouping = "the study's tiers (this run's tiers give no split)"
    if not tier1 or tier1 == set(changes):
        return Finding(
            claim,
            study_text,
            "No Tier-1 / other split among the fine-tuned languages.",
            "inconclusive",
        )
    text, difference, p = _tier_gap_text(changes, tier1)
    return Finding(claim, study_text, f"By {grouping}: {text}.", _difference_verdict(difference, p))


def claim_all_language(inputs: Inputs) -> Finding:
    claim = "4. All-language training helps every language vs zero-shot."
    changes = {k: v - study.ZEROSHOT[k] for k, v in study.ALL_LANGUAGE_NOTEBOOK.items()}
    gains = [k for k, v in changes.items() if k != "en" and v > 0]
    study_text = (
        f"Notebook: {len(gains)} of {len(changes) - 1} trained non-English languages improve; "
        f"English {fmt_signed(changes['en'])} points."
    )
    data = inputs.finetune_all()
    if not data or not data.get("languages"):
        return _not_run_finding(claim, study_text, "metrics/finetune_all.json")
    zeroshot = inputs.zeroshot_accuracy()
    languages = data["languages"]
    # Every trained language, English included: the claim is about every language.
    trained = [k for k in data.get("trained_on", languages) if k in languages and k in zeroshot]
    outcomes = {
        k: change_outcome(
            languages[k].get("strict_ci95_low"), languages[k].get("strict_ci95_high"), zeroshot[k]
        )
        for k in trained
    }
    english = (languages.get("en") or {}).get("change_vs_zeroshot")
    ours = (
        f"Of {len(outcomes)} trained languages (English included), by whether the 95% CI lies "
        f"above / below the zero-shot accuracy: {_outcome_text(outcomes) or 'none'}; English "
        f"{fmt_signed(english)} points."
    )
    return Finding(claim, study_text, ours, every_language_verdict(outcomes))


def claim_translation(inputs: Inputs) -> Finding:
    claim = "5. Translation grammar correlates with NLI accuracy."
    langs = list(study.TRANSLATION)
    recomputed = correlate(
        [study.TRANSLATION[k]["grammar"] for k in langs], [study.ZEROSHOT[k] for k in langs]
    )
    study_text = (
        f"Reported Pearson r = {study.TRANSLATION_GRAMMAR_NLI_PEARSON}; recomputed against its "
        f"zero-shot table: r = {fmt(recomputed['pearson_r'])} ({fmt_p(recomputed['pearson_p'])})."
    )
    data = inputs.json("metrics/translate.json")
    accuracy = inputs.zeroshot_accuracy()
    if not data or not data.get("languages") or not accuracy:
        return _not_run_finding(claim, study_text, "metrics/translate.json")
    both = [k for k in _order(data["languages"]) if k in accuracy]
    stats = correlate([data["languages"][k]["grammar"] for k in both], [accuracy[k] for k in both])
    chrf = correlate(
        [data["languages"][k].get("chrf", math.nan) for k in both], [accuracy[k] for k in both]
    )
    ours = (
        f"Grammar vs zero-shot accuracy: {fmt_corr(stats)}. chrF: Pearson r = "
        f"{fmt(chrf['pearson_r'])} ({fmt_p(chrf['pearson_p'])})."
    )
    return Finding(claim, study_text, ours, _correlation_verdict(stats, "pearson", 1))


def claim_probe(inputs: Inputs) -> Finding:
    claim = (
        "6. Late layers are more similar to English than early ones (positive gain), "
        "more so for distant scripts (el)."
    )
    gains = {k: v["gain"] for k, v in study.PROBE.items()}
    study_text = "Gains " + ", ".join(f"{k} {fmt_signed(v, 4)}" for k, v in gains.items()) + "."
    summary = inputs.json("metrics/probe.json") or {}
    model = "pretrained" if "pretrained" in summary else next(iter(summary), None)
    if model is None:
        return _not_run_finding(claim, study_text, "metrics/probe.json")
    ours_gains = {
        k: m["gain"] for k, m in summary[model].items() if k != "en" and _finite(m.get("gain"))
    }
    if not ours_gains:
        return Finding(claim, study_text, "No per-language gains.", "inconclusive")
    details = (inputs.json("data/probe/results.json") or {}).get(model, {}).get("languages", {})
    per_language = {
        k: significance_verdict(v, ci=tuple(details.get(k, {}).get("gain_interval") or (None,) * 2))
        for k, v in ours_gains.items()
    }
    above_zero = [k for k, v in per_language.items() if v == "supported"]
    below_zero = [k for k, v in per_language.items() if v == "contradicted"]
    latin_gains = [v for k, v in ours_gains.items() if k in LATIN_SCRIPT]
    distant_gains = [v for k, v in ours_gains.items() if k not in LATIN_SCRIPT]
    latin, distant = _mean(latin_gains), _mean(distant_gains)
    script_verdict, script_p = "inconclusive", math.nan
    if latin_gains and distant_gains:
        direction = "greater" if not distant < latin else "less"
        script_p = float(
            scipy_stats.mannwhitneyu(distant_gains, latin_gains, alternative=direction).pvalue
        )
        script_verdict = significance_verdict(distant - latin, p=script_p)
    ours = (
        f"{PROBE_MODELS.get(model, model)}: of {len(ours_gains)} languages, the gain's 95% CI "
        f"lies above 0 for {len(above_zero)} and below 0 for {len(below_zero)}; mean gain, other "
        f"scripts {fmt_signed(distant, 4)} vs Latin {fmt_signed(latin, 4)} (one-sided "
        f"Mann-Whitney {fmt_p(script_p)})"
        + (f"; el {fmt_signed(ours_gains['el'], 4)}." if "el" in ours_gains else ".")
        + ("" if details else " No gain intervals (data/probe/results.json is missing).")
    )
    verdict = compound_verdict([majority_verdict(per_language), script_verdict])
    return Finding(claim, study_text, ours, verdict)


def claim_lora(inputs: Inputs) -> Finding:
    claim = "7. The modern LoRA model beats GPT-2 zero-shot in every language."
    wins = [k for k, v in study.QWEN_LORA.items() if v > study.ZEROSHOT[k]]
    study_text = f"{len(wins)} of {len(study.QWEN_LORA)} reported languages improve."
    data = inputs.qwen_lora()
    if not data or not data.get("languages"):
        return _not_run_finding(claim, study_text, "metrics/qwen_lora.json")
    changes = {k: m.get("change_vs_gpt2") for k, m in data["languages"].items()}
    changes = {k: v for k, v in changes.items() if _finite(v)}
    gpt2 = inputs.zeroshot_accuracy()
    outcomes = {
        k: change_outcome(
            data["languages"][k].get("strict_ci95_low"),
            data["languages"][k].get("strict_ci95_high"),
            gpt2[k],
        )
        for k in changes
        if k in gpt2
    }
    ours = (
        f"Of {len(outcomes)} languages, by whether the LoRA model's 95% CI lies above / below "
        f"GPT-2's accuracy: {_outcome_text(outcomes) or 'none'}; mean change "
        f"{fmt_signed(_mean(changes.values()))} points."
    )
    return Finding(claim, study_text, ours, every_language_verdict(outcomes))


CLAIMS: tuple[Callable[[Inputs], Finding], ...] = (
    claim_near_chance,
    claim_fertility,
    claim_tier1_gain,
    claim_all_language,
    claim_translation,
    claim_probe,
    claim_lora,
)


def findings_section(findings: Sequence[Finding]) -> Section:
    rows = [(f.claim, f.study, f.ours, f.verdict) for f in findings]
    counts = {v: sum(f.verdict == v for f in findings) for v in VERDICTS}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    return Section(
        "findings",
        "Findings: the study's claims against this run",
        [
            Paragraph(
                f"Computed from the numbers below ({summary}). Correlations are across languages. "
                f"One rule decides significance: p < {ALPHA} or a 95% CI excluding zero, and then "
                "the sign makes a claim *supported* or *contradicted*; else *inconclusive*. A "
                "change helps a language only when its 95% CI lies above the baseline."
            ),
            _table(("Claim", "Study", "This run", "Verdict"), rows, badge_column=3),
        ],
    )


# ============================================================================ assembly

#: (id, title, builder): each builder fills its section's blocks and status.
SECTIONS: tuple[tuple[str, str, Callable[[Context, Section], None]], ...] = (
    ("pretraining", "1. GPT-2 from scratch: toy pretraining", pretraining_section),
    ("finetune_en", "2. English NLI fine-tuning", finetune_en_section),
    ("zeroshot", "3a. Zero-shot transfer from English", zeroshot_section),
    ("fertility", "3b. Tokenizer fertility and language selection", fertility_section),
    ("finetuning", "3c. Per-language and all-language fine-tuning", finetuning_section),
    ("translation", "4a. Zero-shot translation into English", translation_section),
    ("probe", "4b. Probing: attention entropy and layer similarity", probe_section),
    ("qwen_lora", "4c. A modern multilingual model with LoRA vs GPT-2", qwen_section),
)


def _strict() -> bool:
    """REGPT2_STRICT_REPORT=1 (set by the tests): a crashing section or claim raises."""
    import os

    return os.environ.get("REGPT2_STRICT_REPORT", "") == "1"


def _safe(
    section_id: str, title: str, build: Callable[[Context, Section], None], ctx: Context
) -> Section:
    """Build one section; inputs of an unexpected shape give an "error" section, not a crash
    (unless REGPT2_STRICT_REPORT=1, as in the tests, where the error propagates)."""
    section = Section(section_id, title)
    try:
        build(ctx, section)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        if _strict():
            raise
        message = (
            f"Could not render this section: {type(error).__name__}: {error}. The metrics file "
            "may come from an older version of its stage; rerun it."
        )
        section.blocks, section.status = [Paragraph(message)], "error"
    return section


def assemble_report(
    root: Path | str,
    *,
    profile: str,
    sources: Mapping[str, str],
) -> Report:
    """Read everything under `root` and build the report's document (no files written)."""
    ctx = Context(Inputs(Path(root)), profile, dict(sources))
    findings = compute_findings(ctx.inputs)
    sections = [overview_section(ctx), findings_section(findings)]
    sections += [_safe(*entry, ctx) for entry in SECTIONS]
    title = "Reconstructing GPT-2: cross-lingual NLI, reproduced"
    return Report(title, profile, dict(sources), sections, findings)


def compute_findings(inputs: Inputs | Path | str) -> list[Finding]:
    """Check each of the study's claims against the numbers under a root (or an `Inputs`)."""
    inputs = inputs if isinstance(inputs, Inputs) else Inputs(Path(inputs))
    return [_safe_claim(claim, inputs) for claim in CLAIMS]


def _safe_claim(claim: Callable[[Inputs], Finding], inputs: Inputs) -> Finding:
    try:
        return claim(inputs)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        if _strict():
            raise
        name = claim.__name__.removeprefix("claim_").replace("_", " ")
        return Finding(
            name, DASH, f"could not compute: {type(error).__name__}: {error}", "inconclusive"
        )


def build_report(
    root: Path | str,
    out_dir: Path | str,
    *,
    profile: str,
    sources: Mapping[str, str],
) -> ReportPaths:
    """Build the report from `root` and write index.html, index.md and figures/ to `out_dir`."""
    report = assemble_report(root, profile=profile, sources=sources)
    out_dir = Path(out_dir)
    paths = ReportPaths(out_dir / "index.html", out_dir / "index.md", out_dir / FIGURES_DIR)
    with atomic_path(paths.figures) as folder:
        folder.mkdir(parents=True)
        for plot in report.plots():
            (folder / f"{plot.name}.png").write_bytes(plot.png)
    write_text(paths.markdown, render_markdown(report))
    write_text(paths.html, render_html(report))
    return paths


# ============================================================================ dvc experiments


def parse_exp_show(entries: Any) -> list[Experiment]:
    """The runs in `dvc exp show --json` output: workspace, commits, and their experiments."""
    runs: list[Experiment] = []

    def visit(entry: Mapping[str, Any]) -> None:
        data = entry.get("data") or {}
        params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
        metrics = data.get("metrics") or {}

        def read(path: str) -> dict:
            return (metrics.get(path) or {}).get("data") or {}

        training, scores = (
            read("metrics/training/finetune_en.json"),
            read("metrics/finetune_en.json"),
        )
        combined = None
        if training or scores:
            best_dev = training.get("best_dev_strict_accuracy")
            combined = {
                "dev": {"strict_accuracy": best_dev},
                "test": scores.get("test"),
                "train_loss": training.get("train_loss"),
            }
        rev = str(entry.get("rev") or "")
        name = entry.get("name") or (rev if rev == "workspace" else rev[:7])
        training_params = (params.get("finetune_en") or {}).get("training") or {}
        runs.append(Experiment(str(name), rev, dict(training_params), combined))

    for entry in entries if isinstance(entries, list) else []:
        visit(entry)
        for group in entry.get("experiments") or []:
            for rev in group.get("revs") or []:
                visit(rev)
    return runs


def experiments_markdown(experiments: list[Experiment] | None) -> str:
    """The English fine-tuning runs of `dvc exp show` as Markdown (`regpt2 experiments`)."""
    return "\n\n".join(markdown_block(block) for block in experiments_blocks(experiments)) + "\n"


def experiments_from_dvc(cwd: Path | str = ".", timeout: float = 120.0) -> list[Experiment] | None:
    """`dvc exp show --json` in `cwd`, parsed; None when DVC is unavailable or fails."""
    command = [sys.executable, "-m", "dvc", "exp", "show", "--json"]
    try:
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        return parse_exp_show(json.loads(result.stdout))
    except (json.JSONDecodeError, AttributeError, TypeError):
        return None


# ============================================================================ Markdown


def _md_cell(text: str) -> str:
    """One table cell: pipes escaped, one line, no raw HTML from model outputs."""
    text = str(text).replace("|", "\\|").replace("\n", " ").replace("\u00a0", " ")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def markdown_block(block: Block, badge_column: int | None = None) -> str:
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Plot):
        return f"![{block.caption}]({FIGURES_DIR}/{block.name}.png)\n\n*{block.caption}*"
    if isinstance(block, NotRun):
        missing = ", ".join(f"`{path}`" for path in block.missing)
        return (
            f"> **NOT RUN** -- stage `{block.stage}` has not produced {missing}. "
            f"Run `dvc repro` to fill this in."
        )
    lines = []
    if block.caption:
        lines += [f"**{block.caption}**", ""]
    lines.append("| " + " | ".join(_md_cell(c) for c in block.columns) + " |")
    aligns = _numeric_columns(block)
    lines.append("|" + "|".join("---:" if numeric else "---" for numeric in aligns) + "|")
    for row in block.rows:
        cells = [_md_cell(c) for c in row]
        if block.badge_column is not None:
            cells[block.badge_column] = f"**{cells[block.badge_column]}**"
        lines.append("| " + " | ".join(cells) + " |")
    if block.note:
        lines += ["", f"*{block.note}*"]
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    parts = [f"# {report.title}", ""]
    banner = report.banner()
    if banner:
        parts += [f"> **{banner[1]}**", ""]
    sources = ", ".join(f"{k} = `{v}`" for k, v in report.sources.items() if v)
    parts += [f"Profile: **{report.profile}**. Sources: {sources}.", ""]
    parts.append(
        "Generated by `python -m stages.report` from the metrics under `metrics/` and `data/`; "
        "`index.html` beside this file has the same content, self-contained."
    )
    parts.append("")
    parts += ["## Contents", ""]
    parts += [f"- [{s.title}](#{s.id}){_status_suffix(s)}" for s in report.sections]
    for section in report.sections:
        parts += ["", f'<a id="{section.id}"></a>', "", f"## {section.title}", ""]
        if section.status in ("not run", "partial", "error"):
            parts += [f"*Status: {section.status.upper()}*", ""]
        parts.append("\n\n".join(markdown_block(block) for block in section.blocks))
    return "\n".join(parts).rstrip() + "\n"


def _status_suffix(section: Section) -> str:
    return "" if section.status == "ok" else f" — **{section.status.upper()}**"


# ============================================================================ HTML

NUMERIC = re.compile(r"^[+\-−]?\d[\d,]*(\.\d+)?( \[.*\])?%?$")


def _numeric_columns(table: Table) -> list[bool]:
    flags = []
    for index in range(len(table.columns)):
        cells = [row[index] for row in table.rows if index < len(row) and row[index] != DASH]
        flags.append(index > 0 and bool(cells) and all(NUMERIC.match(c) for c in cells))
    return flags


INLINE = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*")


def _inline(text: str) -> str:
    """Escape `text` for HTML and turn `code`, **bold** and *italic* into tags."""
    out, position = [], 0
    for match in INLINE.finditer(text):
        out.append(html.escape(text[position : match.start()]))
        code, bold, italic = match.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif bold is not None:
            out.append(f"<strong>{html.escape(bold)}</strong>")
        else:
            out.append(f"<em>{html.escape(italic)}</em>")
        position = match.end()
    out.append(html.escape(text[position:]))
    return "".join(out)


def _badge(verdict: str) -> str:
    css = verdict.replace(" ", "-")
    return f'<span class="badge {css}">{html.escape(verdict)}</span>'


def html_table(table: Table) -> str:
    numeric = _numeric_columns(table)

    def cls(index: int) -> str:
        return ' class="num"' if numeric[index] else ""

    head = "".join(f"<th{cls(i)}>{_inline(c)}</th>" for i, c in enumerate(table.columns))
    body = []
    for row in table.rows:
        cells = []
        for index, cell in enumerate(row):
            content = _badge(cell) if index == table.badge_column else _inline(cell)
            cells.append(f"<td{cls(index)}>{content}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption = f"<caption>{_inline(table.caption)}</caption>" if table.caption else ""
    note = f'<p class="note">{_inline(table.note)}</p>' if table.note else ""
    return (
        f'<div class="table-wrap"><table>{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>{note}"
    )


def html_block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{_inline(block.text)}</p>"
    if isinstance(block, Plot):
        data = base64.b64encode(block.png).decode("ascii")
        return (
            f'<figure id="fig-{block.name}"><img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(block.caption)}"><figcaption>{_inline(block.caption)}'
            "</figcaption></figure>"
        )
    if isinstance(block, NotRun):
        missing = ", ".join(f"<code>{html.escape(p)}</code>" for p in block.missing)
        return (
            f'<div class="notrun"><strong>NOT RUN</strong> — stage '
            f"<code>{html.escape(block.stage)}</code> has not produced {missing}. "
            "Run <code>dvc repro</code> to fill this in.</div>"
        )
    return html_table(block)


def html_section(section: Section) -> str:
    status = (
        ""
        if section.status == "ok"
        else f' <span class="status {section.status.replace(" ", "-")}">{section.status}</span>'
    )
    body = "\n".join(html_block(block) for block in section.blocks)
    return (
        f'<section id="{section.id}" class="{section.status.replace(" ", "-")}">'
        f"<h2>{html.escape(section.title)}{status}</h2>\n{body}</section>"
    )


def render_html(report: Report) -> str:
    banner = report.banner()
    banner_html = (
        f'<div class="banner {banner[0]}" role="alert">{html.escape(banner[1])}</div>'
        if banner
        else ""
    )
    sources = ", ".join(
        f"{html.escape(k)} = <code>{html.escape(v)}</code>" for k, v in report.sources.items() if v
    )
    toc = "".join(
        f'<li><a href="#{s.id}">{html.escape(s.title)}</a>'
        + (
            ""
            if s.status == "ok"
            else f' <span class="status {s.status.replace(" ", "-")}">{s.status}</span>'
        )
        + "</li>"
        for s in report.sections
    )
    return PAGE.substitute(
        title=html.escape(report.title),
        css=CSS,
        banner=banner_html,
        meta=f"Profile <strong>{html.escape(report.profile)}</strong>. Sources: {sources}.",
        toc=toc,
        body="\n".join(html_section(section) for section in report.sections),
    )


CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: #1d2330; line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 20px; }
h1 { font-size: 1.6rem; margin: 0 0 12px; }
h2 { font-size: 1.25rem; margin: 0 0 10px; padding-bottom: 6px; border-bottom: 2px solid #e3e6eb; }
section { background: #fff; border: 1px solid #e1e4e9; border-radius: 8px; padding: 16px 22px;
  margin: 16px 0; }
section.not-run { background: #fafafa; }
.banner { border-radius: 6px; padding: 12px 16px; margin: 0 0 12px; font-weight: 700;
  font-size: 1.15rem; letter-spacing: .02em; }
.banner.demo, .banner.mixed { background: #fff1e6; border: 2px solid #e8590c; color: #8a3300; }
.banner.standin { background: #e7f1fb; border: 2px solid #1c5fa8; color: #123e6b; }
.meta { margin: 4px 0 8px; color: #444; }
nav ol { columns: 2; margin: 4px 0 0; padding-left: 22px; }
nav a { color: #1c5fa8; text-decoration: none; }
table { border-collapse: collapse; width: 100%; font-size: .86rem; margin: 6px 0 2px; }
caption { text-align: left; font-weight: 600; padding: 6px 0; font-size: .95rem; }
th, td { border-bottom: 1px solid #e9ecf0; padding: 4px 8px; text-align: left;
  vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
.table-wrap { overflow-x: auto; margin-bottom: 10px; }
.note { font-size: .82rem; color: #5a6270; margin: 2px 0 12px; }
figure { margin: 14px 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid #eef0f3; }
figcaption { font-size: .84rem; color: #5a6270; margin-top: 4px; }
code { background: #f1f3f5; padding: 0 4px; border-radius: 3px; font-size: .88em; }
.notrun { background: #eef0f2; border-left: 4px solid #868e96; padding: 10px 14px; margin: 8px 0;
  color: #3d434a; }
.badge, .status { display: inline-block; padding: 1px 9px; border-radius: 10px;
  font-size: .78rem; font-weight: 700; white-space: nowrap; }
.badge.supported { background: #d3f9d8; color: #24692f; }
.badge.partly-supported { background: #fff3bf; color: #7a5b00; }
.badge.not-supported { background: #ffe3e3; color: #a51d24; }
.badge.contradicted { background: #ffe3e3; color: #a51d24; }
.badge.inconclusive { background: #e7f0fb; color: #1c4f8a; }
.badge.not-run, .status.not-run { background: #e9ecef; color: #495057; }
.status.partial { background: #fff3bf; color: #7a5b00; }
.status.error { background: #ffe3e3; color: #a51d24; }
footer { color: #6b7280; font-size: .8rem; padding-bottom: 24px; }
"""

# The Content Security Policy forbids every fetch but inline styles, the one inline script and
# data: images: the page cannot reach the network even if edited. The script records whether
# every image decoded (data-images="loaded/total" on <html>), for tests and curious readers.
PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; \
style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>$title</title>
<style>$css</style>
</head>
<body>
<header>
<h1>$title</h1>
$banner
<p class="meta">$meta</p>
<nav><ol>$toc</ol></nav>
</header>
<main>
$body
</main>
<footer>Generated by <code>python -m stages.report</code>. Study numbers:
<code>src/regpt2/analysis/published.py</code>. Markdown twin: <code>index.md</code>.</footer>
<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  document.documentElement.setAttribute("data-images", loaded.length + "/" + images.length);
});
</script>
</body>
</html>
"""
)
