"""The one training loop: learning, determinism, accumulation, resume, best-dev weights."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import regpt2.nli.finetune as finetune_module
import regpt2.training.loop as loop_module
from regpt2.config.params import Loop, Training
from regpt2.core.errors import Interrupted, UserError, run_stage
from regpt2.nli.finetune import finetune
from regpt2.nli.prompts import NliPrompt
from regpt2.sources.data import NliExample
from regpt2.training.checkpoint import digest, fingerprint_of
from regpt2.training.loop import length_grouped_batches, train

DIGITS = {"entailment": "0", "contradiction": "1", "neutral": "2"}
# A short template keeps the toy prompts at a dozen tokens.
TEMPLATE = "{premise} | {hypothesis} ="
CUES = {"entailment": "yes", "neutral": "maybe", "contradiction": "no"}
SUBJECTS = ["the cat", "a dog", "the farmer", "my friend", "the boy", "a girl"]


class Killed(RuntimeError):
    """Stands for the process being killed in the middle of a run."""


def _toy_rows(count: int, offset: int = 0) -> list[NliExample]:
    """The label is given by the hypothesis word (yes / maybe / no): a learnable task."""
    labels = list(CUES)
    rows = []
    for i in range(count):
        label = labels[(i * 7 + offset) % 3]
        rows.append(NliExample(f"{SUBJECTS[(i + offset) % 6]} sat", CUES[label], label, "en"))
    return rows


LOOP = dict(
    seed=0, epochs=3, batch_size=8, grad_accum=1, lr=3e-3, weight_decay=0.0, optimizer="regpt2",
    bf16=False,
)  # fmt: skip


def _config(**overrides) -> Loop:
    return Loop(**{**LOOP, **overrides})


def _training(**overrides) -> Training:
    """A fine-tuning stage's `training` block: the loop's settings and the dev scores'."""
    dev = dict(train_split="train", dev_split="dev", eval_every=0, dev_batch_size=16)
    return Training(**{**LOOP, **dev, **overrides})


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# ------------------------------------------------------------------- fine-tuning a tiny GPT-2


@pytest.fixture
def nli_run(demo_tokenizer, tiny_gpt2):
    train_rows, dev_rows = _toy_rows(48), _toy_rows(9, offset=1)

    def run(
        seed: int = 0, checkpoint_dir: Path | None = None, template: str = TEMPLATE, **overrides
    ):
        model = tiny_gpt2(seed=seed, n_embd=16, n_positions=32)
        result, counts = finetune(
            model,
            NliPrompt(demo_tokenizer, template, DIGITS, 32),
            train_rows,
            dev_rows,
            _training(seed=seed, **overrides),
            checkpoint_dir=checkpoint_dir,
            description="toy",
        )
        return model, result, counts

    return run


def test_finetune_loss_decreases(nli_run):
    _, result, counts = nli_run(epochs=4, lr=1e-2)
    assert counts == {
        "train_examples": 48,
        "train_truncated": 0,
        "dev_examples": 9,
        "dev_truncated": 0,
    }
    assert result.steps == len(result.losses) == 4 * 6
    first, last = result.losses[:3], result.losses[-3:]
    assert sum(first) / 3 > 5.0  # about ln(vocabulary size): nothing learned yet
    assert sum(last) / 3 < sum(first) / 3 - 2.5, result.losses  # mass moved to the labels
    assert [e["step"] for e in result.evaluations] == [6, 12, 18, 24]
    assert result.examples_seen == 4 * 48


def test_finetune_same_seed_same_run(nli_run):
    model_a, result_a, _ = nli_run(seed=3, epochs=1)
    model_b, result_b, _ = nli_run(seed=3, epochs=1)
    assert result_a.losses == result_b.losses
    _assert_same_weights(_weights(model_a), _weights(model_b))
    _, result_c, _ = nli_run(seed=4, epochs=1)
    assert result_c.losses != result_a.losses


