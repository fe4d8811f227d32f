"""Data sources: XNLI in every layout the study's users have, and the pretraining text.

XNLI comes from the Hugging Face Hub (`hub:facebook/xnli`), from a local folder in the original
XNLI-1.0 / XNLI-MT-1.0 layout, from a folder of per-language `{split}-{lang}.tsv` files, or from
the project's synthetic `demo` data. All of them end as lists of `NliExample` with normalised
label names, so nothing downstream knows where the data came from.
"""

from __future__ import annotations

import csv
import random
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from regpt2.core.errors import UserError
from regpt2.core.io import TEXT_ENCODING
from regpt2.core.languages import LABELS, check_language
from regpt2.sources.resolve import (
    Source,
    ensure_hub_reachable,
    existing_path,
    fetch_url,
    hub_endpoint,
    hub_error,
    parse_source,
)

if TYPE_CHECKING:  # pragma: no cover - the settings type only
    from regpt2.config.params import Demo

Split = Literal["train", "dev", "test"]
SPLITS: tuple[str, ...] = ("train", "dev", "test")

# Label spellings across sources, including the Hub's integer ids (0 entailment, 1 neutral,
# 2 contradiction) and XNLI-MT's "contradictory".
_LABEL_ALIASES = {
    "entailment": "entailment",
    "neutral": "neutral",
    "contradiction": "contradiction",
    "contradictory": "contradiction",
    "0": "entailment",
    "1": "neutral",
    "2": "contradiction",
}

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class NliExample:
    premise: str
    hypothesis: str
    label: str  # one of LABELS
    lang: str


@dataclass(frozen=True)
class DemoSizes:
    """Rows per language of the synthetic demo splits."""

    train: int = 3000
    dev: int = 300
    test: int = 600


@dataclass(frozen=True)
class XnliRows:
    """Where a stage's NLI rows come from: the `sources.xnli` string and the demo data's sizes
    (read only while the source is `demo`). Stages build it once from params.yaml."""

    source: str
    demo_sizes: DemoSizes = DemoSizes()

    @classmethod
    def of(cls, source: str, demo: Demo) -> XnliRows:
        """`source` with the demo sizes of params.yaml's `demo` section."""
        return cls(source, DemoSizes(demo.train_rows, demo.dev_rows, demo.test_rows))

    def load(self, lang: str, split: Split, limit: int | None = None) -> list[NliExample]:
        """One language's split; `limit` keeps the first rows."""
        return load_xnli(self.source, lang, split, limit=limit, demo_sizes=self.demo_sizes)


def normalise_label(raw: object, *, where: str) -> str:
    label = _LABEL_ALIASES.get(str(raw).strip().lower())
    if label is None:
        raise UserError(f"{where}: label {raw!r} is not one of {', '.join(LABELS)}")
    return label


def load_xnli(
    source_text: str,
    lang: str,
    split: Split,
    *,
    limit: int | None = None,
    demo_sizes: DemoSizes | None = None,
    role: str = "sources.xnli",
) -> list[NliExample]:
    """Load one language's split from an XNLI source; `limit` keeps the first rows."""
    check_language(lang)
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    source = parse_source(source_text, role=role)
    if source.kind == "demo":
        rows = _demo_rows(lang, split, demo_sizes or DemoSizes())
    elif source.kind == "hub":
        rows = _hub_rows(source, lang, split, role=role, limit=limit)
    elif source.kind == "path":
        rows = _folder_rows(existing_path(source, role=role), lang, split, limit=limit)
    else:
        raise UserError(f"{role}: {source.text!r}: XNLI cannot come from a URL; use a folder")
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise UserError(f"{role}: split {split!r} of language {lang!r} is empty in {source.text}")
    return rows


def _demo_rows(lang: str, split: str, sizes: DemoSizes) -> list[NliExample]:
    from regpt2.demo.corpus import demo_nli_rows

    size = getattr(sizes, split)
    return [
        NliExample(row["premise"], row["hypothesis"], row["label"], lang)
        for row in demo_nli_rows(lang, split, size)
    ]


_HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


def _hub_rows(
    source: Source, lang: str, split: str, *, role: str, limit: int | None
) -> list[NliExample]:
    ensure_hub_reachable(source, role)
    import datasets

    hub_split = _HUB_SPLITS[split]
    if limit is not None:
        hub_split = f"{hub_split}[:{limit}]"
    try:
        table = datasets.load_dataset(source.value, lang, split=hub_split)
    except ValueError as error:  # among others: no such config
        raise _missing_config(source, lang, role) or hub_error(source, role, error) from None
    except Exception as error:  # the hub client raises many types for one cause
        raise hub_error(source, role, error) from None
    where = f"{source.text} {lang}/{split}"
    return [
        NliExample(
            row["premise"], row["hypothesis"], normalise_label(row["label"], where=where), lang
        )
        for row in table
    ]


