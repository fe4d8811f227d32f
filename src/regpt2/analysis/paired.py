"""Comparisons of models on the same test rows, from the per-row predictions every evaluation
writes (`regpt2.nli.predictions`), and the other tests behind the study's claims.

Two models scored on the same rows are compared row by row: the difference of their strict
accuracies, with an interval and a two-sided p-value from a bootstrap that resamples premises
(`regpt2.core.stats.cluster_bootstrap`; XNLI's three rows of a premise are not independent).
Pairing removes the rows' own difficulty from the comparison, so it detects smaller
differences than two separate intervals can. Every result is a plain dict (`test_result`):
the estimate in points, its 95% interval, p, the rows and premises it rests on, and the
detectable difference (the interval's half-width: a smaller true difference would usually not
reach p < 0.05)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from regpt2.core.languages import LABELS
from regpt2.core.stats import ClusterTest, cluster_bootstrap, cluster_totals
from regpt2.nli.predictions import RowPredictions, read_predictions

PREDICTIONS = Path("data/predictions")
#: Accuracy of guessing among the three labels, as a share.
CHANCE = 1.0 / len(LABELS)


def load(evaluation: str, lang: str, root: Path = PREDICTIONS) -> RowPredictions | None:
    """One evaluation's predictions for one language (None when that stage has not run)."""
    path = root / evaluation / f"{lang}.csv"
    return read_predictions(path) if path.is_file() else None


def languages_of(evaluation: str, root: Path = PREDICTIONS) -> list[str]:
    folder = root / evaluation
    return sorted(path.stem for path in folder.glob("*.csv")) if folder.is_dir() else []


def test_result(test: ClusterTest, *, scale: float = 100.0, rows: int) -> dict[str, Any]:
    """A test as the report reads it: numbers in points (`scale` 100) or as they are (1)."""
    return {
        "estimate": test.estimate * scale,
        "ci95_low": test.low * scale,
        "ci95_high": test.high * scale,
        "p": test.p,
        "detectable": (test.high - test.low) / 2 * scale,
        "rows": rows,
        "premises": test.clusters,
        "resamples": test.resamples,
    }


def _common_rows(predictions: Sequence[RowPredictions]) -> list[np.ndarray]:
    """For each predictions table, the positions of the rows every table has, in row order."""
    common = set(predictions[0].row.tolist())
    for table in predictions[1:]:
        common &= set(table.row.tolist())
    rows = np.array(sorted(common), dtype=np.int64)
    return [np.searchsorted(table.row, rows) for table in predictions]


def paired_difference(
    a: RowPredictions, b: RowPredictions, *, resamples: int, seed: int
) -> dict[str, Any]:
    """Strict accuracy of `a` minus `b` on the rows both scored, in points, paired by row."""
    return language_contrast({"_": (a, b)}, {"_": 1.0}, resamples=resamples, seed=seed)


def language_contrast(
    pairs: Mapping[str, tuple[RowPredictions, RowPredictions]],
    weights: Mapping[str, float],
    *,
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """sum over languages of weight x (strict accuracy of a minus b), in points, on the rows
    that every language's pair scored. Rows are parallel across XNLI languages, so one
    resample of premises is drawn for all of them: e.g. weights +1/2 for two Tier-1 languages
    and -1/5 for five others give the Tier-1 mean change minus the others' mean change."""
    tables = [table for pair in pairs.values() for table in pair]
    positions = _common_rows(tables)
    clusters = tables[0].premise[positions[0]]
    values = np.zeros(len(clusters), dtype=np.float64)
    for index, lang in enumerate(pairs):
        a, b = tables[2 * index], tables[2 * index + 1]
        a_correct = a.strict_correct[positions[2 * index]]
        b_correct = b.strict_correct[positions[2 * index + 1]]
        values += weights[lang] * (a_correct.astype(np.float64) - b_correct)
    totals, sizes = cluster_totals(values, clusters)
    result = test_result(
        cluster_bootstrap(totals, sizes, n_resamples=resamples, seed=seed), rows=len(clusters)
    )
    if len(pairs) == 1:
        a, b = tables
        a_correct = a.strict_correct[positions[0]]
        b_correct = b.strict_correct[positions[1]]
        result["discordant"] = int((a_correct != b_correct).sum())
        result["a_accuracy"] = 100.0 * float(a_correct.mean()) if a_correct.size else float("nan")
        result["b_accuracy"] = 100.0 * float(b_correct.mean()) if b_correct.size else float("nan")
    return result


def accuracy_against(
    predictions: RowPredictions, share: float, *, resamples: int, seed: int
) -> dict[str, Any]:
    """Strict accuracy minus a fixed `share` (e.g. chance), in points, by premise."""
    values = predictions.strict_correct.astype(np.float64) - share
    totals, sizes = cluster_totals(values, predictions.premise)
    test = cluster_bootstrap(totals, sizes, n_resamples=resamples, seed=seed)
    return test_result(test, rows=int(values.size))


def mean_test(values: Sequence[float] | np.ndarray, *, resamples: int, seed: int) -> dict[str, Any]:
    """The mean of independent values (one per probe sentence), tested against 0."""
    values = np.asarray(values, dtype=np.float64)
    test = cluster_bootstrap(values, np.ones_like(values), n_resamples=resamples, seed=seed)
    return test_result(test, scale=1.0, rows=int(values.size))


def one_sided(result: Mapping[str, Any], direction: int) -> float:
    """The one-sided p-value of a two-sided bootstrap test in `direction` (+1: estimate > 0)."""
    p, estimate = result["p"], result["estimate"]
    if not np.isfinite(p) or not np.isfinite(estimate):
        return float("nan")
    toward = estimate > 0 if direction > 0 else estimate < 0
    return p / 2 if toward else 1.0 - p / 2
