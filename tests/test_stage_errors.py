"""Stage scripts on bad input: exit status 2, one `error:` line on stderr, nothing written.

Each case runs a stage as `python -m stages.NAME` in a scratch copy of the project, the way
`dvc repro` runs it. The errors all happen before any training, so each run takes seconds.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(
        PROJECT_ROOT / "stages", root / "stages", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(PROJECT_ROOT / "profiles", root / "profiles")
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    return root


def _set_params(root: Path, changes: dict) -> None:
    """Apply `{"dotted.key": value}` changes to the scratch params.yaml."""
    yaml = YAML()  # round trip: the file stays as DVC and the user see it
    params = yaml.load((root / "params.yaml").read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        section = params
        for key in parents:
            section = section[key]
        section[last] = value
    with (root / "params.yaml").open("w", encoding="utf-8") as handle:
        yaml.dump(params, handle)


def _files(root: Path) -> set[str]:
    return {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if "__pycache__" not in path.parts and path.is_file()
    }


def _stage_env(root: Path) -> dict[str, str]:
    """A stage's environment: offline, its download cache outside the project copy."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "REGPT2_CACHE": str(root.parent / "cache"),
    }


def _run_failing_stage(root: Path, stage: str, *args: str) -> str:
    """Run a stage that must fail; return its one error line after checking the contract."""
    before = _files(root)
    completed = subprocess.run(
        [sys.executable, "-m", f"stages.{stage}", *args],
        cwd=root,
        env=_stage_env(root),
        capture_output=True,
        text=True,
        timeout=120,
    )
    stderr = completed.stderr
    assert completed.returncode == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    # Nothing written: no output, no half-written temporary beside an output.
    assert _files(root) == before
    assert not (root / "data").exists() or not any((root / "data").rglob("*"))
    assert not (root / "metrics").exists()
    return lines[0]


def test_missing_pretrain_text(project: Path):
    _set_params(project, {"sources.pretrain_text": "corpus/missing.txt"})
    line = _run_failing_stage(project, "tokenize")
    assert "sources.pretrain_text" in line and "corpus/missing.txt" in line


def test_blank_pretrain_text(project: Path):
    (project / "blank.txt").write_text("\n  \n\n")
    _set_params(project, {"sources.pretrain_text": "blank.txt"})
    line = _run_failing_stage(project, "tokenize")
    assert "sources.pretrain_text" in line and "no text" in line


def test_unknown_profile(project: Path):
    _set_params(project, {"profile": "fast"})
    line = _run_failing_stage(project, "tokenize")
    known = ", ".join(sorted(path.stem for path in (project / "profiles").glob("*.yaml")))
    assert "profile" in line and "'fast'" in line and f"known profiles: {known}" in line


def test_wrong_param_type(project: Path):
    _set_params(project, {"tokenize.context_length": "long"})
    line = _run_failing_stage(project, "tokenize")
    assert "tokenize.context_length" in line and "'long'" in line


def test_unknown_zeroshot_language(project: Path):
    _set_params(project, {"zeroshot.languages": ["en", "xx"]})
    line = _run_failing_stage(project, "zeroshot")
    assert "zeroshot.languages" in line and "'xx'" in line and "en, fr, es" in line


def test_stage_run_out_of_order(project: Path):
    """finetune_en before pretrain: the demo's base model folder does not exist yet."""
    line = _run_failing_stage(project, "finetune_en", "train")
    assert "sources.gpt2" in line and "data/models/pretrain" in line


def test_evaluation_before_training(project: Path):
    line = _run_failing_stage(project, "finetune_per_lang", "evaluate", "es")
    assert "train_per_lang@es output" in line and "data/models/finetune_per_lang/es" in line


@pytest.mark.parametrize(
    "args",
    [(), ("fit",), ("train", "extra"), ("evaluate",)],
    ids=["none", "unknown", "extra", "no-lang"],
)
def test_stage_command_usage(project: Path, args: tuple[str, ...]):
    script = "finetune_en" if args[:1] != ("evaluate",) else "finetune_per_lang"
    line = _run_failing_stage(project, script, *args)
    assert line.startswith(f"error: usage: python -m stages.{script} train|evaluate")


def test_unreachable_hub_model(project: Path):
    _set_params(project, {"sources.gpt2": "hub:gpt2"})
    line = _run_failing_stage(project, "finetune_en", "train")
    assert line.startswith("error: sources.gpt2: could not load 'gpt2' from the Hugging Face Hub")
    assert "set sources.gpt2 to the local folder" in line


