"""The report's document model: a `Report` is `Section`s of blocks (`Paragraph`, `Table`,
`Plot`, `NotRun`) plus the `Finding`s on the study's claims; both renderers read only these."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DASH = "—"


FIGURES_DIR = "figures"


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text with inline Markdown: `code` and **bold**."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of preformatted cells. Columns whose cells all look numeric are right-aligned;
    `badge_column` names a column whose cells are verdicts, drawn as coloured badges in HTML."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""
    note: str = ""
    badge_column: int | None = None


@dataclass(frozen=True)
class Plot:
    """A figure: PNG bytes, the file stem it gets under figures/, and its caption."""

    name: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class NotRun:
    """A stage whose outputs are missing: the report says so instead of showing numbers."""

    stage: str
    missing: tuple[str, ...]


Block = Paragraph | Table | Plot | NotRun


@dataclass
class Section:
    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    status: str = "ok"  # "ok", "partial" (some inputs missing) or "not run"

    def plots(self) -> list[Plot]:
        return [block for block in self.blocks if isinstance(block, Plot)]


@dataclass(frozen=True)
class Finding:
    """One of the study's claims: the study's own evidence, ours, the models ours compares, and
    the verdict (see `regpt2.analysis.verdicts`). A tested claim carries its p-value and the
    direction it points (+1 for the claim, -1 against) until the correction across claims sets
    `p_corrected` and the verdict."""

    claim: str
    study: str
    ours: str
    verdict: str
    models: str = ""
    p: float | None = None
    direction: int = 0
    p_corrected: float | None = None


# The models the study used, by source role, with the hub ids that are those models.
STUDY_MODELS = {
    "gpt2": ("GPT-2 124M", ("hub:gpt2", "hub:openai-community/gpt2")),
    "qwen": ("Qwen2.5-0.5B", ("hub:Qwen/Qwen2.5-0.5B", "hub:Qwen/Qwen2-0.5B")),
}


def model_name(sources: Mapping[str, str], role: str) -> str:
    """How the report names the model behind `sources[role]` (gpt2 or qwen): the study's name
    when it is the study's model, else the source's own name, marked as a stand-in."""
    study_name, study_sources = STUDY_MODELS[role]
    source = sources.get(role)
    if source in study_sources:
        return study_name
    if source == "data/models/pretrain":
        return "the toy GPT-2 of the pretrain stage"
    if source == "demo":
        return "the demo's tiny Qwen2"
    return f"{_source_name(source)} (for {study_name})"


def _source_name(source: str | None) -> str:
    """A source string as a reader knows it: a file's name, else the string itself."""
    if not source:
        return "an unnamed model"
    if source.startswith(("hub:", "url:")):
        return source.split(":", 1)[1]
    return Path(source).name or source


@dataclass
class Report:
    title: str
    profile: str
    sources: dict[str, str]
    sections: list[Section]
    findings: list[Finding]

    def banner(self) -> tuple[str, str] | None:
        """(kind, text) of the warning shown above everything, or None for the paper profile."""
        demo_sources = sorted(name for name, value in self.sources.items() if value == "demo")
        if self.profile == "demo":
            return "demo", "DEMO PROFILE — synthetic data, toy models; not the study's numbers"
        if demo_sources:
            return "mixed", (
                f"PROFILE {self.profile.upper()} WITH DEMO SOURCES ({', '.join(demo_sources)}) — "
                "these numbers are not comparable to the study's"
            )
        standins = [
            f"{_source_name(self.sources[role])} stands in for {model}"
            for role, (model, study_sources) in STUDY_MODELS.items()
            if self.sources.get(role) not in study_sources
        ]
        if standins:
            return "standin", (
                f"REAL DATA, STAND-IN MODELS ({self.profile} profile): "
                + "; ".join(standins)
                + ". Where the data has no XNLI train split, NLI training uses dev rows held apart "
                "from the dev scores (see params.yaml). The study's numbers stand beside ours for "
                "orientation, not as a replication."
            )
        return None

    def plots(self) -> list[Plot]:
        return [plot for section in self.sections for plot in section.plots()]


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path
    figures: Path


@dataclass(frozen=True)
class Experiment:
    """One row of `dvc exp show`: the finetune_en params and metrics of a run."""

    name: str
    rev: str
    params: Mapping[str, Any]
    metrics: Mapping[str, Any] | None


NUMERIC = re.compile(r"^[+\-−]?\d[\d,]*(\.\d+)?( \[.*\])?%?$")


def numeric_columns(table: Table) -> list[bool]:
    flags = []
    for index in range(len(table.columns)):
        cells = [row[index] for row in table.rows if index < len(row) and row[index] != DASH]
        flags.append(index > 0 and bool(cells) and all(NUMERIC.match(c) for c in cells))
    return flags
