"""Scoring without ties: the label logits are read in fp32 even when the model body runs in bf16,
so the strict prediction (whole-vocabulary argmax) and the restricted one (argmax over the three
labels) agree whenever the strict token is a label token."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from regpt2.demo.corpus import demo_nli_rows
from regpt2.nli import scorer
from regpt2.nli.prompts import NliPrompt
from regpt2.nli.scorer import predict
from regpt2.sources.data import NliExample

TEMPLATE = "Premise: {premise}\nHypothesis: {hypothesis}\nLabel:"
DIGITS = {"entailment": "0", "contradiction": "1", "neutral": "2"}


@pytest.fixture
def examples(demo_tokenizer):
    prompt = NliPrompt(demo_tokenizer, TEMPLATE, DIGITS, 128)
    rows = [NliExample(r["premise"], r["hypothesis"], r["label"], "en") for r in demo_nli_rows(
        "en", "test", 90
    )]  # fmt: skip
    return prompt, prompt.encode(rows)


def _near_tied_labels(model: torch.nn.Module, prompt: NliPrompt, encoded) -> torch.nn.Module:
    """Point the label rows of the output head along the mean final hidden state, so that they
    lead the vocabulary for most prompts, with neutral and contradiction almost equal: their
    logits then differ by less than bf16's rounding step, as a fine-tuned model's label logits
    often do. A tie between them is where the two argmaxes part: the whole-vocabulary one
    takes the lower token id ("1", contradiction), the restricted one the first label in
    LABELS (neutral)."""
    with torch.no_grad():
        states = [
            model(input_ids=torch.tensor([e.input_ids]), output_hidden_states=True).hidden_states[
                -1
            ][0, -1]
            for e in encoded[:20]
        ]
        direction = torch.stack(states).mean(0)
        direction /= direction.norm() ** 2  # a logit of about 1 per unit below
        weight = model.get_output_embeddings().weight
        generator = torch.Generator().manual_seed(0)
        entailment, neutral, contradiction = prompt.label_token_ids
        weight[entailment] = 9.0 * direction
        for token in (neutral, contradiction):
            noise = torch.randn(direction.shape, generator=generator)
            weight[token] = 10.0 * direction + 1e-4 * noise / noise.norm()
    return model


def _qwen(vocab_size: int) -> torch.nn.Module:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    torch.manual_seed(0)
    return Qwen2ForCausalLM(config).eval()


def _disagreements(predictions) -> int:
    """Prompts whose strict token is a label token but whose restricted label differs."""
    is_label = predictions.strict != scorer.NON_LABEL
    return int((is_label & (predictions.strict != predictions.restricted)).sum())


@pytest.mark.parametrize("architecture", ["hand-written GPT-2", "transformers Qwen2"])
def test_strict_equals_restricted_whenever_strict_is_a_label(
    architecture, examples, tiny_gpt2, demo_tokenizer, monkeypatch
):
    prompt, encoded = examples
    if architecture == "transformers Qwen2":  # scored through the shared-prefix cache
        model = _qwen(len(demo_tokenizer))
    else:
        model = tiny_gpt2(seed=0)
    model = _near_tied_labels(model, prompt, encoded)

    fixed = predict(model, prompt, encoded, batch_size=16, bf16=True)
    labelled = fixed.strict != scorer.NON_LABEL
    assert labelled.sum() >= 10  # enough prompts where the strict token is a label
    assert _disagreements(fixed) == 0
    assert fixed.label_logits.dtype == np.float32
    assert (fixed.restricted == fixed.label_logits.argmax(axis=1)).all()

    # The test can fail: with the head inside autocast, the same model ties and disagrees.
    monkeypatch.setattr(scorer, "output_head_in_fp32", lambda *a, **k: contextlib.nullcontext())
    rounded = predict(model, prompt, encoded, batch_size=16, bf16=True)
    assert _disagreements(rounded) > 0


def test_fp32_scoring_is_unchanged_by_the_head_context(examples, tiny_gpt2):
    """Without bf16 the head context is not entered: predictions are the plain forward's."""
    prompt, encoded = examples
    model = tiny_gpt2(seed=1)
    predictions = predict(model, prompt, encoded, batch_size=16, bf16=False)
    with torch.no_grad():
        for index, example in enumerate(encoded[:5]):
            logits = model(input_ids=torch.tensor([example.input_ids])).logits[0, -1]
            label_logits = logits[prompt.label_token_ids].numpy()
            np.testing.assert_allclose(predictions.label_logits[index], label_logits, rtol=1e-5)
