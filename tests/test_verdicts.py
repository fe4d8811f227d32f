"""The report's one significance rule, and the "helps every language" rule, as pure functions.

Each verdict (supported / contradicted / inconclusive) is flipped with synthetic inputs.
"""

from __future__ import annotations

import math

import pytest

from regpt2.analysis import verdicts
from regpt2.analysis.verdicts import (
    change_outcome,
    compound_verdict,
    every_language_verdict,
    majority_verdict,
    significance_verdict,
)
from regpt2.report import build


@pytest.mark.parametrize(
    ("effect", "p", "ci", "sign", "verdict"),
    [
        (0.8, 0.01, None, 1, "supported"),  # significant, expected direction
        (-0.8, 0.01, None, 1, "contradicted"),  # significant, opposite direction
        (-0.8, 0.01, None, -1, "supported"),  # a claim of a negative relation
        (0.8, 0.2, None, 1, "inconclusive"),  # right sign, not significant
        (-0.8, 0.2, None, 1, "inconclusive"),  # wrong sign, not significant: not "contradicted"
        (2.0, None, (0.5, 3.5), 1, "supported"),  # the CI excludes zero
        (-2.0, None, (-3.5, -0.5), 1, "contradicted"),
        (2.0, None, (-0.5, 4.5), 1, "inconclusive"),  # the CI covers zero
        (2.0, 0.3, (0.1, 3.9), 1, "supported"),  # either test suffices
        (math.nan, 0.01, None, 1, "inconclusive"),
        (0.5, math.nan, None, 1, "inconclusive"),
        (0.0, 0.0, None, 1, "inconclusive"),
    ],
)
def test_significance_verdict(effect, p, ci, sign, verdict):
    assert significance_verdict(effect, p=p, ci=ci, expected_sign=sign) == verdict


def test_correlation_and_difference_verdicts_use_the_one_rule():
    # A non-significant correlation and a non-significant difference read the same.
    assert verdicts.correlation_verdict({"pearson_r": 0.9, "pearson_p": 0.07}, "pearson", 1) == (
        verdicts.difference_verdict(3.0, 0.07)
    )
    assert verdicts.difference_verdict(3.0, 0.07) == "inconclusive"
    assert verdicts.difference_verdict(3.0, 0.01) == "supported"
    assert verdicts.difference_verdict(-3.0, 0.01) == "contradicted"
    assert verdicts.correlation_verdict(
        {"spearman_r": 0.9, "spearman_p": 0.001}, "spearman", -1
    ) == ("contradicted")


@pytest.mark.parametrize(
    ("low", "high", "baseline", "outcome"),
    [
        (45.0, 52.0, 44.0, "helps"),
        (36.0, 43.0, 44.0, "hurts"),
        (40.0, 48.0, 44.0, "unclear"),  # +0.01 points inside the interval is no help
        (40.0, 48.0, 43.99, "unclear"),
        (math.nan, 48.0, 44.0, "unclear"),
        (None, None, 44.0, "unclear"),
    ],
)
def test_change_outcome(low, high, baseline, outcome):
    assert change_outcome(low, high, baseline) == outcome


@pytest.mark.parametrize(
    ("outcomes", "verdict"),
    [
        ({"en": "helps", "es": "helps"}, "supported"),
        ({"en": "hurts", "es": "helps", "de": "helps"}, "contradicted"),  # English counts
        ({"en": "unclear", "es": "helps"}, "inconclusive"),
        ({}, "inconclusive"),
    ],
)
def test_every_language_verdict(outcomes, verdict):
    assert every_language_verdict(outcomes) == verdict


@pytest.mark.parametrize(
    ("verdicts", "verdict"),
    [
        ({"es": "supported", "de": "supported", "el": "inconclusive"}, "supported"),
        ({"es": "contradicted", "de": "contradicted", "el": "supported"}, "contradicted"),
        ({"es": "supported", "de": "inconclusive"}, "inconclusive"),  # half is not most
        ({}, "inconclusive"),
    ],
)
def test_majority_verdict(verdicts, verdict):
    assert majority_verdict(verdicts) == verdict


@pytest.mark.parametrize(
    ("parts", "verdict"),
    [
        (["supported", "supported"], "supported"),
        (["supported", "inconclusive"], "partly supported"),
        (["supported", "contradicted"], "partly supported"),
        (["contradicted", "inconclusive"], "contradicted"),
        (["inconclusive", "inconclusive"], "inconclusive"),
        ([], "inconclusive"),
    ],
)
def test_compound_verdict(parts, verdict):
    assert compound_verdict(parts) == verdict


def test_verdicts_are_known_to_the_report():
    for verdict in ("supported", "contradicted", "inconclusive"):
        assert verdict in verdicts.VERDICTS


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
