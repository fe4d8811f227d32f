"""Tokenizer fertility: tokens per word and per character, per language and tokenizer.

Definitions (the study's, plus a real word segmentation for languages written without spaces):
- tokens: tokenizer tokens without special tokens, counted through the batched Rust fast path.
- whitespace words: `str.split()` (the study's definition). Meaningless for zh and th, whose
  text has no spaces between words.
- segmented words: zh with jieba (accurate mode, HMM on), th with PyThaiNLP `newmm`; tokens that
  are pure whitespace or pure punctuation/symbols are dropped (in spaced text punctuation sticks to
  a word and never counts as one, so dropping it keeps the counts comparable). Every other
  language uses the whitespace words, so its segmented fertility equals its whitespace fertility.
- chars: Unicode code points of the text as given (no normalisation), whitespace excluded.
- fertility = total tokens / total words over all strings (premise and hypothesis are passed as
  separate strings), as the study computed it; not a mean of per-sentence ratios.
- tokens_vs_en: tokens(lang) / tokens(en) on the same number of strings. Meaningful on parallel
  text (XNLI rows are translations of each other); None when en is missing or counts differ.

The segmenters are imported lazily, only for the languages that need them.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from regpt2.core.errors import UserError

__all__ = [
    "SEGMENTED_LANGUAGES",
    "whitespace_words",
    "segment_words",
    "segmenter",
    "count_tokens",
    "count_words",
    "fertility_table",
]

# Languages written without spaces between words, with the package that segments them.
SEGMENTED_LANGUAGES: dict[str, str] = {"zh": "jieba", "th": "pythainlp"}

_BATCH = 4096
_segmenters: dict[str, Callable[[str], list[str]]] = {}


def whitespace_words(text: str) -> list[str]:
    """The study's words: `text.split()`."""
    return text.split()


def _is_word(token: str) -> bool:
    """False for tokens made only of whitespace, punctuation or symbols."""
    return any(not ch.isspace() and unicodedata.category(ch)[0] not in "PS" for ch in token)


def _missing(lang: str) -> UserError:
    package = SEGMENTED_LANGUAGES[lang]
    return UserError(
        f"word segmentation for '{lang}' needs the Python package {package}: pip install {package}"
    )


def _jieba() -> Callable[[str], list[str]]:
    try:
        import jieba
    except ImportError:
        raise _missing("zh") from None
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()

    def cut(text: str) -> list[str]:
        return tokenizer.lcut(text, cut_all=False, HMM=True)

    return cut


def _pythainlp() -> Callable[[str], list[str]]:
    try:
        from pythainlp.tokenize import word_tokenize
    except ImportError:
        raise _missing("th") from None

    def cut(text: str) -> list[str]:
        return word_tokenize(text, engine="newmm", keep_whitespace=False)

    return cut


def segmenter(lang: str) -> Callable[[str], list[str]]:
    """The raw word segmenter for `lang` (jieba for zh, PyThaiNLP newmm for th, else
    `str.split`), loaded once and cached. Raises UserError when its package is missing."""
    if lang not in SEGMENTED_LANGUAGES:
        return whitespace_words
    if lang not in _segmenters:
        _segmenters[lang] = _jieba() if lang == "zh" else _pythainlp()
    return _segmenters[lang]


def segment_words(text: str, lang: str, drop_punctuation: bool = True) -> list[str]:
    """Words of `text` in `lang`: a real segmentation for zh/th, whitespace split otherwise.

    Pure-whitespace tokens are always dropped; for zh/th pure punctuation/symbol tokens too,
    unless `drop_punctuation` is False."""
    if lang not in SEGMENTED_LANGUAGES:
        return text.split()
    tokens = segmenter(lang)(text)
    if drop_punctuation:
        return [token for token in tokens if _is_word(token)]
    return [token for token in tokens if token.strip()]


def count_tokens(tokenizer: Any, texts: Sequence[str], batch_size: int = _BATCH) -> int:
    """Total tokens of `texts` without special tokens, batched through the Rust tokenizer.

    Each distinct string is encoded once and counted with its multiplicity (an XNLI premise
    appears with three hypotheses, so this saves about 40% of the work)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise UserError(f"fertility needs a fast (Rust) tokenizer, got {type(tokenizer).__name__}")
    encode = getattr(backend, "encode_batch_fast", backend.encode_batch)
    multiplicity = Counter(texts)
    unique = list(multiplicity)
    total = 0
    for start in range(0, len(unique), batch_size):
        batch = unique[start : start + batch_size]
        encodings = encode(batch, add_special_tokens=False)
        total += sum(
            len(enc) * multiplicity[text] for enc, text in zip(encodings, batch, strict=True)
        )
    return total


def count_words(texts: Sequence[str], lang: str, segmented: bool = True) -> dict[str, int]:
    """Counts over `texts`: strings, whitespace words, chars (non-whitespace code points) and,
    when `segmented`, segmented words (for languages without a segmenter, the whitespace count)."""
    words = chars = 0
    for text in texts:
        pieces = text.split()
        words += len(pieces)
        chars += sum(len(piece) for piece in pieces)
    counts = {"strings": len(texts), "words": words, "chars": chars}
    if segmented:
        if lang in SEGMENTED_LANGUAGES:
            multiplicity = Counter(texts)  # segment each distinct string once
            counts["segmented_words"] = sum(
                len(segment_words(text, lang)) * n for text, n in multiplicity.items()
            )
        else:
            counts["segmented_words"] = words
    return counts


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def fertility_table(
    texts_by_lang: Mapping[str, Sequence[str]],
    tokenizers: Mapping[str, Any],
    segmented: bool = True,
) -> list[dict[str, Any]]:
    """One row per (tokenizer, language), in the given orders, with keys: tokenizer, lang,
    strings, tokens, words, segmented_words, chars, tokens_per_word, tokens_per_segmented_word,
    tokens_per_char, tokens_vs_en. Ratios with a zero denominator are None. Word counts are
    computed once per language; `segmented=False` skips the zh/th segmenters (the segmented
    columns are then None)."""
    word_counts = {
        lang: count_words(texts, lang, segmented) for lang, texts in texts_by_lang.items()
    }
    rows: list[dict[str, Any]] = []
    for name, tokenizer in tokenizers.items():
        tokens = {lang: count_tokens(tokenizer, texts) for lang, texts in texts_by_lang.items()}
        for lang, counts in word_counts.items():
            seg = counts.get("segmented_words")
            en_parallel = "en" in tokens and word_counts["en"]["strings"] == counts["strings"]
            rows.append(
                {
                    "tokenizer": name,
                    "lang": lang,
                    "strings": counts["strings"],
                    "tokens": tokens[lang],
                    "words": counts["words"],
                    "segmented_words": seg,
                    "chars": counts["chars"],
                    "tokens_per_word": _ratio(tokens[lang], counts["words"]),
                    "tokens_per_segmented_word": None if seg is None else _ratio(tokens[lang], seg),
                    "tokens_per_char": _ratio(tokens[lang], counts["chars"]),
                    "tokens_vs_en": _ratio(tokens[lang], tokens["en"]) if en_parallel else None,
                }
            )
    return rows
