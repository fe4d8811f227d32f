"""Per-language numbers that earlier stages wrote, read back for comparisons across stages.

Only the `analyze` stage (and the report, which reads its outputs) compares stages: training,
generation and probing stages never read another stage's metrics."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from regpt2.core.io import read_json
from regpt2.nli.metrics import read_evaluation

METRICS = Path("metrics")


def _read(path: Path) -> dict | None:
    return read_json(path) if path.exists() else None


def _strict(path: Path) -> dict[str, float]:
    """Strict accuracy by language in an evaluation's metrics file (empty before it ran)."""
    return {lang: m["strict_accuracy"] for lang, m in (read_evaluation(path) or {}).items()}


def zeroshot_accuracy(root: Path = METRICS) -> dict[str, float]:
    return _strict(root / "zeroshot.json")


def finetuned_accuracy(root: Path = METRICS) -> dict[str, float]:
    """Test strict accuracy of each per-language model (only the languages that were run)."""
    return {
        lang: accuracy
        for path in sorted((root / "finetune_per_lang").glob("*.json"))
        for lang, accuracy in _strict(path).items()
    }


def all_language_accuracy(root: Path = METRICS) -> dict[str, float]:
    return _strict(root / "finetune_all.json")


def lora_accuracy(root: Path = METRICS) -> dict[str, float]:
    return _strict(root / "qwen_lora.json")


def fertility(tokenizer: str, root: Path = METRICS) -> dict[str, float]:
    """Tokens per whitespace word by language, for `tokenizer` (`gpt2`, `qwen2.5` or
    `nli_model`, the tokenizer of the model the NLI stages fine-tune)."""
    data = _read(root / "fertility.json")
    if not data or tokenizer not in data:
        return {}
    return {lang: m["tokens_per_word"] for lang, m in data[tokenizer].items()}


def per_language_numbers(root: Path = METRICS) -> dict[str, dict[str, float]]:
    """The per-language series that exist so far, by name (empty ones left out)."""
    series = {
        "nli_zeroshot": zeroshot_accuracy(root),
        "nli_finetuned": finetuned_accuracy(root),
        "fertility_gpt2": fertility("gpt2", root),
        "fertility_nli_model": fertility("nli_model", root),
    }
    return {name: values for name, values in series.items() if values}


def numbers_only(data: Any) -> Any:
    """`data` without its strings and lists: what `dvc metrics` and `dvc exp show` compare."""
    if isinstance(data, Mapping):
        kept = {key: numbers_only(value) for key, value in data.items()}
        return {key: value for key, value in kept.items() if value is not None and value != {}}
    if isinstance(data, bool | int | float):
        return data
    return None
