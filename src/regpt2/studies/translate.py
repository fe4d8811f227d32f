"""Zero-shot translation into English: prompts, batched generation, heuristics, MT metrics.

The study prompted a pretrained (not fine-tuned) causal LM with one of three templates, chose the
template per language on 2 samples by word overlap with the English reference, sampled at
temperature 0.7 with no_repeat_ngram_size=2 and a budget of 2 new tokens per source word, kept the
first line of the output and scored it with two crude 1-5 heuristics (grammar, meaning). This
module does the same, seeded, in batches with a KV cache, and adds corpus-level chrF and BLEU
(sacrebleu, with their signatures) because the study itself called its word-overlap score crude.

Typical use, as the `translate` stage (stages/translate.py, run as `python -m stages.translate`
by `dvc repro translate`) does it, every setting from params.yaml's `translate:` section and the
premises of `translate.split`, the English ones as references::

    options = TranslationSettings(templates=..., n_examples=section.samples, seed=section.seed, ...)
    results = {lang: translate_language(model, tokenizer, lang, sources[lang], english, options)
               for lang in section.languages}
    # data/translate/examples.json: {lang: result.to_dict()}; data/translate/signatures.json:
    # the sacrebleu signatures; metrics/translate.json: {"languages": {lang: result.metrics()}}

Any Hugging Face causal LM works (`model.generate` is the decoder); the project's hand-written
GPT-2 is converted to HF before it reaches this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import fmean
from typing import Any

from regpt2.config.params import translation_template_problem
from regpt2.core.errors import UserError
from regpt2.core.languages import LANGUAGE_NAMES
from regpt2.core.stats import correlate
from regpt2.studies.translation_scores import (
    clean_output,
    corpus_scores,
    grammar_score,
    meaning_score,
    word_overlap,
)

#: The study's three prompt templates, in the study's order (ties in selection go to the first).
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "Translate this {lang} text to English: '{text}'",
    "{lang}: '{text}'\nEnglish:",
    "English translation: '{text}'",
)


# --------------------------------------------------------------------------- templates, languages


def language_name(lang: str) -> str:
    """The English name of an XNLI language code (`"de"` -> `"German"`), substituted for `{lang}`
    in the templates (`regpt2.core.languages.LANGUAGE_NAMES`); UserError if unknown."""
    try:
        return LANGUAGE_NAMES[lang]
    except KeyError:
        known = " ".join(LANGUAGE_NAMES)
        raise UserError(f"translate: unknown language code {lang!r}; known: {known}") from None


def validate_template(template: str) -> str:
    """Return `template` if it is usable (`translation_template_problem` says what is not)."""
    if problem := translation_template_problem(template):
        raise UserError(f"translate: template {template!r} {problem}")
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
    """The first `n` rows with distinct sources of `min_words`..`max_words` whitespace words
    (inclusive); a source seen before is skipped (XNLI lists each premise three times).

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
    seen: set[str] = set()
    for row, (source, reference) in enumerate(zip(sources, references, strict=True)):
        count = len(source.split())
        # XNLI repeats each premise for its three hypotheses: each premise is translated once.
        if source in seen:
            continue
        seen.add(source)
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
    bf16: bool = False  # resolved already (regpt2.core.precision.use_bf16)

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
    # Generation imports torch: imported where it runs, so that `analyze`, which reads this
    # module's correlations only, starts without torch (tests/test_graph.py).
    from regpt2.studies.generation import generate_continuations

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
    from regpt2.studies.generation import generate_continuations  # see choose_template

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

    Returns `languages` (in the order of `scores`) and `regpt2.core.stats.correlate`'s n,
    pearson_r/p and spearman_r/p (NaN with fewer than 3 languages or a constant side).
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
