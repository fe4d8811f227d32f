"""Scoring zero-shot translations: the study's two crude 1-5 heuristics (grammar, meaning by word
overlap with the reference), output cleaning, and corpus-level chrF / BLEU through sacrebleu."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from typing import Any

import sacrebleu

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
