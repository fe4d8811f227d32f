"""Next-token cross-entropy through the LM head, a chunk of rows at a time.

In the toy pretraining model the vocabulary projection is most of a step: 508 positions x 50,257
logits against a 128-wide hidden state. Autograd's path (linear, log_softmax, nll, and the
backward of each) writes and re-reads that (positions x vocab) tensor about eight times. Here
the logits of one chunk of rows are made, turned into the softmax gradient in place and consumed
by both backward matmuls at once, during the forward pass; backward only scales the stored
gradients. The only large buffer is one chunk of logits.

Rows whose loss weight is zero (padding, when only real tokens are optimised) still get their
loss computed, so both of the study's figures come from one pass, but no gradient work.
"""

from __future__ import annotations

import torch

# Rows of logits per chunk: 64 x 50,257 floats = 12.9 MB. bench/bench_lm_loss.py compares sizes.
CHUNK_ROWS = 64


class _HeadCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, loss_weights, chunk_rows):
        want_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        # At least fp32 whatever the autocast state: bf16 logits lose ~3 digits of the loss
        # over a 50k vocabulary.
        dtype = torch.promote_types(hidden.dtype, torch.float32)
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            weight_c = weight.to(dtype)
            per_row = torch.empty(len(hidden), dtype=dtype, device=hidden.device)
            grad_hidden = torch.zeros_like(hidden, dtype=dtype) if want_grad else None
            grad_weight = torch.zeros_like(weight_c) if want_grad else None
            weighted = loss_weights != 0
            groups = [
                (weighted.nonzero().squeeze(1), want_grad),
                ((~weighted).nonzero().squeeze(1), False),
            ]
            for rows_of_group, with_grad in groups:
                for rows in rows_of_group.split(chunk_rows):
                    h = hidden.index_select(0, rows).to(dtype)
                    y = targets.index_select(0, rows)
                    logits = h @ weight_c.t()
                    lse = torch.logsumexp(logits, dim=1)
                    per_row[rows] = lse - logits.gather(1, y[:, None]).squeeze(1)
                    if not with_grad:
                        continue
                    w = loss_weights.index_select(0, rows).to(dtype)
                    # d(sum w * CE)/d logits = w * (softmax - onehot), formed in place.
                    grad_logits = logits.sub_(lse[:, None]).exp_().mul_(w[:, None])
                    grad_logits.scatter_add_(1, y[:, None], -w[:, None])
                    grad_hidden.index_copy_(0, rows, grad_logits @ weight_c)
                    grad_weight.addmm_(grad_logits.t(), h)
        loss = (per_row * loss_weights.to(dtype)).sum()
        ctx.mark_non_differentiable(per_row)
        if want_grad:
            ctx.grads = (grad_hidden.to(hidden.dtype), grad_weight.to(weight.dtype))
        return loss, per_row

    @staticmethod
    def backward(ctx, grad_loss, _grad_per_row):
        grad_hidden, grad_weight = ctx.grads
        del ctx.grads
        return grad_hidden * grad_loss, grad_weight * grad_loss, None, None, None


def head_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    loss_weights: torch.Tensor,
    chunk_rows: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`sum_i loss_weights[i] * CE(hidden[i] @ weight.T, targets[i])` and every row's CE.

    hidden (N, C), weight (V, C) (the tied embedding), targets (N,) long, loss_weights (N,).
    The first result is differentiable with respect to hidden and weight; the per-row losses
    are detached (for logging other averages of the same pass).
    """
    if (
        hidden.dim() != 2
        or targets.shape != hidden.shape[:1]
        or loss_weights.shape != targets.shape
    ):
        raise ValueError(
            f"head_cross_entropy: hidden {tuple(hidden.shape)}, targets {tuple(targets.shape)} "
            f"and loss_weights {tuple(loss_weights.shape)} must be (N, C), (N,), (N,)"
        )
    rows = chunk_rows or CHUNK_ROWS  # read at call time, so a benchmark can vary it
    return _HeadCrossEntropy.apply(hidden, weight, targets, loss_weights, rows)
