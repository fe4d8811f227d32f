"""Zero-shot translation into English: prompts, batched generation, heuristics, MT metrics.

The study prompted a pretrained (not fine-tuned) causal LM with one of three templates, chose the
template per language on 2 samples by word overlap with the English reference, sampled at
temperature 0.7 with no_repeat_ngram_size=2 and a budget of 2 new tokens per source word, kept the
first line of the output and scored it with two crude 1-5 heuristics (grammar, meaning). This
module does the same, seeded, in batches with a KV cache, and adds corpus-level chrF and BLEU
(sacrebleu, with their signatures) because the study itself called its word-overlap score crude.

Typical use, as the `translate` stage (stages/translate.py, run as `python -m stages.translate`
by `dvc repro translate`) does it with every value from params.yaml's `translate:` section::

    section = load_params().translate
    settings = TranslationSettings(n_examples=section.samples, seed=section.seed, ...)
    result = translate_language(model, tokenizer, "de", premises_de, premises_en, settings)
    write_json("data/translate/examples.json", {"de": result.to_dict()})

Any Hugging Face causal LM works (`model.generate` is the decoder); the project's hand-written
GPT-2 is converted to HF before it reaches this module.
"""

from __future__ import annotations

import math
import string
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Any

import sacrebleu
import torch
from tqdm.auto import tqdm

from regpt2.batching import left_padded
from regpt2.errors import UserError
from regpt2.languages import LANGUAGE_NAMES
from regpt2.precision import autocast
from regpt2.stats import correlate

#: The study's three prompt templates, in the study's order (ties in selection go to the first).
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "Translate this {lang} text to English: '{text}'",
    "{lang}: '{text}'\nEnglish:",
    "English translation: '{text}'",
)

#: Placeholders a template may use: the language's English name and the source sentence.
TEMPLATE_FIELDS = frozenset({"lang", "text"})

_FUNCTION_WORDS_TEXT = (
    "the a an this that these those is are was were be been being am has have had do does did "
    "will would can could should may might must of to in on at by for with from as into about "
    "and or but not no if than then so it its he she they we you i me him her his their our my "
    "your them us there here what which who whom whose when where why how"
)
#: Common English function words; an output containing one earns the grammar heuristic's 4th half
#: point. Matched against the same lowercased words as the meaning score (see `words`).
FUNCTION_WORDS: frozenset[str] = frozenset(_FUNCTION_WORDS_TEXT.split())

_QUOTES = "'\"\u2018\u2019\u201c\u201d\u00ab\u00bb`"


# --------------------------------------------------------------------------- templates, languages


def language_name(lang: str) -> str:
    """The English name of an XNLI language code (`"de"` -> `"German"`), substituted for `{lang}`
    in the templates (`regpt2.languages.LANGUAGE_NAMES`); UserError if unknown."""
    try:
        return LANGUAGE_NAMES[lang]
    except KeyError:
        known = " ".join(LANGUAGE_NAMES)
        raise UserError(f"translate: unknown language code {lang!r}; known: {known}") from None


def validate_template(template: str) -> str:
    """Return `template` if it is usable: it needs `{text}`, may use `{lang}`, nothing else."""
    if not isinstance(template, str) or not template.strip():
        raise UserError(f"translate: template {template!r} is empty; it needs a {{text}} field")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise UserError(
            f"translate: template {template!r} is malformed ({error}); write literal braces as "
            "{{ and }}"
        ) from None
    names = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            raise UserError(
                f"translate: template {template!r} has field {{{name}}}; only {{lang}} and "
                "{text} are allowed, without format specs or conversions"
            )
        names.add(name)
    if "text" not in names:
        raise UserError(f"translate: template {template!r} has no {{text}} field for the source")
    return template


def validate_templates(templates: Sequence[str]) -> tuple[str, ...]:
    """Validate every template (see `validate_template`); at least one is required."""
    if isinstance(templates, str) or not templates:
        raise UserError("translate: templates must be a non-empty list of strings")
    return tuple(validate_template(template) for template in templates)


def format_prompt(template: str, lang: str, text: str) -> str:
    """Fill a template with the language's English name and the source text."""
    return validate_template(template).format(lang=language_name(lang), text=text)


# --------------------------------------------------------------------------- source selection


@dataclass(frozen=True)
class SourcePair:
    """One XNLI row used for translation: its index, the source premise and the English one."""

    row: int
    source: str
    reference: str
    source_words: int


