"""LoRA through peft (regpt2.training.lora) on a tiny Qwen2, and loading causal LMs
(regpt2.sources.models).

Everything is built in-process from the demo tokenizer: no ../shared, no network.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from regpt2.config.params import Training
from regpt2.core.errors import UserError
from regpt2.demo.corpus import demo_nli_rows
from regpt2.nli.finetune import finetune
from regpt2.nli.prompts import NliPrompt
from regpt2.sources.data import NliExample
from regpt2.sources.models import load_causal_lm
from regpt2.training.lora import (
    apply_lora,
    linear_module_names,
    load_adapter_model,
    parameter_counts,
    save_adapter,
)

# The study's settings (its section 4, as params.yaml's qwen_lora section has them).
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
R, ALPHA, DROPOUT = 8, 32, 0.1
TEMPLATE = "Premise: {premise}\nHypothesis: {hypothesis}\nLabel:"
DIGITS = {"entailment": "0", "contradiction": "1", "neutral": "2"}
HIDDEN, LAYERS, HEADS, KV_HEADS, INTERMEDIATE = 32, 2, 4, 2, 64


@pytest.fixture
def tiny_qwen(demo_tokenizer):
    """Factory of tiny Qwen2ForCausalLMs over the demo tokenizer; same seed -> same weights."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    def make(seed: int = 0):
        config = Qwen2Config(
            vocab_size=len(demo_tokenizer),
            hidden_size=HIDDEN,
            intermediate_size=INTERMEDIATE,
            num_hidden_layers=LAYERS,
            num_attention_heads=HEADS,
            num_key_value_heads=KV_HEADS,
            max_position_embeddings=256,
            tie_word_embeddings=True,
            pad_token_id=demo_tokenizer.pad_token_id,
            eos_token_id=demo_tokenizer.eos_token_id,
            bos_token_id=demo_tokenizer.eos_token_id,
        )
        torch.manual_seed(seed)
        return Qwen2ForCausalLM(config).eval()

    return make


def _lora(model):
    return apply_lora(model, r=R, alpha=ALPHA, dropout=DROPOUT, target_modules=TARGETS)


def _batch(demo_tokenizer) -> dict[str, torch.Tensor]:
    texts = ["Premise: the cat sat\nHypothesis: a cat\nLabel:", "the dog ran far away"]
    encoded = demo_tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}


@torch.no_grad()
def _logits(model, batch) -> torch.Tensor:
    model.eval()
    return model(**batch).logits


def test_only_lora_parameters_train_and_counts_are_analytic(tiny_qwen):
    base = tiny_qwen()
    base_total = sum(p.numel() for p in base.parameters())
    model = _lora(base)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    head_dim = HIDDEN // HEADS
    shapes = {  # (in, out) of each adapted Linear
        "q_proj": (HIDDEN, HEADS * head_dim),
        "k_proj": (HIDDEN, KV_HEADS * head_dim),
        "v_proj": (HIDDEN, KV_HEADS * head_dim),
        "o_proj": (HEADS * head_dim, HIDDEN),
    }
    expected = LAYERS * sum(R * (fan_in + fan_out) for fan_in, fan_out in shapes.values())
    assert expected == 3584
    assert parameter_counts(model) == {
        "trainable_parameters": expected,
        "total_parameters": base_total + expected,
    }
    assert len(trainable) == 2 * LAYERS * len(TARGETS)  # one A and one B per adapted module


def test_missing_target_modules_are_a_one_line_user_error(tiny_qwen):
    model = tiny_qwen()
    with pytest.raises(UserError) as error:
        apply_lora(model, r=R, alpha=ALPHA, dropout=DROPOUT, target_modules=["c_attn", "q_proj"])
    message = str(error.value)
    assert "\n" not in message
    assert "c_attn" in message and "not found" in message
    layers = linear_module_names(model)
    assert layers == sorted(TARGETS + ["gate_proj", "up_proj", "down_proj", "lm_head"])
    assert message.endswith(", ".join(layers))
    # Nothing was wrapped: the failed call left the model as it was.
    assert not any("lora_" in name for name, _ in model.named_parameters())


def test_finetune_changes_only_the_adapter(tiny_qwen, demo_tokenizer):
    model = _lora(tiny_qwen())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    prompt = NliPrompt(demo_tokenizer, TEMPLATE, DIGITS, 128)
    rows = [NliExample(**row, lang="en") for row in demo_nli_rows("en", "train", 16)]
    dev = [NliExample(**row, lang="en") for row in demo_nli_rows("en", "dev", 4)]
    training = Training(
        seed=0, epochs=1, batch_size=4, grad_accum=2, lr=1e-2, weight_decay=0.01,
        optimizer="regpt2", bf16=False, train_split="train", dev_split="dev", eval_every=0,
        dev_batch_size=4,
    )  # fmt: skip
    result, counts = finetune(
        model, prompt, rows, dev, training, checkpoint_dir=None, description="t"
    )
    assert result.steps == 2 and counts["train_examples"] == 16
    after = dict(model.named_parameters())
    changed = {n for n in before if not torch.equal(before[n], after[n].detach())}
    lora_b = {n for n in before if ".lora_B." in n}
    assert lora_b <= changed  # B starts at zero: every adapter really trained
    assert all(".lora_A." in n or ".lora_B." in n for n in changed)
    frozen = [n for n in before if "lora_" not in n]
    assert frozen and all(torch.equal(before[n], after[n].detach()) for n in frozen)