@pytest.mark.parametrize("stage", ["zeroshot", "finetune_en", "report"])
def test_params_errors_come_before_heavy_imports(project: Path, stage: str):
    """A bad param is reported before the stage imports torch or transformers (seconds)."""
    _set_params(project, {"pretrain.training.lr": "abc"})
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", f"stages.{stage}", "train"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    errors = [line for line in completed.stderr.splitlines() if not line.startswith("import ")]
    assert errors == [
        "error: params.yaml: pretrain.training.lr: Input should be a valid number (got 'abc')"
    ]
    imported = {line.split("|")[-1].strip() for line in completed.stderr.splitlines()}
    assert not {"torch", "transformers"} & imported


def test_missing_local_source(project: Path):
    """`sources@NAME` fingerprints a source before any stage reads it: a wrong path ends there."""
    _set_params(project, {"sources.qwen": "models/missing.gguf"})
    line = _run_failing_stage(project, "sources", "qwen")
    assert line == "error: sources.qwen: local path 'models/missing.gguf' does not exist"


def test_sources_stage_usage(project: Path):
    line = _run_failing_stage(project, "sources", "model")
    assert line.startswith("error: usage: python -m stages.sources {pretrain_text|tokenizer|")


def test_fingerprinting_a_source_does_not_load_torch(project: Path):
    """The `sources@NAME` stages run at every `dvc repro`: they start without torch."""
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "stages.sources", "xnli"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    imported = {line.split("|")[-1].strip() for line in completed.stderr.splitlines()}
    assert "regpt2.sources.fingerprint" in imported
    assert not {"torch", "transformers"} & imported
    assert (project / "data" / "sources" / "xnli.json").is_file()


# ------------------------------------------------- issue 33: weights, url pins, BOMs, signals


def test_pickled_weights_are_not_loaded(project: Path, tiny_gpt2, demo_tokenizer):
    """A model folder whose pytorch_model.bin pickles more than tensors: refused by torch's
    weights-only loading (the pickled call never runs), reported in one line."""
    import torch

    from regpt2.sources.tokenizers import save_model_folder

    folder = project / "models" / "gpt2"
    save_model_folder(tiny_gpt2(), demo_tokenizer, folder)
    (folder / "model.safetensors").unlink()
    torch.save({"weight": _RunsCode()}, folder / "pytorch_model.bin")
    _set_params(project, {"sources.gpt2": "models/gpt2"})
    line = _run_failing_stage(project, "finetune_en", "train")
    assert line.startswith("error: sources.gpt2: the weights file in models/gpt2 is a pickle")
    assert "not loaded, for safety" in line and "model.safetensors" in line
    assert not (project / "code-ran").exists()


class _RunsCode:
    """Unpickled, this would create a file `code-ran` in the working folder."""

    def __reduce__(self):
        return (open, ("code-ran", "w"))


def test_unpinned_url_is_refused_with_the_sha256_to_pin(project: Path):
    text = "one document\nanother document\n"
    remote = project.parent / "remote.txt"
    remote.write_text(text, encoding="utf-8")
    _set_params(project, {"sources.pretrain_text": "url:" + remote.as_uri()})
    line = _run_failing_stage(project, "tokenize")
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert "sources.pretrain_text" in line and "is not pinned" in line
    assert f"set sources.pretrain_text_sha256: {digest} " in line


def test_tsv_with_a_byte_order_mark_is_read(project: Path, demo_tokenizer):
    """A test-en.tsv saved by Excel (UTF-8 with a BOM, CRLF line ends) reads like any other."""
    demo_tokenizer.save_pretrained(project / "data" / "tokenizer")
    xnli = project / "xnli"
    xnli.mkdir()
    rows = "premise\thypothesis\tlabel\r\nA cat sat.\tAn animal sat.\tentailment\r\n"
    (xnli / "test-en.tsv").write_bytes(codecs.BOM_UTF8 + rows.encode())
    _set_params(
        project,
        {
            "sources.xnli": "xnli",
            "sources.qwen_tokenizer": "data/tokenizer",
            "fertility.languages": ["en"],
            "fertility.split": "test",
        },
    )
    completed = subprocess.run(
        [sys.executable, "-m", "stages.fertility"],
        cwd=project,
        env=_stage_env(project),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    metrics = json.loads((project / "metrics" / "fertility.json").read_text(encoding="utf-8"))
    assert metrics["gpt2"]["en"]["tokens_per_word"] > 0
