"""The one significance rule behind every verdict on the study's claims, and how per-language
outcomes combine: an effect counts when p < ALPHA or its 95% CI excludes zero, then its sign
decides; a change helps a language only when its 95% CI lies above the baseline."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: The significance level of every claim.
ALPHA = 0.05
#: Every verdict a claim can get, in the order the findings count them.

VERDICTS = (
    "supported",
    "partly supported",
    "not supported",
    "contradicted",
    "inconclusive",
    "not run",
)


def finite(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


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
    if not finite(effect) or effect == 0:
        return "inconclusive"
    by_p = finite(p) and p < ALPHA
    by_ci = ci is not None and all(finite(v) for v in ci) and (ci[0] > 0 or ci[1] < 0)
    if not (by_p or by_ci):
        return "inconclusive"
    return "supported" if np.sign(effect) == np.sign(expected_sign) else "contradicted"


def change_outcome(low: Any, high: Any, baseline: Any) -> str:
    """Whether a change helps a language: "helps" when the new accuracy's 95% interval lies
    above the baseline, "hurts" when below, "unclear" when it covers it (or a number is missing).
    A gain of +0.01 points inside the interval is no help."""
    if not (finite(low) and finite(high) and finite(baseline)):
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


OUTCOMES = ("helps", "hurts", "unclear")


def correlation_verdict(stats: Mapping[str, Any], key: str, sign: int) -> str:
    return significance_verdict(stats.get(f"{key}_r"), p=stats.get(f"{key}_p"), expected_sign=sign)


def difference_verdict(difference: float, p: float) -> str:
    """Claim 3's difference (Tier 1 minus the others) under the one significance rule."""
    return significance_verdict(difference, p=p, expected_sign=1)