def _trained_adapter(tiny_qwen):
    """A LoRA model whose adapter is non-zero (B is zero at initialisation)."""
    model = _lora(tiny_qwen())
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".lora_B." in name:
                parameter.copy_(0.05 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def test_saved_adapter_reloads_with_identical_logits(tiny_qwen, demo_tokenizer, tmp_path: Path):
    from peft import PeftModel

    model = _trained_adapter(tiny_qwen)
    batch = _batch(demo_tokenizer)
    expected = _logits(model, batch)
    assert not torch.allclose(expected, _logits(tiny_qwen(), batch))  # the adapter matters
    folder = tmp_path / "adapter"
    save_adapter(model, demo_tokenizer, folder, merge=False)
    assert (folder / "adapter_config.json").is_file()
    assert (folder / "adapter_model.safetensors").is_file()
    assert not (folder / "merged").exists()
    # PEFT writes target_modules in set order (it changes between processes): saved sorted, the
    # folder is the same bytes on every run.
    modules = json.loads((folder / "adapter_config.json").read_text())["target_modules"]
    assert modules == sorted(modules) and len(modules) > 1
    reloaded = PeftModel.from_pretrained(tiny_qwen(), folder)
    torch.testing.assert_close(_logits(reloaded, batch), expected, rtol=0, atol=0)


def test_adapter_with_its_base_loads_alone_in_a_fresh_process(
    tiny_qwen, demo_tokenizer, tmp_path: Path, monkeypatch
):
    """A base that is not a hub id travels inside the adapter folder, and adapter_config.json
    names it, so stock PEFT (and the project's loader) open the folder with nothing else."""
    model = _trained_adapter(tiny_qwen)
    batch = _batch(demo_tokenizer)
    expected = _logits(model, batch)
    folder = tmp_path / "data" / "models" / "adapter"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_adapter(
            model,
            demo_tokenizer,
            folder,
            merge=False,
            base=tiny_qwen(),
            final="data/models/adapter",
        )
    # PEFT read the base's config while saving (the final path does not exist yet).
    assert not [w for w in caught if "could not find a config file" in str(w.message).lower()]
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "data/models/adapter/base"
    assert model.peft_config["default"].base_model_name_or_path == "data/models/adapter/base"
    torch.save(batch, tmp_path / "batch.pt")
    script = (
        "import torch\n"
        "from peft import AutoPeftModelForCausalLM\n"
        "model = AutoPeftModelForCausalLM.from_pretrained('data/models/adapter').eval()\n"
        "batch = torch.load('batch.pt')\n"
        "logits = model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'])\n"
        "torch.save(logits.logits, 'logits.pt')\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=300)
    fresh = torch.load(tmp_path / "logits.pt")
    torch.testing.assert_close(fresh, expected, rtol=0, atol=1e-5)
    monkeypatch.chdir(tmp_path)
    loaded, _ = load_adapter_model(Path("data/models/adapter"), role="test")
    torch.testing.assert_close(_logits(loaded, batch), expected, rtol=0, atol=1e-5)
    # The project's loader scores the adapter merged in: a plain model, no LoRA layers left.
    assert not any("lora_" in name for name, _ in loaded.named_parameters())


def test_merged_model_loads_as_a_plain_causal_lm(tiny_qwen, demo_tokenizer, tmp_path: Path):
    from transformers import AutoModelForCausalLM

    model = _trained_adapter(tiny_qwen)
    batch = _batch(demo_tokenizer)
    expected = _logits(model, batch)
    save_adapter(model, demo_tokenizer, tmp_path / "adapter", merge=True)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "adapter" / "merged")
    assert not any("lora_" in name for name, _ in merged.named_parameters())
    torch.testing.assert_close(_logits(merged, batch), expected, rtol=0, atol=1e-5)
    # The project's own loader reads the merged folder too (model + tokenizer).
    loaded, tokenizer = load_causal_lm(str(tmp_path / "adapter" / "merged"), role="sources.qwen")
    assert len(tokenizer) == len(demo_tokenizer)
    torch.testing.assert_close(_logits(loaded, batch), expected, rtol=0, atol=1e-5)


def test_load_causal_lm_refuses_a_non_causal_model(demo_tokenizer, tmp_path: Path):
    from transformers import T5Config, T5EncoderModel

    folder = tmp_path / "t5-encoder"
    config = T5Config(vocab_size=len(demo_tokenizer), d_model=8, d_kv=4, d_ff=16, num_layers=1)
    T5EncoderModel(config).save_pretrained(folder)
    demo_tokenizer.save_pretrained(folder)
    with pytest.raises(UserError, match="is not a causal language model") as error:
        load_causal_lm(str(folder), role="sources.qwen")
    assert "\n" not in str(error.value) and str(folder) in str(error.value)


def test_load_causal_lm_refuses_a_bert_encoder(demo_tokenizer, tmp_path: Path):
    from transformers import BertConfig, BertModel

    folder = tmp_path / "bert"
    config = BertConfig(
        vocab_size=len(demo_tokenizer),
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
    )
    BertModel(config).save_pretrained(folder)
    demo_tokenizer.save_pretrained(folder)
    with pytest.raises(UserError, match="is not a causal language model"):
        load_causal_lm(str(folder), role="sources.qwen")


def test_load_causal_lm_on_a_missing_path(tmp_path: Path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(UserError, match="does not exist") as error:
        load_causal_lm(str(missing), role="sources.qwen")
    assert "\n" not in str(error.value) and "sources.qwen" in str(error.value)
