"""Assembling and writing the report: the sections in reading order (a crashing section becomes a
paragraph, unless REGPT2_STRICT_REPORT=1), the findings, then index.html, index.md and the
figures."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from regpt2.core.io import atomic_path, write_text
from regpt2.report.claims import CLAIMS, lora_vs_full_finetuning, settle
from regpt2.report.document import (
    DASH,
    FIGURES_DIR,
    Finding,
    Paragraph,
    Report,
    ReportPaths,
    Section,
)
from regpt2.report.inputs import Context, Inputs
from regpt2.report.sections.fertility import fertility_section
from regpt2.report.sections.findings import findings_section
from regpt2.report.sections.finetune_en import finetune_en_section
from regpt2.report.sections.finetuning import finetuning_section
from regpt2.report.sections.overview import overview_section
from regpt2.report.sections.pretraining import pretraining_section
from regpt2.report.sections.probe import probe_section
from regpt2.report.sections.qwen_lora import qwen_section
from regpt2.report.sections.translation import translation_section
from regpt2.report.sections.zeroshot import zeroshot_section
from regpt2.report.to_html import render_html
from regpt2.report.to_markdown import render_markdown

#: (id, title, builder): each builder fills its section's blocks and status.
SECTIONS: tuple[tuple[str, str, Callable[[Context, Section], None]], ...] = (
    ("pretraining", "1. GPT-2 from scratch: toy pretraining", pretraining_section),
    ("finetune_en", "2. English NLI fine-tuning", finetune_en_section),
    ("zeroshot", "3a. Zero-shot transfer from English", zeroshot_section),
    ("fertility", "3b. Tokenizer fertility and language selection", fertility_section),
    ("finetuning", "3c. Per-language and all-language fine-tuning", finetuning_section),
    ("translation", "4a. Zero-shot translation into English", translation_section),
    ("probe", "4b. Probing: attention entropy and layer similarity", probe_section),
    ("qwen_lora", "4c. A modern multilingual model with LoRA vs GPT-2", qwen_section),
)


def _strict() -> bool:
    """REGPT2_STRICT_REPORT=1 (set by the tests): a crashing section or claim raises."""
    import os

    return os.environ.get("REGPT2_STRICT_REPORT", "") == "1"


def _safe(
    section_id: str, title: str, build: Callable[[Context, Section], None], ctx: Context
) -> Section:
    """Build one section; inputs of an unexpected shape give an "error" section, not a crash
    (unless REGPT2_STRICT_REPORT=1, as in the tests, where the error propagates)."""
    section = Section(section_id, title)
    try:
        build(ctx, section)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        if _strict():
            raise
        message = (
            f"Could not render this section: {type(error).__name__}: {error}. The metrics file "
            "may come from an older version of its stage; rerun it."
        )
        section.blocks, section.status = [Paragraph(message)], "error"
    return section


def assemble_report(
    root: Path | str,
    *,
    profile: str,
    sources: Mapping[str, str],
    settings_vs_study: Sequence[tuple[str, Any, Any]] = (),
) -> Report:
    """Read everything under `root` and build the report's document (no files written).

    `settings_vs_study`: (key, this run's value, the study's value) for each setting that
    differs from the study's (`profile_mismatches` against the paper profile)."""
    ctx = Context(Inputs(Path(root)), profile, dict(sources), tuple(settings_vs_study))
    findings = compute_findings(ctx)
    sections = [overview_section(ctx), findings_section(findings, lora_vs_full_finetuning(ctx))]
    sections += [_safe(*entry, ctx) for entry in SECTIONS]
    title = "Reconstructing GPT-2: cross-lingual NLI, reproduced"
    return Report(title, profile, dict(sources), sections, findings)


def compute_findings(ctx: Context) -> list[Finding]:
    """Check each of the study's claims against this run, then correct across the claims."""
    return settle([_safe_claim(claim, ctx) for claim in CLAIMS])


def _safe_claim(claim: Callable[[Context], Finding], ctx: Context) -> Finding:
    try:
        return claim(ctx)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        if _strict():
            raise
        name = claim.__name__.removeprefix("claim_").replace("_", " ")
        return Finding(name, DASH, f"could not compute: {type(error).__name__}: {error}", "not run")


def build_report(
    root: Path | str,
    out_dir: Path | str,
    *,
    profile: str,
    sources: Mapping[str, str],
    settings_vs_study: Sequence[tuple[str, Any, Any]] = (),
) -> ReportPaths:
    """Build the report from `root` and write index.html, index.md and figures/ to `out_dir`."""
    report = assemble_report(
        root, profile=profile, sources=sources, settings_vs_study=settings_vs_study
    )
    out_dir = Path(out_dir)
    paths = ReportPaths(out_dir / "index.html", out_dir / "index.md", out_dir / FIGURES_DIR)
    with atomic_path(paths.figures) as folder:
        folder.mkdir(parents=True)
        for plot in report.plots():
            (folder / f"{plot.name}.png").write_bytes(plot.png)
    write_text(paths.markdown, render_markdown(report))
    write_text(paths.html, render_html(report))
    return paths
