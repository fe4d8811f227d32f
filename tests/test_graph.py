"""The DVC graph's promise, checked statically: every stage depends on exactly the code it
runs (its script and the project modules it imports, transitively, imports inside functions
too), and every stage reads its params through the keys dvc.yaml declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from import_closure import import_closure
from ruamel.yaml import YAML

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Code: the project's modules and the package data beside them (see import_closure).
CODE = re.compile(r"^(src/regpt2|stages)/.*\.(py|html|css|json)$")


def _stages() -> dict[str, dict]:
    """dvc.yaml's stage definitions (a foreach stage once, under its own name)."""
    document = YAML(typ="safe").load((PROJECT_ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    return {name: stage.get("do", stage) for name, stage in document["stages"].items()}


def _script(stage: dict) -> Path:
    found = re.search(r"-m (stages\.\w+)", stage["cmd"])
    assert found, f"cmd {stage['cmd']!r} does not run a stage module"
    return PROJECT_ROOT / (found.group(1).replace(".", "/") + ".py")


@pytest.mark.parametrize("name", sorted(_stages()))
def test_code_deps_are_exactly_the_import_closure(name: str):
    stage = _stages()[name]
    declared = {dep for dep in stage["deps"] if CODE.match(dep)}
    needed = import_closure(PROJECT_ROOT, _script(stage))
    missing, extra = sorted(needed - declared), sorted(declared - needed)
    assert not missing and not extra, (
        f"dvc.yaml stage {name!r}: add to deps {missing}; remove from deps {extra}"
    )


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
