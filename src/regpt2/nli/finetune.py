"""NLI fine-tuning on top of the one loop (`training.loop`); the dev scores that pick the
checkpoint come from the one scorer (`nli.scorer`).

Every fine-tuning stage (English, per-language, all-language, LoRA) calls `train_languages` (and
so `finetune`) with its languages and model; scoring a saved model is `nli.evaluate`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from regpt2.config.params import Nli, Subset, Training
from regpt2.core.batching import left_padded, pad_id_of
from regpt2.core.errors import UserError
from regpt2.core.precision import use_bf16
from regpt2.nli.evaluate import make_prompt, model_context
from regpt2.nli.metrics import TrainingSummary
from regpt2.nli.prompts import NliPrompt
from regpt2.nli.scorer import label_position_logits, predict
from regpt2.sources.data import NliExample, XnliRows, take_subset
from regpt2.training.checkpoint import digest
from regpt2.training.loop import TrainResult, pick_device, record_run, train


def training_rows(
    rows: XnliRows, lang: str, section: Training, subset: Subset | None = None
) -> tuple[list[NliExample], list[NliExample]]:
    """(train, dev) rows of one language for a training block (see params.Training).

    `subset` (fraction + mode) then thins the training rows, as the per-language runs do.
    """
    train = rows.load(lang, section.train_split, section.train_limit)
    if section.dev_holdout:
        if section.dev_holdout >= len(train):
            raise UserError(
                f"dev_holdout {section.dev_holdout} leaves no training rows of {lang} "
                f"({len(train)} rows in {section.train_split})"
            )
        train, dev = train[: -section.dev_holdout], train[-section.dev_holdout :]
    else:
        dev = rows.load(lang, section.dev_split, section.dev_limit)
    if subset is not None:
        train = take_subset(train, subset.fraction, subset.mode, section.seed)
    return train, dev


def finetune(
    model: torch.nn.Module,
    prompt: NliPrompt,
    train_rows: Sequence[NliExample],
    dev_rows: Sequence[NliExample],
    training: Training,
    *,
    checkpoint_dir: Path | None,
    description: str,
) -> tuple[TrainResult, dict]:
    """Train on the label token only as `training` says; keep the weights with the best strict
    dev accuracy (scored every `training.eval_every` steps, see params.Training)."""
    train_examples = prompt.encode(train_rows)
    dev_examples = prompt.encode(dev_rows)
    label_ids = torch.tensor(prompt.label_token_ids)
    pad_id = pad_id_of(prompt.tokenizer)
    device = pick_device()

    def collate(indices: list[int]) -> dict[str, torch.Tensor]:
        chosen = [train_examples[i] for i in indices]
        batch = left_padded([example.input_ids for example in chosen], pad_id)
        batch["targets"] = label_ids[[example.label for example in chosen]]
        return batch

    def label_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = label_position_logits(model, batch).float()
        return F.cross_entropy(logits, batch["targets"])

    # The dev scores pick the checkpoint: they follow the training block's bf16 setting, read
    # for inference (so `auto` scores in bf16 on a CPU with native bf16, trains in fp32).
    dev_bf16 = use_bf16(training.bf16, device, "inference")

    def dev_accuracy(model: torch.nn.Module) -> float:
        predictions = predict(
            model, prompt, dev_examples, batch_size=training.dev_batch_size, bf16=dev_bf16,
            description="dev",
        )  # fmt: skip
        return float((predictions.strict == predictions.gold).mean())

    result = train(
        model,
        lengths=[len(example.input_ids) for example in train_examples],
        collate=collate,
        loss_fn=label_loss,
        training=training,
        eval_every=training.eval_every,
        evaluate_fn=dev_accuracy,
        checkpoint_dir=checkpoint_dir,
        # The encoded prompts carry the template, label tokens, max_length and the rows
        # themselves, so a checkpoint is resumed only for exactly these inputs.
        inputs_digest=digest(
            [(e.input_ids, e.label) for e in train_examples],
            [(e.input_ids, e.label) for e in dev_examples],
            prompt.label_token_ids,
            training.dev_batch_size,
            description,
        ),
        description=description,
        device=device,
    )
    counts = {
        "train_examples": len(train_examples),
        "train_truncated": sum(example.truncated for example in train_examples),
        "dev_examples": len(dev_examples),
        "dev_truncated": sum(example.truncated for example in dev_examples),
    }
    return result, counts


def train_languages(
    rows: XnliRows,
    nli: Nli,
    model: torch.nn.Module,
    tokenizer,
    languages: Sequence[str],
    training: Training,
    *,
    stage: str,
    subset: Subset | None = None,
) -> tuple[TrainResult, dict]:
    """Fine-tune on the training rows of `languages` (concatenated; the loop's seeded batch
    order shuffles them together) as `training` says, dev rows picking the best checkpoint, with
    the prompt `nli` describes. Returns the training result and the example counts."""
    prompt = make_prompt(tokenizer, nli, model_context(model))
    train_rows: list[NliExample] = []
    dev_rows: list[NliExample] = []
    for lang in languages:
        train, dev = training_rows(rows, lang, training, subset)
        train_rows += train
        dev_rows += dev
    return finetune(
        model,
        prompt,
        train_rows,
        dev_rows,
        training,
        checkpoint_dir=Path("data/checkpoints") / stage,
        description=stage,
    )


def training_summary(result: TrainResult, counts: dict) -> TrainingSummary:
    return {
        "steps": result.steps,
        "train_loss": round(result.mean_loss, 6),
        "best_dev_strict_accuracy": None
        if result.best_score is None
        else round(100 * result.best_score, 4),
        "best_step": result.best_step,
        "bf16": result.bf16_used,
        **counts,
    }


def record_training(
    name: str, result: TrainResult, counts: dict, seconds: float, **extra: int
) -> None:
    """A fine-tuning run's records (`record_run`), its metrics the training summary
    (metrics/training/NAME.json) plus `extra` numbers."""
    summary = {**training_summary(result, counts), **extra}
    record_run(name, result, seconds, f"metrics/training/{name}.json", summary)
