"""The 15 XNLI languages and the three NLI labels."""

from __future__ import annotations

from collections.abc import Iterable

from regpt2.core.errors import UserError

# Order as in the XNLI paper.
XNLI_LANGUAGES: tuple[str, ...] = (
    "en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur",
)  # fmt: skip

#: English names of the XNLI languages (the translate templates' `{lang}`, the report's tables).
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English", "fr": "French", "es": "Spanish", "de": "German", "el": "Greek",
    "bg": "Bulgarian", "ru": "Russian", "tr": "Turkish", "ar": "Arabic", "vi": "Vietnamese",
    "th": "Thai", "zh": "Chinese", "hi": "Hindi", "sw": "Swahili", "ur": "Urdu",
}  # fmt: skip

#: The XNLI languages written in the Latin script (the study's "close" languages; the others,
#: Greek, Cyrillic, Arabic, Thai, Chinese and Devanagari scripts, are its "distant" ones).
LATIN_SCRIPT = frozenset({"en", "fr", "es", "de", "tr", "vi", "sw"})

LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")


def check_language(code: str) -> str:
    """Return `code` if it is an XNLI language, else fail naming the valid ones."""
    if code not in XNLI_LANGUAGES:
        raise UserError(
            f"unknown language {code!r}; valid XNLI languages: {', '.join(XNLI_LANGUAGES)}"
        )
    return code


def check_languages(codes: Iterable[str]) -> list[str]:
    """Return `codes` if they are XNLI languages, each named once, else fail naming the culprit
    (a language listed twice would be trained on, or counted, twice)."""
    codes = list(codes)
    if not codes:
        raise UserError("the language list is empty; name at least one XNLI language")
    for position, code in enumerate(codes):
        check_language(code)
        if code in codes[:position]:
            raise UserError(f"language {code!r} is listed twice; name each language once")
    return codes