def select_sources(
    sources: Sequence[str],
    references: Sequence[str],
    *,
    lang: str = "?",
    n: int = 100,
    min_words: int = 5,
    max_words: int = 50,
) -> list[SourcePair]:
    """The first `n` rows whose source has `min_words`..`max_words` whitespace words (inclusive).

    `sources` and `references` are the same XNLI rows in the source language and in English.
    Words are counted with `str.split()`, as the study did, so unsegmented zh (and th, whose
    spaces separate phrases) yields few or no rows; rows with an empty English side are skipped.
    """
    if n < 1 or min_words < 0 or max_words < min_words:
        raise UserError(
            f"translate: need n >= 1 and 0 <= min_words <= max_words, got n={n}, "
            f"min_words={min_words}, max_words={max_words}"
        )
    if not references:
        raise UserError(
            f"translate: no English rows parallel to {lang!r}; the English premises of the same "
            "split are the references"
        )
    if len(sources) != len(references):
        raise UserError(
            f"translate: {lang!r} has {len(sources)} rows but English has {len(references)}; "
            "source and reference must be the same XNLI rows (same split, same order)"
        )
    selected: list[SourcePair] = []
    for row, (source, reference) in enumerate(zip(sources, references, strict=True)):
        count = len(source.split())
        if min_words <= count <= max_words and reference.strip():
            selected.append(SourcePair(row, source, reference, count))
            if len(selected) == n:
                break
    if not selected:
        raise UserError(
            f"translate: no {lang!r} row has {min_words}-{max_words} whitespace-separated words "
            f"among {len(sources)} rows"
        )
    return selected


# --------------------------------------------------------------------------- heuristics


def words(text: str, *, strip_punctuation: bool = False) -> list[str]:
    """Lowercased whitespace words, as the study used; optionally with edge punctuation removed.

    The study compared plain `text.lower().split()`, so "mat." and "mat" differ: that is the
    default. `strip_punctuation=True` removes Unicode punctuation at both ends of each word.
    """
    tokens = text.lower().split()
    if not strip_punctuation:
        return tokens
    stripped = (_strip_edge_punctuation(token) for token in tokens)
    return [token for token in stripped if token]


def _strip_edge_punctuation(token: str) -> str:
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start]).startswith("P"):
        start += 1
    while end > start and unicodedata.category(token[end - 1]).startswith("P"):
        end -= 1
    return token[start:end]


def grammar_score(text: str, *, strip_punctuation: bool = False) -> float:
    """The study's grammar heuristic, 3.0-5.0: 3.0 + 0.5 per satisfied check.

    Checks: first character is an uppercase letter; ends in `.`, `!` or `?`; 3-30 whitespace
    words; contains a word of `FUNCTION_WORDS` (matched on `words(text)`).
    """
    text = text.strip()
    checks = (
        bool(text) and text[0].isupper(),
        text.endswith((".", "!", "?")),
        3 <= len(text.split()) <= 30,
        any(word in FUNCTION_WORDS for word in words(text, strip_punctuation=strip_punctuation)),
    )
    return 3.0 + 0.5 * sum(checks)


def word_overlap(output: str, reference: str, *, strip_punctuation: bool = False) -> float:
    """|words(output) & words(reference)| / |words(reference)| on lowercased word sets; 0-1."""
    reference_words = set(words(reference, strip_punctuation=strip_punctuation))
    if not reference_words:
        return 0.0
    output_words = set(words(output, strip_punctuation=strip_punctuation))
    return len(output_words & reference_words) / len(reference_words)


def meaning_score(output: str, reference: str, *, strip_punctuation: bool = False) -> float:
    """The study's meaning heuristic, 1.0-5.0: 1 + 4 x `word_overlap(output, reference)`."""
    return 1.0 + 4.0 * word_overlap(output, reference, strip_punctuation=strip_punctuation)


def clean_output(text: str) -> str:
    """The first non-empty line of a generated continuation, stripped of spaces and quotes."""
    line = text.strip().split("\n", 1)[0]
    return line.strip().strip(_QUOTES).strip()


# --------------------------------------------------------------------------- MT metrics


