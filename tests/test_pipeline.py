"""End to end: `dvc repro` of the demo profile in a temporary copy of the project, then the
things users do with it (a `dvc exp run -S` variant, `dvc metrics diff`, precise reruns).

Minutes, not seconds: the whole study runs once per test session (conftest's `demo_project`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.demo_project import command_env, run, set_params

from regpt2.nli.metrics import read_evaluation

pytestmark = pytest.mark.e2e
PROJECT_ROOT = Path(__file__).resolve().parents[1]

STAGE_METRICS = [
    "tokenize.json",
    "pretrain.json",
    "training/finetune_en.json",
    "finetune_en.json",
    "zeroshot.json",
    "fertility.json",
    "training/finetune_all.json",
    "finetune_all.json",
    "translate.json",
    "probe.json",
    "training/qwen_lora.json",
    "qwen_lora.json",
    "analysis/changes.json",
    "analysis/tiers.json",
    "analysis/correlations.json",
    "analysis/tests.json",
    "untuned/gpt2.json",
    "untuned/qwen.json",
]
PER_LANGUAGE = ("es", "fr", "de", "bg", "ar", "el", "hi")

# ---- what reruns when: the change-impact table (README, "What reruns when", matches it).
# Each row: an edit, and the exact set of stages it reruns: those `dvc status` then reports as
# changed, and everything downstream of them. A new stage adds itself to the rows that reach it.
TRAIN_PER_LANG = {f"finetune_per_lang@{lang}" for lang in PER_LANGUAGE}
EVAL_PER_LANG = {f"finetune_per_lang_test@{lang}" for lang in PER_LANGUAGE}
UNTUNED = {"untuned@gpt2", "untuned@qwen"}
EVALUATIONS = {"finetune_en_test", "zeroshot", "finetune_all_test", "qwen_lora_test"}
EVALUATIONS |= EVAL_PER_LANG | UNTUNED
TRAININGS = {"finetune_en", "finetune_all", "qwen_lora"} | TRAIN_PER_LANG
DOWNSTREAM = {"analyze", "report"}
CHANGE_IMPACT = [
    ("zeroshot.limit", 50, {"zeroshot"} | DOWNSTREAM),
    ("nli.bootstrap_resamples", 500, EVALUATIONS | DOWNSTREAM),
    ("nli.eval_batch_size", 16, EVALUATIONS | DOWNSTREAM),
    ("finetune_en.test_limit", 100, {"finetune_en_test"} | DOWNSTREAM),  # analyze tests vs chance
    ("nli.template", "Premise: {premise}\nHypothesis: {hypothesis}\nAnswer:",
     EVALUATIONS | TRAININGS | {"probe", "per_lang_start"} | DOWNSTREAM),  # both read finetune_en's
    ("finetune_per_lang.languages.es.fraction", 0.2,
     {"finetune_per_lang@es", "finetune_per_lang_test@es"} | DOWNSTREAM),
    ("finetune_per_lang.test_limit", 100, EVAL_PER_LANG | DOWNSTREAM),
    ("translate.temperature", 0.8, {"translate"} | DOWNSTREAM),
    ("probe.rows", 50, {"probe"} | DOWNSTREAM),
    ("selection.tier1_min_accuracy", 45.0, DOWNSTREAM),
    ("sources.qwen", "data/models/some-local-lm",
     {"sources@qwen", "qwen_lora", "qwen_lora_test", "untuned@qwen"} | DOWNSTREAM),
    ("qwen_lora.lora.r", 4, {"qwen_lora", "qwen_lora_test"} | DOWNSTREAM),
    # fertility is downstream of gpt2_source (it reads the tokenizer's fingerprint), so this
    # table counts it; DVC reruns it only when the tokenizer files themselves change.
    ("pretrain.training.lr", 0.002,
     {"pretrain", "gpt2_source", "translate", "probe", "per_lang_start", "fertility"}
     | EVALUATIONS - {"qwen_lora_test", "untuned@qwen"} | TRAININGS - {"qwen_lora"} | DOWNSTREAM),
    ("src/regpt2/core/stats.py", None,  # imported by everything that scores or compares
     EVALUATIONS | TRAININGS | {"translate", "probe", "per_lang_start"} | DOWNSTREAM),
    ("src/regpt2/training/lora.py", None, {"qwen_lora", "qwen_lora_test"} | DOWNSTREAM),
]  # fmt: skip


@pytest.fixture(scope="module")
def project(demo_project) -> Path:
    """The session's committed copy of the project with the demo pipeline reproduced."""
    return demo_project


