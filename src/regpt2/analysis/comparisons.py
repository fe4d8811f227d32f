"""Comparisons across stages: accuracy changes against zero-shot, and correlations of the
translation and probe numbers with accuracy and fertility.

Pure functions of the numbers the stages wrote. The `analyze` stage runs them (with the study's
tiers, `selection`), so a changed evaluation never reruns a training, generation or probing
stage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regpt2.studies.probe import correlate_with_metric
from regpt2.studies.translate import correlation_table


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


def translation_correlations(
    translate: Mapping[str, Mapping[str, Any]], numbers: Mapping[str, Mapping[str, float]]
) -> dict:
    """Each translation score against each per-language series (see `correlation_table`)."""
    return correlation_table(translate, numbers) if translate else {}


def probe_correlations(
    probe: Mapping[str, Any], accuracy: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """Each model's per-language probe numbers against zero-shot accuracy."""
    if not accuracy:
        return {}
    return {model: correlate_with_metric(result, accuracy) for model, result in probe.items()}
