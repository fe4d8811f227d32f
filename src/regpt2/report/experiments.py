"""The `dvc exp` variants of English fine-tuning: read from `dvc exp show --json`, shown as a table
(`regpt2 experiments`, and the report's English section when given)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from regpt2.core.errors import UserError
from regpt2.nli.metrics import Summary, evaluation_languages
from regpt2.report.document import DASH, Block, Experiment, Paragraph
from regpt2.report.formatting import accuracy_ci, fmt, make_table
from regpt2.report.to_markdown import markdown_block

EXPERIMENT_PARAMS = ("lr", "batch_size", "grad_accum", "epochs", "weight_decay")


def experiments_blocks(experiments: list[Experiment] | None) -> list[Block]:
    if experiments is None:
        return [Paragraph("Experiments: `dvc exp show` did not run (is this a DVC project?).")]
    if not experiments:
        return [Paragraph("Experiments: `dvc exp show` listed no runs.")]
    reference = experiments[0].params
    rows = []
    for exp in experiments:
        metrics = exp.metrics or {}
        changed = [
            f"{key}={value}"
            for key, value in exp.params.items()
            if key in reference and reference[key] != value
        ]
        rows.append(
            (
                f"`{exp.name}`",
                *(
                    fmt(exp.params.get(key), 6) if key == "lr" else fmt(exp.params.get(key))
                    for key in EXPERIMENT_PARAMS
                ),
                accuracy_ci(metrics.get("dev")),
                accuracy_ci(metrics.get("test")),
                fmt(metrics.get("train_loss"), 4),
                ", ".join(changed) or DASH,
            )
        )
    blocks: list[Block] = [
        make_table(
            (
                "Run",
                "lr",
                "Batch",
                "Accum.",
                "Epochs",
                "Weight decay",
                "Dev [95% CI]",
                "Test [95% CI]",
                "Train loss",
                "Changed vs first row",
            ),
            rows,
            caption="English fine-tuning runs from `dvc exp show` (workspace, commit, experiments)",
        )
    ]
    if len(experiments) <= 2:
        blocks.append(
            Paragraph(
                "No `dvc exp` variants found. Run the study's variants with "
                "`dvc exp run -S finetune_en.training.lr=1e-4` (and `=1e-5`, "
                "`-S finetune_en.training.batch_size=8`)."
            )
        )
    return blocks


def parse_exp_show(entries: Any) -> list[Experiment]:
    """The runs in `dvc exp show --json` output: workspace, commits, and their experiments."""
    runs: list[Experiment] = []

    def visit(entry: Mapping[str, Any]) -> None:
        data = entry.get("data") or {}
        params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
        metrics = data.get("metrics") or {}

        def read(path: str) -> dict:
            return (metrics.get(path) or {}).get("data") or {}

        training, scores = (
            read("metrics/training/finetune_en.json"),
            read("metrics/finetune_en.json"),
        )
        combined = None
        if training or scores:
            best_dev = training.get("best_dev_strict_accuracy")
            combined = {
                "dev": {"strict_accuracy": best_dev},
                "test": _test_scores(scores),
                "train_loss": training.get("train_loss"),
            }
        rev = str(entry.get("rev") or "")
        name = entry.get("name") or (rev if rev == "workspace" else rev[:7])
        training_params = (params.get("finetune_en") or {}).get("training") or {}
        runs.append(Experiment(str(name), rev, dict(training_params), combined))

    for entry in entries if isinstance(entries, list) else []:
        visit(entry)
        for group in entry.get("experiments") or []:
            for rev in group.get("revs") or []:
                visit(rev)
    return runs


def _test_scores(data: Mapping[str, Any]) -> Summary | None:
    """The English test scores in metrics/finetune_en.json as `dvc exp show` read it; None for a
    run from before metrics format 2, which `dvc exp show --all-commits` may list."""
    try:
        languages = evaluation_languages(data, "metrics/finetune_en.json") if data else {}
    except UserError:
        return None
    return next(iter(languages.values()), None)  # its one language, finetune_en.language


def experiments_markdown(experiments: list[Experiment] | None) -> str:
    """The English fine-tuning runs of `dvc exp show` as Markdown (`regpt2 experiments`)."""
    return "\n\n".join(markdown_block(block) for block in experiments_blocks(experiments)) + "\n"


def experiments_from_dvc(cwd: Path | str = ".", timeout: float = 120.0) -> list[Experiment] | None:
    """`dvc exp show --json` in `cwd`, parsed; None when DVC is unavailable or fails."""
    command = [sys.executable, "-m", "dvc", "exp", "show", "--json"]
    try:
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        return parse_exp_show(json.loads(result.stdout))
    except (json.JSONDecodeError, AttributeError, TypeError):
        return None
