"""The shape of every NLI evaluation's results (metrics format 2), written by every scoring stage
and read back by `analyze` and the report:

- metrics/NAME.json, what `dvc metrics` and `dvc exp show` compare: `{"languages": {LANG:
  Summary}}`, a one-language evaluation (finetune_en, finetune_per_lang/LANG) included;
- data/eval/NAME.json, the details: `{**context, "languages": {LANG: full metrics}}`, the full
  metrics as `nli.evaluate.evaluate_rows` returns them (intervals, confusion matrices, counts);
- metrics/training/NAME.json, a fine-tuning run: one flat `TrainingSummary`.

Format 1 wrote `{"test": Summary}` for the one-language evaluations, so their `dvc exp show`
columns were renamed (README, "Metrics format"). No torch here: the report imports this.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict, cast

from regpt2.core.errors import UserError
from regpt2.core.io import read_json, write_json

#: Bumped whenever the shape of a metrics file changes (and the README says what moved).
METRICS_FORMAT = 2


class Summary(TypedDict):
    """One language's numbers that runs are compared on; the rest stays in data/eval."""

    n: int
    strict_accuracy: float
    strict_ci95_low: float
    strict_ci95_high: float
    restricted_accuracy: float
    bf16: bool


class TrainingSummary(TypedDict):
    """A fine-tuning run (`nli.finetune.training_summary`), plus whatever numbers its stage adds
    (qwen_lora: trainable_parameters, total_parameters)."""

    steps: int
    train_loss: float
    best_dev_strict_accuracy: float | None  # None: no dev rows, so no checkpoint was picked
    best_step: int | None
    bf16: bool
    train_examples: int
    train_truncated: int
    dev_examples: int
    dev_truncated: int


SUMMARY_KEYS: tuple[str, ...] = tuple(Summary.__annotations__)


def summary(metrics: Mapping[str, Any]) -> Summary:
    """The `Summary` of one language's full metrics."""
    return {
        "n": metrics["n"],
        "strict_accuracy": round(metrics["strict_accuracy"], 4),
        "strict_ci95_low": round(metrics["strict_ci95"][0], 4),
        "strict_ci95_high": round(metrics["strict_ci95"][1], 4),
        "restricted_accuracy": round(metrics["restricted_accuracy"], 4),
        "bf16": metrics["bf16"],
    }


def write_evaluation(
    metrics_path: str | os.PathLike,
    details_path: str | os.PathLike,
    languages: Mapping[str, Mapping[str, Any]],
    **context: Any,
) -> None:
    """Write an evaluation's full metrics by language (with `context`, e.g. the split) to
    `details_path` and their summaries to `metrics_path`."""
    write_json(details_path, {**context, "languages": dict(languages)})
    write_json(metrics_path, {"languages": {lang: summary(m) for lang, m in languages.items()}})


def evaluation_languages(data: Any, where: str) -> dict[str, Summary]:
    """The summaries by language of a metrics file's parsed content; a UserError naming `where`
    when it is not in this format (an older stage's file, a snapshot taken before)."""
    languages = _languages(data, where)
    for lang, values in languages.items():
        missing = [key for key in SUMMARY_KEYS if key not in values]
        if missing:
            raise UserError(
                f"{where}: languages.{lang} lacks {', '.join(missing)} (metrics format "
                f"{METRICS_FORMAT}); rerun the stage that writes it"
            )
    return cast(dict[str, Summary], languages)


def evaluation_details(data: Any, where: str) -> dict[str, dict[str, Any]]:
    """The full metrics by language of a data/eval file's parsed content (checked as
    `evaluation_languages` checks a metrics file, bar the summary keys)."""
    return _languages(data, where)


def read_evaluation(path: str | os.PathLike) -> dict[str, Summary] | None:
    """The summaries by language in metrics file `path`; None when it does not exist."""
    path = Path(path)
    return evaluation_languages(read_json(path), path.as_posix()) if path.is_file() else None


def _languages(data: Any, where: str) -> dict[str, dict[str, Any]]:
    if isinstance(data, Mapping) and "test" in data and "languages" not in data:
        raise UserError(
            f'{where}: metrics format 1 ({{"test": ...}}); this code reads format '
            f'{METRICS_FORMAT}, {{"languages": {{LANG: ...}}}}: rerun its stage, or move the '
            'numbers under "languages" and the language code (README, "Metrics format")'
        )
    languages = data.get("languages") if isinstance(data, Mapping) else None
    if not isinstance(languages, Mapping) or not all(
        isinstance(values, Mapping) for values in languages.values()
    ):
        raise UserError(
            f'{where}: not an evaluation\'s results ({{"languages": {{LANG: {{...}}}}}}, metrics '
            f"format {METRICS_FORMAT}); rerun the stage that writes it"
        )
    return {lang: dict(values) for lang, values in languages.items()}
