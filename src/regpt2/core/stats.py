"""Small statistics used across stages: bootstrap intervals, the paired test of every
comparison (a bootstrap over clusters), Holm's correction, and correlations."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np


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


@dataclass(frozen=True)
class ClusterTest:
    """An estimate with its percentile bootstrap interval and two-sided p-value (see
    `cluster_bootstrap`)."""

    estimate: float
    low: float
    high: float
    p: float
    clusters: int
    resamples: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def cluster_bootstrap(
    totals: Sequence[float] | np.ndarray,
    sizes: Sequence[float] | np.ndarray,
    *,
    n_resamples: int,
    seed: int,
    confidence: float = 0.95,
) -> ClusterTest:
    """Test whether sum(totals) / sum(sizes) is zero, resampling whole clusters.

    Clusters are the independent units (an XNLI premise and its three hypotheses; a probe
    sentence): `totals[c]` is cluster c's summed value (say, model A correct minus model B
    correct on each of its rows), `sizes[c]` its number of rows. The interval is the percentile
    bootstrap of the estimate over `n_resamples` resamples of the clusters; the two-sided p-value
    inverts it: twice the smaller share of resampled estimates on either side of zero (each
    count plus one, so p is never 0), at most 1. So p < 0.05 exactly when the 95% interval
    excludes zero, up to the resolution of 1 / n_resamples."""
    totals = np.asarray(totals, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64)
    clusters = totals.size
    if clusters == 0 or sizes.sum() <= 0:
        return ClusterTest(math.nan, math.nan, math.nan, math.nan, clusters, n_resamples)
    estimates = np.concatenate(
        [
            (weights @ totals) / (weights @ sizes)
            for weights in _resample_weights(clusters, n_resamples, seed)
        ]
    )
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(estimates, [tail, 1.0 - tail])
    below = (np.count_nonzero(estimates <= 0) + 1) / (n_resamples + 1)
    above = (np.count_nonzero(estimates >= 0) + 1) / (n_resamples + 1)
    return ClusterTest(
        estimate=float(totals.sum() / sizes.sum()),
        low=float(low),
        high=float(high),
        p=float(min(1.0, 2.0 * min(below, above))),
        clusters=clusters,
        resamples=n_resamples,
    )


@lru_cache(maxsize=4)
def _resample_weights(clusters: int, n_resamples: int, seed: int) -> tuple[np.ndarray, ...]:
    """How often each cluster is drawn in each resample, in chunks of at most ~16 MB. A run's
    tests share one seed and most test sets one size, so the draws (most of a test's time; the
    estimates are a matrix product) are made once per size and reused, unchanged. The counts
    are kept as float64: an integer matrix times a float vector is cast anew at every product
    (7x slower), and counts are exact in float64 either way."""
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // clusters)
    draws = []
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        counts = rng.multinomial(clusters, np.full(clusters, 1.0 / clusters), size=size)
        weights = counts.astype(np.float64)
        weights.setflags(write=False)
        draws.append(weights)
    return tuple(draws)


def cluster_totals(values: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-cluster sums of `values`, per-cluster row counts), clusters in order of first row."""
    _, first, inverse = np.unique(clusters, return_index=True, return_inverse=True)
    order = np.argsort(first)  # clusters in the order their first row appears
    totals = np.bincount(inverse, weights=np.asarray(values, dtype=np.float64))
    sizes = np.bincount(inverse).astype(np.float64)
    return totals[order], sizes[order]


def holm(p_values: Mapping[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values: rejecting every adjusted p < alpha keeps the chance
    of any false rejection among these hypotheses at most alpha. A missing (NaN) p-value counts
    as 1."""
    names = list(p_values)
    raw = [p_values[name] if math.isfinite(p_values[name]) else 1.0 for name in names]
    order = sorted(range(len(raw)), key=lambda i: raw[i])
    adjusted = [1.0] * len(raw)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(raw) - rank) * raw[index]))
        adjusted[index] = running
    return dict(zip(names, adjusted, strict=True))


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
    # scipy.stats takes half a second to import: only the stages that correlate pay for it.
    from scipy import stats as scipy_stats

    pearson = scipy_stats.pearsonr(x, y)
    spearman = scipy_stats.spearmanr(x, y)
    result.update(
        pearson_r=float(pearson.statistic),
        pearson_p=float(pearson.pvalue),
        spearman_r=float(spearman.statistic),
        spearman_p=float(spearman.pvalue),
    )
    return result
