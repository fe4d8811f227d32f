"""Profiles rewrite only their keys of params.yaml, keep comments, and switch back exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from regpt2.config.params import load_params
from regpt2.config.profiles import apply_profile
from regpt2.core.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    shutil.copy(PROJECT_ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(PROJECT_ROOT / "profiles", tmp_path / "profiles")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _keys(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        if isinstance(value, dict):
            keys |= _keys(value, f"{prefix}{key}.")
        else:
            keys.add(f"{prefix}{key}")
    return keys


def _profile(name: str) -> dict:
    return YAML(typ="safe").load((PROJECT_ROOT / "profiles" / f"{name}.yaml").read_text()) or {}


PROFILES = sorted(path.stem for path in (PROJECT_ROOT / "profiles").glob("*.yaml"))


def test_paper_then_demo_restores_params_byte_for_byte(project: Path):
    params_file = project / "params.yaml"
    committed = params_file.read_bytes()
    apply_profile("demo", project)  # start from the demo values, whatever the checkout holds
    original = params_file.read_bytes()
    if load_params(PROJECT_ROOT / "params.yaml").profile == "demo":
        assert original == committed  # applying the active profile is a no-op
    assert b"# Every knob of the study." in original

    apply_profile("paper", project)
    paper = params_file.read_bytes()
    assert paper != original
    params = load_params(params_file)
    assert params.profile == "paper"
    assert params.sources.gpt2 == "hub:gpt2"
    assert params.finetune_en.training.lr == pytest.approx(5e-5)
    # Comments and untouched keys stay as they were.
    assert paper.count(b"#") == original.count(b"#")
    committed_params = load_params(PROJECT_ROOT / "params.yaml")
    assert params.translate.templates == committed_params.translate.templates

    apply_profile("demo", project)
    assert params_file.read_bytes() == original
    assert load_params(params_file).profile == "demo"


@pytest.mark.parametrize("name", [name for name in PROFILES if name != "demo"])
def test_every_profile_then_demo_restores_params(project: Path, name: str):
    apply_profile("demo", project)
    original = (project / "params.yaml").read_bytes()
    apply_profile(name, project)
    assert load_params(project / "params.yaml").profile == name
    apply_profile("demo", project)
    assert (project / "params.yaml").read_bytes() == original


def test_applying_a_profile_twice_changes_nothing(project: Path):
    apply_profile("paper", project)
    once = (project / "params.yaml").read_bytes()
    apply_profile("paper", project)
    assert (project / "params.yaml").read_bytes() == once


def test_unknown_profile_lists_the_known_ones(project: Path):
    before = (project / "params.yaml").read_bytes()
    with pytest.raises(UserError, match=r"unknown profile 'fast'; known profiles: ") as caught:
        apply_profile("fast", project)
    assert str(caught.value).endswith("known profiles: " + ", ".join(PROFILES))
    assert {"demo", "paper"} <= set(PROFILES)
    assert (project / "params.yaml").read_bytes() == before


def test_profile_key_missing_from_params_is_refused(project: Path):
    (project / "profiles" / "typo.yaml").write_text("finetune_en:\n  btach_size: 4\n")
    before = (project / "params.yaml").read_bytes()
    with pytest.raises(UserError, match=r"finetune_en\.btach_size"):
        apply_profile("typo", project)
    assert (project / "params.yaml").read_bytes() == before


def test_profile_with_an_invalid_value_writes_nothing(project: Path):
    (project / "profiles" / "bad.yaml").write_text("finetune_en:\n  training:\n    lr: -1\n")
    before = (project / "params.yaml").read_bytes()
    with pytest.raises(UserError, match=r"finetune_en\.training\.lr") as caught:
        apply_profile("bad", project)
    assert "\n" not in str(caught.value)
    assert (project / "params.yaml").read_bytes() == before
    assert sorted(path.name for path in project.iterdir()) == ["params.yaml", "profiles"]


def test_profile_section_over_a_value_is_refused(project: Path):
    (project / "profiles" / "shape.yaml").write_text("profile:\n  name: x\n")
    with pytest.raises(UserError, match="as a section"):
        apply_profile("shape", project)


def test_every_key_of_paper_is_also_set_by_demo():
    """Switching back to demo must undo every value the paper profile changed."""
    paper, demo = _keys(_profile("paper")), _keys(_profile("demo"))
    assert paper, "profiles/paper.yaml sets nothing"
    assert paper <= demo, f"demo does not reset {sorted(paper - demo)}"


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_sets_the_same_keys(name: str):
    """Any profile switch is complete: a key one profile sets, every other one sets too."""
    keys = _keys(_profile(name))
    for other in PROFILES:
        missing = keys - _keys(_profile(other))
        assert not missing, f"profiles/{other}.yaml does not set {sorted(missing)}"


def test_the_demo_profile_matches_the_committed_params():
    """params.yaml in git holds the demo profile's values (the offline default)."""
    params = YAML(typ="safe").load((PROJECT_ROOT / "params.yaml").read_text())
    if params["profile"] != "demo":
        pytest.skip("params.yaml currently holds another profile")

    def check(overlay: dict, target: dict, where: str = "") -> None:
        for key, value in overlay.items():
            if isinstance(value, dict):
                check(value, target[key], f"{where}{key}.")
            else:
                assert target[key] == value, f"{where}{key}"

    check(_profile("demo"), params)
