"""The demo profile's stand-in for a modern multilingual LM: a tiny Qwen2-architecture model
with a byte-level BPE trained on all 15 languages of the demo data. Built offline, seeded."""

from __future__ import annotations

import torch

from regpt2.core.languages import XNLI_LANGUAGES
from regpt2.demo.corpus import demo_nli_rows
from regpt2.sources.data import NliExample, texts_of
from regpt2.sources.tokenizers import train_demo_bpe


def demo_qwen_tokenizer(train_rows: int, vocab_size: int):
    """A byte-level BPE of `vocab_size` tokens trained on the first `train_rows` demo training
    rows of every language (params.yaml: demo.train_rows, demo.qwen_vocab_size)."""
    texts: list[str] = []
    for lang in XNLI_LANGUAGES:
        rows = demo_nli_rows(lang, "train", train_rows)
        texts.extend(texts_of(NliExample(**row, lang=lang) for row in rows))
    return train_demo_bpe(texts, vocab_size)


def demo_qwen_model(train_rows: int, vocab_size: int, seed: int = 0):
    """(model, tokenizer): a randomly initialised 2-layer Qwen2 (GQA, RoPE, SwiGLU, RMSNorm) with
    `demo_qwen_tokenizer(train_rows, vocab_size)`."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = demo_qwen_tokenizer(train_rows, vocab_size)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=176,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config), tokenizer


def load_qwen_base(source_text: str, *, demo_rows: int, demo_vocab_size: int, seed: int):
    """`sources.qwen` as (model, tokenizer): any causal LM source, or for `demo` the tiny
    Qwen2 model above (its weights seeded with `seed`, the LoRA training seed)."""
    from regpt2.sources.models import load_causal_lm

    return load_causal_lm(
        source_text,
        role="sources.qwen",
        demo_builder=lambda: demo_qwen_model(demo_rows, demo_vocab_size, seed),
    )
