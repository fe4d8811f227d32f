"""The hand-written GPT-2 against Hugging Face's GPT2LMHeadModel (random weights, CPU, fp32)."""

from __future__ import annotations

import math

import pytest
import torch
import transformers

from regpt2.core.errors import UserError
from regpt2.gpt2.config import GPT2Config
from regpt2.gpt2.model import GPT2LMHead, hf_no_init

SMALL = dict(vocab_size=97, n_positions=32, n_embd=16, n_layer=3, n_head=2)


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Fill every parameter with random values, biases and LayerNorms included (HF's own init
    leaves biases at 0 and LayerNorms at 1, which would not test their conversion)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g) * 0.02
            p.copy_(noise + 1.0 if "ln_" in name and name.endswith("weight") else noise)


def hf_model(attn: str = "sdpa", seed: int = 0, **overrides) -> transformers.GPT2LMHeadModel:
    kwargs = {**SMALL, **overrides}
    config = transformers.GPT2Config(
        **kwargs, bos_token_id=0, eos_token_id=0, attn_implementation=attn
    )
    with hf_no_init():
        model = transformers.GPT2LMHeadModel(config)
    model.tie_weights()
    randomize(model, seed)
    return model.eval()


def batch(vocab: int, b: int = 3, t: int = 10, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.long)
    mask[1, 6:] = 0  # right padding
    mask[2:, 3:] = 0
    return ids, mask


@pytest.mark.parametrize(
    "overrides",
    [{}, {"n_inner": 24, "layer_norm_epsilon": 1e-6}, {"n_layer": 1, "n_head": 4}],
)
@pytest.mark.parametrize("padded", [False, True])
def test_logits_and_hidden_states_match_hf(overrides, padded):
    hf = hf_model(**overrides)
    ours = GPT2LMHead.from_hf_model(hf)
    ids, mask = batch(hf.config.vocab_size)
    attention_mask = mask if padded else None
    real = mask.bool() if padded else torch.ones_like(mask, dtype=torch.bool)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=attention_mask, output_hidden_states=True)
        out = ours(input_ids=ids, attention_mask=attention_mask, output_hidden_states=True)
    assert out.logits.shape == ref.logits.shape
    torch.testing.assert_close(out.logits[real], ref.logits[real], atol=1e-5, rtol=0)
    assert len(out.hidden_states) == len(ref.hidden_states) == hf.config.n_layer + 1
    for mine, theirs in zip(out.hidden_states, ref.hidden_states, strict=True):
        torch.testing.assert_close(mine[real], theirs[real], atol=1e-5, rtol=0)
    assert out.attentions is None


def test_last_hidden_state_is_after_final_layernorm():
    ours = GPT2LMHead.from_hf_model(hf_model())
    ids, _ = batch(SMALL["vocab_size"])
    with torch.no_grad():
        out = ours(ids, output_hidden_states=True)
        x = out.hidden_states[-2]
        block_out, _ = ours.transformer.h[-1](x, None, False)
        torch.testing.assert_close(out.hidden_states[-1], ours.transformer.ln_f(block_out))
        torch.testing.assert_close(out.logits, out.hidden_states[-1] @ ours.lm_head.weight.T)


def test_attentions_match_hf_eager():
    hf = hf_model(attn="eager")
    ours = GPT2LMHead.from_hf_model(hf)
    ids, mask = batch(hf.config.vocab_size)
    for attention_mask in (None, mask):
        with torch.no_grad():
            ref = hf(input_ids=ids, attention_mask=attention_mask, output_attentions=True)
            out = ours(input_ids=ids, attention_mask=attention_mask, output_attentions=True)
        assert len(out.attentions) == SMALL["n_layer"]
        for mine, theirs in zip(out.attentions, ref.attentions, strict=True):
            assert mine.shape == (3, SMALL["n_head"], 10, 10)
            torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=0)
        # The explicit-attention path gives the same logits as the SDPA path.
        with torch.no_grad():
            fast = ours(input_ids=ids, attention_mask=attention_mask)
        torch.testing.assert_close(out.logits, fast.logits, atol=1e-5, rtol=0)


def test_full_gpt2_124m_shape_matches_hf():
    config = GPT2Config()  # vocab 50257, 1024 positions, 768, 12 layers, 12 heads
    with hf_no_init():
        hf = transformers.GPT2LMHeadModel(config.to_hf()).eval()
    hf.tie_weights()
    randomize(hf, seed=0)
    ours = GPT2LMHead.from_hf_model(hf)
    assert ours.num_parameters() == hf.num_parameters() == 124_439_808
    ids, mask = batch(config.vocab_size, b=2, t=16)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask).logits
        out = ours(input_ids=ids, attention_mask=mask).logits
    real = mask.bool()
    torch.testing.assert_close(out[real], ref[real], atol=1e-4, rtol=0)


