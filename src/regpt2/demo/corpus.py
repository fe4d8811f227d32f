"""Deterministic synthetic data for the offline `demo` profile.

Generators, all pure functions of their arguments (no global RNG, no salted `hash()`):

- `demo_nli_rows(lang, split, size, seed)`: a 15-way parallel NLI corpus in the XNLI languages,
  written in their real scripts with real words from a small hand-made lexicon per language.
  Row i of a split is the same abstract row (concepts + label) in every language, rendered with
  that language's words and word order. The label is recoverable from the words, with the
  hypothesis-side cues annotators leave in real NLI (Gururangan et al. 2018): an entailed
  hypothesis restates (a shorter version of) the premise's subject, verb and object; a
  contradiction negates that restatement; most neutral hypotheses restate it and add information
  the premise does not give ("... with a friend", "... because of the rain"), the rest talk about
  another subject/object/action (sometimes negated, sometimes sharing one or two words with the
  premise). A negation cue plus an added-phrase cue is a strong but imperfect rule; the swapped
  neutrals need the premise.
- `demo_pretrain_documents(n, seed)`: English-only short stories, one document per line, built
  from a larger English vocabulary that contains every English NLI word and phrase.
- `demo_other_language_documents(per_language, seed)`: a few short paragraphs in each of the 14
  other languages (`demo_other_language_sentences`), the demo's stand-in for the non-English
  residue of GPT-2's WebText.

Rows are prefix-stable: the first k rows of `size=n` equal the rows of `size=k`.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, replace
from functools import lru_cache

from regpt2.core.errors import UserError
from regpt2.core.languages import LABELS, XNLI_LANGUAGES, check_language
from regpt2.demo.lexicon import LEXICONS, Lexicon

__all__ = [
    "SPLITS",
    "demo_languages",
    "demo_nli_rows",
    "demo_other_language_documents",
    "demo_other_language_sentences",
    "demo_pretrain_documents",
]

SPLITS: tuple[str, ...] = ("train", "dev", "test")

N_SUBJECTS, N_OBJECTS, N_VERBS, N_PLACES, N_TIMES, N_ADJECTIVES = 12, 8, 6, 6, 4, 2
N_EXTRAS = 6
# Share of neutral hypotheses that restate the premise and add new information (the rest swap
# entities, the harder kind that needs comparing hypothesis and premise).
ADDED_INFORMATION_SHARE = 0.7


def demo_languages() -> tuple[str, ...]:
    """The 15 XNLI languages the demo corpus covers, in XNLI order."""
    return tuple(XNLI_LANGUAGES)


# ---------------------------------------------------------------------------------------------
# Abstract rows
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    label: str
    subject: int
    verb: int
    obj: int
    place: int
    time: int  # -1: none
    adjective: int  # -1: none
    order: int  # premise template index (mod the language's template count)
    h_subject: int
    h_verb: int
    h_obj: int
    h_adjective: int  # -1: none
    h_negated: bool
    h_place: bool
    h_time: bool
    h_extra: int = -1  # added-information phrase; -1: none


def _stable_seed(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _pick(rng: random.Random, n: int) -> int:
    # Only rng.random() is used: its stream is fixed for a given seed on every platform.
    return min(int(rng.random() * n), n - 1)


def _other(rng: random.Random, n: int, avoid: int) -> int:
    return (avoid + 1 + _pick(rng, n - 1)) % n


def _abstract_row(rng: random.Random, label: str) -> _Row:
    subject, verb, obj = _pick(rng, N_SUBJECTS), _pick(rng, N_VERBS), _pick(rng, N_OBJECTS)
    place = _pick(rng, N_PLACES)
    time = _pick(rng, N_TIMES) if rng.random() < 0.6 else -1
    adjective = _pick(rng, N_ADJECTIVES) if rng.random() < 0.4 else -1
    order = _pick(rng, 6)
    extra = rng.random()
    h_place = extra < 0.3
    h_time = 0.3 <= extra < 0.5 and time >= 0
    h_subject, h_verb, h_obj = subject, verb, obj
    h_adjective = adjective if adjective >= 0 and rng.random() < 0.5 else -1
    h_negated = label == "contradiction"
    h_extra = -1
    if label == "neutral" and rng.random() < ADDED_INFORMATION_SHARE:
        # A restatement that adds what the premise does not say (a companion, a cause, a
        # repetition, a manner): the commonest kind of neutral hypothesis annotators write.
        h_extra = _pick(rng, N_EXTRAS)
    elif label == "neutral":
        kind = _pick(rng, 4)
        if kind == 0:  # someone else did the same thing to something else
            h_subject, h_obj = _other(rng, N_SUBJECTS, subject), _other(rng, N_OBJECTS, obj)
        elif kind == 1:  # the same subject did something else to something else
            h_verb, h_obj = _other(rng, N_VERBS, verb), _other(rng, N_OBJECTS, obj)
        elif kind == 2:  # someone else did something else to the same object
            h_subject, h_verb = _other(rng, N_SUBJECTS, subject), _other(rng, N_VERBS, verb)
        else:  # the same subject did something else to the same object
            h_verb = _other(rng, N_VERBS, verb)
        if h_obj != obj:
            h_adjective = _pick(rng, N_ADJECTIVES) if rng.random() < 0.25 else -1
        h_negated = kind != 3 and rng.random() < 0.3
    return _Row(
        label, subject, verb, obj, place, time, adjective, order,
        h_subject, h_verb, h_obj, h_adjective, h_negated, h_place, h_time, h_extra,
    )  # fmt: skip


@lru_cache(maxsize=16)
def _abstract_rows(split: str, size: int, seed: int) -> tuple[_Row, ...]:
    rng = random.Random(_stable_seed("regpt2-demo-nli", split, seed))
    rows: list[_Row] = []
    while len(rows) < size:
        labels = list(LABELS)  # each block of 3 rows holds every label once, in random order
        for i in (2, 1):
            j = _pick(rng, i + 1)
            labels[i], labels[j] = labels[j], labels[i]
        for label in labels:
            if len(rows) < size:
                rows.append(_abstract_row(rng, label))
    return tuple(rows)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _form(entry: str | dict, gender: str) -> str:
    return entry[gender] if isinstance(entry, dict) else entry


def _object(lex: Lexicon, index: int, adjective: int) -> str:
    text, gender = lex.objects[index]
    plain, _, with_adjective = text.partition("~")
    if adjective < 0:
        return plain.replace("|", "")
    slot = with_adjective or plain
    word = _form(lex.adjectives[adjective], gender)
    filler = word + lex.sep if lex.adjective_first else lex.sep + word
    return slot.replace("|", filler)


def _sentence(lex: Lexicon, template: str, slots: dict[str, str], lang: str) -> str:
    text = template.format(**slots)
    if lex.sep:
        text = " ".join(text.split())
    first = text[:1]
    first = "İ" if lang == "tr" and first == "i" else first.upper()
    return first + text[1:] + lex.end


def _premise_template(lex: Lexicon, row: _Row) -> str:
    template = lex.templates[row.order % len(lex.templates)]
    if row.time < 0 and template.startswith("{t}"):
        return lex.templates[0]  # a fronted time slot left empty would break the word order
    return template


def _render(lex: Lexicon, row: _Row, lang: str) -> tuple[str, str]:
    subject, s_gender = lex.subjects[row.subject]
    key = s_gender if lex.agree == "s" else lex.objects[row.obj][1]
    premise = _sentence(
        lex,
        _premise_template(lex, row),
        {
            "s": subject,
            "v": _form(lex.verbs[row.verb], key),
            "o": _object(lex, row.obj, row.adjective),
            "p": lex.places[row.place],
            "t": lex.times[row.time] if row.time >= 0 else "",
        },
        lang,
    )
    h_subject, h_gender = lex.subjects[row.h_subject]
    h_key = h_gender if lex.agree == "s" else lex.objects[row.h_obj][1]
    table = lex.negated if row.h_negated else lex.verbs
    verb = _form(table[row.h_verb], h_key)
    if row.h_negated:
        template = lex.neg_template or lex.templates[0].replace("{v}", "{n}")
    elif row.h_extra >= 0:
        template = lex.extra_template or lex.templates[0] + lex.sep + "{x}"
    else:
        template = lex.templates[0]
    hypothesis = _sentence(
        lex,
        template,
        {
            "s": h_subject,
            "v": verb,
            "n": verb,
            "o": _object(lex, row.h_obj, row.h_adjective),
            "p": lex.places[row.place] if row.h_place else "",
            "t": lex.times[row.time] if row.h_time else "",
            "x": lex.extras[row.h_extra] if row.h_extra >= 0 else "",
        },
        lang,
    )
    return premise, hypothesis


def demo_nli_rows(lang: str, split: str, size: int, seed: int = 0) -> list[dict]:
    """`size` synthetic NLI rows {premise, hypothesis, label} in `lang`.

    Row i is the same abstract example in every language (a parallel corpus); splits and seeds
    are independent draws; each block of three consecutive rows holds each label once.
    """
    check_language(lang)
    if split not in SPLITS:
        raise UserError(f"unknown demo split {split!r}; use one of: {', '.join(SPLITS)}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise UserError(f"demo NLI size must be a non-negative integer, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"demo seed must be an integer, got {seed!r}")
    lex = LEXICONS[lang]
    rows = []
    for row in _abstract_rows(split, size, seed):
        premise, hypothesis = _render(lex, row, lang)
        rows.append({"premise": premise, "hypothesis": hypothesis, "label": row.label})
    return rows


# ---------------------------------------------------------------------------------------------
# English pretraining documents
# ---------------------------------------------------------------------------------------------

_EN = LEXICONS["en"]
_CHARACTERS: tuple[tuple[str, str], ...] = tuple(
    zip((s for s, _ in _EN.subjects), ("he", "she", "it", "it", "it", "he",
                                       "she", "he", "she", "he", "she", "it"), strict=True)
) + (
    ("the baker", "she"), ("the old man", "he"), ("the young woman", "she"),
    ("the sailor", "he"), ("the king", "he"), ("the queen", "she"), ("the bird", "it"),
    ("the fox", "it"), ("the rabbit", "it"), ("the nurse", "she"), ("the driver", "he"),
    ("the painter", "he"), ("the singer", "he"), ("the soldier", "she"), ("the neighbor", "he"),
    ("the cook", "he"), ("Anna", "she"), ("Tom", "he"), ("Maria", "she"), ("Sam", "he"),
    ("Lena", "she"), ("Omar", "he"), ("Mei", "she"), ("Ravi", "he"),
)  # fmt: skip
_THINGS: tuple[str, ...] = tuple(o.replace("the |", "") for o, _ in _EN.objects) + (
    "cup", "lamp", "key", "coat", "basket", "flower", "stone", "rope", "letter", "map",
    "coin", "knife", "bottle", "blanket", "candle", "shoe", "window", "door", "boat", "song",
)  # fmt: skip
_ADJECTIVES: tuple[str, ...] = tuple(_EN.adjectives) + (
    "big", "old", "small", "blue", "green", "heavy", "soft", "bright", "warm", "cold",
    "broken", "wooden", "clean", "dirty", "strange", "beautiful",
)  # fmt: skip
# (past, base)
_TRANSITIVE: tuple[tuple[str, str], ...] = tuple(
    zip(_EN.verbs, [v.removeprefix("did not ") for v in _EN.negated], strict=True)
) + (
    ("opened", "open"), ("closed", "close"), ("cleaned", "clean"), ("painted", "paint"),
    ("lost", "lose"), ("kept", "keep"), ("brought", "bring"), ("dropped", "drop"),
    ("held", "hold"), ("made", "make"), ("fixed", "fix"), ("washed", "wash"),
    ("watched", "watch"), ("wanted", "want"),
)  # fmt: skip
_INTRANSITIVE: tuple[str, ...] = (
    "walked", "ran", "slept", "laughed", "waited", "sang", "rested", "smiled", "worked",
    "played", "stayed", "danced", "sat", "cried",
)  # fmt: skip
_PLACES: tuple[str, ...] = tuple(_EN.places) + (
    "in the forest", "on the hill", "at the station", "in the garden", "at the library",
    "near the bridge", "in the kitchen", "at the beach", "in the village", "on the road",
)  # fmt: skip
_TIMES: tuple[str, ...] = tuple(_EN.times) + (
    "at night", "last week", "on Monday", "after lunch", "before dinner", "every day",
    "later", "at noon",
)  # fmt: skip
# Circumstances a sentence can add (the NLI neutral phrases among them).
_EXTRAS: tuple[str, ...] = tuple(_EN.extras) + (
    "with a smile", "for a long time", "because of the noise", "after a short rest",
    "with great care", "for the second time", "in the dark", "with a neighbor",
)  # fmt: skip
_FEELINGS: tuple[str, ...] = (
    "happy", "tired", "hungry", "sad", "angry", "calm", "surprised", "proud", "afraid",
    "busy",
)  # fmt: skip
_OPENINGS = (
    "One day, {P} {vi} {place}.",
    "{P} lived {place} with {O}.",
    "{Time}, {P} {vt} a {adj} {thing} {place}.",
    "This is a story about {P} and a {thing}.",
)
_MIDDLES = (
    "{P} {vt} the {adj} {thing} {place}.",
    "{Time}, {pr} {vi} {place}.",
    "{Pr} was {feel} because {pr} did not {vb} the {thing}.",
    "Then {pr} {vt} the {thing} and {vt2} the {thing2}.",
    "{P} gave the {thing} to {O}.",
    "{O} {vt} the {adj} {thing} {time}.",
    "The {thing} was {adj}, so {pr} {vt} it.",
    "{P} did not {vb} the {thing} {time}.",
    "{Pr} {vi} {place} with {O}.",
    "After that, {pr} {vi} and {vi2}.",
    "{O} said that the {thing} was very {adj}.",
    "{Pr} {vt} a {thing} {place} {time}.",
    "{O} was {feel}, but {pr} {vi} {place}.",
    "{Pr} wanted to {vb} the {adj} {thing}.",
    "{P} {vt} the {thing} {extra}.",
    "{Extra}, {pr} {vi} {place}.",
)
_ENDINGS = (
    "In the end, {pr} {vi} {place}.",
    "{Time}, {P} was {feel} again.",
    "That was the last time {pr} saw the {thing}.",
)


_ARTICLE_AN = re.compile(r"\b([Aa]) ([aeiou])")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _document(rng: random.Random) -> str:
    character, pronoun = _CHARACTERS[_pick(rng, len(_CHARACTERS))]

    def choose(options: tuple) -> object:
        return options[_pick(rng, len(options))]

    def fill(template: str, first: bool) -> str:
        other = _CHARACTERS[_pick(rng, len(_CHARACTERS))][0]
        verb, base = choose(_TRANSITIVE)
        time = choose(_TIMES)
        extra = choose(_EXTRAS)
        # Start with the character's name; later sentences mostly use the pronoun.
        subject = character if first or rng.random() < 0.3 else pronoun
        text = template.format(
            P=subject,
            Pr=pronoun,
            pr=pronoun,
            O=other,
            vt=verb,
            vb=base,
            vt2=choose(_TRANSITIVE)[0],
            vi=choose(_INTRANSITIVE),
            vi2=choose(_INTRANSITIVE),
            thing=choose(_THINGS),
            thing2=choose(_THINGS),
            adj=choose(_ADJECTIVES),
            feel=choose(_FEELINGS),
            place=choose(_PLACES),
            time=time,
            Time=_cap(time),
            extra=extra,
            Extra=_cap(extra),
        )
        return _cap(text)

    sentences = [fill(choose(_OPENINGS), first=True)]
    for _ in range(6 + _pick(rng, 9)):
        sentences.append(fill(choose(_MIDDLES), first=False))
    if rng.random() < 0.7:
        sentences.append(fill(choose(_ENDINGS), first=False))
    return _ARTICLE_AN.sub(r"\1n \2", " ".join(sentences))


def demo_pretrain_documents(n_documents: int, seed: int = 0) -> list[str]:
    """`n_documents` English synthetic stories (one line each, ~60-120 words on average)."""
    if isinstance(n_documents, bool) or not isinstance(n_documents, int) or n_documents < 0:
        raise UserError(f"demo document count must be a non-negative integer, got {n_documents!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"demo seed must be an integer, got {seed!r}")
    rng = random.Random(_stable_seed("regpt2-demo-pretrain", seed))
    return [_document(rng) for _ in range(n_documents)]


# Sentences per non-English pretraining document: a short paragraph.
_SENTENCES_PER_DOCUMENT = 6
# The paragraphs are another draw than the NLI splits (seed 0), and skip every premise content
# that the dev or test split holds up to the real XNLI's sizes, so pretraining never reads a
# sentence that picks or scores a checkpoint (demo splits larger than XNLI's are not covered).
# A train premise can recur: harmless, fine-tuning reads it anyway. No hypothesis, no label:
# every paragraph sentence says a place and a time, which no hypothesis does (a premise without
# a time can read exactly as a hypothesis that restates it with the place).
_OTHER_LANGUAGE_SEED = 7
_EVALUATION_SPLIT_SIZES = {"dev": 2490, "test": 5010}


def _premise_content(row: _Row) -> tuple[int, ...]:
    """What a premise says (its word order left out, so equal contents count as equal)."""
    return (row.subject, row.verb, row.obj, row.place, row.time, row.adjective)


@lru_cache(maxsize=1)
def _evaluation_premises() -> frozenset[tuple[int, ...]]:
    return frozenset(
        _premise_content(row)
        for split, size in _EVALUATION_SPLIT_SIZES.items()
        for row in _abstract_rows(split, size, 0)
    )


def _paragraph_rows(count: int, seed: int) -> list[_Row]:
    """The first `count` rows of a train-split draw whose premise has a time and is no
    evaluation row's."""
    size = count
    while True:
        rows = [
            row
            for row in _abstract_rows("train", size, seed)
            if row.time >= 0 and _premise_content(row) not in _evaluation_premises()
        ]
        if len(rows) >= count:
            return rows[:count]
        size = 2 * size + _SENTENCES_PER_DOCUMENT