@contextlib.contextmanager
def edited(project: Path, target: str, value):
    """Set a dotted param of params.yaml to `value`, or (value None) append a comment line to
    the file `target`; put everything back afterwards."""
    path = project / (target if value is None else "params.yaml")
    original = path.read_text(encoding="utf-8")
    if value is None:
        path.write_text(original + "# an edit\n", encoding="utf-8")
    else:
        set_params(project, {target: value})
    try:
        yield
    finally:
        path.write_text(original, encoding="utf-8")


def restore_committed_state(project: Path) -> None:
    """Back to the committed run: worktree and index (DVC autostages dvc.lock), then outputs."""
    run(["git", "reset", "-q", "--hard"], project)
    run(["dvc", "checkout", "--force"], project)


def pending_stages(project: Path) -> dict:
    """`dvc status --json` once the code fingerprints and source links are current (seconds: an
    edited file then shows as a changed fingerprint of exactly the scripts that run it)."""
    status = json.loads(run(["dvc", "status", "--json"], project).stdout)
    if {"fingerprint_code", "source_links"} & set(status):
        run(["dvc", "repro", "--single-item", "fingerprint_code", "source_links"], project)
        status = json.loads(run(["dvc", "status", "--json"], project).stdout)
    return status


def stages_that_would_run(project: Path) -> set[str]:
    """The stages `dvc status` reports as changed, and every stage downstream of them (which
    `dvc repro` reruns when an upstream output changes)."""
    changed = set(pending_stages(project))
    if not changed:
        return changed  # nothing downstream either: skip `dvc dag` (seconds a call)
    edges = re.findall(r'"([^"]+)" -> "([^"]+)"', run(["dvc", "dag", "--dot"], project).stdout)
    pending = list(changed)
    while pending:
        stage = pending.pop()
        for upstream, downstream in edges:
            if upstream == stage and downstream not in changed:
                changed.add(downstream)
                pending.append(downstream)
    return changed


def test_status_reads_clean_after_repro(project: Path):
    """Right after `dvc repro`, `dvc status` has nothing to report: no stage runs every time."""
    assert "Data and pipelines are up to date." in run(["dvc", "status"], project).stdout


def test_repro_writes_every_stage_metrics(project: Path):
    for name in STAGE_METRICS:
        assert (project / "metrics" / name).is_file(), name
    per_language = sorted((project / "metrics" / "finetune_per_lang").glob("*.json"))
    assert {path.stem for path in per_language} == set(PER_LANGUAGE)
    assert (project / "report" / "index.html").is_file()
    assert pending_stages(project) == {}


def test_metrics_hold_numbers_only(project: Path):
    """`dvc exp show` stays readable: metrics files hold numbers users compare, no strings."""

    def leaves(data, where=""):
        if isinstance(data, dict):
            for key, value in data.items():
                yield from leaves(value, f"{where}.{key}")
        else:
            yield where, data

    for path in (project / "metrics").rglob("*.json"):
        for where, value in leaves(json.loads(path.read_text())):
            assert isinstance(value, int | float), f"{path.name}{where} = {value!r}"


def test_demo_numbers_are_sane(project: Path):
    pretrain = json.loads((project / "metrics" / "pretrain.json").read_text())
    # The study's figure counts padding positions, which are easy targets: it is lower.
    assert pretrain["study_global_avg_train_loss"] < pretrain["train_loss_real_tokens"]
    test = read_evaluation(project / "metrics" / "finetune_en.json")["en"]
    assert test["strict_ci95_low"] <= test["strict_accuracy"] <= test["strict_ci95_high"]
    assert test["strict_accuracy"] > 40  # the synthetic task is learnable
    zeroshot = json.loads((project / "metrics" / "zeroshot.json").read_text())["languages"]
    assert len(zeroshot) == 15