def corpus_scores(outputs: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """Corpus-level BLEU and chrF (sacrebleu defaults: 13a tokenisation, chrF char order 6).

    Returns `bleu`, `chrf` (0-100) and `bleu_signature`, `chrf_signature`: the sacrebleu strings
    that pin down the exact metric configuration and version for the report.
    """
    if len(outputs) != len(references):
        raise ValueError(f"{len(outputs)} outputs but {len(references)} references")
    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    if not outputs:
        return {
            "bleu": math.nan,
            "chrf": math.nan,
            "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature()),
        }
    hypotheses, refs = list(outputs), [list(references)]
    bleu_score = bleu.corpus_score(hypotheses, refs)
    chrf_score = chrf.corpus_score(hypotheses, refs)
    return {
        "bleu": float(bleu_score.score),
        "chrf": float(chrf_score.score),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


# --------------------------------------------------------------------------- generation


def generate_continuations(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int | Sequence[int],
    *,
    batch_size: int = 16,
    do_sample: bool = True,
    temperature: float = 0.7,
    top_k: int | None = 50,
    no_repeat_ngram_size: int = 2,
    seed: int | None = 0,
    progress: bool = False,
    bf16: bool = False,
) -> list[str]:
    """Decode continuations of `prompts` with `model.generate`, in batches; raw text, input order.

    Batches are built from prompts sorted by token length (longest first) and left-padded with an
    attention mask, so every prompt ends where generation starts; the KV cache is on. Each batch
    generates up to the batch's largest budget, then each continuation is cut to its own budget
    of `max_new_tokens[i]` tokens and at the first end-of-sequence token. For greedy decoding this
    equals generating each prompt alone; for sampling every output has the same distribution as
    alone (each token is drawn from the same conditional), though not the same draws.

    `seed` makes sampling reproducible: batch k runs under `torch.manual_seed(seed + k)` inside
    a forked RNG, so the caller's RNG state is untouched. The draws depend on `batch_size` and on
    the batch composition; `seed=None` samples from the global RNG (the study's unseeded run).
    `top_k=50` is the Hugging Face default the study ran with implicitly; None disables it. The
    settings are passed explicitly so a model's own `generation_config` (top_p, repetition
    penalty...) cannot change the decoding.
    """
    budgets = _budgets(max_new_tokens, len(prompts))
    if batch_size < 1:
        raise UserError(f"translate: batch_size must be >= 1, got {batch_size}")
    if not prompts:
        return []
    pad_id, stop_ids = _special_ids(model, tokenizer)
    encoded = [list(tokenizer(prompt)["input_ids"]) for prompt in prompts]
    _check_context(model, encoded, budgets)
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    device = next(model.parameters()).device
    options: dict[str, Any] = {
        "do_sample": do_sample,
        "num_beams": 1,
        "no_repeat_ngram_size": no_repeat_ngram_size,
        "repetition_penalty": 1.0,
        "pad_token_id": pad_id,
        "eos_token_id": sorted(stop_ids),
        "use_cache": True,
    }
    if do_sample:
        options.update(temperature=temperature, top_k=top_k or 0, top_p=1.0)
    outputs: list[str] = [""] * len(prompts)
    was_training = model.training
    model.eval()
    try:
        starts = range(0, len(order), batch_size)
        for number, start in enumerate(tqdm(starts, desc="translate", disable=not progress)):
            batch = order[start : start + batch_size]
            # generate() derives its own position ids from the mask: left_padded's are not passed.
            padded = left_padded([encoded[i] for i in batch], pad_id)
            input_ids = padded["input_ids"].to(device)
            attention_mask = padded["attention_mask"].to(device)
            with _seeded(None if seed is None else seed + number, device), autocast(device, bf16):
                generated = model.generate(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    max_new_tokens=max(budgets[i] for i in batch),
                    **options,
                )
            continuations = generated[:, input_ids.shape[1] :].tolist()
            for index, tokens in zip(batch, continuations, strict=True):
                tokens = _cut_at_stop(tokens[: budgets[index]], stop_ids)
                outputs[index] = tokenizer.decode(tokens, skip_special_tokens=True)
    finally:
        model.train(was_training)
    return outputs


def _budgets(max_new_tokens: int | Sequence[int], count: int) -> list[int]:
    if isinstance(max_new_tokens, int):
        budgets = [max_new_tokens] * count
    else:
        budgets = [int(budget) for budget in max_new_tokens]
        if len(budgets) != count:
            raise ValueError(f"{count} prompts but {len(budgets)} max_new_tokens")
    if any(budget < 1 for budget in budgets):
        raise UserError("translate: max_new_tokens must be >= 1 for every prompt")
    return budgets


def _special_ids(model: Any, tokenizer: Any) -> tuple[int, set[int]]:
    """Pad id (the tokenizer's, else EOS) and every end-of-sequence id of tokenizer and model."""
    stop_ids: set[int] = set()
    for candidate in (
        tokenizer.eos_token_id,
        getattr(model.generation_config, "eos_token_id", None),
    ):
        if isinstance(candidate, int):
            stop_ids.add(candidate)
        elif candidate is not None:
            stop_ids.update(int(token) for token in candidate)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = (
            tokenizer.eos_token_id
            if tokenizer.eos_token_id is not None
            else min(stop_ids, default=None)
        )
    if pad_id is None:
        raise UserError("translate: the tokenizer has neither a pad nor an end-of-sequence token")
    return pad_id, stop_ids


def _check_context(model: Any, encoded: Sequence[Sequence[int]], budgets: Sequence[int]) -> None:
    config = model.config
    limit = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    for index, (tokens, budget) in enumerate(zip(encoded, budgets, strict=True)):
        if not tokens:
            raise UserError(f"translate: prompt {index} encodes to no tokens")
        if limit and len(tokens) + budget > limit:
            raise UserError(
                f"translate: prompt {index} has {len(tokens)} tokens + {budget} new tokens, more "
                f"than the model's context of {limit}; lower max_words"
            )


def _cut_at_stop(tokens: list[int], stop_ids: set[int]) -> list[int]:
    for position, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[:position]
    return tokens


@contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Run a block under `torch.manual_seed(seed)` in a forked RNG; no-op for seed None."""
    if seed is None:
        yield
        return
    devices = [] if device.type == "cpu" else [device.index or 0]
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        torch.manual_seed(seed)
        yield


# --------------------------------------------------------------------------- one language


@dataclass(frozen=True)
class TranslationSettings:
    """Every knob of the translate stage; the defaults equal params.yaml's `translate:` section
    (`n_examples` is its `samples`; tests/test_translate.py keeps them equal). The stage passes
    every value from params.yaml; `strip_punctuation` is not a param (the study's False)."""

    templates: tuple[str, ...] = DEFAULT_TEMPLATES
    n_examples: int = 30
    min_words: int = 5
    max_words: int = 50
    selection_samples: int = 2
    tokens_per_word: int = 2
    do_sample: bool = True
    temperature: float = 0.7
    top_k: int | None = 50
    no_repeat_ngram_size: int = 2
    batch_size: int = 16
    seed: int | None = 0
    strip_punctuation: bool = False
    bf16: bool = False  # resolved already (regpt2.precision.use_bf16)

    def __post_init__(self) -> None:
        object.__setattr__(self, "templates", validate_templates(self.templates))
        for name in ("n_examples", "selection_samples", "tokens_per_word", "batch_size"):
            if getattr(self, name) < 1:
                raise UserError(f"translate: {name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.min_words <= self.max_words:
            raise UserError(
                f"translate: need 0 <= min_words <= max_words, got {self.min_words}, "
                f"{self.max_words}"
            )
        if self.do_sample and not self.temperature > 0:
            raise UserError(f"translate: temperature must be > 0, got {self.temperature}")
        if self.no_repeat_ngram_size < 0:
            raise UserError("translate: no_repeat_ngram_size must be >= 0 (0 disables it)")

    def generation_options(self) -> dict[str, Any]:
        """Keyword arguments for `generate_continuations`."""
        return {
            "batch_size": self.batch_size,
            "do_sample": self.do_sample,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "no_repeat_ngram_size": self.no_repeat_ngram_size,
            "seed": self.seed,
            "bf16": self.bf16,
        }


@dataclass(frozen=True)
class Example:
    """One translated sentence, readable by a person, with its heuristic scores."""

    row: int
    source: str
    reference: str
    template: str
    output: str
    raw_output: str
    grammar: float
    meaning: float


@dataclass
class LanguageResult:
    """Per-language scores (heuristics 1-5, BLEU/chrF 0-100), the chosen template, the examples."""

    lang: str
    language: str
    template: str
    template_index: int
    template_overlaps: list[float]
    n: int
    grammar: float
    meaning: float
    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str
    examples: list[Example] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        """Everything but the examples: the per-language metrics a report or DVC reads."""
        data = asdict(self)
        data.pop("examples")
        return data

    def to_dict(self) -> dict[str, Any]:
        """Metrics plus the examples, JSON-ready."""
        return asdict(self)


def choose_template(
    model: Any,
    tokenizer: Any,
    lang: str,
    pairs: Sequence[SourcePair],
    settings: TranslationSettings,
) -> tuple[int, list[float]]:
    """The study's template choice: mean word overlap on the first samples, ties to the first.

    Every template translates the first `settings.selection_samples` pairs (one seeded
    `generate_continuations` call); returns the best template's index and each template's mean
    `word_overlap` with the references. These samples stay in the evaluated set, as in the study.
    """
    samples = list(pairs[: settings.selection_samples])
    if not samples:
        raise UserError(f"translate: no samples to choose a template for {lang!r}")
    prompts = [format_prompt(t, lang, pair.source) for t in settings.templates for pair in samples]
    budgets = [
        settings.tokens_per_word * pair.source_words for _ in settings.templates for pair in samples
    ]
    raw = generate_continuations(
        model, tokenizer, prompts, budgets, **settings.generation_options()
    )
    overlaps = []
    for number in range(len(settings.templates)):
        chunk = raw[number * len(samples) : (number + 1) * len(samples)]
        overlaps.append(
            fmean(
                word_overlap(
                    clean_output(text), pair.reference, strip_punctuation=settings.strip_punctuation
                )
                for text, pair in zip(chunk, samples, strict=True)
            )
        )
    return overlaps.index(max(overlaps)), overlaps


def translate_language(
    model: Any,
    tokenizer: Any,
    lang: str,
    sources: Sequence[str],
    references: Sequence[str],
    settings: TranslationSettings | None = None,
    *,
    progress: bool = False,
) -> LanguageResult:
    """Translate one language's premises into English and score them (the whole study step).

    Selects the rows (`select_sources`), chooses the template (`choose_template`), generates all
    translations with it, keeps the first line of each, and scores heuristics and corpus metrics.
    """
    settings = settings or TranslationSettings()
    name = language_name(lang)
    pairs = select_sources(
        sources,
        references,
        lang=lang,
        n=settings.n_examples,
        min_words=settings.min_words,
        max_words=settings.max_words,
    )
    index, overlaps = choose_template(model, tokenizer, lang, pairs, settings)
    template = settings.templates[index]
    raw = generate_continuations(
        model,
        tokenizer,
        [format_prompt(template, lang, pair.source) for pair in pairs],
        [settings.tokens_per_word * pair.source_words for pair in pairs],
        progress=progress,
        **settings.generation_options(),
    )
    strip = settings.strip_punctuation
    examples = []
    for pair, text in zip(pairs, raw, strict=True):
        output = clean_output(text)
        examples.append(
            Example(
                row=pair.row,
                source=pair.source,
                reference=pair.reference,
                template=template,
                output=output,
                raw_output=text,
                grammar=grammar_score(output, strip_punctuation=strip),
                meaning=meaning_score(output, pair.reference, strip_punctuation=strip),
            )
        )
    scores = corpus_scores([e.output for e in examples], [e.reference for e in examples])
    return LanguageResult(
        lang=lang,
        language=name,
        template=template,
        template_index=index,
        template_overlaps=overlaps,
        n=len(examples),
        grammar=fmean(e.grammar for e in examples),
        meaning=fmean(e.meaning for e in examples),
        examples=examples,
        **scores,
    )


# --------------------------------------------------------------------------- correlations

#: The per-language translation scores `correlation_table` correlates by default.
SCORE_NAMES: tuple[str, ...] = ("grammar", "meaning", "chrf", "bleu")


def correlate_languages(scores: Mapping[str, float], others: Mapping[str, float]) -> dict[str, Any]:
    """Correlate two per-language numbers over the languages both have (finite values only).

    Returns `languages` (in the order of `scores`) and `regpt2.stats.correlate`'s n, pearson_r/p
    and spearman_r/p (NaN with fewer than 3 languages or a constant side).
    """
    languages = [
        lang
        for lang in scores
        if lang in others
        and math.isfinite(float(scores[lang]))
        and math.isfinite(float(others[lang]))
    ]
    stats = correlate([scores[lang] for lang in languages], [others[lang] for lang in languages])
    return {"languages": languages, **stats}


def correlation_table(
    results: Mapping[str, LanguageResult | Mapping[str, Any]],
    others: Mapping[str, Mapping[str, float]],
    score_names: Sequence[str] = SCORE_NAMES,
) -> dict[str, dict[str, dict[str, Any]]]:
    """`table[score][other]` = `correlate_languages` of a translation score with another number.

    `results` maps language -> `LanguageResult` (or its `metrics()` dict); `others` maps a name
    (e.g. "nli_zeroshot", "nli_finetuned", "fertility") to language -> value.
    """
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for score in score_names:
        per_language = {lang: _score(result, score) for lang, result in results.items()}
        table[score] = {
            other: correlate_languages(per_language, values) for other, values in others.items()
        }
    return table


def _score(result: LanguageResult | Mapping[str, Any], name: str) -> float:
    value = result.get(name) if isinstance(result, Mapping) else getattr(result, name, None)
    if value is None:
        raise UserError(f"translate: a language result has no score {name!r}")
    return float(value)
