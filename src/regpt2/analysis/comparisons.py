"""Comparisons across stages: accuracy changes against zero-shot, the paired tests behind the
study's claims, and correlations of the translation and probe numbers with accuracy.

Pure functions of what the stages wrote. The `analyze` stage runs them (with the study's tiers,
`selection`), so a changed evaluation never reruns a training, generation or probing stage."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from regpt2.analysis import paired
from regpt2.analysis import published as study
from regpt2.core.languages import LATIN_SCRIPT
from regpt2.studies.probe_results import correlate_with_metric

# The translation module, whose correlation helpers `translation_correlations` uses, imports
# sacrebleu: imported where used, so that the report, which reads this module for its
# constants, starts without it.

#: A zero-shot accuracy within this many points of chance is "near chance" (claim 1).
NEAR_CHANCE_POINTS = 5.0

#: The evaluations whose predictions the tests read, by the folder `evaluate_languages` writes.
EVALUATIONS = (
    "finetune_en",
    "zeroshot",
    "finetune_per_lang",
    "finetune_all",
    "qwen_lora",
    "untuned_gpt2",
    "untuned_qwen",
)


def change(new: Mapping[str, float], reference: Mapping[str, float]) -> dict[str, float]:
    """Percentage-point change of `new` over `reference`, for the languages both have."""
    return {lang: round(new[lang] - reference[lang], 4) for lang in new if lang in reference}


def accuracy_changes(
    zeroshot: Mapping[str, float],
    per_language: Mapping[str, float],
    all_languages: Mapping[str, float],
    lora: Mapping[str, float],
) -> dict[str, dict[str, float]]:
    """Strict-accuracy changes: per-language and all-language fine-tuning against zero-shot
    (and all-language against per-language), LoRA against the English GPT-2's zero-shot."""
    return {
        "per_language_vs_zeroshot": change(per_language, zeroshot),
        "all_languages_vs_zeroshot": change(all_languages, zeroshot),
        "all_languages_vs_per_language": change(all_languages, per_language),
        "lora_vs_gpt2_zeroshot": change(lora, zeroshot),
    }


def _versus(
    evaluation: str, reference: str, root: Path, resamples: int, seed: int
) -> dict[str, dict]:
    """`evaluation` minus `reference`, paired on the rows both scored, per common language."""
    results = {}
    for lang in paired.languages_of(evaluation, root):
        new, old = paired.load(evaluation, lang, root), paired.load(reference, lang, root)
        if new is not None and old is not None:
            results[lang] = paired.paired_difference(new, old, resamples=resamples, seed=seed)
    return results


def paired_tests(root: Path, *, resamples: int, seed: int) -> dict[str, dict[str, dict]]:
    """Each fine-tuning against the English model's zero-shot scores, language by language, on
    the same rows (LoRA: claim 7, or LoRA against full fine-tuning of the same base)."""
    options = {"root": root, "resamples": resamples, "seed": seed}
    return {
        "per_language_vs_zeroshot": _versus("finetune_per_lang", "zeroshot", **options),
        "all_languages_vs_zeroshot": _versus("finetune_all", "zeroshot", **options),
        "lora_vs_zeroshot": _versus("qwen_lora", "zeroshot", **options),
    }


def chance_tests(root: Path, *, resamples: int, seed: int) -> dict[str, dict[str, dict]]:
    """Every evaluation's strict accuracy against chance (a third), per language: whether a
    model learned anything, the precondition of every claim about a trained model."""
    tests: dict[str, dict[str, dict]] = {}
    for evaluation in EVALUATIONS:
        for lang in paired.languages_of(evaluation, root):
            predictions = paired.load(evaluation, lang, root)
            tests.setdefault(evaluation, {})[lang] = paired.accuracy_against(
                predictions, paired.CHANCE, resamples=resamples, seed=seed
            )
    return tests


