"""The NLI prompt (label tokens, encoding, truncation) and the one batched scorer."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from regpt2.core.batching import left_padded, right_padded
from regpt2.core.errors import UserError
from regpt2.core.languages import LABELS
from regpt2.core.stats import bootstrap_interval
from regpt2.nli.prompts import NliPrompt
from regpt2.nli.scorer import (
    NON_LABEL,
    Predictions,
    accuracy_metrics,
    label_position_logits,
    predict,
)
from regpt2.sources.data import NliExample

DEMO_TEMPLATE = "Premise: {premise}\nHypothesis: {hypothesis}\nLabel:"
STUDY_DIGITS = {"entailment": "0", "contradiction": "1", "neutral": "2"}
LONG = "The farmer bought the red apple at the market yesterday and sold the old hat today."


def _prompt(tokenizer, max_length: int = 128, digits: dict | None = None) -> NliPrompt:
    return NliPrompt(tokenizer, DEMO_TEMPLATE, digits or STUDY_DIGITS, max_length)


def _examples(count: int) -> list[NliExample]:
    from regpt2.demo.corpus import demo_nli_rows

    return [
        NliExample(row["premise"], row["hypothesis"], row["label"], "en")
        for row in demo_nli_rows("en", "dev", count)
    ]


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


# ------------------------------------------------------------------------------------ prompt


def test_label_tokens_are_single_tokens(demo_tokenizer):
    prompt = _prompt(demo_tokenizer)
    assert prompt.label_strings == ["0", "2", "1"]  # LABELS order: entailment, neutral, contra.
    assert [demo_tokenizer.decode([i]) for i in prompt.label_token_ids] == ["0", "2", "1"]
    assert len(set(prompt.label_token_ids)) == 3


def test_multi_token_label_is_refused(demo_tokenizer):
    digits = {"entailment": "0", "neutral": "qqqq", "contradiction": "1"}
    with pytest.raises(UserError, match="'qqqq' is not one token") as caught:
        _prompt(demo_tokenizer, digits=digits)
    assert "\n" not in str(caught.value) and "nli.label_digits" in str(caught.value)


def test_encode_gives_the_prompt_without_the_label(demo_tokenizer):
    prompt = _prompt(demo_tokenizer)
    examples = _examples(6)
    encoded = prompt.encode(examples)
    for example, item in zip(examples, encoded, strict=True):
        rendered = DEMO_TEMPLATE.format(premise=example.premise, hypothesis=example.hypothesis)
        assert item.input_ids == _ids(demo_tokenizer, rendered)
        assert item.label == LABELS.index(example.label)
        assert not item.truncated
        assert demo_tokenizer.decode(item.input_ids).endswith("\nLabel:")
        assert item.input_ids[-1] not in prompt.label_token_ids


def test_overlong_premise_is_cut_keeping_hypothesis_and_cue(demo_tokenizer):
    max_length = 40
    prompt = _prompt(demo_tokenizer, max_length)
    hypothesis = "The farmer bought an apple."
    (item,) = prompt.encode([NliExample(LONG, hypothesis, "neutral", "en")])
    assert item.truncated
    assert max_length - 4 <= len(item.input_ids) <= max_length - 1  # room for the label token
    text = demo_tokenizer.decode(item.input_ids)
    assert text.endswith(f"\nHypothesis: {hypothesis}\nLabel:")
    kept = text.removeprefix("Premise: ").removesuffix(f"\nHypothesis: {hypothesis}\nLabel:")
    assert kept and LONG.startswith(kept) and len(kept) < len(LONG)
    rendered = DEMO_TEMPLATE.format(premise=kept, hypothesis=hypothesis)
    assert item.input_ids == _ids(demo_tokenizer, rendered)


def test_hypothesis_is_cut_when_an_empty_premise_does_not_fit(demo_tokenizer):
    prompt = _prompt(demo_tokenizer, 40)
    (item,) = prompt.encode([NliExample("Short premise.", LONG, "neutral", "en")])
    assert item.truncated and len(item.input_ids) <= 39
    text = demo_tokenizer.decode(item.input_ids)
    assert text.startswith("Premise: \nHypothesis: ") and text.endswith("\nLabel:")
    kept = text.removeprefix("Premise: \nHypothesis: ").removesuffix("\nLabel:")
    assert kept and LONG.startswith(kept) and len(kept) < len(LONG)


def test_max_length_shorter_than_the_template(demo_tokenizer):
    template_tokens = len(_ids(demo_tokenizer, DEMO_TEMPLATE.format(premise="", hypothesis="")))
    prompt = _prompt(demo_tokenizer, template_tokens)  # no room left for the label token
    with pytest.raises(UserError, match="too short for the prompt template"):
        prompt.encode([NliExample("a", "b", "neutral", "en")])


def test_left_padding_and_positions():
    batch = left_padded([[5, 6, 7], [8], []], pad_id=0)
    assert batch["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8], [0, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2], [0, 0, 0], [0, 0, 0]]
    right = right_padded([[5, 6, 7], [8]], pad_id=0, width=2)
    assert right["input_ids"].tolist() == [[5, 6], [8, 0]]
    assert right["attention_mask"].tolist() == [[1, 1], [1, 0]]


# ------------------------------------------------------------------------------------ scorer


class Biased(torch.nn.Module):
    """A model whose logits get a fixed bias: forces chosen argmax tokens."""

    def __init__(self, model: torch.nn.Module, bias: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("bias", bias)

    def forward(self, **inputs):
        return SimpleNamespace(logits=self.model(**inputs).logits + self.bias)


@pytest.fixture
def scored(demo_tokenizer, tiny_gpt2):
    model = tiny_gpt2(seed=1, n_layer=2).double()
    prompt = _prompt(demo_tokenizer, 64)
    examples = prompt.encode(_examples(7) + [NliExample(LONG, LONG, "neutral", "en")])
    assert len({len(example.input_ids) for example in examples}) > 2  # padding is exercised
    return model, prompt, examples


def test_batched_logits_equal_unpadded_forward(scored):
    model, prompt, examples = scored
    batch = left_padded([example.input_ids for example in examples], pad_id=0)
    with torch.no_grad():
        logits = label_position_logits(model, batch)
        for row, example in enumerate(examples):
            alone = model(input_ids=torch.tensor([example.input_ids])).logits[0, -1]
            torch.testing.assert_close(logits[row], alone, rtol=1e-9, atol=1e-9)


def test_predict_in_batches_equals_one_by_one_and_argmax(scored):
    model, prompt, examples = scored
    batched = predict(model, prompt, examples, batch_size=3)
    label_ids = torch.tensor(prompt.label_token_ids)
    for index, example in enumerate(examples):
        single = predict(model, prompt, [example], batch_size=1)
        assert single.strict_tokens[0] == batched.strict_tokens[index]
        assert single.strict[0] == batched.strict[index]
        assert single.restricted[0] == batched.restricted[index]
        with torch.no_grad():
            last = model(input_ids=torch.tensor([example.input_ids])).logits[0, -1]
        assert batched.strict_tokens[index] == int(last.argmax())
        assert batched.restricted[index] == int(last[label_ids].argmax())
    assert batched.gold.tolist() == [example.label for example in examples]


def test_predict_keeps_the_training_mode(scored):
    model, prompt, examples = scored
    model.train()
    predict(model, prompt, examples[:2], batch_size=2)
    assert model.training


def test_strict_and_restricted_differ_for_a_non_label_argmax(demo_tokenizer, scored):
    model, prompt, examples = scored
    other = demo_tokenizer.convert_tokens_to_ids("Ġthe")
    neutral = prompt.label_token_ids[LABELS.index("neutral")]
    bias = torch.zeros(len(demo_tokenizer), dtype=torch.float64)
    bias[other], bias[neutral] = 100.0, 50.0
    predictions = predict(Biased(model, bias), prompt, examples, batch_size=4)
    assert (predictions.strict_tokens == other).all()
    assert (predictions.strict == NON_LABEL).all()
    assert (predictions.restricted == LABELS.index("neutral")).all()


def test_strict_compares_stripped_text(demo_tokenizer, scored):
    """A generated ' 1' (space + digit, one token) is the label '1', as the study's strings."""
    model, prompt, examples = scored
    spaced_one = demo_tokenizer.convert_tokens_to_ids("Ġ1")
    assert demo_tokenizer.decode([spaced_one]) == " 1"
    assert spaced_one not in prompt.label_token_ids
    entailment = prompt.label_token_ids[LABELS.index("entailment")]
    bias = torch.zeros(len(demo_tokenizer), dtype=torch.float64)
    bias[spaced_one], bias[entailment] = 100.0, 50.0
    predictions = predict(Biased(model, bias), prompt, examples, batch_size=4)
    assert (predictions.strict_tokens == spaced_one).all()
    assert (predictions.strict == LABELS.index("contradiction")).all()  # "1" = contradiction
    assert (predictions.restricted == LABELS.index("entailment")).all()


