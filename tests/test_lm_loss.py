"""The chunked LM-head cross-entropy equals autograd's full-logits path, value and gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from regpt2.gpt2.config import GPT2Config
from regpt2.gpt2.lm_loss import head_cross_entropy
from regpt2.gpt2.model import GPT2LMHead
from regpt2.gpt2.pretraining import lm_losses


def reference(hidden, weight, targets, loss_weights):
    per_row = F.cross_entropy(hidden @ weight.t(), targets, reduction="none")
    return (per_row * loss_weights).sum(), per_row


def leaves(seed: int, rows: int = 37, width: int = 16, vocab: int = 97):
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(rows, width, generator=generator, dtype=torch.float64)
    weight = torch.randn(vocab, width, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, vocab, (rows,), generator=generator)
    return hidden.requires_grad_(), weight.requires_grad_(), targets


@pytest.mark.parametrize("chunk_rows", [1, 5, 64])
@pytest.mark.parametrize("masked", [False, True])
def test_value_and_gradients_match_autograd(chunk_rows, masked):
    hidden, weight, targets = leaves(seed=chunk_rows)
    loss_weights = torch.rand(len(targets), dtype=torch.float64)
    if masked:  # padding rows: zero weight, loss still reported
        loss_weights[::3] = 0
    loss, per_row = head_cross_entropy(hidden, weight, targets, loss_weights, chunk_rows)
    (loss * 2.5).backward()  # a non-unit upstream gradient reaches both inputs
    grads = hidden.grad.clone(), weight.grad.clone()

    hidden.grad = weight.grad = None
    expected_loss, expected_rows = reference(hidden, weight, targets, loss_weights)
    (expected_loss * 2.5).backward()
    torch.testing.assert_close(loss, expected_loss)
    torch.testing.assert_close(per_row, expected_rows.detach())
    torch.testing.assert_close(grads[0], hidden.grad)
    torch.testing.assert_close(grads[1], weight.grad)
    assert not per_row.requires_grad


def test_without_grad_only_computes_the_loss():
    hidden, weight, targets = leaves(seed=3)
    with torch.no_grad():
        loss, per_row = head_cross_entropy(hidden, weight, targets, torch.ones(len(targets)))
    assert not loss.requires_grad
    torch.testing.assert_close(per_row, reference(hidden, weight, targets, 1)[1].detach())


def test_shapes_are_checked():
    hidden, weight, targets = leaves(seed=4)
    with pytest.raises(ValueError, match="must be"):
        head_cross_entropy(hidden, weight, targets[:-1], torch.ones(len(targets) - 1))


def full_logits_losses(model, ids, lengths, loss_on_padding):
    """What pretraining computed before the chunked head: full logits, then F.cross_entropy."""
    logits = model(input_ids=ids).logits[:, :-1]
    per_token = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), ids[:, 1:].reshape(-1), reduction="none"
    )
    real = (torch.arange(1, ids.size(1))[None, :] < lengths[:, None]).reshape(-1)
    with_padding = per_token.mean()
    real_tokens = (per_token * real).sum() / real.sum()
    return (with_padding if loss_on_padding else real_tokens), with_padding, real_tokens


@pytest.mark.parametrize("loss_on_padding", [True, False])
def test_lm_losses_match_the_full_logits_path(loss_on_padding):
    torch.manual_seed(0)
    model = GPT2LMHead(GPT2Config(vocab_size=300, n_positions=32, n_embd=32, n_layer=2, n_head=4))
    ids = torch.randint(0, 300, (3, 20))
    lengths = torch.tensor([20, 7, 12])

    losses = lm_losses(model, ids, lengths, loss_on_padding)
    losses.optimised.backward()
    chunked = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    optimised, with_padding, real_tokens = full_logits_losses(model, ids, lengths, loss_on_padding)
    optimised.backward()

    assert losses.real_targets == 19 + 6 + 11
    assert losses.with_padding == pytest.approx(with_padding.item(), rel=1e-6)
    assert losses.real_tokens == pytest.approx(real_tokens.item(), rel=1e-6)
    torch.testing.assert_close(losses.optimised, optimised)
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(chunked[name], parameter.grad, msg=name)


def test_output_logits_false_skips_the_head():
    model = GPT2LMHead(GPT2Config(vocab_size=50, n_positions=8, n_embd=16, n_layer=1, n_head=2))
    ids = torch.randint(0, 50, (2, 8))
    out = model(input_ids=ids, output_logits=False)
    assert out.logits is None
    torch.testing.assert_close(model.lm_head(out.last_hidden_state), model(input_ids=ids).logits)
