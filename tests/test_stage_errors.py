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
import signal
import subprocess
import sys
import time
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


def torch_distributed_available() -> bool:
    import torch

    return torch.distributed.is_available()


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
    assert "finetune_per_lang@es output" in line and "data/models/finetune_per_lang/es" in line


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
    line = _run_failing_stage(project, "sources", "links")
    assert line == "error: sources.qwen: local path 'models/missing.gguf' does not exist"


def test_missing_source_outside_the_project(project: Path, tmp_path: Path):
    """`source_links` links each local source for DVC: a path outside the project that does not
    exist ends there, with no link left behind."""
    missing = tmp_path / "elsewhere" / "xnli"
    _set_params(project, {"sources.xnli": str(missing)})
    line = _run_failing_stage(project, "sources", "links")
    assert line == f"error: sources.xnli: local path {str(missing)!r} does not exist"
    assert not (project / "data" / "sources" / "links" / "xnli").exists()


def test_source_links_point_at_local_sources(project: Path, tmp_path: Path):
    """A local source becomes a link DVC hashes through; any other source a file with its text."""
    folder = tmp_path / "xnli"
    folder.mkdir()
    _set_params(project, {"sources.xnli": str(folder)})
    completed = subprocess.run(
        [sys.executable, "-m", "stages.sources", "links"],
        cwd=project, env=_stage_env(project), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    links = project / "data" / "sources" / "links"
    assert (links / "xnli").resolve() == folder.resolve()
    assert (links / "xnli.txt").read_text(encoding="utf-8") == f"{folder}\n"
    assert (links / "qwen").read_text(encoding="utf-8") == "demo\n"


def test_a_stage_output_still_to_come_is_no_dangling_link(project: Path):
    """A path under data/ may be written by a stage later (the demo's GPT-2): its link is a file
    with the param's text until then, since DVC stops with a traceback at a dangling link."""
    _set_params(project, {"sources.gpt2": "data/models/later"})
    completed = subprocess.run(
        [sys.executable, "-m", "stages.sources", "links"],
        cwd=project, env=_stage_env(project), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    link = project / "data" / "sources" / "links" / "gpt2"
    assert not link.is_symlink()
    assert link.read_text(encoding="utf-8") == "data/models/later\n"


def test_sources_stage_usage(project: Path):
    line = _run_failing_stage(project, "sources", "model")
    assert line.startswith("error: usage: python -m stages.sources {links|pretrain_text|tokenizer|")


def test_fingerprinting_a_source_does_not_load_torch(project: Path):
    """The `sources@NAME` stages rerun when a source changes: they start without torch."""
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
            "sources.gpt2": "data/tokenizer",  # fertility reads only its tokenizer
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


@pytest.fixture
def training_project(project: Path, tiny_gpt2, demo_tokenizer) -> Path:
    """English fine-tuning of a tiny GPT-2 on a few demo rows, for many epochs: a checkpoint
    within seconds, then a training that runs long enough to be interrupted."""
    from regpt2.sources.tokenizers import save_model_folder

    save_model_folder(tiny_gpt2(), demo_tokenizer, project / "base")
    _set_params(
        project,
        {
            "sources.gpt2": "base",
            "demo.train_rows": 40,
            "demo.dev_rows": 8,
            "nli.max_length": 128,
            "finetune_en.training.epochs": 1000,
            "finetune_en.training.batch_size": 4,
            "finetune_en.training.eval_every": 0,
        },
    )
    return project


def _interrupt_training(root: Path, launcher: list[str], signum: int) -> tuple[str, int, list]:
    """Start `finetune_en train` under `launcher`, send `signum` once its first checkpoint is
    saved; return its stderr, its exit status and its child processes (torchrun's workers)."""
    import psutil

    checkpoint = root / "data" / "checkpoints" / "finetune_en" / "last.pt"
    process = subprocess.Popen(
        [*launcher, "-m", "stages.finetune_en", "train"],
        cwd=root,
        env={**_stage_env(root), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.exists() and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.2)
        children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signum)
        sent = time.monotonic()
        _, stderr = process.communicate(timeout=60)
        assert time.monotonic() - sent < 15, "the stage took too long to stop"
    finally:
        if process.poll() is None:
            process.kill()
    assert checkpoint.is_file(), "the resumable checkpoint is gone"
    # Nothing half-written: no model, no temporary beside an output.
    assert not (root / "data" / "models").exists()
    assert not [path for path in root.rglob(".*") if "__pycache__" not in path.parts]
    return stderr, process.returncode, children


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_ctrl_c_ends_a_training_in_one_line(training_project: Path):
    stderr, code, _ = _interrupt_training(training_project, [sys.executable], signal.SIGINT)
    assert code == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert _error_lines(stderr) == [line for line in stderr.splitlines() if line.strip()][-1:]
    line = _error_lines(stderr)[0]
    assert "python -m stages.finetune_en train interrupted by SIGINT" in line
    assert "`dvc repro` resumes a training from its last checkpoint" in line


@pytest.mark.skipif(not torch_distributed_available(), reason="torch.distributed missing")
def test_sigterm_to_torchrun_stops_every_worker(training_project: Path):
    """torchrun passes SIGTERM on to its workers: they stop, rank 0 says so in one line (torchrun
    itself then reports the signal in its own words)."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    stderr, _, workers = _interrupt_training(
        training_project, [*launcher, "--nproc_per_node=2"], signal.SIGTERM
    )
    assert len(workers) == 2
    assert not [worker for worker in workers if _alive(worker)]
    (line,) = _error_lines(stderr)
    assert "python -m stages.finetune_en train interrupted by SIGTERM" in line
    assert "stages/finetune_en.py" not in stderr, "a worker ended in a traceback"


def _alive(process) -> bool:
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
