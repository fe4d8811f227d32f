"""Results snapshots (results/NAME): complete, and holding the profile they claim."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from regpt2.analysis.snapshot import profile_differences, snapshot_problems
from regpt2.core.languages import XNLI_LANGUAGES

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