def test_export_round_trip(tmp_path):
    torch.manual_seed(3)
    ours = GPT2LMHead(GPT2Config(**SMALL)).eval()
    ids, mask = batch(SMALL["vocab_size"])
    target = tmp_path / "exported"
    ours.save_pretrained(target)
    assert (target / "config.json").is_file() and (target / "model.safetensors").is_file()
    hf = transformers.GPT2LMHeadModel.from_pretrained(target).eval()
    back = GPT2LMHead.from_pretrained(target).eval()
    assert back.config == ours.config
    in_memory = ours.to_hf_model().eval()
    with torch.no_grad():
        expected = ours(ids, attention_mask=mask).logits
        for model in (hf, in_memory, back):
            got = model(input_ids=ids, attention_mask=mask).logits
            torch.testing.assert_close(got[mask.bool()], expected[mask.bool()], atol=1e-6, rtol=0)
    assert hf.lm_head.weight.data_ptr() == hf.transformer.wte.weight.data_ptr()
    assert in_memory.lm_head.weight.data_ptr() == in_memory.transformer.wte.weight.data_ptr()
    # Saving again over an existing directory replaces it.
    ours.save_pretrained(target)
    assert (target / "model.safetensors").is_file()


def test_a_saved_folder_loads_without_transformers_and_matches_its_loader(tmp_path, monkeypatch):
    """Folders the pipeline writes are read directly (no transformers import, which costs
    seconds per stage); the result equals what transformers' loader gives, bit for bit."""
    torch.manual_seed(5)
    ours = GPT2LMHead(GPT2Config(**SMALL, dropout=0.1)).eval()
    target = tmp_path / "saved"
    ours.save_pretrained(target)
    rng = torch.get_rng_state()
    direct = GPT2LMHead.from_pretrained(target)
    assert torch.equal(torch.get_rng_state(), rng), "loading must not move the global RNG"
    via_hf = GPT2LMHead.from_hf_model(transformers.GPT2LMHeadModel.from_pretrained(target).eval())
    assert direct.config == via_hf.config == ours.config
    assert not direct.training
    assert direct.lm_head.weight.data_ptr() == direct.transformer.wte.weight.data_ptr()
    expected = via_hf.state_dict()
    for key, tensor in direct.state_dict().items():
        assert torch.equal(tensor, expected[key]), key
        assert tensor.is_contiguous(), key
    # Anything else (here: a weight the model lacks) goes through transformers' loader.
    calls = []
    real = transformers.GPT2LMHeadModel.from_pretrained
    monkeypatch.setattr(
        transformers.GPT2LMHeadModel,
        "from_pretrained",
        lambda *a, **k: calls.append(a) or real(*a, **k),
    )
    GPT2LMHead.from_pretrained(target)
    assert calls == []
    from safetensors.torch import load_file, save_file

    weights = load_file(target / "model.safetensors")
    save_file({**weights, "lm_head.weight": weights["transformer.wte.weight"].clone()},
              target / "model.safetensors")  # fmt: skip
    GPT2LMHead.from_pretrained(target)
    assert len(calls) == 1


def test_tied_weights_are_really_tied():
    torch.manual_seed(0)
    model = GPT2LMHead(GPT2Config(**SMALL))
    assert model.lm_head.weight is model.transformer.wte.weight
    ids, _ = batch(SMALL["vocab_size"])
    model(ids).logits.sum().backward()
    assert model.transformer.wte.weight.grad is not None
    n_distinct = len({id(p) for p in model.parameters()})
    assert n_distinct == len(list(model.parameters()))
    imported = GPT2LMHead.from_hf_model(hf_model())
    assert imported.lm_head.weight is imported.transformer.wte.weight
    with torch.no_grad():
        imported.transformer.wte.weight[0, 0] = 123.0
    assert imported.lm_head.weight[0, 0] == 123.0
    converted = imported.to(torch.float64)
    assert converted.lm_head.weight is converted.transformer.wte.weight


