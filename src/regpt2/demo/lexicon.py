"""The demo corpus's hand-made lexicons, one per XNLI language, as data: `lexicons.json` beside
this module (package data), read once into `Lexicon`s. A field left out of a language's entry
takes the default below."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

# ---------------------------------------------------------------------------------------------
# Concept order is shared by every language (each list in lexicons.json follows it):
#   subjects: teacher doctor dog cat child farmer mother father girl boy student horse
#   objects:  apple book ball box bag hat chair bread
#   verbs:    saw bought found carried sold took
#   places:   park school home market city river
#   times:    yesterday today morning evening
#   adjectives (on the object): red new
#   extras (information a neutral hypothesis adds): with a friend, for the first time, again,
#           because of the rain, after a long walk, in a hurry
# A subject/object is (text, gender); an object's text marks the adjective slot with "|"
# ("the |apple"); "DEF~|INDEF" gives a separate form for use with an adjective (Bulgarian moves
# the article onto the adjective). An adjective or verb is a str, or a dict keyed by gender.
# Templates use {s} subject, {v} verb, {n} negated verb, {o} object, {p} place, {t} time,
# {x} added phrase.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lexicon:
    subjects: tuple  # 12 x (text, gender)
    objects: tuple  # 8 x (text with "|", gender)
    verbs: tuple  # 6 x str | {gender: str}
    negated: tuple  # 6 x str | {gender: str}
    places: tuple  # 6 x str
    times: tuple  # 4 x str
    adjectives: tuple  # 2 x str | {gender: str}
    templates: tuple  # premise templates; the first is also the hypothesis template
    extras: tuple = ()  # 6 added-information phrases, in the concept order above
    neg_template: str = ""  # hypothesis template with negation; default: first with {v}->{n}
    extra_template: str = ""  # hypothesis template with an added phrase {x}; default: first + {x}
    adjective_first: bool = True  # adjective before the noun (else after)
    agree: str = ""  # verb agrees with "s" (subject) or "o" (object) gender; "" = invariant
    sep: str = " "  # word separator ("" for zh and th)
    end: str = "."  # sentence-final mark


def _frozen(value: Any) -> Any:
    """JSON lists as tuples (the corpus indexes and compares them as such); dicts stay dicts."""
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return {key: _frozen(item) for key, item in value.items()}
    return value


def load_lexicons() -> dict[str, Lexicon]:
    """Every language's lexicon from lexicons.json, in the file's order."""
    text = resources.files("regpt2.demo").joinpath("lexicons.json").read_text(encoding="utf-8")
    return {
        lang: Lexicon(**{name: _frozen(value) for name, value in fields.items()})
        for lang, fields in json.loads(text).items()
    }


LEXICONS: dict[str, Lexicon] = load_lexicons()
