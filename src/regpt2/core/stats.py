"""Small statistics used across stages: bootstrap intervals and correlations."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats


def bootstrap_interval(
    correct: Sequence[bool] | np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of 0/1 outcomes (an accuracy), in percent."""
    outcomes = np.asarray(correct, dtype=np.float64)
    if outcomes.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    # Resample counts instead of indices: a binomial draw per resample is the same bootstrap
    # for 0/1 data and costs O(n_resamples) instead of O(n_resamples * n).
    hits = rng.binomial(outcomes.size, outcomes.mean(), size=n_resamples) / outcomes.size
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(hits, [tail, 1.0 - tail])
    return (float(100.0 * low), float(100.0 * high))


def bootstrap_mean_interval(
    values: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (resampling the values; seeded)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples, dtype=np.float64)
    chunk = max(1, 2_000_000 // data.size)  # bound the index matrix to ~16 MB
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        means[start : start + size] = data[rng.integers(0, data.size, (size, data.size))].mean(1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return (float(low), float(high))


def correlate(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float | int]:
    """Pearson and Spearman correlation with two-sided p-values; NaN when undefined."""
    pairs = [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]
    pairs = [(x, y) for x, y in pairs if math.isfinite(x) and math.isfinite(y)]
    result: dict[str, float | int] = {
        "n": len(pairs),
        "pearson_r": math.nan,
        "pearson_p": math.nan,
        "spearman_r": math.nan,
        "spearman_p": math.nan,
    }
    if len(pairs) < 3:
        return result
    x, y = np.array(pairs).T
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return result
    pearson = scipy_stats.pearsonr(x, y)
    spearman = scipy_stats.spearmanr(x, y)
    result.update(
        pearson_r=float(pearson.statistic),
        pearson_p=float(pearson.pvalue),
        spearman_r=float(spearman.statistic),
        spearman_p=float(spearman.pvalue),
    )
    return result