def test_finetune_resumes_after_a_kill(nli_run, tmp_path: Path, monkeypatch):
    overrides = dict(epochs=2, eval_every=2)
    model_full, result_full, _ = nli_run(**overrides)

    real_predict = finetune_module.predict
    calls = {"n": 0}

    def dying_predict(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:  # the dev evaluation at step 8 (the checkpoint of step 6 is kept)
            raise Killed
        return real_predict(*args, **kwargs)

    checkpoints = tmp_path / "checkpoints"
    monkeypatch.setattr(finetune_module, "predict", dying_predict)
    with pytest.raises(Killed):
        nli_run(checkpoint_dir=checkpoints, **overrides)
    assert (checkpoints / "last.pt").exists()
    monkeypatch.setattr(finetune_module, "predict", real_predict)

    model, result, _ = nli_run(checkpoint_dir=checkpoints, **overrides)
    assert result.resumed_from_step == 6
    assert result.losses == result_full.losses
    assert result.evaluations == result_full.evaluations
    assert result.best_step == result_full.best_step
    _assert_same_weights(_weights(model), _weights(model_full))
    assert not checkpoints.exists()


def test_a_changed_prompt_template_starts_from_step_0(nli_run, tmp_path: Path, monkeypatch):
    """A run killed after a checkpoint, then rerun with another template (`Label:` becomes
    `Answer:` in the study's terms): the checkpoint was made from other prompts, so it is not
    resumed; rerun with the first template, it is."""
    overrides = dict(epochs=2, eval_every=2)
    checkpoints = tmp_path / "checkpoints"
    real_predict = finetune_module.predict

    def killed_run() -> None:
        calls = {"n": 0}

        def dying_predict(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 4:
                raise Killed
            return real_predict(*args, **kwargs)

        monkeypatch.setattr(finetune_module, "predict", dying_predict)
        with pytest.raises(Killed):
            nli_run(checkpoint_dir=checkpoints, **overrides)
        monkeypatch.setattr(finetune_module, "predict", real_predict)
        assert (checkpoints / "last.pt").exists()

    killed_run()
    _, result, _ = nli_run(
        checkpoint_dir=checkpoints, template="{premise} | {hypothesis} :", **overrides
    )
    assert result.resumed_from_step == 0
    killed_run()
    _, result, _ = nli_run(checkpoint_dir=checkpoints, **overrides)
    assert result.resumed_from_step == 6


# --------------------------------------------------------------------- the loop on a toy model


def _regression(count: int = 24, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(count, 4, generator=generator)
    targets = inputs @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1
    return inputs, targets


def _mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _run(
    config: Loop,
    *,
    count: int = 24,
    checkpoint_dir: Path | None = None,
    die_at_micro_batch: int | None = None,
    evaluate_fn=None,
    resume_key: str = "toy",
    model_seed: int = 0,
    **cadence,
):
    """Train the toy model; `cadence` goes to `train` (eval_every, checkpoint_every)."""
    inputs, targets = _regression(count)
    model = _mlp(model_seed)
    calls = {"n": 0}

    def loss_fn(model, batch):
        calls["n"] += 1
        if calls["n"] == die_at_micro_batch:
            raise Killed
        return F.mse_loss(model(batch["x"]), batch["y"])

    result = train(
        model,
        lengths=[1] * count,
        collate=lambda rows: {"x": inputs[rows], "y": targets[rows]},
        loss_fn=loss_fn,
        training=config,
        evaluate_fn=evaluate_fn,
        checkpoint_dir=checkpoint_dir,
        inputs_digest=digest(inputs, targets, resume_key),
        device=torch.device("cpu"),
        **cadence,
    )
    return model, result


def test_loop_learns_and_is_deterministic():
    config = _config(epochs=20, batch_size=4, lr=3e-2)
    model_a, result_a = _run(config)
    model_b, result_b = _run(config)
    assert result_a.losses == result_b.losses
    _assert_same_weights(_weights(model_a), _weights(model_b))
    assert result_a.losses[-1] < result_a.losses[0] / 10


LINEAR_STEP = dict(epochs=1, lr=1.0, optimizer="regpt2")


@pytest.fixture
def large_eps(monkeypatch):
    """A large eps makes the first update depend on the gradient's scale (Adam's first step is
    otherwise sign(gradient), blind to a wrongly scaled accumulated gradient)."""
    monkeypatch.setattr(loop_module, "EPS", 1.0)


@pytest.mark.usefixtures("large_eps")
@pytest.mark.parametrize("optimizer", ["regpt2", "torch"])
def test_grad_accum_equals_a_larger_batch(optimizer):
    """Two micro-batches of 4 give the update of one batch of 8: the mean of two equal-sized
    means is the mean (unequal micro-batches would weight their examples unequally)."""
    settings = {**LINEAR_STEP, "optimizer": optimizer}
    big_model, big = _run(_config(batch_size=8, grad_accum=1, **settings), count=8)
    accum_model, accum = _run(_config(batch_size=4, grad_accum=2, **settings), count=8)
    assert big.steps == accum.steps == 1
    assert accum.micro_batches == 2 and big.micro_batches == 1
    assert accum.losses[0] == pytest.approx(big.losses[0], rel=1e-6)
    initial = _weights(_mlp())
    for name, value in _weights(big_model).items():
        moved = value - initial[name]
        assert moved.abs().max() > 1e-3
        torch.testing.assert_close(_weights(accum_model)[name] - initial[name], moved)


@pytest.mark.usefixtures("large_eps")
def test_short_final_accumulation_group_is_rescaled():
    """A last group with fewer micro-batches than grad_accum is averaged over what it has."""
    one_model, one = _run(_config(batch_size=4, grad_accum=1, **LINEAR_STEP), count=4)
    accum_model, accum = _run(_config(batch_size=4, grad_accum=3, **LINEAR_STEP), count=4)
    assert one.steps == accum.steps == 1
    assert accum.losses[0] == pytest.approx(one.losses[0], rel=1e-6)
    for name, value in _weights(one_model).items():
        torch.testing.assert_close(_weights(accum_model)[name], value)


@pytest.mark.parametrize(("grad_accum", "die_at"), [(1, 9), (2, 9), (2, 14)])
def test_resume_after_a_kill_ends_like_an_uninterrupted_run(tmp_path, grad_accum, die_at):
    # 24 examples / batch 4 = 6 micro-batches per epoch; 3 epochs; checkpoint every 2 steps.
    config = _config(epochs=3, batch_size=4, grad_accum=grad_accum)
    full_model, full = _run(config, checkpoint_every=2)
    checkpoints = tmp_path / "ckpt"
    with pytest.raises(Killed):
        _run(config, checkpoint_dir=checkpoints, die_at_micro_batch=die_at, checkpoint_every=2)
    assert (checkpoints / "last.pt").exists()

    model, result = _run(config, checkpoint_dir=checkpoints, checkpoint_every=2)
    assert result.resumed_from_step > 0
    assert result.steps == full.steps and result.losses == full.losses
    assert result.micro_batches == full.micro_batches
    assert result.examples_seen == full.examples_seen
    _assert_same_weights(_weights(model), _weights(full_model))
    assert not checkpoints.exists()


def test_the_checkpoint_outlives_a_stage_interrupted_after_training(tmp_path):
    """A stage stopped while it writes its outputs (after `train` returned) keeps the finished
    checkpoint, and its rerun resumes at the end instead of training again; the checkpoint goes
    once a stage has written everything."""
    config = _config(epochs=2, batch_size=4)
    checkpoints = tmp_path / "ckpt"

    def interrupted_while_saving() -> None:
        _run(config, checkpoint_dir=checkpoints)
        raise Interrupted(signal.SIGTERM)

    with pytest.raises(SystemExit) as stopped:
        run_stage(interrupted_while_saving)
    assert stopped.value.code == 143 and (checkpoints / "last.pt").exists()
    steps = []
    run_stage(lambda: steps.append(_run(config, checkpoint_dir=checkpoints)[1]))
    assert steps[0].resumed_from_step == steps[0].steps > 0
    assert not checkpoints.exists()


def test_a_changed_config_does_not_resume(tmp_path):
    config = _config(epochs=2, batch_size=4)
    checkpoints = tmp_path / "ckpt"

    def killed_run() -> None:
        with pytest.raises(Killed):
            _run(config, checkpoint_dir=checkpoints, die_at_micro_batch=8)
        assert (checkpoints / "last.pt").exists()

    changed = _config(epochs=2, batch_size=4, lr=2e-2)
    assert fingerprint_of(changed, _mlp(), "toy") != fingerprint_of(config, _mlp(), "toy")
    killed_run()
    _, result = _run(changed, checkpoint_dir=checkpoints)
    assert result.resumed_from_step == 0
    assert not checkpoints.exists()
    killed_run()
    _, result = _run(config, checkpoint_dir=checkpoints, resume_key="another stage")
    assert result.resumed_from_step == 0
    killed_run()
    _, result = _run(config, checkpoint_dir=checkpoints, count=20)
    assert result.resumed_from_step == 0
    killed_run()  # another starting model (e.g. a changed base-model source)
    _, result = _run(config, checkpoint_dir=checkpoints, model_seed=1)
    assert result.resumed_from_step == 0
    killed_run()
    _, result = _run(config, checkpoint_dir=checkpoints)
    assert result.resumed_from_step == 6


def _scripted(scores: dict[int, float], snapshots: dict[int, dict] | None = None):
    """An evaluate_fn returning scores[n] at its n-th call, keeping the weights it saw."""
    snapshots = {} if snapshots is None else snapshots

    def evaluate(model) -> float:
        call = len(snapshots) + 1
        snapshots[call] = _weights(model)
        return scores[call]

    return evaluate


def test_best_dev_weights_are_restored():
    scores = {1: 0.2, 2: 0.9, 3: 0.4, 4: 0.9, 5: 0.1, 6: 0.3}
    snapshots: dict[int, dict] = {}
    config = _config(epochs=1, batch_size=4)
    model, result = _run(config, evaluate_fn=_scripted(scores, snapshots), eval_every=1)
    assert [e["score"] for e in result.evaluations] == [scores[i] for i in range(1, 7)]
    assert result.best_score == 0.9 and result.best_step == 2  # the first of equal scores
    _assert_same_weights(_weights(model), snapshots[2])
    assert not torch.equal(snapshots[2]["0.weight"], snapshots[6]["0.weight"])


def test_best_dev_weights_survive_a_resume(tmp_path):
    # Evaluations at each epoch's end (steps 6, 12, 18); the best is the one of step 6.
    scores = {1: 0.8, 2: 0.5, 3: 0.6}
    config = _config(epochs=3, batch_size=4)
    full_snapshots: dict[int, dict] = {}
    full_model, full = _run(
        config, evaluate_fn=_scripted(scores, full_snapshots), checkpoint_every=3
    )
    assert full.best_step == 6
    _assert_same_weights(_weights(full_model), full_snapshots[1])

    checkpoints = tmp_path / "ckpt"
    with pytest.raises(Killed):
        _run(
            config, checkpoint_dir=checkpoints, die_at_micro_batch=10,
            evaluate_fn=_scripted(scores), checkpoint_every=3,
        )  # fmt: skip
    assert (checkpoints / "best.pt").exists()
    resumed_scores = {1: 0.5, 2: 0.6}  # the resumed run evaluates at steps 12 and 18 only
    model, result = _run(
        config, checkpoint_dir=checkpoints, evaluate_fn=_scripted(resumed_scores),
        checkpoint_every=3,
    )  # fmt: skip
    assert result.resumed_from_step == 9
    assert result.best_step == 6 and result.best_score == 0.8
    _assert_same_weights(_weights(model), _weights(full_model))


def test_no_examples_is_a_user_error():
    with pytest.raises(UserError, match="no training examples"):
        train(
            _mlp(),
            lengths=[],
            collate=lambda rows: {},
            loss_fn=lambda model, batch: torch.tensor(0.0),
            training=_config(),
        )


def test_non_finite_loss_is_a_user_error():
    with pytest.raises(UserError, match="loss became nan at step 0"):
        train(
            _mlp(),
            lengths=[1, 1],
            collate=lambda rows: {"x": torch.zeros(len(rows), 4)},
            loss_fn=lambda model, batch: model(batch["x"]).sum() * float("nan"),
            training=_config(batch_size=2),
            device=torch.device("cpu"),
        )


# ------------------------------------------------------------------------------- batch order


def test_length_grouped_batches_cover_every_index_once():
    lengths = [(i * 37) % 101 for i in range(103)]
    for group in (1, 3, 50):
        batches = length_grouped_batches(lengths, 8, seed=5, group=group)
        flat = [i for batch in batches for i in batch]
        assert sorted(flat) == list(range(103))
        assert all(1 <= len(batch) <= 8 for batch in batches)
        assert len(batches) == 13  # chunks are whole batches: only the last one is short
        assert batches == length_grouped_batches(lengths, 8, seed=5, group=group)
        assert batches != length_grouped_batches(lengths, 8, seed=6, group=group)


def test_length_grouping_reduces_padding():
    lengths = [(i * 37) % 101 + 1 for i in range(400)]

    def padding(batches):
        widths = [max(lengths[i] for i in batch) * len(batch) for batch in batches]
        return sum(widths) - sum(lengths)

    grouped = padding(length_grouped_batches(lengths, 8, seed=0, group=50))
    plain = padding(length_grouped_batches(lengths, 8, seed=0, group=1))
    assert grouped < plain / 3
