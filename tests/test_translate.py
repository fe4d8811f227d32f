"""Zero-shot translation: heuristics, templates, source selection, batched seeded generation."""

from __future__ import annotations

import math

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast, PreTrainedTokenizerFast

from regpt2.core.errors import UserError
from regpt2.core.languages import LANGUAGE_NAMES, XNLI_LANGUAGES
from regpt2.studies.generation import generate_continuations
from regpt2.studies.translate import (
    DEFAULT_TEMPLATES,
    TranslationSettings,
    correlate_languages,
    correlation_table,
    format_prompt,
    select_sources,
    translate_language,
    validate_template,
)
from regpt2.studies.translation_scores import (
    clean_output,
    corpus_scores,
    grammar_score,
    meaning_score,
    word_overlap,
)

# --------------------------------------------------------------------------- heuristics


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The cat sat on the mat.", 5.0),  # all four checks
        ("the cat sat on the mat", 4.0),  # no capital, no final punctuation
        ("Hello", 3.5),  # capital only
        ("hello", 3.0),
        ("", 3.0),
        ("Why not?", 4.5),  # 2 words: fails 3-30
        ("Cats eat fish!", 4.5),  # no function word
        ("  The   quick fox jumps  ", 4.5),  # surrounding spaces ignored; no final punctuation
        ("A " + "word " * 30 + "end.", 4.5),  # 32 words: fails 3-30
        ("Dogs bark loudly the.", 4.5),  # "the." is not "the" with plain split
    ],
)
def test_grammar_score(text: str, expected: float) -> None:
    assert grammar_score(text) == expected


def test_grammar_score_strip_punctuation_finds_function_word() -> None:
    assert grammar_score("Dogs bark loudly the.", strip_punctuation=True) == 5.0


def test_meaning_score_exact_values() -> None:
    reference = "The cat sat on the mat."  # word set: the cat sat on mat. (5 words)
    assert meaning_score("the cat sat", reference) == pytest.approx(1 + 4 * 3 / 5)
    assert meaning_score(reference, reference) == 5.0
    assert meaning_score("", reference) == 1.0
    assert meaning_score("THE CAT", "the cat") == 5.0  # lowercased
    assert meaning_score("cat cat cat", "cat dog") == 3.0  # sets, not counts
    # punctuation sticks to words by default (the study's plain split), optionally stripped
    assert meaning_score("the mat", "the mat.") == 3.0
    assert meaning_score("the mat", "the mat.", strip_punctuation=True) == 5.0
    assert word_overlap("anything", "") == 0.0


def test_clean_output_keeps_first_line_without_quotes() -> None:
    assert clean_output(" 'The dog runs.'\nEnglish: more") == "The dog runs."
    assert clean_output("\n\n  \u201cHello there\u201d  \nx") == "Hello there"
    assert clean_output("") == ""


# --------------------------------------------------------------------------- templates


def test_default_templates_and_names() -> None:
    assert list(LANGUAGE_NAMES) == list(XNLI_LANGUAGES)
    assert format_prompt(DEFAULT_TEMPLATES[0], "de", "Hallo Welt") == (
        "Translate this German text to English: 'Hallo Welt'"
    )
    assert format_prompt(DEFAULT_TEMPLATES[1], "el", "x") == "Greek: 'x'\nEnglish:"
    assert format_prompt("{{literal}} {text}", "fr", "{y}") == "{literal} {y}"


@pytest.mark.parametrize(
    "template",
    [
        "Translate to English:",
        "{lang}: {source}",
        "{text} {}",
        "{text!r}",
        "{text:>10}",
        "{text",
        "",
    ],
)
def test_bad_templates_raise_user_error(template: str) -> None:
    with pytest.raises(UserError) as caught:
        validate_template(template)
    assert "\n" not in str(caught.value)


def test_settings_validate_templates_and_unknown_language() -> None:
    with pytest.raises(UserError, match="no \\{text\\}"):
        TranslationSettings(templates=("English:",))
    with pytest.raises(UserError, match="unknown language"):
        format_prompt(DEFAULT_TEMPLATES[0], "xx", "text")


def test_settings_defaults_equal_params_yaml() -> None:
    """TranslationSettings' defaults are params.yaml's `translate:` values, never a second set."""
    from pathlib import Path

    from ruamel.yaml import YAML

    root = Path(__file__).resolve().parents[1]
    section = YAML(typ="safe").load((root / "params.yaml").read_text(encoding="utf-8"))["translate"]
    defaults = TranslationSettings()
    assert defaults.templates == tuple(section["templates"])
    assert defaults.n_examples == section["samples"]
    for name in (
        "min_words",
        "max_words",
        "selection_samples",
        "tokens_per_word",
        "do_sample",
        "temperature",
        "top_k",
        "no_repeat_ngram_size",
        "batch_size",
        "seed",
    ):
        assert getattr(defaults, name) == section[name], name


# --------------------------------------------------------------------------- source selection


def test_select_sources_first_n_within_word_range() -> None:
    sources = [
        "one two three four",  # 4 words: too short
        "one two three four five",  # 5: kept
        " ".join(["w"] * 51),  # 51: too long
        " ".join(["w"] * 50),  # 50: kept
        "a b c d e f",  # 6: kept, but n=2 stops before it
    ]
    references = [f"english {i}" for i in range(len(sources))]
    pairs = select_sources(sources, references, n=2)
    assert [p.row for p in pairs] == [1, 3]
    assert [p.source_words for p in pairs] == [5, 50]
    assert pairs[1].reference == "english 3"
    assert [p.row for p in select_sources(sources, references, n=100)] == [1, 3, 4]


