"""The one training loop: pretraining, full fine-tuning and LoRA all run through `train`.

What differs between stages is passed in: how batches are made (`collate`), what the loss is
(`loss_fn`), and how the dev score is computed (`evaluate_fn`). The loop itself owns the things
that must be right everywhere: seeded batch order, gradient accumulation, bf16 autocast, periodic
dev evaluation keeping the best weights, a resumable checkpoint and the per-step loss log.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from regpt2.core import distributed
from regpt2.core.errors import UserError, when_stage_succeeds
from regpt2.core.io import atomic_path, write_json
from regpt2.core.precision import autocast, use_bf16
from regpt2.training.checkpoint import (
    Checkpoint,
    fingerprint_of,
    load_trainable_state,
    trainable_state,
)

if TYPE_CHECKING:  # pragma: no cover - the settings type only
    from regpt2.config.params import Loop

Batch = dict[str, torch.Tensor]
# A loss function returns the loss to optimise, or (loss, {name: value}) to also log other
# per-step numbers (pretraining logs the loss over real tokens beside the padded one).
LossFn = Callable[[torch.nn.Module, Batch], "torch.Tensor | tuple[torch.Tensor, dict[str, float]]"]


# The study's AdamW betas and eps: the same for every stage and never varied, so constants here
# rather than params.yaml keys (a new key would change every training stage's params).
BETAS = (0.9, 0.999)
EPS = 1e-6
# Defaults of `train`'s keyword settings, not params either. CHECKPOINT_EVERY: optimizer steps
# between resumable checkpoints, which decide where a killed run resumes, never what it trains.
CHECKPOINT_EVERY = 200
# Batches are formed from chunks of this many batches sorted by length, so that padding is small
# while the order stays random; pretraining passes 1 (plain random batches, the study's).
LENGTH_GROUP_BATCHES = 50


@dataclass
class TrainResult:
    steps: int = 0
    micro_batches: int = 0
    examples_seen: int = 0
    tokens_seen: int = 0
    losses: list[float] = field(default_factory=list)  # one per optimizer step
    extras: dict[str, list[float]] = field(default_factory=dict)  # per optimizer step, too
    evaluations: list[dict] = field(default_factory=list)  # {"step", "score"}
    best_score: float | None = None
    best_step: int | None = None
    bf16_used: bool = False
    resumed_from_step: int = 0

    @property
    def mean_loss(self) -> float:
        return sum(self.losses) / len(self.losses) if self.losses else math.nan


def pick_device() -> torch.device:
    """This process's device: its own GPU under torchrun, else the GPU if any, else the CPU."""
    return distributed.device()


