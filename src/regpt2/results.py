"""Per-language numbers that earlier stages wrote, gathered for correlations and the report."""

from __future__ import annotations

from pathlib import Path

from regpt2.io import read_json

METRICS = Path("metrics")


def _read(path: Path) -> dict | None:
    return read_json(path) if path.exists() else None


def zeroshot_accuracy(root: Path = METRICS) -> dict[str, float]:
    data = _read(root / "zeroshot.json")
    if not data:
        return {}
    return {lang: m["strict_accuracy"] for lang, m in data["languages"].items()}


def finetuned_accuracy(root: Path = METRICS) -> dict[str, float]:
    """Test strict accuracy of each per-language model (only the languages that were run)."""
    accuracy = {}
    for path in sorted((root / "finetune_per_lang").glob("*.json")):
        data = read_json(path)
        accuracy[data["language"]] = data["test"]["strict_accuracy"]
    return accuracy


def gpt2_fertility(root: Path = METRICS) -> dict[str, float]:
    data = _read(root / "fertility.json")
    if not data or "gpt2" not in data:
        return {}
    return {lang: m["tokens_per_word"] for lang, m in data["gpt2"].items()}


def per_language_numbers(root: Path = METRICS) -> dict[str, dict[str, float]]:
    """The per-language series that exist so far, by name (empty ones left out)."""
    series = {
        "nli_zeroshot": zeroshot_accuracy(root),
        "nli_finetuned": finetuned_accuracy(root),
        "fertility_gpt2": gpt2_fertility(root),
    }
    return {name: values for name, values in series.items() if values}
