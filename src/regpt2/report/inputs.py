"""What the report reads: `Inputs` gives read-only access to the files the stages wrote under a
root (a missing file is None) and puts each stage's results together; `Context` adds the
profile and sources of the run."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from regpt2.core.errors import UserError
from regpt2.nli.metrics import Summary, evaluation_details, evaluation_languages


class Inputs:
    """Read-only access to the files the stages wrote under `root`; a missing file is None."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._cache: dict[str, Any] = {}

    def exists(self, relative: str) -> bool:
        return (self.root / relative).exists()

    def json(self, relative: str) -> Any | None:
        if relative not in self._cache:
            path = self.root / relative
            if not path.is_file():
                self._cache[relative] = None
            else:
                try:
                    self._cache[relative] = json.loads(path.read_text(encoding="utf-8"))
                except json.JSONDecodeError as error:
                    raise UserError(
                        f"{relative}: not valid JSON ({error.msg}, line {error.lineno}); "
                        "rerun the stage that writes it"
                    ) from None
        return self._cache[relative]

    def csv(self, relative: str) -> pd.DataFrame | None:
        path = self.root / relative
        if not path.is_file():
            return None
        try:
            return pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise UserError(f"{relative}: not a readable CSV ({error}); rerun its stage") from None

    # ---- each stage's results, put together from the files its stages wrote: the training
    # summary (metrics/training), the scores (metrics), the details (data/eval), timings
    # (data/timings) and the comparisons of `analyze` (metrics/analysis, data/analysis)

    def _changes(self, name: str) -> dict[str, float]:
        return dict((self.json("metrics/analysis/changes.json") or {}).get(name, {}))

    def scores(self, relative: str) -> dict[str, Summary] | None:
        """An evaluation's summaries by language (metrics/NAME.json); None before it ran."""
        data = self.json(relative)
        return None if data is None else evaluation_languages(data, relative)

    def details(self, relative: str) -> dict[str, dict]:
        """An evaluation's full metrics by language (data/eval/NAME.json); empty before it ran."""
        data = self.json(relative)
        return {} if data is None else evaluation_details(data, relative)

    def _with_counts(self, scores: Mapping[str, Summary], relative: str) -> dict[str, dict]:
        """`scores` by language, each with the single numbers of the details at `relative`."""
        details = self.details(relative)
        return {lang: {**_scalars(details.get(lang, {})), **m} for lang, m in scores.items()}

    def pretrain(self) -> dict | None:
        metrics = self.json("metrics/pretrain.json")
        if metrics is None:
            return None
        timing = self.json("data/timings/pretrain.json") or {}
        return {**metrics, **{k: v for k, v in timing.items() if k != "steps"}}

    def finetune_en(self) -> dict | None:
        scores = self.scores("metrics/finetune_en.json")
        if scores is None:
            return None
        training = self.json("metrics/training/finetune_en.json") or {}
        scored = self._with_counts(scores, "data/eval/finetune_en.json")
        test = next(iter(scored.values()), {})  # its one language, finetune_en.language
        best_dev = training.get("best_dev_strict_accuracy")
        return {**training, "dev": {"strict_accuracy": best_dev}, "test": test}

    def per_language(self) -> dict[str, dict]:
        """Per-language fine-tuning, by language: training summary, test scores, change."""
        directory = self.root / "metrics" / "finetune_per_lang"
        zeroshot = self.zeroshot_accuracy()
        changes = self._changes("per_language_vs_zeroshot")
        found = {}
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            lang = path.stem
            scores = self.scores(f"metrics/finetune_per_lang/{path.name}") or {}
            training = self.json(f"metrics/training/finetune_per_lang/{path.name}") or {}
            found[lang] = {
                **training,
                "language": lang,
                "test": scores.get(lang, {}),
                "zeroshot_strict_accuracy": zeroshot.get(lang),
                "change_vs_zeroshot": changes.get(lang),
            }
        return found

    def finetune_all(self) -> dict | None:
        scores = self.scores("metrics/finetune_all.json")
        if scores is None:
            return None
        training = self.json("metrics/training/finetune_all.json") or {}
        vs_zeroshot = self._changes("all_languages_vs_zeroshot")
        vs_per_language = self._changes("all_languages_vs_per_language")
        return {
            **training,
            "trained_on": (self.json("data/eval/finetune_all.json") or {}).get("trained_on", []),
            "languages": {
                lang: {
                    **m,
                    "change_vs_zeroshot": vs_zeroshot.get(lang),
                    "change_vs_per_language": vs_per_language.get(lang),
                }
                for lang, m in scores.items()
            },
        }

    def qwen_lora(self) -> dict | None:
        scores = self.scores("metrics/qwen_lora.json")
        if scores is None:
            return None
        training = self.json("metrics/training/qwen_lora.json") or {}
        timing = self.json("data/timings/qwen_lora.json") or {}
        gpt2 = self.zeroshot_accuracy()
        changes = self._changes("lora_vs_gpt2_zeroshot")
        return {
            **training,
            "train_seconds": timing.get("seconds"),
            "languages": {
                lang: {
                    **m,
                    "gpt2_zeroshot_strict_accuracy": gpt2.get(lang),
                    "change_vs_gpt2": changes.get(lang),
                }
                for lang, m in scores.items()
            },
        }

    def translate(self) -> dict | None:
        metrics = self.json("metrics/translate.json")
        if metrics is None:
            return None
        details = self.json("data/translate/examples.json") or {}
        languages = {
            lang: {**_scalars(details.get(lang, {})), **m}
            for lang, m in metrics.get("languages", {}).items()
        }
        signatures = self.json("data/translate/signatures.json") or {}
        return {"languages": languages, "signatures": signatures}

    def selection(self) -> dict | None:
        return self.json("data/analysis/selection.json")

    def correlations(self, name: str) -> dict | None:
        """`analyze`'s correlation table of `translate` or `probe` (None before it ran)."""
        data = self.json("data/analysis/correlations.json")
        return None if data is None else data.get(name) or {}

    # ---- the per-language series several sections share

    def zeroshot(self) -> dict[str, dict]:
        """Zero-shot scores by language, with the counts kept in data/eval."""
        scores = self.scores("metrics/zeroshot.json")
        return {} if scores is None else self._with_counts(scores, "data/eval/zeroshot.json")

    def untuned(self, model: str) -> dict[str, dict]:
        """The floor: `model` (gpt2 or qwen) scored before any NLI fine-tuning, by language
        (empty before untuned@MODEL ran)."""
        return dict(self.scores(f"metrics/untuned/{model}.json") or {})

    def zeroshot_accuracy(self) -> dict[str, float]:
        return {lang: m["strict_accuracy"] for lang, m in self.zeroshot().items()}

    def fertility(self, tokenizer: str = "gpt2", key: str = "tokens_per_word") -> dict[str, float]:
        data = self.json("metrics/fertility.json") or {}
        return {lang: m[key] for lang, m in data.get(tokenizer, {}).items() if key in m}

    def tiers(self) -> dict[str, int]:
        data = self.json("metrics/analysis/tiers.json") or {}
        return {lang: int(tier) for lang, tier in data.items()}


def _scalars(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The single numbers of a full evaluation (data/eval): no matrices or label lists."""
    return {k: v for k, v in metrics.items() if isinstance(v, int | float | str | type(None))}


@dataclass
class Context:
    inputs: Inputs
    profile: str
    sources: dict[str, str]
    # (dotted key, this run's value, the study's value) for each setting that differs from the
    # `paper` profile; sources are left to the sources table.
    settings_vs_study: tuple[tuple[str, Any, Any], ...] = ()

    def deviation(self, key: str) -> Any:
        """This run's value of setting `key` where it differs from the study's, else None."""
        return next((ours for name, ours, _ in self.settings_vs_study if name == key), None)
