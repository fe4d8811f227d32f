"""Stage `analyze`: comparisons across stages, computed from their outputs (seconds).

Accuracy changes against zero-shot; the paired tests behind the study's claims, from every
evaluation's per-row predictions (data/predictions); the study's language tiers (from the
fertility of the fine-tuned model's own tokenizer and its zero-shot accuracy); and the
correlations of translation and probe numbers with accuracy and fertility. Metrics get the
numbers; data/analysis gets the full tables (with the languages each number covers) for the
report."""

from pathlib import Path

from regpt2.analysis.comparisons import (
    accuracy_changes,
    chance_tests,
    near_chance_tests,
    paired_tests,
    probe_correlations,
    probe_tests,
    tier_contrast,
    translation_correlations,
)
from regpt2.analysis.results import (
    all_language_accuracy,
    fertility,
    finetuned_accuracy,
    lora_accuracy,
    numbers_only,
    per_language_numbers,
    zeroshot_accuracy,
)
from regpt2.config.params import load_params
from regpt2.core.errors import run_stage
from regpt2.core.io import read_json, write_json
from regpt2.studies.selection import select_languages

PREDICTIONS = Path("data/predictions")
#: What metrics/analysis/tests.json keeps of each test (data/analysis/tests.json has it all).
HEADLINE = {"estimate", "p", "p_near", "p_far", "detectable"}


def headline(data):
    """The estimates, p-values and detectable differences of `data`, nested as they are."""
    if isinstance(data, dict):
        kept = {k: headline(v) if isinstance(v, dict) else v for k, v in data.items()}
        return {
            k: v
            for k, v in kept.items()
            if (isinstance(v, dict) and v) or (k in HEADLINE and isinstance(v, float))
        }
    return data


def main() -> None:
    params = load_params()
    zeroshot = zeroshot_accuracy()
    per_language = finetuned_accuracy()
    changes = accuracy_changes(zeroshot, per_language, all_language_accuracy(), lora_accuracy())
    selection = select_languages(
        fertility("nli_model"), zeroshot, params.selection, list(per_language)
    )
    tiers = {lang: row["tier"] for lang, row in selection["languages"].items()}
    probe = read_json("data/probe/results.json")
    correlations = {
        "translate": translation_correlations(
            read_json("metrics/translate.json")["languages"], per_language_numbers()
        ),
        "probe": probe_correlations(probe, zeroshot),
    }
    options = {"resamples": params.analysis.resamples, "seed": params.analysis.seed}
    tests = {
        **paired_tests(PREDICTIONS, **options),
        "vs_chance": chance_tests(PREDICTIONS, **options),
        "near_chance": near_chance_tests(PREDICTIONS, **options),
        "tier_contrast": tier_contrast(PREDICTIONS, tiers, **options),
        "probe": probe_tests(probe, **options),
    }
    write_json("data/analysis/selection.json", selection)
    write_json("data/analysis/correlations.json", correlations)
    write_json("data/analysis/tests.json", tests)
    write_json("metrics/analysis/changes.json", changes)
    write_json("metrics/analysis/tiers.json", tiers)
    write_json("metrics/analysis/correlations.json", numbers_only(correlations))
    write_json("metrics/analysis/tests.json", headline(tests))


if __name__ == "__main__":
    run_stage(main)
