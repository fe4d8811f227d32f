"""Probe: entropies, layer similarity, padding invariance, depth ranges, errors."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from regpt2.core.errors import UserError
from regpt2.core.stats import bootstrap_mean_interval
from regpt2.studies.probe import probe_parallel, resolve_layer_ranges
from regpt2.studies.probe_measures import (
    attention_entropy,
    head_entropies,
    relative_entropy_to_uniform,
    sentence_statistics,
    shannon_entropy,
    uniform_causal_entropy,
)
from regpt2.studies.probe_results import ProbeResult, correlate_with_metric

PARALLEL = {
    "en": ["the cat sat on the mat", "a dog ran far away", "the dog sat"],
    "es": ["el gato se sento en la alfombra", "el perro corre", "el perro se sento"],
}


@pytest.fixture(scope="module")
def word_tokenizer() -> PreTrainedTokenizerFast:
    """A tiny word-level tokenizer: no shared data needed."""
    words = dict.fromkeys(" ".join(sum(PARALLEL.values(), [])).split())
    vocab = {"[PAD]": 0, "[UNK]": 1} | {w: i + 2 for i, w in enumerate(words)}
    backend = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")


def tiny_gpt2(vocab_size: int, attn: str = "eager", n_layer: int = 2) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=64,
        n_embd=32,
        n_layer=n_layer,
        n_head=4,
        bos_token_id=0,
        eos_token_id=0,
        attn_implementation=attn,
    )
    return GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def word_model(word_tokenizer) -> GPT2LMHeadModel:
    return tiny_gpt2(len(word_tokenizer))


class UniformCausalModel(torch.nn.Module):
    """Fake HF-convention model: every head attends uniformly to the keys it may see."""

    def __init__(self, n_layers: int = 3, n_heads: int = 2, dim: int = 4, attentions=True):
        super().__init__()
        self.n_layers, self.n_heads, self.dim, self.attentions = n_layers, n_heads, dim, attentions
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, input_ids, attention_mask, output_hidden_states, output_attentions):
        b, t = input_ids.shape
        causal = torch.tril(torch.ones(t, t))
        rows = (causal * attention_mask[:, None, :]).clamp(min=0)
        rows = rows / rows.sum(-1, keepdim=True).clamp(min=1)
        attn = rows[:, None].expand(b, self.n_heads, t, t)
        base = torch.stack([input_ids.float() + k for k in range(self.dim)], dim=-1)
        hidden = tuple(base * (layer + 1) for layer in range(self.n_layers + 1))
        return SimpleNamespace(
            hidden_states=hidden,
            attentions=tuple(attn for _ in range(self.n_layers)) if self.attentions else None,
        )


# --- entropies -------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_uniform_weights_have_entropy_log_n(n):
    assert shannon_entropy(torch.ones(n)) == pytest.approx(math.log(n))
    # A uniform n x n attention map has n^2 equal cells: ln(n^2), whatever the layers/heads.
    assert attention_entropy(torch.full((3, 2, n, n), 0.5)) == pytest.approx(2 * math.log(n))


def test_uniform_causal_attention_entropies_match_closed_form(word_tokenizer):
    # Query i sees i+1 keys uniformly: row entropy ln(i+1); the sum-1 mean map has cells
    # 1/(n(i+1)), so its entropy is ln n + mean_i ln(i+1).
    n = 5
    attn = torch.tril(torch.ones(n, n))
    attn = (attn / attn.sum(-1, keepdim=True)).expand(2, 3, n, n)
    mean_log = float(np.mean(np.log(np.arange(1, n + 1))))
    assert attention_entropy(attn) == pytest.approx(math.log(n) + mean_log)
    assert torch.allclose(head_entropies(attn), torch.full((2, 3), mean_log, dtype=torch.float64))

    stats = sentence_statistics(UniformCausalModel(), word_tokenizer, ["the cat sat on a mat"])
    assert stats.n_tokens.tolist() == [6]
    mean_log6 = float(np.mean(np.log(np.arange(1, 7))))
    assert stats.attention_entropy[0] == pytest.approx(math.log(6) + mean_log6)
    assert np.allclose(stats.head_entropy[0], mean_log6)
    assert stats.head_entropy.shape == (1, 3, 2)


# --- similarity and padding ------------------------------------------------------------------


def test_english_against_itself_is_one_at_every_layer(word_model, word_tokenizer):
    sentences = {"en": PARALLEL["en"], "copy": list(PARALLEL["en"]), "es": PARALLEL["es"]}
    result = probe_parallel(word_model, word_tokenizer, sentences, n_resamples=200)
    for lang in ("en", "copy"):
        probe = result.languages[lang]
        assert len(probe.similarity_per_layer) == 3  # 2 blocks -> 3 hidden states
        assert np.allclose(probe.similarity_per_layer, 1.0, atol=1e-6)
        assert probe.gain == pytest.approx(0.0, abs=1e-6)
        assert np.allclose(probe.gain_interval, 0.0, atol=1e-6)
    es = result.languages["es"]
    assert all(s < 1 for s in es.similarity_per_layer)
    assert es.gain == pytest.approx(es.late - es.early)
    assert es.gain_interval[0] <= es.gain <= es.gain_interval[1]
    assert np.array(es.attention_entropy_per_layer_head).shape == (2, 4)
    assert es.n_sentences == 3 and es.n_truncated == 0
    # The study's 0-3 / 8-11 of 12 layers become 0-0 / 1-1 of 2 layers, and say so.
    assert (result.early_layers, result.late_layers) == ([0, 0], [1, 1])
    assert result.notes and "scaled" in result.notes[0]
    json.dumps(result.to_dict(), allow_nan=False)


def test_statistics_ignore_padding(word_model, word_tokenizer):
    short = "the cat sat"
    long = " ".join(["the dog ran far away on a mat"] * 5)
    alone = sentence_statistics(word_model, word_tokenizer, [short], batch_size=1)
    batched = sentence_statistics(word_model, word_tokenizer, [short, long], batch_size=2)
    assert batched.n_tokens.tolist() == [3, 40]
    np.testing.assert_allclose(batched.pooled[0], alone.pooled[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batched.attention_entropy[0], alone.attention_entropy[0], atol=1e-6)
    np.testing.assert_allclose(batched.head_entropy[0], alone.head_entropy[0], atol=1e-6)
    # The batch puts the long sentence first, but results come back in input order.
    long_alone = sentence_statistics(word_model, word_tokenizer, [long])
    np.testing.assert_allclose(batched.pooled[1], long_alone.pooled[0], rtol=1e-5, atol=1e-5)


def test_truncation_to_max_length(word_model, word_tokenizer):
    stats = sentence_statistics(
        word_model, word_tokenizer, ["the cat sat on a mat", "the cat"], max_length=4
    )
    assert stats.n_tokens.tolist() == [4, 2]
    assert stats.truncated.tolist() == [True, False]


def test_probe_with_real_gpt2_tokenizer(gpt2_tokenizer_dir):
    from regpt2.sources.tokenizers import gpt2_tokenizer_from_files

    tokenizer = gpt2_tokenizer_from_files(gpt2_tokenizer_dir)
    model = tiny_gpt2(len(tokenizer))
    sentences = {
        "en": ["The cat sits on the mat.", "I like green tea very much."],
        "de": ["Die Katze sitzt auf der Matte.", "Ich mag grünen Tee sehr."],
        "el": ["Η γάτα κάθεται στο χαλί.", "Μου αρέσει πολύ το πράσινο τσάι."],
    }
    result = probe_parallel(model, tokenizer, sentences, max_length=12, n_resamples=100)
    assert list(result.languages) == ["en", "de", "el"]
    assert np.allclose(result.languages["en"].similarity_per_layer, 1.0, atol=1e-6)
    assert result.languages["el"].n_truncated >= 1  # Greek costs GPT-2 many tokens
    assert result.languages["el"].mean_tokens <= 12
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["entropy_unit"] == "nats"
    assert data["languages"]["de"]["attention_entropy"] > 0


# --- layer ranges ----------------------------------------------------------------------------


def test_layer_ranges_for_gpt2_small_are_the_study_ones():
    ranges = resolve_layer_ranges(12)
    assert (ranges.early_layers, ranges.late_layers) == ((0, 3), (8, 11))
    assert (ranges.early_hidden_states, ranges.late_hidden_states) == ((0, 3), (8, 11))
    assert ranges.notes == ()
    shifted = resolve_layer_ranges(12, first_hidden_state=1)
    assert (shifted.early_hidden_states, shifted.late_hidden_states) == ((1, 4), (9, 12))


def test_layer_ranges_for_other_depths():
    assert resolve_layer_ranges(24).late_layers == (16, 23)
    assert resolve_layer_ranges(6).early_layers == (0, 1)
    one = resolve_layer_ranges(1)
    assert one.early_layers == one.late_layers == (0, 0)
    assert any("coincide" in note for note in one.notes)
    clipped = resolve_layer_ranges(2, depth_policy="clip", early_layers=(0, 1), late_layers=(1, 5))
    assert clipped.late_layers == (1, 2) and "clipped" in clipped.notes[0]
    with pytest.raises(UserError, match="does not fit"):
        resolve_layer_ranges(2, depth_policy="error")
    # Malformed ranges and settings are params.yaml's to refuse (tests/test_params.py).


# --- errors ----------------------------------------------------------------------------------


def test_missing_english_is_an_error(word_model, word_tokenizer):
    with pytest.raises(UserError, match="no 'en' rows"):
        probe_parallel(word_model, word_tokenizer, {"es": PARALLEL["es"]})


def test_misaligned_rows_are_an_error(word_model, word_tokenizer):
    with pytest.raises(UserError, match="'es' has 2 rows but 'en' has 3"):
        probe_parallel(word_model, word_tokenizer, {"en": PARALLEL["en"], "es": PARALLEL["es"][:2]})


def test_model_without_attentions_is_an_error(word_tokenizer):
    with pytest.raises(UserError, match="attn_implementation='eager'"):
        probe_parallel(UniformCausalModel(attentions=False), word_tokenizer, PARALLEL)
    sdpa = tiny_gpt2(len(word_tokenizer), attn="sdpa")  # returns an empty tuple
    with pytest.raises(UserError, match="no attentions"):
        sentence_statistics(sdpa, word_tokenizer, PARALLEL["en"])


def test_empty_sentence_is_an_error(word_model, word_tokenizer):
    with pytest.raises(UserError, match="sentence 1 of language 'es' has no tokens"):
        probe_parallel(word_model, word_tokenizer, {"en": ["the cat", "a dog"], "es": ["el", ""]})


# --- summaries -------------------------------------------------------------------------------


def test_bootstrap_interval_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(1).normal(size=200)
    first = bootstrap_mean_interval(values, seed=3)
    assert first == bootstrap_mean_interval(values, seed=3)
    assert first[0] < values.mean() < first[1]


def test_correlate_with_metric_skips_english_and_missing_languages():
    probe = {
        lang: {"attention_entropy": h, "early": 0.5, "late": 0.5 + g, "gain": g}
        for lang, h, g in [("en", 9.0, 0.0), ("es", 1.0, 0.1), ("de", 2.0, 0.2), ("el", 3.0, 0.3)]
    }
    probe["hi"] = probe["el"]
    accuracy = {"en": 78.8, "es": 46.0, "de": 41.0, "el": 35.0, "zh": 37.0}
    result = correlate_with_metric({"languages": probe}, accuracy, fields=("gain", "early"))
    assert result["gain"]["languages"] == ["es", "de", "el"]
    assert result["gain"]["n"] == 3 and result["gain"]["pearson_r"] < -0.9
    assert math.isnan(result["early"]["pearson_r"])  # constant: undefined, not an error
    with pytest.raises(UserError, match="not a per-language probe number"):
        correlate_with_metric(probe, accuracy, fields=("bogus",))


def test_correlate_accepts_a_probe_result(word_model, word_tokenizer):
    result = probe_parallel(word_model, word_tokenizer, PARALLEL, n_resamples=50)
    assert isinstance(result, ProbeResult)
    out = correlate_with_metric(result, {"es": 40.0}, exclude=())
    assert out["gain"]["languages"] == ["es"] and out["gain"]["n"] == 1


def uniform_causal_map(n: int) -> torch.Tensor:
    """Query i spreads its attention evenly over keys 0..i."""
    rows = torch.tril(torch.ones(n, n, dtype=torch.float64))
    return rows / rows.sum(dim=1, keepdim=True)


@pytest.mark.parametrize("n", [1, 2, 5, 40])
def test_uniform_causal_entropy_is_that_of_the_uniform_map(n):
    expected = attention_entropy(uniform_causal_map(n))
    assert uniform_causal_entropy(np.array([n]))[0] == pytest.approx(expected, abs=1e-12)


def test_relative_entropy_is_one_for_uniform_and_lower_when_focused():
    n = np.array([1, 6, 6])
    focused = attention_entropy(torch.eye(6, dtype=torch.float64))  # every token on itself
    entropy = np.array([0.0, attention_entropy(uniform_causal_map(6)), focused])
    relative = relative_entropy_to_uniform(entropy, n)
    assert relative[:2] == pytest.approx([1.0, 1.0])
    assert 0 < relative[2] < 1
    with pytest.raises(ValueError, match="n >= 1"):
        uniform_causal_entropy(np.array([0]))
