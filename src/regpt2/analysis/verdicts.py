"""The one rule behind every verdict on the study's claims.

1. Each claim is decided by tests fixed in code before any data: two-sided, with the claim's
   expected direction written beside it; a comparison of two models is paired on the same
   test rows (a bootstrap over premises, `regpt2.analysis.paired`).
2. A claim about languages tests each language; their p-values are Holm-corrected within the
   claim, and the claim's p-value is the k-th smallest corrected one, k being the number of
   languages the claim needs: all of them for "every language", more than half for "most"
   (`p_for_count`). It counts the other way as well (e.g. one language significantly hurt
   contradicts "helps every language").
3. The claims tested in a run are Holm-corrected against each other (`decide`).
4. Verdict: corrected p < ALPHA in the expected direction, *supported*; in the opposite one,
   *contradicted*; otherwise *inconclusive*. A claim whose precondition fails (the two sides
   are one model, the trained models are at chance, the measure fails its control) is *not
   testable*, with the reason; one whose inputs are missing is *not run*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from regpt2.core.stats import holm

#: The significance level of every claim, after the corrections.
ALPHA = 0.05
#: Every verdict a claim can get, in the order the findings count them.
VERDICTS = ("supported", "contradicted", "inconclusive", "not testable", "not run")
#: A claim that was tested and waits for the correction across claims.
PENDING = "pending"


def finite(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def significant(test: Mapping[str, Any] | None, sign: int = 1) -> bool:
    """Whether a test (uncorrected) found its estimate different from 0 with that sign: used for
    preconditions, such as "this model is above chance"."""
    if not test or not finite(test.get("p")) or not finite(test.get("estimate")):
        return False
    return test["p"] < ALPHA and np.sign(test["estimate"]) == np.sign(sign)


@dataclass(frozen=True)
class CountDecision:
    """A claim about languages: its p-value and direction (+1 for the claim, -1 against), and
    the languages significant each way after Holm's correction within the claim."""

    p: float
    direction: int
    adjusted: dict[str, float]
    for_claim: list[str]
    against_claim: list[str]


def p_for_count(p_values: Mapping[str, float], needed: int) -> float:
    """The claim-level p-value of "at least `needed` of these hypotheses hold": the `needed`-th
    smallest Holm-corrected p-value (1 when there are fewer)."""
    adjusted = sorted(holm(p_values).values())
    return adjusted[needed - 1] if 0 < needed <= len(adjusted) else 1.0


def count_decision(
    tests: Mapping[str, Mapping[str, Any]],
    *,
    expected_sign: int,
    needed_for: int,
    needed_against: int,
) -> CountDecision:
    """Decide a claim about languages from per-language two-sided tests ({lang: {"estimate",
    "p"}}): for the claim when `needed_for` languages differ in the expected direction, against
    it when `needed_against` differ in the other one, whichever p is smaller."""
    by_sign = {
        lang: np.sign(test["estimate"]) if finite(test["estimate"]) else 0
        for lang, test in tests.items()
    }
    raw = {lang: test["p"] if finite(test["p"]) else 1.0 for lang, test in tests.items()}
    toward = {lang: raw[lang] if by_sign[lang] == expected_sign else 1.0 for lang in tests}
    away = {lang: raw[lang] if by_sign[lang] == -expected_sign else 1.0 for lang in tests}
    adjusted = holm(raw)
    p_toward, p_away = p_for_count(toward, needed_for), p_for_count(away, needed_against)
    return CountDecision(
        p=min(p_toward, p_away),
        direction=1 if p_toward <= p_away else -1,
        adjusted=adjusted,
        for_claim=[k for k in tests if adjusted[k] < ALPHA and by_sign[k] == expected_sign],
        against_claim=[k for k in tests if adjusted[k] < ALPHA and by_sign[k] == -expected_sign],
    )


def direction_of(estimate: Any, expected_sign: int) -> int:
    """+1 when a single test's estimate points the claim's way, -1 when it points the other."""
    if not finite(estimate) or estimate == 0:
        return 0
    return 1 if np.sign(estimate) == np.sign(expected_sign) else -1


def verdict(p_corrected: Any, direction: int) -> str:
    """Step 4 of the rule, for a claim that was tested."""
    if not finite(p_corrected) or p_corrected >= ALPHA or direction == 0:
        return "inconclusive"
    return "supported" if direction > 0 else "contradicted"


def decide(p_values: Mapping[str, float]) -> dict[str, float]:
    """Step 3: Holm's correction across the claims tested in this run (by claim id)."""
    return holm(p_values)