def test_loss_matches_hf():
    hf = hf_model()
    ours = GPT2LMHead.from_hf_model(hf)
    ids, mask = batch(SMALL["vocab_size"])
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, labels=labels).loss
        got = ours(input_ids=ids, attention_mask=mask, labels=labels).loss
    torch.testing.assert_close(got, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("attentions", [False, True])
def test_no_nan_at_padding_positions(attentions):
    torch.manual_seed(0)
    model = GPT2LMHead(GPT2Config(**SMALL))
    ids, mask = batch(SMALL["vocab_size"], b=4)
    mask[3] = 0  # a row that is all padding
    mask[0, :2] = 0  # left padding: the first queries see no real key
    out = model(ids, attention_mask=mask, output_attentions=attentions, output_hidden_states=True)
    assert torch.isfinite(out.logits).all()
    assert all(torch.isfinite(h).all() for h in out.hidden_states)
    if attentions:
        for probs in out.attentions:
            torch.testing.assert_close(probs.sum(-1), torch.ones_like(probs.sum(-1)))
    out.logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_padding_does_not_change_real_positions():
    torch.manual_seed(0)
    model = GPT2LMHead(GPT2Config(**SMALL)).eval()
    ids, mask = batch(SMALL["vocab_size"])
    with torch.no_grad():
        padded = model(ids, attention_mask=mask).logits[1, :6]
        alone = model(ids[1:2, :6]).logits[0]
    torch.testing.assert_close(padded, alone, atol=1e-6, rtol=0)


def test_left_padding_with_position_ids_matches_hf_and_unpadded():
    hf = hf_model()
    ours = GPT2LMHead.from_hf_model(hf)
    ids, right = batch(SMALL["vocab_size"])
    mask = right.flip(1)  # left padding: real tokens end at the last column
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    with torch.no_grad():
        ref = hf(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        out = ours(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        last = ours(ids, attention_mask=mask, position_ids=positions, logits_to_keep=1).logits
        alone = ours(ids[1:2, 4:]).logits[0]  # row 1 has 6 real tokens at columns 4..9
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[mask.bool()], ref[mask.bool()], atol=1e-5, rtol=0)
    assert last.shape == (3, 1, SMALL["vocab_size"])
    torch.testing.assert_close(last[:, 0], out[:, -1], atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1, 4:], alone, atol=1e-5, rtol=0)
    with pytest.raises(UserError, match="logits_to_keep"):
        ours(ids, labels=ids, logits_to_keep=1)


def test_init_is_gpt2_like_and_seeded():
    config = GPT2Config(vocab_size=500, n_positions=64, n_embd=64, n_layer=4, n_head=4)
    torch.manual_seed(7)
    a = GPT2LMHead(config)
    torch.manual_seed(7)
    b = GPT2LMHead(config)
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q), name
    std = a.transformer.wte.weight.std().item()
    assert abs(std - 0.02) < 0.002
    proj = a.transformer.h[0].mlp.c_proj.weight.std().item()
    assert abs(proj - 0.02 / math.sqrt(2 * config.n_layer)) < 0.001
    assert torch.count_nonzero(a.transformer.h[0].attn.c_attn.bias) == 0
    assert torch.equal(a.transformer.ln_f.weight, torch.ones(64))


def test_dropout_training_mode_runs():
    torch.manual_seed(0)
    model = GPT2LMHead(GPT2Config(**SMALL, dropout=0.5)).train()
    ids, mask = batch(SMALL["vocab_size"])
    first = model(ids, attention_mask=mask).logits
    second = model(ids, attention_mask=mask).logits
    assert not torch.equal(first, second)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(ids).logits, model(ids).logits)


def test_config_round_trip_through_hf():
    config = GPT2Config(**SMALL, n_inner=40, dropout=0.1, eos_token_id=5)
    back = GPT2Config.from_hf(config.to_hf())
    assert back.to_dict() == {**config.to_dict(), "bos_token_id": None, "pad_token_id": None}
    assert GPT2Config.from_dict(config.to_dict()) == config
    assert GPT2Config().to_hf().eos_token_id == 50256


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_embd": 10, "n_head": 3},
        {"n_layer": 0},
        {"vocab_size": -1},
        {"n_head": 2.0},
        {"n_inner": 0},
        {"dropout": 1.0},
        {"dropout": -0.1},
        {"layer_norm_epsilon": 0},
        {"eos_token_id": -1},
    ],
)
def test_bad_config_raises_user_error(kwargs):
    with pytest.raises(UserError):
        GPT2Config(**{**SMALL, **kwargs})


def test_unsupported_hf_config_and_bad_inputs_raise_user_error(tmp_path):
    with pytest.raises(UserError, match="activation_function"):
        GPT2Config.from_hf(transformers.GPT2Config(**SMALL, activation_function="relu"))
    with pytest.raises(UserError, match="dropout"):
        GPT2Config.from_hf(transformers.GPT2Config(**SMALL, attn_pdrop=0.0))
    assert (
        GPT2Config.from_hf(transformers.GPT2Config(**SMALL, attn_pdrop=0.0), dropout=0).dropout == 0
    )
    with pytest.raises(UserError):
        GPT2LMHead.from_pretrained(tmp_path / "missing")
    model = GPT2LMHead(GPT2Config(**SMALL))
    with pytest.raises(UserError, match="n_positions"):
        model(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(UserError, match="attention_mask"):
        model(torch.zeros(2, 4, dtype=torch.long), attention_mask=torch.ones(2, 5))
    with pytest.raises(UserError, match="attention_mask"):
        model(torch.zeros(2, 4, dtype=torch.long), attention_mask=torch.tensor([[1, 0, 0]]))