@pytest.mark.parametrize(
    ("target", "value", "expected"), CHANGE_IMPACT, ids=[row[0] for row in CHANGE_IMPACT]
)
def test_change_impact(project: Path, target: str, value, expected: set[str]):
    """An edit reruns exactly the stages whose outputs it can change: no more, no fewer."""
    assert stages_that_would_run(project) == set()
    with edited(project, target, value):
        assert stages_that_would_run(project) == expected


def test_forced_rerun_is_byte_identical(project: Path):
    """Seeded CPU training: `dvc repro -f` of a training stage changes no output (its wall time
    aside, which lives in data/timings) and no metric."""

    def output_hashes() -> dict[str, str]:
        from ruamel.yaml import YAML

        lock = YAML(typ="safe").load((project / "dvc.lock").read_text())["stages"]
        return {
            out["path"]: out["md5"]
            for stage in ("finetune_en", "finetune_en_test")
            for out in lock[stage]["outs"]
            if not out["path"].startswith("data/timings/")
        }

    before = output_hashes()
    run(["dvc", "repro", "--force", "--single-item", "finetune_en", "finetune_en_test"], project)
    assert output_hashes() == before
    assert json.loads(run(["dvc", "metrics", "diff", "--json"], project).stdout) == {}
    restore_committed_state(project)  # the new wall time would rerun `report`


def test_new_content_in_a_local_source_reruns_its_readers(project: Path):
    """A source outside the project is seen by DVC through its link: the pipeline reads clean
    after a repro, a mere touch changes nothing, new file content makes the fingerprint stage
    pending, and a new fingerprint the fertility stage that reads it."""
    outside = project.parent / "outside_tokenizer"
    shutil.copytree(project / "data" / "tokenizer", outside)
    try:
        with edited(project, "sources.qwen_tokenizer", str(outside)):
            run(["dvc", "repro"], project)  # fertility, and analyze and report after it
            assert json.loads(run(["dvc", "status", "--json"], project).stdout) == {}

            config = outside / "tokenizer_config.json"
            os.utime(config)
            assert pending_stages(project) == {}

            settings = json.loads(config.read_text(encoding="utf-8"))
            config.write_text(json.dumps({**settings, "note": "edited"}), encoding="utf-8")
            assert set(pending_stages(project)) == {"sources@qwen_tokenizer"}
            run(["dvc", "repro", "--single-item", "sources@qwen_tokenizer"], project)
            assert set(pending_stages(project)) == {"fertility"}
    finally:
        restore_committed_state(project)
        # Point the link back before its target goes: `dvc status` stops at a dangling link
        # (`dvc repro` remakes the links first, so a user's next repro mends it).
        run(["dvc", "repro", "--single-item", "source_links"], project)
        shutil.rmtree(outside)


def test_seen_params_restore_from_the_run_cache(project: Path):
    """A param set that already ran comes back from DVC's run cache: nothing retrains."""
    stage = "finetune_per_lang@es"
    with edited(project, "finetune_per_lang.languages.es.fraction", 0.2):
        first = run(["dvc", "repro", "--single-item", stage], project).stdout
        assert f"Running stage '{stage}'" in first
    again = run(["dvc", "repro", "--single-item", stage], project).stdout
    assert f"Running stage '{stage}'" not in again
    assert "skipping run" in again, again
    assert pending_stages(project) == {}


def test_experiment_variant_shows_in_metrics_diff(project: Path):
    run(["dvc", "exp", "run", "-S", "finetune_en.training.lr=0.0003", "finetune_en"], project)
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], project).stdout)
    changed = diff.get("metrics/training/finetune_en.json", {})  # the test score may tie
    assert changed, diff
    assert any(entry.get("diff") not in (0, None) for entry in changed.values())
    shown = run(["dvc", "exp", "show", "--json"], project).stdout
    assert "0.0003" in shown
    table = run(["regpt2", "experiments"], project).stdout
    assert "0.000300" in table, table
    restore_committed_state(project)