def length_grouped_batches(
    lengths: Sequence[int], batch_size: int, seed: int, group: int = 50
) -> list[list[int]]:
    """Random batches of similar lengths: shuffle, sort within groups, shuffle the batches."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    chunk = batch_size * max(1, group)
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        piece = sorted(order[start : start + chunk], key=lambda i: -lengths[i])
        batches.extend(piece[i : i + batch_size] for i in range(0, len(piece), batch_size))
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


def make_optimizer(model: torch.nn.Module, training: Loop) -> torch.optim.Optimizer:
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise UserError("the model has no trainable parameters")
    if training.optimizer == "regpt2":
        from regpt2.gpt2.optim import AdamW

        return AdamW(
            parameters,
            lr=training.lr,
            betas=BETAS,
            eps=EPS,
            weight_decay=training.weight_decay,
            correct_bias=True,
        )
    if training.optimizer == "torch":
        return torch.optim.AdamW(
            parameters, lr=training.lr, betas=BETAS, eps=EPS, weight_decay=training.weight_decay
        )
    raise UserError(f"unknown optimizer {training.optimizer!r}; use regpt2 or torch")


def train(
    model: torch.nn.Module,
    *,
    lengths: Sequence[int],
    collate: Callable[[list[int]], Batch],
    loss_fn: LossFn,
    training: Loop,
    eval_every: int = 0,
    checkpoint_every: int = CHECKPOINT_EVERY,
    length_group_batches: int = LENGTH_GROUP_BATCHES,
    evaluate_fn: Callable[[torch.nn.Module], float] | None = None,
    checkpoint_dir: Path | None = None,
    inputs_digest: str = "",
    description: str = "train",
    device: torch.device | None = None,
) -> TrainResult:
    """Train `model` in place as the stage's validated `training` block says; when
    `evaluate_fn` is given, end with the best-scoring weights.

    `lengths[i]` is the token length of example i (for length grouping); `collate(indices)`
    builds a batch of tensors; `loss_fn(model, batch)` returns the mean loss of the batch.
    `eval_every`: optimizer steps between dev evaluations (0 = at each epoch's end);
    `checkpoint_every`: between resumable checkpoints; `length_group_batches`: see
    `LENGTH_GROUP_BATCHES`. `inputs_digest` (see `digest`) identifies everything the batches
    and the dev score are made from: a checkpoint left by a killed run is resumed only when it
    matches.
    """
    if not lengths:
        raise UserError(f"{description}: no training examples")
    if checkpoint_dir is not None and not inputs_digest:
        raise ValueError("a resumable run needs the inputs_digest of what it trains on")
    cadence = _Cadence(eval_every, checkpoint_every, length_group_batches)
    run = _Run(
        model, training, cadence, evaluate_fn, checkpoint_dir, inputs_digest, description, device
    )
    start_epoch, skip_batches = run.resume()
    batches_per_epoch = math.ceil(len(lengths) / training.batch_size)
    total_steps = math.ceil(batches_per_epoch / training.grad_accum) * training.epochs
    model.train()
    # A context, so that an interrupted run ends its progress line before the error line.
    with tqdm(
        total=total_steps, initial=run.result.steps, desc=description, mininterval=2
    ) as progress:
        for epoch in range(start_epoch, training.epochs):
            batches = length_grouped_batches(
                lengths, training.batch_size, training.seed + epoch, length_group_batches
            )
            run.epoch(epoch, batches, skip_batches, _Step(lengths, collate, loss_fn), progress)
            skip_batches = 0
    return run.finish()


@dataclass(frozen=True)
class _Cadence:
    """`train`'s per-call settings that are not params (see `train`)."""

    eval_every: int
    checkpoint_every: int
    length_group_batches: int


@dataclass(frozen=True)
class _Step:
    """What a stage passes in to make and score its batches (see `train`)."""

    lengths: Sequence[int]
    collate: Callable[[list[int]], Batch]
    loss_fn: LossFn


@dataclass
class _Pending:
    """Micro-batches accumulated since the last optimizer step: how many, their mean loss so far
    (each divided by grad_accum) and the sums of their logged extras."""

    count: int = 0
    loss: float = 0.0
    extras: dict[str, float] = field(default_factory=dict)


class _Run:
    """One training run's state: the model (wrapped for DDP when several processes train), its
    optimizer, the resumable checkpoint, the result so far and the best weights in memory."""

    def __init__(
        self,
        model: torch.nn.Module,
        training: Loop,
        cadence: _Cadence,
        evaluate_fn: Callable[[torch.nn.Module], float] | None,
        checkpoint_dir: Path | None,
        inputs_digest: str,
        description: str,
        device: torch.device | None,
    ) -> None:
        distributed.setup()
        self.world = distributed.world_size()
        if training.batch_size < self.world:
            raise UserError(
                f"{description}: batch_size {training.batch_size} is smaller than the {self.world} "
                "processes that share each batch"
            )
        self.device = device or pick_device()
        model.to(self.device)
        self.model = self.forward_model = model
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.forward_model = DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        self.training, self.cadence = training, cadence
        self.evaluate_fn, self.description = evaluate_fn, description
        self.bf16 = use_bf16(training.bf16, self.device, "training")
        self.optimizer = make_optimizer(model, training)
        fingerprint = ""
        if checkpoint_dir is not None:
            # The constants too: a checkpoint saved under other ones must not be resumed.
            settings = {"betas": BETAS, "eps": EPS, **asdict(cadence)}
            fingerprint = fingerprint_of(training, model, inputs_digest, **settings)
        self.checkpoint = Checkpoint(checkpoint_dir, fingerprint)
        self.result = TrainResult(bf16_used=self.bf16)
        self.best: dict[str, torch.Tensor] = {}

    def resume(self) -> tuple[int, int]:
        """Continue a killed run from its last checkpoint (only one of the same fingerprint):
        returns the (epoch, batch in epoch) to start at, (0, 0) for a fresh run."""
        state = self.checkpoint.load("last.pt")
        if state is None:
            return 0, 0
        load_trainable_state(self.model, state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for key, value in state["result"].items():
            setattr(self.result, key, value)
        self.result.resumed_from_step = self.result.steps
        best = self.checkpoint.load("best.pt")
        if best is not None:
            self.best.update(best["model"])
        return state["epoch"], state["batch_in_epoch"]

    def epoch(
        self, epoch: int, batches: list[list[int]], skip: int, step: _Step, progress: tqdm
    ) -> None:
        """One pass over `batches` from index `skip` on: micro-batches accumulate into optimizer
        steps; dev evaluations and checkpoints at their cadence and at the epoch's end."""
        eval_every, checkpoint_every = self.cadence.eval_every, self.cadence.checkpoint_every
        pending = _Pending()
        for batch_index in range(skip, len(batches)):
            last_in_epoch = batch_index == len(batches) - 1
            closes_step = pending.count + 1 == self.training.grad_accum or last_in_epoch
            self.micro_batch(batches[batch_index], step, closes_step, pending)
            if not closes_step:
                continue
            self.optimizer_step(pending, progress)
            pending = _Pending()
            if eval_every and self.result.steps % eval_every == 0:
                self.evaluate_and_keep_best()
            if checkpoint_every and self.result.steps % checkpoint_every == 0:
                self.save_last(epoch, batch_index + 1)
        if not eval_every or self.result.steps % eval_every:
            self.evaluate_and_keep_best()
        self.save_last(epoch + 1, 0)

    def micro_batch(
        self, indices: list[int], step: _Step, closes_step: bool, pending: _Pending
    ) -> None:
        """Forward and backward of one micro-batch; its loss and extras join `pending`."""
        world, grad_accum = self.world, self.training.grad_accum
        # Each rank takes its share of the batch; its loss is weighted so that DDP's mean
        # over ranks equals the mean over the whole batch. A rank left without an example
        # (a short last batch) runs one with weight 0, as every rank must join backward.
        local = distributed.shard(indices)
        weight = len(local) * world / len(indices)
        batch = {k: v.to(self.device) for k, v in step.collate(local or indices[:1]).items()}
        sync = (
            contextlib.nullcontext() if closes_step or world == 1 else self.forward_model.no_sync()
        )
        with sync:
            with autocast(self.device, self.bf16):
                loss = step.loss_fn(self.forward_model, batch)
            extras = {}
            if isinstance(loss, tuple):
                loss, extras = loss
            if not torch.isfinite(loss):
                raise UserError(
                    f"{self.description}: loss became {loss.item()} at step {self.result.steps}"
                )
            (loss * weight / grad_accum).backward()
        logged = _batch_mean({"loss": loss.item(), **extras}, weight)
        for name, value in logged.items():
            if name != "loss":
                pending.extras[name] = pending.extras.get(name, 0.0) + value
        pending.loss += logged["loss"] / grad_accum
        pending.count += 1
        self.result.micro_batches += 1
        self.result.examples_seen += len(indices)
        self.result.tokens_seen += sum(int(step.lengths[i]) for i in indices)

    def optimizer_step(self, pending: _Pending, progress: tqdm) -> None:
        """Close an accumulation group: the optimizer step, the step's loss and extras logged."""
        grad_accum = self.training.grad_accum
        if pending.count < grad_accum:  # a short final group: rescale to its mean
            for parameter in self.model.parameters():
                if parameter.grad is not None:
                    parameter.grad.mul_(grad_accum / pending.count)
            pending.loss *= grad_accum / pending.count
        for name, value in pending.extras.items():
            self.result.extras.setdefault(name, []).append(value / pending.count)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.result.steps += 1
        self.result.losses.append(pending.loss)
        progress.update(1)
        progress.set_postfix(loss=f"{pending.loss:.4f}", refresh=False)

    def evaluate_and_keep_best(self) -> None:
        """Score on dev (when the stage gave a score) and keep the weights if they are the best."""
        if self.evaluate_fn is None:
            return
        self.model.eval()
        score = float(self.evaluate_fn(self.model))
        self.model.train()
        self.result.evaluations.append({"step": self.result.steps, "score": score})
        if self.result.best_score is None or score > self.result.best_score:
            self.result.best_score, self.result.best_step = score, self.result.steps
            self.checkpoint.save("best.pt", {"model": trainable_state(self.model)})
            self.best.clear()
            self.best.update(trainable_state(self.model))

    def save_last(self, epoch: int, batch_in_epoch: int) -> None:
        """The resumable checkpoint: weights, optimizer, result so far and where to go on."""
        self.checkpoint.save(
            "last.pt",
            {
                "model": trainable_state(self.model),
                "optimizer": self.optimizer.state_dict(),
                "result": {k: v for k, v in asdict(self.result).items()},
                "epoch": epoch,
                "batch_in_epoch": batch_in_epoch,
            },
        )

    def finish(self) -> TrainResult:
        """End with the best weights (when dev scores picked them) in eval mode; rank 0 removes
        the checkpoint folder once every rank is done and the stage has written its outputs (a
        stage interrupted while it saves the model resumes from the finished checkpoint)."""
        if self.best:
            load_trainable_state(self.model, self.best)
        self.model.eval()
        distributed.barrier()
        if distributed.is_main_process():
            when_stage_succeeds(self.checkpoint.clear)
        return self.result


def _batch_mean(values: dict[str, float], weight: float) -> dict[str, float]:
    """Per-rank means -> means over the whole batch (each rank's weight is its share x world)."""
    world = distributed.world_size()
    if world == 1:
        return values
    names = sorted(values)
    totals = torch.tensor([values[name] * weight / world for name in names], dtype=torch.float64)
    torch.distributed.all_reduce(totals)
    return dict(zip(names, totals.tolist(), strict=True))


def write_loss_curve(path: Path, result: TrainResult) -> None:
    """Per-step loss (and logged extras) as CSV `step,loss,...` for `dvc plots`."""
    columns = {"loss": result.losses, **result.extras}
    losses = result.losses
    lines = ["step," + ",".join(columns)]
    for step in range(len(losses)):
        lines.append(f"{step + 1}," + ",".join(f"{columns[c][step]:.6f}" for c in columns))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def timing(result: TrainResult, seconds: float) -> dict:
    """Wall time and throughput of a training run: kept beside the results (the report shows
    them), never in DVC metrics, whose diffs must show only changed results."""
    return {
        "seconds": round(seconds, 1),
        "steps": result.steps,
        "train_tokens_per_second": round(result.tokens_seen / seconds, 1) if seconds else None,
        "bf16": result.bf16_used,
    }


def record_run(
    name: str, result: TrainResult, seconds: float, metrics_path: str, metrics: dict
) -> None:
    """A training run's records beside its model: the loss curve (data/plots/NAME_loss.csv), the
    wall time (data/timings/NAME.json, never a metric) and its metrics file."""
    write_loss_curve(Path(f"data/plots/{name}_loss.csv"), result)
    write_json(f"data/timings/{name}.json", timing(result, seconds))
    write_json(metrics_path, metrics)
