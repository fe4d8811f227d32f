"""The hand-written AdamW: the study's reference check, torch's AdamW, decay, groups, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from regpt2.core.errors import UserError
from regpt2.gpt2 import optim
from regpt2.gpt2.config import GPT2Config
from regpt2.gpt2.model import GPT2LMHead
from regpt2.gpt2.optim import AdamW, param_groups


@pytest.mark.shared
@pytest.mark.parametrize("foreach", [True, False])
def test_reference_weights_from_the_study(shared, foreach):
    reference = np.load(shared / "data" / "reference" / "optimizer_test.npy")
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2, bias=False)
    opt = AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4, correct_bias=True, foreach=foreach)
    for _ in range(1000):
        opt.zero_grad()
        x = torch.tensor(rng.uniform(size=3), dtype=torch.float32)
        target = torch.stack([x[0] + x[1], -x[2]])
        loss = ((target - model(x)) ** 2).sum()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(model.weight.detach().numpy(), reference, atol=1e-6, rtol=1e-4)


def _regression(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 8, generator=g, dtype=torch.float64)
    y = torch.randn(64, 3, generator=g, dtype=torch.float64)
    return x, y


def _train(make_opt, steps: int, seed: int = 0) -> torch.nn.Module:
    x, y = _regression(seed)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)
    ).double()
    opt = make_opt(model.parameters())
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return model


def test_agrees_with_torch_adamw_without_decay():
    """With wd = 0 the algorithms differ only in where eps goes (sqrt(v) + eps vs
    sqrt(v_hat) + eps); with eps = 0 they are the same update, up to float rounding."""
    steps = 200
    ours = _train(lambda p: AdamW(p, lr=1e-2, eps=0.0, weight_decay=0.0), steps)
    theirs = _train(lambda p: torch.optim.AdamW(p, lr=1e-2, eps=0.0, weight_decay=0.0), steps)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-8)


def test_decay_is_applied_after_the_update_on_the_updated_weights():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    grad = torch.tensor([0.3, -0.1, 0.0], dtype=torch.float64)
    lr, wd, b1, b2, eps = 0.1, 0.5, 0.9, 0.99, 1e-6
    opt = AdamW([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd)
    expected = p.detach().clone()
    m = torch.zeros(3, dtype=torch.float64)
    v = torch.zeros(3, dtype=torch.float64)
    for t in range(1, 4):
        p.grad = grad.clone()
        opt.step()
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad**2
        step = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        expected = expected - step * m / (v.sqrt() + eps)
        expected = expected - lr * wd * expected
        torch.testing.assert_close(p.detach(), expected, atol=1e-14, rtol=0)
    # A zero gradient still decays: p <- p * (1 - lr * wd) after a zero Adam step on fresh state.
    q = torch.nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    q.grad = torch.zeros(1, dtype=torch.float64)
    AdamW([q], lr=lr, weight_decay=wd).step()
    torch.testing.assert_close(q.detach(), torch.tensor([2.0 * (1 - lr * wd)], dtype=torch.float64))


def test_without_bias_correction_step_is_lr():
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    p.grad = torch.ones(1, dtype=torch.float64)
    AdamW([p], lr=0.1, eps=0.0, correct_bias=False).step()
    # m = 0.1, v = 0.001: p = -0.1 * 0.1 / sqrt(0.001)
    torch.testing.assert_close(p.detach(), torch.tensor([-0.1 * 0.1 / math.sqrt(0.001)]).double())


def test_foreach_and_loop_give_identical_results():
    def run(foreach: bool):
        return _train(lambda p: AdamW(p, lr=1e-2, weight_decay=0.01, foreach=foreach), 50)

    for a, b in zip(run(True).parameters(), run(False).parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("slice_size", [7, 1 << 18])
def test_the_three_update_orders_give_identical_numbers(monkeypatch, slice_size):
    """Per tensor, `_foreach_*` over the group, and slice by slice (slices smaller than, and as
    large as, a tensor; a strided tensor whole): the same arithmetic per element."""
    monkeypatch.setattr(optim, "SLICE", slice_size)
    group = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01, correct_bias=True)

    def state():
        generator = torch.Generator().manual_seed(0)
        tensors = [torch.randn(shape, generator=generator) for shape in [(5, 9), (40,), (3,)]]
        tensors.append(torch.randn(6, 4, generator=generator).t())  # not contiguous
        return [[t.clone() * scale for t in tensors] for scale in (1.0, 0.5, 0.1, 0.01)]

    results = []
    for update in (optim._update_loop, optim._update_foreach, optim._update_in_slices):
        params, grads, exp_avgs, exp_avg_sqs = state()
        exp_avg_sqs = [v.abs() for v in exp_avg_sqs]
        for step in (1, 2, 3):
            update(params, grads, exp_avgs, exp_avg_sqs, step, group)
        results.append(params + exp_avgs + exp_avg_sqs)
    for other in results[1:]:
        assert all(torch.equal(a, b) for a, b in zip(results[0], other, strict=True))


def test_param_groups_and_per_group_settings():
    torch.manual_seed(0)
    model = GPT2LMHead(GPT2Config(vocab_size=50, n_positions=16, n_embd=8, n_layer=2, n_head=2))
    groups = param_groups(model, weight_decay=0.01)
    decay, no_decay = groups
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"])
    assert all(p.dim() == 1 for p in no_decay["params"])
    assert any(p is model.transformer.wte.weight for p in decay["params"])
    total = len(decay["params"]) + len(no_decay["params"])
    assert total == len(list(model.parameters()))  # tied head counted once
    (everything,) = param_groups(model, weight_decay=0.01, decay_all=True)
    assert len(everything["params"]) == total
    model.transformer.wpe.weight.requires_grad_(False)
    assert sum(len(g["params"]) for g in param_groups(model, 0.01)) == total - 1

    opt = AdamW(groups, lr=1e-3)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]
    assert opt.param_groups[0]["lr"] == 1e-3 and opt.param_groups[1]["eps"] == 1e-6
    ids = torch.randint(0, 50, (2, 6))
    model(ids).logits.square().mean().backward()
    before = model.transformer.wpe.weight.detach().clone()
    opt.step()  # frozen / grad-less parameters are skipped
    assert torch.equal(before, model.transformer.wpe.weight)
    # state_dict round trip
    state = opt.state_dict()
    again = AdamW(groups, lr=1e-3)
    again.load_state_dict(state)
    assert again.state_dict()["state"].keys() == state["state"].keys()


def test_parameters_with_different_step_counts():
    a = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    b = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = AdamW([a, b], lr=0.1, weight_decay=0.1)
    a.grad = torch.ones(2, dtype=torch.float64)
    opt.step()
    b.grad = torch.ones(2, dtype=torch.float64)
    opt.step()  # a is at step 2, b at step 1
    assert opt.state[a]["step"] == 2 and opt.state[b]["step"] == 1
    c = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    c.grad = torch.ones(2, dtype=torch.float64)
    AdamW([c], lr=0.1, weight_decay=0.1).step()
    torch.testing.assert_close(b.detach(), c.detach())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": -1.0},
        {"lr": float("nan")},
        {"lr": "0.1"},
        {"betas": (0.9,)},
        {"betas": (1.0, 0.999)},
        {"betas": (0.9, -0.1)},
        {"eps": -1e-8},
        {"weight_decay": -0.01},
        {"weight_decay": float("inf")},
        {"correct_bias": "yes"},
    ],
)
def test_bad_hyperparameters_raise_user_error(kwargs):
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(UserError):
        AdamW([p], **kwargs)


def test_bad_group_and_sparse_gradients_raise_user_error():
    p = torch.nn.Parameter(torch.zeros(2))
    q = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(UserError, match="param group 1"):
        AdamW([{"params": [p]}, {"params": [q], "lr": -1}])
    with pytest.raises(UserError):
        AdamW([])
    embedding = torch.nn.Embedding(10, 4, sparse=True)
    opt = AdamW(embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(UserError, match="sparse"):
        opt.step()
