"""The DVC graph's promise, checked statically: every stage depends on exactly the code it
runs (its script's code fingerprint: the project modules it imports, transitively, imports
inside functions too), and every stage reads its params through the keys dvc.yaml declares."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from regpt2.core.code_closure import code_fingerprint, import_closure, stage_scripts

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Code: the project's modules and the package data beside them (see import_closure).
CODE = re.compile(r"^(src/regpt2|stages)/.*\.(py|html|css|json)$")
FINGERPRINTS = "fingerprint_code"


def _stages() -> dict[str, dict]:
    """dvc.yaml's stage definitions (a foreach stage once, under its own name)."""
    document = YAML(typ="safe").load((PROJECT_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    return {name: stage.get("do", stage) for name, stage in document["stages"].items()}


def _script(stage: dict) -> Path:
    found = re.search(r"-m (stages\.\w+)", stage["cmd"])
    assert found, f"cmd {stage['cmd']!r} does not run a stage module"
    return PROJECT_ROOT / (found.group(1).replace(".", "/") + ".py")


@pytest.mark.parametrize("name", sorted(set(_stages()) - {FINGERPRINTS}))
def test_code_dep_is_the_scripts_fingerprint(name: str):
    """One code dep per stage, its script's fingerprint, and no code file listed by hand (it
    would rerun the stage on an edit its fingerprint already covers, or on none)."""
    stage = _stages()[name]
    code = [dep for dep in stage["deps"] if CODE.match(dep) or dep.startswith("data/code/")]
    assert code == [f"data/code/{_script(stage).stem}.sha256"], name


def test_fingerprint_stage_watches_every_file_a_stage_runs():
    watched = _stages()[FINGERPRINTS]["deps"]
    for script in stage_scripts(PROJECT_ROOT):
        for path in import_closure(PROJECT_ROOT, script):
            assert any(path.startswith(folder + "/") for folder in watched), path
    outputs = _stages()[FINGERPRINTS]["outs"]
    assert outputs == ["data/code"]


def test_fingerprint_lists_each_file_the_script_runs_with_its_sha256():
    script = PROJECT_ROOT / "stages" / "zeroshot.py"
    lines = code_fingerprint(PROJECT_ROOT, script).splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in lines}
    assert lines[0].endswith("  stages/zeroshot.py")
    assert set(listed) == import_closure(PROJECT_ROOT, script)
    for path, digest in listed.items():
        assert hashlib.sha256((PROJECT_ROOT / path).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("script", ["zeroshot", "untuned"])
def test_scoring_runs_no_training_code(script: str):
    """Editing the loop, the checkpoints or the optimizer never reruns zero-shot scoring."""
    closure = import_closure(PROJECT_ROOT, PROJECT_ROOT / "stages" / f"{script}.py")
    training = sorted(
        path
        for path in closure
        if path.startswith("src/regpt2/training/") or path == "src/regpt2/gpt2/optim.py"
    )
    assert training == []


def test_no_stage_runs_at_every_repro():
    """`dvc status` right after `dvc repro` reads clean only if no stage is always changed."""
    assert not [name for name, stage in _stages().items() if stage.get("always_changed")]


def test_the_lock_holds_only_stages_dvc_yaml_defines():
    """DVC keeps the dvc.lock entry of a stage that was renamed or removed. A stale entry reads
    like a stage that no longer exists, and DVC parses and rewrites it after every stage it runs
    (ten such entries, half the file, once cost 0.3-0.4 s per stage)."""
    lock = YAML(typ="safe").load((PROJECT_ROOT / "dvc.lock").read_text(encoding="utf-8"))
    document = YAML(typ="safe").load((PROJECT_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    stages = document["stages"]
    stale = [
        name
        for name in lock["stages"]
        if (base := name.split("@")[0]) not in stages
        or ("@" in name) != ("foreach" in stages[base])
    ]
    assert not stale, f"dvc.lock holds stages dvc.yaml does not define: {stale}"


def test_every_stage_script_is_a_stage():
    scripts = {path.stem for path in (PROJECT_ROOT / "stages").glob("*.py")} - {"__init__"}
    run = {_script(stage).stem for stage in _stages().values()}
    assert scripts == run


def test_closure_sees_imports_inside_functions(tmp_path: Path):
    (tmp_path / "src" / "regpt2").mkdir(parents=True)
    (tmp_path / "stages").mkdir()
    for name in ("__init__", "a", "b", "c"):
        (tmp_path / "src" / "regpt2" / f"{name}.py").write_text("")
    (tmp_path / "src" / "regpt2" / "a.py").write_text("def f():\n    from regpt2 import b\n")
    (tmp_path / "src" / "regpt2" / "b.py").write_text("import regpt2.c as c\n")
    (tmp_path / "stages" / "s.py").write_text("from regpt2.a import f\nimport json\n")
    assert import_closure(tmp_path, tmp_path / "stages" / "s.py") == {
        "stages/s.py",
        "src/regpt2/__init__.py",
        "src/regpt2/a.py",
        "src/regpt2/b.py",
        "src/regpt2/c.py",
    }


def test_closure_includes_package_data_beside_imported_modules(tmp_path: Path):
    """A template a module reads from its folder is a dependency like the module itself."""
    (tmp_path / "src" / "regpt2" / "r").mkdir(parents=True)
    (tmp_path / "stages").mkdir()
    for name in ("__init__.py", "r/__init__.py", "r/page.py", "r/page.html", "r/notes.md"):
        (tmp_path / "src" / "regpt2" / name).write_text("")
    (tmp_path / "stages" / "s.py").write_text("from regpt2.r.page import render\n")
    assert import_closure(tmp_path, tmp_path / "stages" / "s.py") == {
        "stages/s.py",
        "src/regpt2/__init__.py",
        "src/regpt2/r/__init__.py",
        "src/regpt2/r/page.html",
        "src/regpt2/r/page.py",
    }


def test_no_stage_depends_on_the_repro_timings():
    """scripts/timed_repro.py writes its record after the last stage has run; a stage that
    depended on it would be stale after every timed run (and `regpt2 snapshot` would refuse)."""
    source = (PROJECT_ROOT / "scripts" / "timed_repro.py").read_text(encoding="utf-8")
    written = re.search(r'OUTPUT = Path\("([^"]+)"\)', source).group(1)
    for name, stage in _stages().items():
        for dep in stage["deps"]:
            assert not (written == dep or written.startswith(dep.rstrip("/") + "/")), (
                f"dvc.yaml stage {name!r} depends on {dep!r}, which holds {written}"
            )


def _leaf_keys(mapping: dict, where: str = "") -> list[str]:
    keys = []
    for key, value in mapping.items():
        path = f"{where}{key}"
        keys += _leaf_keys(value, path + ".") if isinstance(value, dict) else [path]
    return keys


def test_report_declares_every_setting_it_compares_with_the_study():
    """The report's table of settings that differ from the study's reads each key the paper
    profile sets: each must be a declared param of the report stage (or under one), so that
    changing it reruns the report."""
    paper = YAML(typ="safe").load((PROJECT_ROOT / "profiles" / "paper.yaml").read_text("utf-8"))
    report = _stages()["report"]
    declared = [param for param in report["params"] if isinstance(param, str)]
    assert "profiles/paper.yaml" in report["deps"]
    undeclared = [
        key
        for key in _leaf_keys(paper)
        if not any(key == param or key.startswith(param + ".") for param in declared)
    ]
    assert undeclared == []


def test_plotted_files_are_stage_outputs_for_the_languages_in_params():
    """dvc.yaml's `plots:` cannot loop, so it lists the per-language loss curves by hand: they
    must be exactly those of finetune_per_lang.languages, and every plotted file an output."""
    document = YAML(typ="safe").load((PROJECT_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    params = YAML(typ="safe").load((PROJECT_ROOT / "params.yaml").read_text(encoding="utf-8"))
    languages = list(params["finetune_per_lang"]["languages"])
    plotted = [path for plot in document["plots"] for spec in plot.values() for path in spec["y"]]
    outputs = set()
    for stage in document["stages"].values():
        body = stage.get("do", stage)
        items = languages if "${key}" in str(body["outs"]) else [None]
        for out in body["outs"]:
            path = next(iter(out)) if isinstance(out, dict) else out
            outputs |= {path.replace("${key}", str(item)) for item in items}
    per_language = [path for path in plotted if path.startswith("data/plots/finetune_per_lang/")]
    assert per_language == [f"data/plots/finetune_per_lang/{lang}_loss.csv" for lang in languages]
    not_made = [path for path in plotted if path not in outputs]
    assert not not_made, f"plotted but written by no stage: {not_made}"