def _missing_config(source: Source, lang: str, role: str) -> UserError | None:
    """The error for a hub dataset without a config named `lang` (None: it has one)."""
    import datasets

    try:
        configs = datasets.get_dataset_config_names(source.value)
    except Exception:  # the caller reports the original error instead
        return None
    if lang in configs:
        return None
    return UserError(
        f"{role}: {source.value!r} on the Hugging Face Hub ({hub_endpoint()}) has no config "
        f"{lang!r} (it has {', '.join(configs) or 'none'}); an XNLI source needs one config per "
        f"language, as facebook/xnli has, or set {role} to a local folder"
    )


def _folder_rows(folder: Path, lang: str, split: str, *, limit: int | None) -> list[NliExample]:
    per_language = folder / f"{split}-{lang}.tsv"
    if per_language.is_file():
        return _read_tsv(per_language, lang, ("premise", "hypothesis", "label"), limit=limit)
    original = _original_layout_file(folder, lang, split)
    if original is not None:
        path, columns, language_column = original
        return _read_tsv(path, lang, columns, language_column=language_column, limit=limit)
    raise UserError(
        f"no {split} data for {lang!r} in {folder}: expected {split}-{lang}.tsv, or the "
        f"XNLI-1.0 / XNLI-MT-1.0 layout (xnli.{{dev,test}}.tsv, multinli.train.{{lang}}.tsv)"
    )


def _original_layout_file(
    folder: Path, lang: str, split: str
) -> tuple[Path, tuple[str, str, str], str | None] | None:
    """Find the file of the original XNLI distribution, searched from `folder` downwards."""
    if split == "train":
        names = [f"XNLI-MT-1.0/multinli/multinli.train.{lang}.tsv", f"multinli.train.{lang}.tsv"]
        names.append(f"multinli/multinli.train.{lang}.tsv")
        columns = ("premise", "hypo", "label")
        language_column = None
    else:
        names = [f"XNLI-1.0/xnli.{split}.tsv", f"xnli.{split}.tsv"]
        columns = ("sentence1", "sentence2", "gold_label")
        language_column = "language"
    for name in names:
        if (folder / name).is_file():
            return folder / name, columns, language_column
    return None


def _read_tsv(
    path: Path,
    lang: str,
    columns: tuple[str, str, str],
    *,
    language_column: str | None = None,
    limit: int | None = None,
) -> list[NliExample]:
    """Read premise/hypothesis/label columns of a TSV (no quoting: fields may contain `"`).

    Blank lines at the end of the file are ignored; a blank line followed by more rows is
    refused (it usually means two files were pasted together or a row was lost). Labels must
    be words (see `_tsv_label`).
    """
    try:
        return _read_tsv_rows(path, lang, columns, language_column=language_column, limit=limit)
    except UnicodeDecodeError as error:
        raise UserError(_not_utf8_message(path, error)) from None


def _not_utf8_message(path: Path, error: UnicodeDecodeError) -> str:
    """Name the line of the first byte that is not UTF-8 (the decoder only knows a chunk)."""
    raw = path.read_bytes()
    newline = b"\n"
    try:
        raw.decode("utf-8")
        start = None
    except UnicodeDecodeError as full:
        start = full.start
    line = f":{raw.count(newline, 0, start) + 1}" if start is not None else ""
    return (
        f"{path}{line}: not UTF-8 text ({error.reason}); re-save the file as UTF-8 "
        "(e.g. `iconv -f latin1 -t utf-8`)"
    )