def test_queued_variants_run_in_parallel(project: Path):
    """`dvc exp run --queue` + `dvc queue start -j 2`: both variants appear with metrics.

    DVC's queue workers are detached Celery processes that keep the starting command's output
    pipes open, and they have been seen to hang. So the workers start with their output sent
    to a file, completion is read from git (a finished experiment is a ref under refs/exps),
    and the workers are stopped whatever happens."""
    # Variants of the English test size: each reruns one scoring stage, not a training (the
    # queue, not the training, is under test; test_experiment_variant_... trains a variant).
    names = {"q-test100": "100", "q-test200": "200"}
    for name, limit in names.items():
        run(
            ["dvc", "exp", "run", "--queue", "-n", name, "-S", f"finetune_en.test_limit={limit}",
             "finetune_en"],
            project,
        )  # fmt: skip
    log = project / ".dvc" / "tmp" / "queue-test.log"
    try:
        with log.open("w") as output:
            subprocess.Popen(
                ["dvc", "queue", "start", "-j", "2"],
                cwd=project,
                env=command_env(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.time() + 600
        finished: set[str] = set()
        while time.time() < deadline and finished != set(names):
            time.sleep(5)
            refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], project)
            finished = {name for name in names if re.search(rf"/{name}$", refs.stdout, re.M)}
        status = run(["dvc", "queue", "status"], project, check=False, timeout=120).stdout
        assert finished == set(names), f"queued experiments unfinished after 10 min:\n{status}"
    finally:
        run(["dvc", "queue", "stop", "--kill"], project, check=False, timeout=120)
    shown = json.dumps(json.loads(run(["dvc", "exp", "show", "--json"], project).stdout))
    for name in names:
        assert name in shown
    assert "strict_accuracy" in shown


def test_remote_push_then_pull_elsewhere_needs_no_rerun(project: Path, tmp_path: Path):
    """Outputs pushed to a local-folder remote come back in a fresh clone with `dvc pull`; the
    clone's `dvc repro` then only makes its own source links (seconds)."""
    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "-f", "shared", str(remote)], project)
    run(["git", "add", ".dvc/config"], project)
    run(["git", "commit", "-qm", "remote"], project)
    run(["dvc", "push"], project)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    run(["dvc", "pull"], clone)
    ran = re.findall(r"Running stage '([^']+)'", run(["dvc", "repro"], clone).stdout)
    assert ran == ["source_links"]
    assert json.loads(run(["dvc", "status", "--json"], clone).stdout) == {}
    for name in ("finetune_en.json", "zeroshot.json"):
        assert (clone / "metrics" / name).read_text() == (project / "metrics" / name).read_text()
    assert (clone / "data" / "models" / "finetune_en" / "model.safetensors").is_file()


def test_saved_models_load_in_stock_clients(project: Path):
    """Every model folder loads in a fresh process with the stock transformers / peft auto
    classes (the LoRA adapter included: its base is named in adapter_config.json)."""
    script = """
import sys
from peft import AutoPeftModelForCausalLM
from transformers import AutoModelForCausalLM, AutoTokenizer
for folder in sys.argv[1:]:
    auto = AutoPeftModelForCausalLM if folder.endswith("qwen_lora") else AutoModelForCausalLM
    model = auto.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("Premise: a\\nHypothesis: b\\nLabel:", return_tensors="pt").input_ids
    assert model(input_ids=ids).logits.shape[-1] >= len(tokenizer), folder
    print("loaded", folder, type(model).__name__)
"""
    folders = ["data/models/pretrain", "data/models/finetune_en", "data/models/finetune_all"]
    folders += [f"data/models/finetune_per_lang/{lang}" for lang in ("es", "hi")]
    folders.append("data/models/qwen_lora")
    output = run([sys.executable, "-c", script, *folders], project).stdout
    assert output.count("loaded") == len(folders), output
