"""AdamW written by hand, exactly as the study's (and old `transformers.AdamW`'s) algorithm.

For each parameter with gradient g, at step t (per parameter, starting at 1):

    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g^2
    step = lr * sqrt(1 - b2^t) / (1 - b1^t)   if correct_bias else lr
    p = p - step * m / (sqrt(v) + eps)
    p = p - lr * wd * p                        (decoupled decay, AFTER the update)

This differs from `torch.optim.AdamW`, which decays first (`p *= 1 - lr * wd`) and adds eps to
the bias-corrected `sqrt(v_hat)`: the two agree only with weight_decay = 0 and eps negligible.

The update is the same arithmetic, element by element, in one of three orders, all giving
identical numbers: with `foreach=False` a plain per-tensor loop; with `foreach=True` (default),
on a GPU `torch._foreach_*` kernels (one launch per op for a whole group), and on a CPU all the
ops on one cache-sized slice of a large tensor before the next slice, and `_foreach_*` calls
over chunks of small tensors. A large model's update is memory-bound: op by op over whole
tensors it streams each 135M-float state array through memory 2-3 times per op; slice by slice
it stays in the cache (SmolLM2's 135M parameters on 2 AVX2 cores: 0.27 s per update instead of
0.79 s with `_foreach_*`). A small model's is bound by Python's cost per op call, which chunks
keep to a few calls per step (bench/bench_adamw.py, `--model demo`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from regpt2.core.errors import UserError


class AdamW(torch.optim.Optimizer):
    """Adam with decoupled weight decay (decay applied after the Adam update).

    Defaults follow the study: betas (0.9, 0.999), eps 1e-6, weight_decay 0, correct_bias on.
    Param groups may override lr, betas, eps, weight_decay and correct_bias.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        correct_bias: bool = True,
        foreach: bool = True,
    ) -> None:
        defaults = dict(
            lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, correct_bias=correct_bias
        )
        _validate(defaults, where="AdamW")
        self.foreach = bool(foreach)
        try:
            super().__init__(params, defaults)
        except (ValueError, TypeError) as error:
            raise UserError(f"AdamW: bad params: {error}") from None

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            _validate(group, where=f"AdamW param group {len(self.param_groups) - 1}")
        except UserError:
            self.param_groups.pop()
            raise
        group["betas"] = tuple(float(b) for b in group["betas"])

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            # Tensors of the group bucketed by their step count after this update.
            buckets: dict[int, tuple[list[torch.Tensor], ...]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise UserError(
                        "AdamW does not support sparse gradients; use dense embeddings "
                        "(nn.Embedding(sparse=False))"
                    )
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                bucket = buckets.setdefault(state["step"], ([], [], [], []))
                bucket[0].append(p)
                bucket[1].append(p.grad)
                bucket[2].append(state["exp_avg"])
                bucket[3].append(state["exp_avg_sq"])
            for step, (params, grads, exp_avgs, exp_avg_sqs) in buckets.items():
                if not self.foreach:
                    update = _update_loop
                elif params[0].is_cuda:
                    update = _update_foreach
                else:
                    update = _update_in_slices
                update(params, grads, exp_avgs, exp_avg_sqs, step, group)
        return loss


def _step_size(step: int, group: dict[str, Any]) -> float:
    lr = group["lr"]
    if not group["correct_bias"]:
        return lr
    beta1, beta2 = group["betas"]
    return lr * math.sqrt(1.0 - beta2**step) / (1.0 - beta1**step)


def _update_loop(params, grads, exp_avgs, exp_avg_sqs, step: int, group: dict[str, Any]) -> None:
    beta1, beta2 = group["betas"]
    step_size = _step_size(step, group)
    decay = group["lr"] * group["weight_decay"]
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
        m.mul_(beta1).add_(g, alpha=1.0 - beta1)
        v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
        denom = v.sqrt().add_(group["eps"])
        p.addcdiv_(m, denom, value=-step_size)
        if decay > 0.0:
            p.add_(p, alpha=-decay)


# Elements per slice or chunk in `_update_in_slices`: 1 MiB of fp32 per state array, so that a
# slice of the parameters, their gradients and both moments stays in L2/L3 across the update's
# ops.
SLICE = 1 << 18


def _update_in_slices(params, grads, exp_avgs, exp_avg_sqs, step: int, group) -> None:
    """The CPU order. A tensor larger than SLICE is cut into slices of SLICE elements, each
    updated by all the ops before the next slice (a strided one is updated whole). Smaller
    tensors are gathered into chunks of at most SLICE elements, each updated by one
    `_foreach_*` call per op: a model of many small tensors (the demo GPT-2's 28) then pays a few
    calls per step instead of 7 per tensor (bench/bench_adamw.py --model demo)."""
    slices: tuple[list[torch.Tensor], ...] = ([], [], [], [])
    chunks: list[tuple[list[torch.Tensor], ...]] = []
    size = SLICE  # the size of the last chunk: none yet
    for tensors in zip(params, grads, exp_avgs, exp_avg_sqs, strict=True):
        count = tensors[0].numel()
        if count <= SLICE:
            if size + count > SLICE:
                chunks.append(([], [], [], []))
                size = 0
            for out, tensor in zip(chunks[-1], tensors, strict=True):
                out.append(tensor)
            size += count
        elif not all(tensor.is_contiguous() for tensor in tensors):
            for out, tensor in zip(slices, tensors, strict=True):
                out.append(tensor)  # a large strided tensor is updated whole
        else:
            for out, tensor in zip(slices, tensors, strict=True):
                out.extend(tensor.view(-1).split(SLICE))
    _update_loop(*slices, step, group)
    for chunk in chunks:
        _update_foreach(*chunk, step, group)


def _update_foreach(params, grads, exp_avgs, exp_avg_sqs, step: int, group: dict[str, Any]) -> None:
    beta1, beta2 = group["betas"]
    step_size = _step_size(step, group)
    decay = group["lr"] * group["weight_decay"]
    torch._foreach_mul_(exp_avgs, beta1)
    torch._foreach_add_(exp_avgs, grads, alpha=1.0 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1.0 - beta2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denom, group["eps"])
    torch._foreach_addcdiv_(params, exp_avgs, denom, value=-step_size)
    if decay > 0.0:
        torch._foreach_add_(params, params, alpha=-decay)


def _validate(group: dict[str, Any], where: str) -> None:
    def number(name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise UserError(f"{where}: {name}={value!r} must be a number")
        return float(value)

    lr = number("lr", group["lr"])
    if not 0.0 <= lr < math.inf:
        raise UserError(f"{where}: lr={lr} must be a finite number >= 0")
    betas = group["betas"]
    if not isinstance(betas, tuple | list) or len(betas) != 2:
        raise UserError(f"{where}: betas={betas!r} must be two numbers (beta1, beta2)")
    for i, beta in enumerate(betas):
        if not 0.0 <= number(f"betas[{i}]", beta) < 1.0:
            raise UserError(f"{where}: betas[{i}]={beta} must be in [0, 1)")
    eps = number("eps", group["eps"])
    if not 0.0 <= eps < math.inf:
        raise UserError(f"{where}: eps={eps} must be a finite number >= 0")
    weight_decay = number("weight_decay", group["weight_decay"])
    if not 0.0 <= weight_decay < math.inf:
        raise UserError(f"{where}: weight_decay={weight_decay} must be a finite number >= 0")
    if not isinstance(group["correct_bias"], bool):
        raise UserError(f"{where}: correct_bias={group['correct_bias']!r} must be true or false")


def param_groups(
    model: nn.Module, weight_decay: float, decay_all: bool = False
) -> list[dict[str, Any]]:
    """Parameter groups for AdamW (only parameters that require grad).

    Optional refinement over the study: with `decay_all=False` weight decay goes only to tensors
    with 2 or more dimensions (embeddings, linear weights) and not to biases or LayerNorm
    parameters. `decay_all=True` decays everything, as the study did (one group). Tied
    parameters appear once. Empty groups are left out.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_all:
        groups = [{"params": params, "weight_decay": weight_decay}]
    else:
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
    return [g for g in groups if g["params"]]
