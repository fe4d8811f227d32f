"""Stage `analyze`: comparisons across stages, computed from their outputs (cheap, seconds).

Accuracy changes against zero-shot, the study's language tiers, and the correlations of
translation and probe numbers with accuracy and fertility. Metrics get the numbers;
data/analysis gets the full tables (with the languages each number covers) for the report."""

from regpt2.analysis.comparisons import (
    accuracy_changes,
    probe_correlations,
    translation_correlations,
)
from regpt2.analysis.results import (
    all_language_accuracy,
    finetuned_accuracy,
    gpt2_fertility,
    lora_accuracy,
    numbers_only,
    per_language_numbers,
    zeroshot_accuracy,
)
from regpt2.config.params import load_params
from regpt2.core.errors import run_stage
from regpt2.core.io import read_json, write_json
from regpt2.studies.selection import select_languages


def main() -> None:
    params = load_params()
    zeroshot = zeroshot_accuracy()
    per_language = finetuned_accuracy()
    changes = accuracy_changes(zeroshot, per_language, all_language_accuracy(), lora_accuracy())
    selection = select_languages(gpt2_fertility(), zeroshot, params.selection, list(per_language))
    correlations = {
        "translate": translation_correlations(
            read_json("metrics/translate.json")["languages"], per_language_numbers()
        ),
        "probe": probe_correlations(read_json("data/probe/results.json"), zeroshot),
    }
    write_json("data/analysis/selection.json", selection)
    write_json("data/analysis/correlations.json", correlations)
    write_json("metrics/analysis/changes.json", changes)
    write_json(
        "metrics/analysis/tiers.json",
        {lang: row["tier"] for lang, row in selection["languages"].items()},
    )
    write_json("metrics/analysis/correlations.json", numbers_only(correlations))


if __name__ == "__main__":
    run_stage(main)