def near_chance_tests(root: Path, *, resamples: int, seed: int) -> dict[str, dict]:
    """Claim 1, per zero-shot language but English: is the strict accuracy within
    NEAR_CHANCE_POINTS of chance (`p_near`, two one-sided tests: above the band's floor and
    below its ceiling), or outside that band (`p_far`, the better side, Bonferroni x2)?"""
    band = NEAR_CHANCE_POINTS / 100
    results = {}
    for lang in paired.languages_of("zeroshot", root):
        if lang == "en":
            continue
        predictions = paired.load("zeroshot", lang, root)
        options = {"resamples": resamples, "seed": seed}
        above_floor = paired.accuracy_against(predictions, paired.CHANCE - band, **options)
        below_ceiling = paired.accuracy_against(predictions, paired.CHANCE + band, **options)
        results[lang] = {
            "accuracy": 100 * float(predictions.strict_correct.mean()),
            "p_near": max(paired.one_sided(above_floor, +1), paired.one_sided(below_ceiling, -1)),
            "p_far": min(
                1.0,
                2 * min(paired.one_sided(below_ceiling, +1), paired.one_sided(above_floor, -1)),
            ),
            "detectable": below_ceiling["detectable"],
            "rows": below_ceiling["rows"],
        }
    return results


def tier_contrast(
    root: Path, tiers: Mapping[str, int], *, resamples: int, seed: int
) -> dict[str, Any] | None:
    """Claim 3: the Tier-1 languages' mean change from per-language fine-tuning (against the
    zero-shot scores, on the same rows) minus the other trained languages' mean change. The
    groups come from this run's tiers or, when those give no Tier-1 / other split among the
    trained languages, from the study's published tiers (`grouping` says which); None when
    neither splits them."""
    pairs = {}
    for lang in paired.languages_of("finetune_per_lang", root):
        new, old = paired.load("finetune_per_lang", lang, root), paired.load("zeroshot", lang, root)
        if old is not None:
            pairs[lang] = (new, old)
    for grouping, tier_of in (("this run's tiers", tiers), ("the study's tiers", study.TIERS)):
        tier1 = [lang for lang in pairs if tier_of.get(lang) == 1]
        others = [lang for lang in pairs if lang in tier_of and tier_of[lang] != 1]
        if tier1 and others:
            weights = {k: 1 / len(tier1) for k in tier1} | {k: -1 / len(others) for k in others}
            chosen = {lang: pairs[lang] for lang in weights}
            result = paired.language_contrast(chosen, weights, resamples=resamples, seed=seed)
            return {**result, "tier1": tier1, "others": others, "grouping": grouping}
    return None


def probe_tests(probe: Mapping[str, Any], *, resamples: int, seed: int) -> dict[str, dict]:
    """Claim 6, per probed model: for each language, the excess similarity to the translation
    (over an unrelated sentence) in the early and late layers and its gain (late - early),
    each tested against 0 over sentences; and the other scripts' mean excess gain minus the
    Latin-script languages', paired by sentence (rows are parallel)."""
    options = {"resamples": resamples, "seed": seed}
    results = {}
    for model, result in probe.items():
        languages = {k: v for k, v in result["languages"].items() if k != "en"}
        early = {k: np.asarray(v["early_excess_per_sentence"]) for k, v in languages.items()}
        late = {k: np.asarray(v["late_excess_per_sentence"]) for k, v in languages.items()}
        gains = {k: late[k] - early[k] for k in languages}
        tests = {
            lang: {
                "early_excess": paired.mean_test(early[lang], **options),
                "late_excess": paired.mean_test(late[lang], **options),
                "excess_gain": paired.mean_test(gains[lang], **options),
            }
            for lang in languages
        }
        latin = [k for k in gains if k in LATIN_SCRIPT]
        distant = [k for k in gains if k not in LATIN_SCRIPT]
        contrast = None
        if latin and distant:
            values = np.mean([gains[k] for k in distant], 0) - np.mean([gains[k] for k in latin], 0)
            contrast = {
                **paired.mean_test(values, **options),
                "latin": latin,
                "distant": distant,
            }
        results[model] = {"languages": tests, "script_contrast": contrast}
    return results


def translation_correlations(
    translate: Mapping[str, Mapping[str, Any]], numbers: Mapping[str, Mapping[str, float]]
) -> dict:
    """Each translation score against each per-language series (see `correlation_table`)."""
    from regpt2.studies.translate import correlation_table  # see the top

    return correlation_table(translate, numbers) if translate else {}


def probe_correlations(
    probe: Mapping[str, Any], accuracy: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """Each model's per-language probe numbers against zero-shot accuracy."""
    if not accuracy:
        return {}
    return {model: correlate_with_metric(result, accuracy) for model, result in probe.items()}
