"""Scoring a saved model on NLI test sets: the study's prompt for its tokenizer, the one scorer
(`nli.scorer`) per language and the per-row predictions every paired comparison reads
(`nli.predictions`); `nli.metrics` writes the results.

Every evaluation stage (English test, zero-shot, per-language, all-language, LoRA, the untuned
floor) calls `evaluate_languages`. Nothing here trains: editing the training loop or the
optimizer never reruns a scoring stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from regpt2.config.params import Nli
from regpt2.core import distributed
from regpt2.core.precision import use_bf16
from regpt2.nli.predictions import write_predictions
from regpt2.nli.prompts import NliPrompt
from regpt2.nli.scorer import accuracy_metrics, predict
from regpt2.sources.data import NliExample, XnliRows, premise_ids


def make_prompt(tokenizer, nli: Nli, context: int | None = None) -> NliPrompt:
    """The study's prompt for `tokenizer`, cut to the smaller of nli.max_length and the context."""
    max_length = min(nli.max_length, context) if context else nli.max_length
    return NliPrompt(tokenizer, nli.template, dict(nli.label_digits), max_length)


def model_context(model: torch.nn.Module) -> int | None:
    config = getattr(model, "config", None)
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None


def evaluate_rows(
    model: torch.nn.Module,
    prompt: NliPrompt,
    rows: Sequence[NliExample],
    *,
    batch_size: int,
    bootstrap_resamples: int,
    predictions_path: str | Path,
    seed: int = 0,
    bf16: bool = False,
    description: str = "evaluate",
) -> dict:
    """Accuracy metrics (see `scorer.accuracy_metrics`) plus the count of truncated prompts;
    the per-row predictions go to `predictions_path`."""
    examples = prompt.encode(rows)
    predictions = predict(
        model, prompt, examples, batch_size=batch_size, bf16=bf16, description=description
    )
    write_predictions(
        predictions_path,
        gold=predictions.gold,
        strict=predictions.strict,
        restricted=predictions.restricted,
        label_logits=predictions.label_logits,
        premises=premise_ids(rows),
    )
    metrics = accuracy_metrics(predictions, bootstrap_resamples=bootstrap_resamples, seed=seed)
    metrics["truncated"] = sum(example.truncated for example in examples)
    metrics["bf16"] = bf16
    return metrics


def evaluate_languages(
    model: torch.nn.Module,
    prompt: NliPrompt,
    rows: XnliRows,
    nli: Nli,
    languages: Sequence[str],
    split: str,
    limit: int | None,
    *,
    predictions_dir: str | Path,
) -> dict[str, dict]:
    """Evaluate on `split` of each language (on this process's device, in the precision
    `nli.bf16` picks there), batched and bootstrapped as `nli` says; returns lang -> full
    metrics and writes `predictions_dir/LANG.csv`."""
    device = distributed.device()
    model.to(device)
    bf16 = use_bf16(nli.bf16, device, "inference")
    return {
        lang: evaluate_rows(
            model,
            prompt,
            rows.load(lang, split, limit),
            batch_size=nli.eval_batch_size,
            bootstrap_resamples=nli.bootstrap_resamples,
            predictions_path=Path(predictions_dir) / f"{lang}.csv",
            bf16=bf16,
            description=f"{split}-{lang}",
        )
        for lang in languages
    }
