"""Results snapshots (results/NAME): complete, and holding the profile they claim."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from regpt2.analysis import snapshot
from regpt2.analysis.snapshot import profile_differences, snapshot_problems, take_snapshot
from regpt2.core.errors import UserError
from regpt2.core.languages import XNLI_LANGUAGES
from regpt2.nli.metrics import METRICS_FORMAT
from regpt2.report import assemble_report

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OFFLINE = PROJECT_ROOT / "results" / "offline"


def _yaml(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}


@pytest.fixture
def complete_snapshot(tmp_path) -> Path:
    """A snapshot built from the committed demo run (its metrics cover every stage)."""
    folder = tmp_path / "snap"
    shutil.copytree(PROJECT_ROOT / "metrics", folder / "metrics")
    for name in ("params.yaml", "dvc.lock"):
        shutil.copy2(PROJECT_ROOT / name, folder / name)
    for name in ("README.md", "timings.json", "SNAPSHOT.json"):
        (folder / name).write_text("{}\n", encoding="utf-8")
    return folder


def test_a_complete_snapshot_has_no_problems(complete_snapshot):
    assert snapshot_problems(complete_snapshot) == []


def test_problems_name_what_is_missing(complete_snapshot):
    zeroshot = complete_snapshot / "metrics" / "zeroshot.json"
    data = json.loads(zeroshot.read_text(encoding="utf-8"))
    del data["languages"]["th"]
    zeroshot.write_text(json.dumps(data), encoding="utf-8")
    (complete_snapshot / "metrics" / "finetune_per_lang" / "hi.json").unlink()
    (complete_snapshot / "metrics" / "probe.json").unlink()
    (complete_snapshot / "dvc.lock").unlink()
    problems = snapshot_problems(complete_snapshot)
    assert "dvc.lock is missing" in problems
    assert "metrics/zeroshot.json lacks th" in problems
    assert "metrics/finetune_per_lang/hi.json has no test result" in problems
    assert "metrics/probe.json is missing or empty" in problems


def test_a_metrics_file_of_another_format_is_a_problem(complete_snapshot):
    path = complete_snapshot / "metrics" / "finetune_per_lang" / "es.json"
    (summary,) = json.loads(path.read_text(encoding="utf-8"))["languages"].values()
    path.write_text(json.dumps({"test": summary}), encoding="utf-8")  # metrics format 1
    problems = snapshot_problems(complete_snapshot)
    assert problems[0].startswith("metrics/finetune_per_lang/es.json: metrics format 1 ")
    assert "metrics/finetune_per_lang/es.json has no test result" in problems


def test_profile_differences_name_the_key():
    params = {"zeroshot": {"limit": 300, "split": "test"}, "profile": "offline"}
    assert profile_differences(params, {"zeroshot": {"limit": 300}}) == []
    assert profile_differences(params, {"zeroshot": {"limit": 200}}) == [
        "zeroshot.limit: 300 (profile: 200)"
    ]


@pytest.mark.skipif(not OFFLINE.is_dir(), reason="no results/offline snapshot committed yet")
def test_the_offline_snapshot_is_complete_and_is_the_offline_profile():
    """The study on real data (README): every stage's results, on the offline profile's values."""
    assert snapshot_problems(OFFLINE) == []
    params = _yaml(OFFLINE / "params.yaml")
    assert params["profile"] == "offline"
    assert profile_differences(params, _yaml(PROJECT_ROOT / "profiles" / "offline.yaml")) == []
    source = json.loads((OFFLINE / "SNAPSHOT.json").read_text(encoding="utf-8"))
    assert len(source["commit"]) == 40 and source["profile"] == "offline"
    lora = json.loads((OFFLINE / "metrics" / "qwen_lora.json").read_text(encoding="utf-8"))
    assert sorted(lora["languages"]) == sorted(XNLI_LANGUAGES)
    per_language = sorted(p.stem for p in (OFFLINE / "metrics" / "finetune_per_lang").glob("*"))
    assert per_language == sorted(params["finetune_per_lang"]["languages"])
    assert (OFFLINE / "README.md").read_text(encoding="utf-8").count("stands in for") >= 2
    assert source["metrics_format"] == METRICS_FORMAT


@pytest.mark.skipif(not OFFLINE.is_dir(), reason="no results/offline snapshot committed yet")
def test_the_report_reads_the_offline_snapshot():
    """Its metrics are in this format: every section that needs only metrics renders."""
    params = _yaml(OFFLINE / "params.yaml")
    report = assemble_report(OFFLINE, profile="offline", sources=params["sources"])
    statuses = {section.id: section.status for section in report.sections}
    for section in ("finetune_en", "zeroshot", "finetuning", "qwen_lora"):
        assert statuses[section] == "ok", statuses


# ---------------------------------------------------------------- the snapshot's name


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project two folders down, so that `../../x` still lands inside tmp_path."""
    root = tmp_path / "work" / "project"
    root.mkdir(parents=True)
    for name in ("docs", "results", "metrics", "profiles"):
        shutil.copytree(PROJECT_ROOT / name, root / name)
    for name in ("README.md", "params.yaml", "dvc.yaml", "dvc.lock"):
        shutil.copy2(PROJECT_ROOT / name, root / name)
    return root


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every folder (None) and file (its bytes) under root."""
    return {
        str(path.relative_to(root)): None if path.is_dir() else path.read_bytes()
        for path in sorted(root.rglob("*"))
    }


def _snapshot_command(root: Path, *args: str) -> str:
    """`regpt2 snapshot ARGS` in `root`, which must refuse it; its one error line."""
    completed = subprocess.run(
        [sys.executable, "-m", "regpt2.cli", "snapshot", *args],
        cwd=root,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    (line,) = completed.stderr.splitlines()
    assert line.startswith("error: "), line
    return line


@pytest.mark.parametrize(
    "name", ["..", "../docs", "../../x", "ABSOLUTE", "a/b", "", "~", ".hidden"]
)
def test_a_name_that_is_not_one_folder_is_refused_before_anything(tmp_path, project, name):
    """Refused before the pipeline's state is even looked at (the copy is no DVC project), and
    nothing anywhere changes."""
    name = str(tmp_path / "abs" / "path") if name == "ABSOLUTE" else name
    before = _tree(tmp_path)
    line = _snapshot_command(project, name)
    assert line.startswith(f"error: snapshot name {name!r} is not a plain folder name: ")
    assert "letters, digits" in line and "results/NAME" in line
    assert _tree(tmp_path) == before


def test_an_existing_snapshot_is_kept_without_force(tmp_path, project):
    before = _tree(tmp_path)
    line = _snapshot_command(project, "offline")
    assert line == (
        "error: results/offline exists already; add --force to replace it, or choose another name"
    )
    assert _tree(tmp_path) == before
    # --force gets past that check, to the next one: this copy is no DVC project.
    assert "dvc status" in _snapshot_command(project, "offline", "--force")


def test_force_replaces_only_results_name(tmp_path, monkeypatch):
    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "metrics", root / "metrics")
    for name in ("params.yaml", "dvc.lock"):
        shutil.copy2(PROJECT_ROOT / name, root / name)
    (root / "report").mkdir()
    (root / "report" / "index.md").write_text("# report\n", encoding="utf-8")
    monkeypatch.setattr(snapshot, "_require_up_to_date", lambda root: None)
    monkeypatch.setattr(snapshot, "_commit", lambda root: ("0" * 40, []))
    target = take_snapshot("run", root)
    assert target == root / "results" / "run" and (target / "SNAPSHOT.json").is_file()
    (target / "left-from-before").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="exists already; add --force"):
        take_snapshot("run", root)
    assert (target / "left-from-before").exists()
    take_snapshot("run", root, force=True)
    assert not (target / "left-from-before").exists() and (target / "README.md").is_file()
    assert sorted(path.name for path in (root / "results").iterdir()) == ["run"]
