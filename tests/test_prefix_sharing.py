"""Prompts that start alike are read once (nli.prefix_sharing): same predictions, less work."""

from __future__ import annotations

import pytest
import torch

from regpt2.core.batching import left_padded
from regpt2.nli.prefix_sharing import (
    MIN_SHARED_TOKENS,
    PrefixGroup,
    group_batches,
    label_logits_with_shared_prefixes,
    prefix_groups,
    supports_prefix_cache,
    token_saving,
)
from regpt2.nli.prompts import NliPrompt
from regpt2.nli.scorer import label_position_logits, predict
from regpt2.sources.data import NliExample

TEMPLATE = "Premise: {premise}\nHypothesis: {hypothesis}\nLabel:"
DIGITS = {"entailment": "0", "contradiction": "1", "neutral": "2"}
PREMISES = [
    "The farmer bought the red apple at the market yesterday and sold the old hat today.",
    "A small dog ran across the wide field.",
    "The teacher read a long story to the children after lunch while it rained outside.",
]
HYPOTHESES = ["The dog slept.", "Someone bought fruit at a market.", "Nobody ever read anything."]


def test_neighbours_with_a_common_start_form_one_group():
    start = list(range(100, 100 + MIN_SHARED_TOKENS))
    sequences = [start + [1, 2], start + [1, 3, 4], start + [5], [7, 8, 9], start + [6]]
    groups = prefix_groups(sequences)
    assert groups == [
        PrefixGroup((0, 1, 2), MIN_SHARED_TOKENS),  # the shared part stops where they differ
        PrefixGroup((3,), 2),  # alone: all but its last token
        PrefixGroup((4,), MIN_SHARED_TOKENS),
    ]
    assert token_saving(sequences, groups) == pytest.approx(
        2 * MIN_SHARED_TOKENS / sum(map(len, sequences))
    )


def test_a_member_keeps_its_last_token_and_short_overlaps_do_not_group():
    start = list(range(MIN_SHARED_TOKENS + 2))
    assert prefix_groups([start, start]) == [PrefixGroup((0, 1), len(start) - 1)]
    short = list(range(MIN_SHARED_TOKENS - 1))
    assert len(prefix_groups([short + [1], short + [2]])) == 2


def test_batches_hold_whole_groups_within_prompt_and_token_limits():
    groups = [PrefixGroup((0, 1, 2), 6), PrefixGroup((3, 4), 6), PrefixGroup((5, 6, 7, 8), 6)]
    sequences = [[0] * 10] * 9
    sizes = [[len(batch) for batch in group_batches(groups, sequences, size)] for size in (4, 5)]
    assert sizes == [[1, 1, 1], [2, 1]]
    # Tokens read: the shared 6 once per group, the other 4 once per member.
    by_tokens = group_batches(groups, sequences, batch_size=9, max_tokens=40)
    assert [len(batch) for batch in by_tokens] == [2, 1]  # 2 x 6 + 5 x 4 = 32, then 6 + 16
    longer = [[0] * 10] * 5 + [[0] * 30] * 4
    by_longest = group_batches(groups, longer, batch_size=9, max_tokens=40)
    assert [len(batch) for batch in by_longest] == [2, 1]  # a batch of one 6 + 4 x 24 group
    singletons = [PrefixGroup((index,), 0) for index in range(9)]
    plain = group_batches(singletons, longer, batch_size=9, max_tokens=60)
    assert [len(batch) for batch in plain] == [5, 2, 2]  # 5 x 10, then 2 x 30 tokens


@pytest.fixture
def qwen(demo_tokenizer):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(demo_tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    torch.manual_seed(0)
    return Qwen2ForCausalLM(config).double().eval()


@pytest.fixture
def triples(demo_tokenizer):
    """XNLI's layout: each premise with three hypotheses, then a prompt that shares nothing."""
    prompt = NliPrompt(demo_tokenizer, TEMPLATE, DIGITS, 128)
    rows = [NliExample(p, h, "neutral", "en") for p in PREMISES for h in HYPOTHESES]
    rows.append(NliExample("Rain.", "Sun.", "entailment", "en"))
    return prompt, prompt.encode(rows)


def _alone(model, examples) -> torch.Tensor:
    batch = left_padded([example.input_ids for example in examples], pad_id=0)
    with torch.no_grad():
        return label_position_logits(model, batch)


def test_shared_prefix_logits_equal_whole_prompt_logits(qwen, triples):
    _, examples = triples
    sequences = [example.input_ids for example in examples]
    groups = prefix_groups(sequences)
    assert [len(group.members) for group in groups] == [3, 3, 3, 1]
    assert token_saving(sequences, groups) > 0.3
    with torch.no_grad():
        shared = label_logits_with_shared_prefixes(
            qwen, sequences, groups, pad_id=0, device=torch.device("cpu")
        )
    torch.testing.assert_close(shared, _alone(qwen, examples), rtol=1e-9, atol=1e-9)


def test_predict_with_prefix_sharing_equals_without(qwen, triples):
    prompt, examples = triples
    assert supports_prefix_cache(qwen)
    shared = predict(qwen, prompt, examples, batch_size=4)
    logits = _alone(qwen, examples)
    assert shared.strict_tokens.tolist() == logits.argmax(dim=-1).tolist()
    label_ids = torch.tensor(prompt.label_token_ids)
    assert shared.restricted.tolist() == logits[:, label_ids].argmax(dim=-1).tolist()


def test_a_lora_model_shares_prefixes_too(qwen, triples):
    from peft import LoraConfig, get_peft_model

    prompt, examples = triples
    model = get_peft_model(qwen, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # B starts at zero: make the adapter change the logits
            torch.nn.init.normal_(parameter, std=0.5)
    assert supports_prefix_cache(model)
    sequences = [example.input_ids for example in examples]
    with torch.no_grad():
        shared = label_logits_with_shared_prefixes(
            model, sequences, prefix_groups(sequences), pad_id=0, device=torch.device("cpu")
        )
    torch.testing.assert_close(shared, _alone(model, examples), rtol=1e-9, atol=1e-9)


def test_the_hand_written_gpt2_is_scored_prompt_by_prompt(tiny_gpt2):
    assert not supports_prefix_cache(tiny_gpt2(seed=0))