def _paragraph_sentence(lang: str, row: _Row, index: int) -> str:
    """Sentence `index` of the paragraphs: the row's premise, every second one negated. Real
    text in any language negates (WebText's residue too); without it, a negation word that
    English lacks (es "no", el "δεν", ar "لم") reaches fine-tuning as a token pretraining never
    trained, and the per-language models learn the negation cue only by luck of the seed
    (issue 34)."""
    lex = LEXICONS[lang]
    if index % 2 == 0:
        return _render(lex, row, lang)[0]
    negated = replace(
        row,
        h_subject=row.subject,
        h_verb=row.verb,
        h_obj=row.obj,
        h_adjective=row.adjective,
        h_negated=True,
        h_place=True,
        h_time=True,
        h_extra=-1,
    )
    return _render(lex, negated, lang)[1]


def demo_other_language_sentences(
    count: int, seed: int = _OTHER_LANGUAGE_SEED
) -> dict[str, list[str]]:
    """`count` demo sentences per non-English XNLI language (premises, every second negated),
    the same statements in each (see `demo_other_language_documents`), none of them a dev or
    test sentence."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UserError(f"demo sentence count must be a non-negative integer, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"demo seed must be an integer, got {seed!r}")
    rows = _paragraph_rows(count, seed)
    return {
        lang: [_paragraph_sentence(lang, row, index) for index, row in enumerate(rows)]
        for lang in demo_languages()
        if lang != "en"
    }


def demo_other_language_documents(per_language: int, seed: int = _OTHER_LANGUAGE_SEED) -> list[str]:
    """`per_language` paragraphs of demo sentences in each non-English XNLI language (XNLI order).

    GPT-2's WebText was filtered to English but kept some text in other languages, so its BPE
    has merges in every script. With English-only stories the demo BPE spells Greek, Cyrillic,
    Arabic and Devanagari byte by byte (10-12 tokens a word), and the 2-layer demo model then
    fine-tunes on them only by luck of the seed (issue 13). Two paragraphs per language (about
    2% of the pretraining tokens) give the study's ordering of fertility (English < Latin
    scripts < the others < Thai, Chinese) at lengths a demo model learns from.
    """
    if isinstance(per_language, bool) or not isinstance(per_language, int) or per_language < 0:
        raise UserError(
            f"demo documents per language must be a non-negative integer, got {per_language!r}"
        )
    sentences = demo_other_language_sentences(per_language * _SENTENCES_PER_DOCUMENT, seed)
    return [
        " ".join(premises[start : start + _SENTENCES_PER_DOCUMENT])
        for premises in sentences.values()
        for start in range(0, len(premises), _SENTENCES_PER_DOCUMENT)
    ]
