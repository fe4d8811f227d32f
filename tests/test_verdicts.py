"""The one rule behind every verdict, as pure functions, and the statistics under it: the
paired bootstrap over premises, Holm's correction, counts of languages. Each verdict is flipped
with synthetic inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from regpt2.analysis import paired
from regpt2.analysis.verdicts import (
    VERDICTS,
    count_decision,
    direction_of,
    p_for_count,
    significant,
    verdict,
)
from regpt2.core.stats import cluster_bootstrap, cluster_totals, holm
from regpt2.nli.predictions import RowPredictions
from regpt2.report import build


@pytest.mark.parametrize(
    ("p", "direction", "expected"),
    [
        (0.01, 1, "supported"),
        (0.01, -1, "contradicted"),
        (0.2, 1, "inconclusive"),  # right direction, not significant
        (0.2, -1, "inconclusive"),  # wrong direction, not significant: not "contradicted"
        (0.05, 1, "inconclusive"),  # the threshold itself is not below it
        (math.nan, 1, "inconclusive"),
        (0.01, 0, "inconclusive"),  # no effect at all
    ],
)
def test_verdict(p, direction, expected):
    assert verdict(p, direction) == expected


def test_direction_is_fixed_by_the_claim_not_the_data():
    assert direction_of(0.4, +1) == 1 and direction_of(-0.4, +1) == -1
    assert direction_of(-0.4, -1) == 1  # a claim of a negative relation
    assert direction_of(0.0, 1) == 0 and direction_of(math.nan, 1) == 0


def test_holm_matches_the_textbook_example():
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005, "e": math.nan})
    # Five hypotheses (the missing one counts as p = 1): 0.005 x 5, 0.01 x 4, 0.03 x 3, then
    # monotone.
    assert adjusted == pytest.approx({"a": 0.04, "b": 0.09, "c": 0.09, "d": 0.025, "e": 1.0})


def test_a_count_claim_takes_the_kth_smallest_corrected_p():
    p_values = {"es": 0.001, "fr": 0.01, "de": 0.3}
    # Corrected: es 0.003, fr 0.02, de 0.3.
    assert p_for_count(p_values, 1) == pytest.approx(0.003)
    assert p_for_count(p_values, 2) == pytest.approx(0.02)  # "most": 2 of 3
    assert p_for_count(p_values, 3) == pytest.approx(0.3)  # "every"
    assert p_for_count(p_values, 4) == 1.0


def _test(estimate: float, p: float) -> dict:
    return {"estimate": estimate, "p": p}


@pytest.mark.parametrize(
    ("tests", "direction", "for_claim", "against"),
    [
        ({"en": _test(3, 0.001), "es": _test(4, 0.002)}, 1, ["en", "es"], []),
        # One language significantly hurt contradicts "every language".
        ({"en": _test(-3, 0.001), "es": _test(4, 0.002), "de": _test(1, 0.4)}, -1, ["es"], ["en"]),
        # Not significant after Holm (0.03 x 2 = 0.06 > 0.05).
        ({"en": _test(3, 0.03), "es": _test(4, 0.03)}, 1, [], []),
    ],
)
def test_every_language_decision(tests, direction, for_claim, against):
    decision = count_decision(tests, expected_sign=1, needed_for=len(tests), needed_against=1)
    assert decision.direction == direction
    assert decision.for_claim == for_claim and decision.against_claim == against
    expected = verdict(decision.p, decision.direction)
    assert expected == {(1, 2): "supported", (-1, 1): "contradicted"}.get(
        (direction, len(for_claim)), expected
    )


def test_an_every_claim_with_one_unclear_language_is_inconclusive():
    tests = {"en": _test(3, 0.001), "es": _test(4, 0.002), "de": _test(1, 0.4)}
    decision = count_decision(tests, expected_sign=1, needed_for=3, needed_against=1)
    assert verdict(decision.p, decision.direction) == "inconclusive"


def test_significant_is_sign_aware():
    assert significant(_test(2, 0.01), +1) and not significant(_test(2, 0.01), -1)
    assert not significant(_test(2, 0.2)) and not significant(None)


def test_cluster_bootstrap_interval_and_p_agree():
    rng = np.random.default_rng(0)
    clear = cluster_bootstrap(rng.normal(0.5, 1, 200), np.ones(200), n_resamples=4000, seed=0)
    assert clear.low > 0 and clear.p < 0.05
    null = cluster_bootstrap(rng.normal(0.0, 1, 200), np.ones(200), n_resamples=4000, seed=0)
    assert null.low < 0 < null.high and null.p > 0.05
    assert 0 < clear.p <= 1 and null.p <= 1
    again = cluster_bootstrap(rng.normal(0.0, 1, 200), np.ones(200), n_resamples=4000, seed=0)
    assert again.p != null.p or again.estimate != null.estimate  # different data, not a constant


def test_cluster_totals_keep_the_order_of_first_rows():
    totals, sizes = cluster_totals(np.array([1.0, 2.0, 3.0, 4.0]), np.array([5, 5, 2, 2]))
    assert totals.tolist() == [3.0, 7.0] and sizes.tolist() == [2.0, 2.0]


def _predictions(correct: list[bool], premise: list[int]) -> RowPredictions:
    gold = np.zeros(len(correct), dtype=np.int64)
    strict = np.where(correct, 0, 1)
    rows = np.arange(len(correct))
    logits = np.zeros((len(correct), 3), dtype=np.float32)
    return RowPredictions(rows, np.array(premise), gold, strict, strict, logits)


def test_pairing_sees_a_difference_that_two_intervals_miss():
    """B is right wherever A is, plus on 20 more of 300 rows: +6.7 points. Separately their
    95% intervals overlap (each about +-5 points); paired on the same rows, the difference is
    clear, because the 280 rows where they agree carry no noise into it."""
    order = np.random.default_rng(0).permutation(300)
    a_correct = np.zeros(300, dtype=bool)
    a_correct[order[:150]] = True
    b_correct = a_correct.copy()
    b_correct[order[150:170]] = True
    premises = list(np.arange(300) // 3)
    a, b = _predictions(list(a_correct), premises), _predictions(list(b_correct), premises)
    result = paired.paired_difference(b, a, resamples=4000, seed=0)
    assert result["estimate"] == pytest.approx(20 / 3)
    assert result["ci95_low"] > 0 and result["p"] < 0.01
    assert result["discordant"] == 20 and result["premises"] == 100
    separate = [paired.accuracy_against(x, 0.5, resamples=4000, seed=0) for x in (a, b)]
    assert separate[1]["ci95_low"] < separate[0]["ci95_high"]  # the intervals overlap


def test_pairing_uses_only_the_rows_both_models_scored():
    a = _predictions([True] * 6, [0, 0, 1, 1, 2, 2])
    b = RowPredictions(*(x[:4] for x in (a.row, a.premise, a.gold)), a.strict[:4] + 1,
                       a.restricted[:4], a.label_logits[:4])  # fmt: skip
    result = paired.paired_difference(a, b, resamples=1000, seed=0)
    assert result["rows"] == 4 and result["premises"] == 2 and result["estimate"] == 100


def test_verdicts_are_known_to_the_report():
    assert VERDICTS == ("supported", "contradicted", "inconclusive", "not testable", "not run")


def test_a_crashing_section_raises_under_strict_mode(monkeypatch):
    def broken(ctx, section):
        raise KeyError("strict_accuracy")

    monkeypatch.setenv("REGPT2_STRICT_REPORT", "1")
    with pytest.raises(KeyError):
        build._safe("x", "X", broken, None)
    monkeypatch.setenv("REGPT2_STRICT_REPORT", "0")
    section = build._safe("x", "X", broken, None)
    assert section.status == "error"


def test_study_tier_is_the_selection_rule_at_the_study_thresholds():
    """One tier rule: the study's tiers are `assign_tier` at the study's thresholds, boundaries
    included, and the study's published numbers give the study's tiers."""
    from regpt2.analysis import published as study
    from regpt2.studies.selection import assign_tier

    fertilities = [2.0, 2.5, 3.0, 3.5, 4.0]
    accuracies = [25.0, 30.0, 35.0, 40.0, 45.0]
    for fertility in fertilities:
        for accuracy in accuracies:
            tier, _ = assign_tier(fertility, accuracy, study.STUDY_TIER_RULE)
            assert study.study_tier(fertility, accuracy) == tier
    assert study.study_tier(2.0, 45.0) == 1
    assert study.study_tier(2.5, 45.0) == 2  # strict inequalities, as the study wrote them
    assert study.study_tier(4.0, 25.0) == 3
    assert study.study_tier(4.0, 30.0) == 2