# ----------------------------------------------------------------------------------- metrics


def _predictions(gold, strict, restricted) -> Predictions:
    return Predictions(
        gold=np.array(gold),
        strict=np.array(strict),
        restricted=np.array(restricted),
        strict_tokens=np.zeros(len(gold), dtype=np.int64),
        label_logits=np.zeros((len(gold), 3), dtype=np.float32),
    )


def test_accuracy_metrics():
    predictions = _predictions(
        gold=[0, 1, 2, 0, 1, 2, 0, 1],
        strict=[0, NON_LABEL, 2, 1, 1, NON_LABEL, 0, 2],
        restricted=[0, 1, 2, 1, 1, 0, 0, 2],
    )
    metrics = accuracy_metrics(predictions, bootstrap_resamples=200, seed=0)
    assert metrics["n"] == 8
    assert metrics["strict_accuracy"] == pytest.approx(50.0)
    assert metrics["restricted_accuracy"] == pytest.approx(62.5)
    assert metrics["non_label_outputs"] == 2
    assert metrics["labels"] == list(LABELS)
    assert metrics["confusion_strict"] == [[2, 1, 0, 0], [0, 1, 1, 1], [0, 0, 1, 1]]
    assert metrics["confusion_restricted"] == [[2, 1, 0], [0, 2, 1], [1, 0, 1]]
    assert np.array(metrics["confusion_strict"]).sum() == 8
    for name in ("strict", "restricted"):
        low, high = metrics[f"{name}_ci95"]
        assert 0 <= low <= metrics[f"{name}_accuracy"] <= high <= 100
    assert metrics == accuracy_metrics(predictions, bootstrap_resamples=200, seed=0)


def test_accuracy_metrics_of_nothing():
    metrics = accuracy_metrics(_predictions([], [], []), bootstrap_resamples=10)
    assert metrics["n"] == 0 and math.isnan(metrics["strict_accuracy"])
    assert metrics["confusion_restricted"] == [[0, 0, 0]] * 3


def test_bootstrap_interval():
    rng = np.random.default_rng(0)
    correct = rng.random(500) < 0.7
    accuracy = 100 * correct.mean()
    low, high = bootstrap_interval(correct, n_resamples=2000, seed=5)
    assert low < accuracy < high
    assert 2 < high - low < 15  # about 2 * 1.96 * sqrt(0.21 / 500) = 8 points
    assert (low, high) == bootstrap_interval(correct, n_resamples=2000, seed=5)
    assert bootstrap_interval([True] * 20) == (100.0, 100.0)
    assert bootstrap_interval([False] * 20) == (0.0, 0.0)
    assert all(math.isnan(x) for x in bootstrap_interval([]))
    narrow = bootstrap_interval(correct, confidence=0.5, n_resamples=2000, seed=5)
    assert low <= narrow[0] <= narrow[1] <= high
