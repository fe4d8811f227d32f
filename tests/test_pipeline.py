"""End to end: `dvc repro` of the demo profile in a temporary copy of the project, then the
things users do with it (a `dvc exp run -S` variant, `dvc metrics diff`, precise reruns).

Minutes, not seconds: the whole study runs once per test session (module-scoped fixture).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
PROJECT_ROOT = Path(__file__).resolve().parents[1]

STAGE_METRICS = [
    "tokenize.json",
    "pretrain.json",
    "finetune_en.json",
    "zeroshot.json",
    "fertility.json",
    "selection.json",
    "finetune_all.json",
    "translate.json",
    "probe.json",
    "qwen_lora.json",
]


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-3000:]}"
        )
    return result


def project_files() -> list[str]:
    """The files a fresh clone would have: tracked plus untracked-but-not-ignored."""
    listing = run(["git", "ls-files", "-co", "--exclude-standard"], PROJECT_ROOT).stdout
    return [name for name in listing.splitlines() if (PROJECT_ROOT / name).is_file()]


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A committed copy of the project with the demo pipeline reproduced."""
    root = tmp_path_factory.mktemp("regpt2") / "project"
    for name in project_files():
        if name.startswith(("metrics/", "report/")) or name == "dvc.lock":
            continue  # start from nothing: the run must produce them itself
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, target)
    run(["git", "init", "-q"], root)
    run(["git", "config", "user.email", "ci@example.com"], root)
    run(["git", "config", "user.name", "CI"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "copy"], root)
    run(["dvc", "repro"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "demo run"], root)
    return root


def test_repro_writes_every_stage_metrics(project: Path):
    for name in STAGE_METRICS:
        assert (project / "metrics" / name).is_file(), name
    per_language = sorted((project / "metrics" / "finetune_per_lang").glob("*.json"))
    assert {path.stem for path in per_language} == {"es", "fr", "de", "bg", "ar", "el", "hi"}
    assert (project / "report" / "index.html").is_file()
    status = run(["dvc", "status", "--json"], project).stdout
    assert json.loads(status) == {}


def test_demo_numbers_are_sane(project: Path):
    pretrain = json.loads((project / "metrics" / "pretrain.json").read_text())
    # The study's figure counts padding positions, which are easy targets: it is lower.
    assert pretrain["study_global_avg_train_loss"] < pretrain["train_loss_real_tokens"]
    finetune = json.loads((project / "metrics" / "finetune_en.json").read_text())
    low, high = finetune["test"]["strict_ci95_low"], finetune["test"]["strict_ci95_high"]
    assert low <= finetune["test"]["strict_accuracy"] <= high
    assert finetune["test"]["strict_accuracy"] > 40  # the synthetic task is learnable
    zeroshot = json.loads((project / "metrics" / "zeroshot.json").read_text())["languages"]
    assert len(zeroshot) == 15


def test_repro_is_deterministic(project: Path):
    """Rerunning a stage from scratch gives identical metrics (seeded, CPU)."""
    before = (project / "metrics" / "finetune_en.json").read_text()
    run(["dvc", "repro", "--force", "--single-item", "finetune_en"], project)
    assert (project / "metrics" / "finetune_en.json").read_text() == before
    run(["git", "checkout", "--", "."], project)


def test_param_change_reruns_only_dependants(project: Path):
    from ruamel.yaml import YAML

    params = project / "params.yaml"
    original = params.read_text()
    yaml = YAML()
    document = yaml.load(original)
    document["zeroshot"]["limit"] = 50
    try:
        with params.open("w") as handle:
            yaml.dump(document, handle)
        status = json.loads(run(["dvc", "status", "--json"], project).stdout)
        assert "zeroshot" in status
        for upstream in ("tokenize", "pretrain", "finetune_en"):
            assert upstream not in status
    finally:
        params.write_text(original)


def test_experiment_variant_shows_in_metrics_diff(project: Path):
    run(["dvc", "exp", "run", "-S", "finetune_en.lr=0.0003", "finetune_en"], project)
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], project).stdout)
    changed = diff.get("metrics/finetune_en.json", {})
    assert changed, diff
    assert any(entry.get("diff") not in (0, None) for entry in changed.values())
    shown = run(["dvc", "exp", "show", "--json"], project).stdout
    assert "0.0003" in shown
    run(["git", "checkout", "--", "."], project)
    run(["dvc", "checkout", "--force"], project)


def test_queued_variants_run_in_parallel(project: Path):
    """`dvc exp run --queue` + `dvc queue start -j 2`: both variants appear with metrics."""
    for name, lr in (("q-lr3e-4", "0.0003"), ("q-lr3e-3", "0.003")):
        run(
            [
                "dvc",
                "exp",
                "run",
                "--queue",
                "-n",
                name,
                "-S",
                f"finetune_en.lr={lr}",
                "finetune_en",
            ],
            project,
        )
    run(["dvc", "queue", "start", "-j", "2"], project)
    run(["dvc", "queue", "status"], project)
    # `dvc exp run --run-all` would block; wait for the workers instead.
    deadline = time.time() + 900
    while time.time() < deadline:
        status = run(["dvc", "queue", "status"], project).stdout
        if "Running" not in status and "Queued" not in status:
            break
        time.sleep(5)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], project).stdout)
    text = json.dumps(shown)
    for name in ("q-lr3e-4", "q-lr3e-3"):
        assert name in text, status
    assert "strict_accuracy" in text


def test_remote_push_then_pull_elsewhere_needs_no_rerun(project: Path, tmp_path: Path):
    """Outputs pushed to a local-folder remote come back in a fresh clone with `dvc pull`."""
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "-f", "shared", str(remote)], project)
    run(["git", "add", ".dvc/config"], project)
    run(["git", "commit", "-qm", "remote"], project)
    run(["dvc", "push"], project)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    run(["dvc", "pull"], clone)
    assert json.loads(run(["dvc", "status", "--json"], clone).stdout) == {}
    for name in ("finetune_en.json", "zeroshot.json"):
        assert (clone / "metrics" / name).read_text() == (project / "metrics" / name).read_text()
    assert (clone / "data" / "models" / "finetune_en" / "model.safetensors").is_file()