def test_select_sources_errors() -> None:
    with pytest.raises(UserError, match="no English rows"):
        select_sources(["a b c d e"], [], lang="de")
    with pytest.raises(UserError, match="2 rows but English has 1"):
        select_sources(["a b c d e", "a b c d e"], ["x"], lang="de")
    with pytest.raises(UserError, match="no 'zh' row"):
        select_sources(["\u4f60\u597d\u4e16\u754c"], ["hello world"], lang="zh")


# --------------------------------------------------------------------------- metrics


def test_perfect_translation_scores_100() -> None:
    references = ["The cat sat on the mat today.", "A man is walking his dog in the park."]
    scores = corpus_scores(references, references)
    assert scores["bleu"] == pytest.approx(100.0)
    assert scores["chrf"] == pytest.approx(100.0)
    assert scores["bleu_signature"].startswith("nrefs:1|")
    assert "chrF2" in scores["chrf_signature"] or "nc:6" in scores["chrf_signature"]
    assert corpus_scores(["nothing alike"], ["The cat sat on the mat."])["bleu"] < 1.0


def test_correlate_languages_aligns_on_common_languages() -> None:
    scores = {"de": 1.0, "fr": 2.0, "es": 3.0, "el": 4.0, "zh": 5.0}
    others = {"es": 30.0, "de": 10.0, "fr": 20.0, "el": 40.0, "hi": 99.0, "zh": math.nan}
    result = correlate_languages(scores, others)
    assert result["languages"] == ["de", "fr", "es", "el"]
    assert result["n"] == 4
    assert result["pearson_r"] == pytest.approx(1.0)
    assert result["spearman_r"] == pytest.approx(1.0)
    table = correlation_table(
        {lang: {"grammar": v, "chrf": -v} for lang, v in scores.items()},
        {"nli": others},
        score_names=("grammar", "chrf"),
    )
    assert table["chrf"]["nli"]["pearson_r"] == pytest.approx(-1.0)


# --------------------------------------------------------------------------- generation

SENTENCES = [
    "The man walks his dog in the park every morning.",
    "Translate this German text to English: 'Der Hund schläft.'",
    "She said that the weather would be fine tomorrow.",
    "Ελληνικά κείμενα και български текст.",
    "English translation: 'Le chat dort sur le canapé.'",
]


def _tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE trained in a moment on a few lines: always available, no files needed."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(SENTENCES * 3, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")


@pytest.fixture(scope="module", params=["tiny", "gpt2"])
def lm(request: pytest.FixtureRequest) -> tuple[GPT2LMHeadModel, PreTrainedTokenizerFast]:
    """A random-init 2-layer GPT-2 (float64 so that argmax ties cannot flip) and a tokenizer."""
    if request.param == "gpt2":
        directory = request.getfixturevalue("gpt2_tokenizer_dir")
        if not (directory / "vocab.json").is_file():
            pytest.skip(f"GPT-2 tokenizer not found at {directory}")
        tokenizer = GPT2TokenizerFast.from_pretrained(directory)
    else:
        tokenizer = _tiny_tokenizer()
    eos = tokenizer.eos_token_id
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config).double().eval()
    # A random model with small weights is nearly uniform; sharpen it so greedy has clear winners
    # and sampling at temperature 0.7 is not plain noise.
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)
    return model, tokenizer


def test_same_seed_same_outputs_different_seed_differs(lm) -> None:
    model, tokenizer = lm
    state = torch.random.get_rng_state()
    first = generate_continuations(model, tokenizer, SENTENCES, 12, batch_size=2, seed=1)
    again = generate_continuations(model, tokenizer, SENTENCES, 12, batch_size=2, seed=1)
    other = generate_continuations(model, tokenizer, SENTENCES, 12, batch_size=2, seed=2)
    assert first == again
    assert first != other
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched


def test_batched_greedy_equals_one_at_a_time_and_keeps_order(lm) -> None:
    model, tokenizer = lm
    budgets = [3, 9, 5, 12, 7]
    options = {"do_sample": False, "no_repeat_ngram_size": 2}
    batched = generate_continuations(model, tokenizer, SENTENCES, budgets, batch_size=3, **options)
    alone = [
        generate_continuations(model, tokenizer, [s], [b], batch_size=1, **options)[0]
        for s, b in zip(SENTENCES, budgets, strict=True)
    ]
    # alone, each budget is HF's own max_new_tokens; batched, the batch max cut to each budget
    assert batched == alone
    assert len(set(batched)) == len(batched)  # not a degenerate all-empty output
    # order: a reversed input gives the reversed outputs
    backwards = generate_continuations(
        model, tokenizer, SENTENCES[::-1], budgets[::-1], batch_size=2, **options
    )
    assert backwards == batched[::-1]


def test_translate_language_end_to_end(lm) -> None:
    model, tokenizer = lm
    sources = ["zu kurz", *[f"Der Hund schläft im Garten Nummer {i}." for i in range(4)]]
    references = ["too short", *[f"The dog sleeps in garden number {i}." for i in range(4)]]
    settings = TranslationSettings(n_examples=3, batch_size=2, seed=3)
    result = translate_language(model, tokenizer, "de", sources, references, settings)
    again = translate_language(model, tokenizer, "de", sources, references, settings)
    assert result.to_dict() == again.to_dict()
    assert result.n == 3 and [e.row for e in result.examples] == [1, 2, 3]
    assert result.language == "German"
    assert result.template == DEFAULT_TEMPLATES[result.template_index]
    assert len(result.template_overlaps) == 3
    assert 3.0 <= result.grammar <= 5.0 and 1.0 <= result.meaning <= 5.0
    assert 0.0 <= result.chrf <= 100.0 and "nrefs:1" in result.bleu_signature
    assert all("\n" not in e.output for e in result.examples)
    assert "examples" not in result.metrics()
