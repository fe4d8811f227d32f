"""Cells and small blocks shared by the sections: numbers, intervals, p-values and correlations
as text, languages in XNLI order, tables and "not run" notes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from regpt2.analysis.verdicts import finite
from regpt2.core.languages import LANGUAGE_NAMES, XNLI_LANGUAGES
from regpt2.report.document import DASH, NotRun, Table

#: Languages written in the Latin script; the others count as "distant scripts" for claim 6.

#: The models `probe` reads, by the key its outputs use, as the report names them.
PROBE_MODELS = {
    "pretrained": "pretrained GPT-2 (the study's setting)",
    "finetuned_en": "English fine-tuned GPT-2",
}


def fmt(value: Any, digits: int = 2) -> str:
    """A number for a table cell; None / NaN / missing become a dash."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if finite(value):
        return f"{float(value):.{digits}f}"
    if isinstance(value, str) and value:
        return value
    return DASH


def fmt_signed(value: Any, digits: int = 2) -> str:
    return f"{float(value):+.{digits}f}" if finite(value) else DASH


def fmt_ci(value: Any, low: Any = None, high: Any = None, digits: int = 2) -> str:
    """`value [low, high]`, or just the value when there is no interval."""
    if not finite(value):
        return DASH
    if finite(low) and finite(high):
        return f"{float(value):.{digits}f} [{float(low):.{digits}f}, {float(high):.{digits}f}]"
    return fmt(value, digits)


def fmt_p(p: Any) -> str:
    if not finite(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def fmt_corr(stats: Mapping[str, Any]) -> str:
    """Pearson and Spearman r with p-values and n, in one line."""
    n = int(stats.get("n", 0) or 0)
    if not finite(stats.get("pearson_r")) and not finite(stats.get("spearman_r")):
        return f"n = {n}: too few languages or a constant series"
    return (
        f"Pearson r = {fmt(stats.get('pearson_r'))} ({fmt_p(stats.get('pearson_p'))}), "
        f"Spearman r = {fmt(stats.get('spearman_r'))} ({fmt_p(stats.get('spearman_p'))}), n = {n}"
    )


def accuracy_ci(metrics: Mapping[str, Any] | None, kind: str = "strict") -> str:
    if not metrics:
        return DASH
    return fmt_ci(
        metrics.get(f"{kind}_accuracy"),
        metrics.get(f"{kind}_ci95_low"),
        metrics.get(f"{kind}_ci95_high"),
    )


def xnli_order(languages: Iterable[str]) -> list[str]:
    """Languages in XNLI order, unknown codes last (alphabetically), no duplicates."""
    unique = set(languages)
    known = [lang for lang in XNLI_LANGUAGES if lang in unique]
    return known + sorted(unique - set(known))


def language_cell(lang: str) -> str:
    name = LANGUAGE_NAMES.get(lang)
    return f"{lang}\u00a0({name})" if name else lang  # no-break space: one line per cell


def finite_mean(values: Iterable[float]) -> float:
    values = [float(v) for v in values if finite(v)]
    return float(np.mean(values)) if values else math.nan


def make_table(columns: Sequence[str], rows: Iterable[Sequence[str]], **kwargs: Any) -> Table:
    return Table(tuple(columns), tuple(tuple(row) for row in rows), **kwargs)


def not_run(stage: str, *missing: str) -> NotRun:
    return NotRun(stage, tuple(missing))