def _read_tsv_rows(
    path: Path,
    lang: str,
    columns: tuple[str, str, str],
    *,
    language_column: str | None,
    limit: int | None,
) -> list[NliExample]:
    rows: list[NliExample] = []
    with path.open(encoding=TEXT_ENCODING, newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise UserError(f"{path}: empty file (expected a header row)")
        wanted = list(columns) + ([language_column] if language_column else [])
        missing = [name for name in wanted if name not in header]
        if missing:
            raise UserError(f"{path}: missing column(s) {', '.join(missing)}; header is {header}")
        index = [header.index(name) for name in wanted]
        blank_line: int | None = None
        for line_number, fields in enumerate(reader, start=2):
            if not any(field.strip() for field in fields):
                blank_line = blank_line or line_number
                continue
            if blank_line is not None:
                raise UserError(
                    f"{path}:{blank_line}: blank line before more rows (line {line_number}); "
                    "remove it (only trailing blank lines are allowed)"
                )
            if len(fields) != len(header):
                raise UserError(
                    f"{path}:{line_number}: expected {len(header)} tab-separated fields, "
                    f"found {len(fields)}"
                )
            if language_column and fields[index[3]] != lang:
                continue
            premise, hypothesis, label = (fields[i] for i in index[:3])
            where = f"{path}:{line_number}"
            rows.append(NliExample(premise, hypothesis, _tsv_label(label, where=where), lang))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def _tsv_label(raw: str, *, where: str) -> str:
    """A local TSV's label: a word. Digits are refused, because their meaning differs between
    sources (the Hub: 1 = neutral; the study's prompt: 1 = contradiction)."""
    if raw.strip().isdigit():
        raise UserError(
            f"{where}: label {raw.strip()!r} is a digit; local TSV labels must be words "
            f"({', '.join(LABELS)}), since digits mean different labels in different sources"
        )
    return normalise_label(raw, where=where)


def premise_ids(rows: Sequence[NliExample]) -> list[int]:
    """The index of each row's premise: consecutive rows with the same premise share one (XNLI
    lists each premise with its three hypotheses)."""
    ids: list[int] = []
    for index, row in enumerate(rows):
        same = index > 0 and row.premise == rows[index - 1].premise
        ids.append(ids[-1] if same else (ids[-1] + 1 if ids else 0))
    return ids


def first_row_of_each_premise(rows: Sequence[NliExample], count: int) -> list[int]:
    """Indices of the first row of each of the first `count` premises."""
    ids = premise_ids(rows)
    firsts = [index for index, premise in enumerate(ids) if index == 0 or premise != ids[index - 1]]
    return firsts[:count]


def take_subset(
    rows: Sequence[NliExample], fraction: float, mode: Literal["head", "random"], seed: int
) -> list[NliExample]:
    """The study's `head` subset (first rows) or a seeded random one, of ceil-free size."""
    count = max(1, int(len(rows) * fraction))
    if mode == "head":
        return list(rows[:count])
    picked = sorted(random.Random(seed).sample(range(len(rows)), count))
    return [rows[i] for i in picked]


# ---------------------------------------------------------------------------- pretraining text


def load_pretrain_documents(
    source_text: str,
    *,
    sha256: str = "",
    demo_documents: int = 1200,
    demo_other_language_documents: int = 2,
    role: str = "sources.pretrain_text",
) -> list[str]:
    """One document per non-empty line of the pretraining text. The demo text: `demo_documents`
    English stories, then `demo_other_language_documents` paragraphs per other language."""
    source = parse_source(source_text, role=role)
    if source.kind == "demo":
        from regpt2.demo import corpus

        documents = corpus.demo_pretrain_documents(demo_documents)
        documents += corpus.demo_other_language_documents(demo_other_language_documents)
    else:
        if source.kind == "url":
            path = fetch_url(source.value, sha256, role=role)
        elif source.kind == "path":
            path = existing_path(source, role=role)
            if not path.is_file():
                raise UserError(f"{role}: {path} is not a file (one document per line)")
        else:
            raise UserError(f"{role}: {source.text!r}: the pretraining text is a file or a URL")
        try:
            text = path.read_text(encoding=TEXT_ENCODING)
        except UnicodeDecodeError as error:
            raise UserError(f"{role}: {path} is not UTF-8 text ({error.reason})") from None
        if "\0" in text:
            line = text.count("\n", 0, text.index("\0")) + 1
            raise UserError(
                f"{role}: {path}:{line} holds NUL bytes: it is a binary file, not text; set "
                f"{role} to a UTF-8 text file with one document per line"
            )
        documents = [line.strip() for line in text.splitlines()]
    documents = [document for document in documents if document]
    if not documents:
        raise UserError(f"{role}: {source.text} holds no text (no non-empty line)")
    return documents


def split_documents(
    documents: Sequence[str],
    validation_fraction: float,
    seed: int,
    *,
    role: str = "sources.pretrain_text",
) -> tuple[list[str], list[str]]:
    """Seeded train/held-out split of documents (at least one document on each side)."""
    if len(documents) < 2:
        raise UserError(
            f"{role}: the pretraining text needs at least 2 documents (non-empty lines) to hold "
            "one out"
        )
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    held_out = min(len(documents) - 1, max(1, round(len(documents) * validation_fraction)))
    validation = sorted(order[:held_out])
    train = sorted(order[held_out:])
    return [documents[i] for i in train], [documents[i] for i in validation]


def texts_of(rows: Iterable[NliExample]) -> list[str]:
    """Premises and hypotheses as separate strings (what fertility counts)."""
    texts: list[str] = []
    for row in rows:
        texts.extend((row.premise, row.hypothesis))
    return texts
