"""Catalogue of bad inputs (issue 13): each one ends in ONE `error:` line and exit status 2,
nothing half-written, and the outputs of an earlier run left as they were.

Most cases run a small library call in a subprocess inside `run_stage`, the way a stage script
runs, with a previous output file beside it; a few cheaper ones call the library directly and
expect a `UserError`. Inputs are tiny and built in tmp_path; the real GGUF comes from ../shared.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from regpt2.config.params import validate_params
from regpt2.core.errors import UserError
from regpt2.core.io import atomic_path, write_json
from regpt2.sources.data import load_pretrain_documents, load_xnli

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HEADER = "premise\thypothesis\tlabel\n"
PREVIOUS = {"from": "an earlier run"}


def _offline_env(root: Path) -> dict[str, str]:
    path = os.pathsep.join([str(PROJECT_ROOT / "src"), str(PROJECT_ROOT)])
    return {
        **os.environ,
        "PYTHONPATH": path + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "REGPT2_CACHE": str(root / "cache"),
    }


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (hidden ones too, so a left-over temp file shows), but the cache."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "cache" not in path.relative_to(root).parts
    }


def _run_failing(
    root: Path, body: str, *, env: dict[str, str] | None = None, args: list[str] | None = None
) -> str:
    """Run `body` (the inside of a stage's main) under `run_stage` in a subprocess, in `root`
    where an earlier run left out/metrics.json; check the contract and return the error line."""
    (root / "out").mkdir(exist_ok=True)
    write_json(root / "out" / "metrics.json", PREVIOUS)
    script = (
        "from regpt2.core.errors import run_stage\n"
        "from regpt2.core.io import write_json\n\n"
        "def main():\n"
        + textwrap.indent(textwrap.dedent(body).strip(), "    ")
        + '\n    write_json("out/metrics.json", {"from": "this run"})\n\n'
        "run_stage(main)\n"
    )
    command = [sys.executable, *(args or ["-c", script])]
    before = _snapshot(root)
    completed = subprocess.run(
        command,
        cwd=root,
        env=env or _offline_env(root),
        capture_output=True,
        text=True,
        timeout=120,
    )
    stderr = completed.stderr
    assert completed.returncode == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert _snapshot(root) == before, "the failing run changed files under its folder"
    return lines[0]


def _tsv(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


# ---------------------------------------------------------------- 1. a TSV that is not UTF-8


def test_non_utf8_tsv_names_file_and_line(tmp_path):
    rows = (
        HEADER.encode() + b"A cat.\tAn animal.\tentailment\nCaf\xe9 au lait.\tA drink.\tneutral\n"
    )
    _tsv(tmp_path / "xnli", "test-en.tsv", rows)
    line = _run_failing(
        tmp_path, 'from regpt2.sources.data import load_xnli\nload_xnli("xnli", "en", "test")'
    )
    assert "test-en.tsv:3" in line and "UTF-8" in line


# ---------------------------------------------------------------- 2. truncated model.safetensors


@pytest.fixture
def truncated_gpt2(tmp_path, tiny_gpt2) -> Path:
    folder = tmp_path / "gpt2-model"
    tiny_gpt2().save_pretrained(folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    return folder


def test_truncated_safetensors_names_the_folder(tmp_path, truncated_gpt2):
    body = 'from regpt2.sources.models import load_pretrained_lm\nload_pretrained_lm("gpt2-model")'
    line = _run_failing(tmp_path, body)
    assert "sources.gpt2" in line and "gpt2-model" in line and "truncated" in line


def test_truncated_safetensors_of_any_causal_lm(tmp_path, truncated_gpt2):
    from regpt2.sources.models import load_causal_lm

    with pytest.raises(UserError, match=r"sources\.qwen: .*gpt2-model.*damaged or truncated"):
        load_causal_lm(str(truncated_gpt2), role="sources.qwen")


# ---------------------------------------------------------------- 3. a GGUF cut in its header


def test_gguf_cut_inside_its_header(tmp_path, shared):
    (gguf,) = (shared / "models").glob("*.gguf")
    (tmp_path / "cut.gguf").write_bytes(gguf.read_bytes()[:1000])
    body = (
        "from regpt2.sources.models import load_causal_lm\n"
        'load_causal_lm("cut.gguf", role="sources.qwen")'
    )
    line = _run_failing(tmp_path, body)
    assert "sources.qwen" in line and "cut.gguf" in line and "truncated" in line


def test_file_that_is_not_gguf(tmp_path):
    from regpt2.sources.models import load_causal_lm

    (tmp_path / "model.gguf").write_bytes(b"<html>not found</html>")
    with pytest.raises(UserError, match="is not a GGUF file"):
        load_causal_lm(str(tmp_path / "model.gguf"), role="sources.qwen")


# ---------------------------------------------------------------- 4. output not writable


def test_disk_full_while_writing(tmp_path):
    """ENOSPC in the middle of an atomic write: one line, the temp file is gone, the previous
    output is intact."""
    body = """
    import errno, os
    from regpt2.core.io import atomic_path
    with atomic_path("out/metrics.json") as tmp:
        tmp.write_text("half of it")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
    """
    line = _run_failing(tmp_path, body)
    # The message names the output, not the temporary file that is gone.
    assert line.startswith("error: cannot write out/metrics.json: No space left on device")


def test_permission_denied_names_the_path(tmp_path):
    """What a read-only output folder raises (simulated: root ignores permission bits)."""
    body = """
    import errno, os, tempfile
    def refuse(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), dir)
    tempfile.mkdtemp = refuse
    write_json("out/metrics.json", {"from": "this run"})
    """
    line = _run_failing(tmp_path, body)
    assert line == (
        "error: cannot write out/metrics.json: Permission denied; "
        "make the folder writable and rerun"
    )


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores modes")
def test_read_only_output_folder(tmp_path):
    (tmp_path / "out").mkdir()
    write_json(tmp_path / "out" / "metrics.json", PREVIOUS)
    (tmp_path / "out").chmod(0o555)
    try:
        script = (
            "from regpt2.core.errors import run_stage\nfrom regpt2.core.io import write_json\n"
            'run_stage(lambda: write_json("out/metrics.json", {}))\n'
        )
        completed = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            env=_offline_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        (tmp_path / "out").chmod(0o755)
    assert completed.returncode == 2
    assert completed.stderr.strip().startswith("error: cannot write "), completed.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["metrics.json"]


def test_failed_folder_swap_keeps_the_previous_folder(tmp_path, monkeypatch):
    target = tmp_path / "model"
    target.mkdir()
    (target / "weights").write_text("old")
    real_replace = os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new folder onto the target: the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError), atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "weights").write_text("new")
    assert (target / "weights").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


# ---------------------------------------------------------------- 5. hub source, no network


def test_unreachable_hub_fails_fast_without_offline_flag(tmp_path):
    env = _offline_env(tmp_path)
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(name)
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    env["HF_HOME"] = str(tmp_path / "cache" / "hf")
    body = """
    from regpt2.sources.models import load_tokenizer
    load_tokenizer("hub:gpt2", role="sources.tokenizer")
    """
    start = time.monotonic()
    line = _run_failing(tmp_path, body, env=env)
    assert time.monotonic() - start < 30  # a guard against the clients' retries, not a benchmark
    assert "sources.tokenizer" in line and "Hugging Face Hub" in line and "127.0.0.1:9" in line


# ---------------------------------------------------------------- 6. translate templates


def _project(root: Path, templates: list[str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT_ROOT / "profiles", root / "profiles")
    yaml = YAML()
    params = yaml.load((PROJECT_ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["translate"]["templates"] = templates
    with (root / "params.yaml").open("w", encoding="utf-8") as handle:
        yaml.dump(params, handle)
    return root


def test_check_refuses_a_template_without_text(tmp_path):
    root = _project(tmp_path / "project", ["Translate this {lang} sentence to English:"])
    line = _run_failing(root, "", args=["-m", "regpt2.cli", "check"])
    assert "translate.templates" in line and "{text}" in line


@pytest.mark.parametrize(
    ("templates", "message"),
    [
        ([], "at least one"),
        (["{lang}: {source}"], "{source}"),
        (["{text} in {lang"], "cannot be rendered"),
        (["{text!r}"], "without format specs"),
        (["{}: {text}"], "cannot be rendered"),
    ],
)
def test_template_rules(templates, message):
    raw = YAML(typ="safe").load((PROJECT_ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw["translate"]["templates"] = templates
    with pytest.raises(UserError, match=r"translate\.templates") as caught:
        validate_params(raw)
    assert message in str(caught.value)


def test_templates_with_lang_and_braces_are_valid():
    raw = YAML(typ="safe").load((PROJECT_ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw["translate"]["templates"] = ["{{{lang}}} {text}", "English: {text}"]
    assert validate_params(raw).translate.templates[0] == "{{{lang}}} {text}"


# ---------------------------------------------------------------- 7. blank lines in a TSV


def test_trailing_blank_lines_are_accepted(tmp_path):
    rows = HEADER + "A cat.\tAn animal.\tentailment\nA dog.\tA cat.\tcontradiction\n\n\n"
    _tsv(tmp_path, "test-en.tsv", rows.encode())
    rows = load_xnli(str(tmp_path), "en", "test")
    assert [row.label for row in rows] == ["entailment", "contradiction"]


def test_blank_line_in_the_middle_is_refused(tmp_path):
    rows = HEADER + "A cat.\tAn animal.\tentailment\n\nA dog.\tA cat.\tcontradiction\n"
    _tsv(tmp_path / "xnli", "test-en.tsv", rows.encode())
    line = _run_failing(
        tmp_path, 'from regpt2.sources.data import load_xnli\nload_xnli("xnli", "en", "test")'
    )
    assert "test-en.tsv:3" in line and "blank line" in line


# ---------------------------------------------------------------- 8. errors name the param


def test_nul_filled_pretraining_file_names_the_param(tmp_path):
    (tmp_path / "text.txt").write_bytes(b"\0" * 4096)
    body = (
        "from regpt2.sources.data import load_pretrain_documents\n"
        'load_pretrain_documents("text.txt")'
    )
    line = _run_failing(tmp_path, body)
    assert "sources.pretrain_text" in line and "NUL" in line


def test_tokenizer_folder_without_merges_names_the_param(tmp_path):
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "vocab.json").write_text('{"a": 0, "b": 1, "ab": 2}', encoding="utf-8")
    body = """
    from regpt2.sources.models import load_tokenizer
    load_tokenizer("tok", role="sources.qwen_tokenizer")
    """
    line = _run_failing(tmp_path, body)
    assert "sources.qwen_tokenizer" in line and "merges.txt" in line


def test_a_single_document_names_the_param(tmp_path):
    from regpt2.sources.data import split_documents

    (tmp_path / "text.txt").write_text("one document\n", encoding="utf-8")
    documents = load_pretrain_documents(str(tmp_path / "text.txt"))
    with pytest.raises(UserError, match="sources.pretrain_text"):
        split_documents(documents, 0.1, 0)


# ---------------------------------------------------------------- 9. a very long premise


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_long_premise_truncates_without_the_misleading_warning(demo_tokenizer):
    from regpt2.nli.prompts import NliPrompt
    from regpt2.sources.data import NliExample

    template = "Premise: {premise}\nHypothesis: {hypothesis}\nLabel:"
    digits = {"entailment": "0", "contradiction": "1", "neutral": "2"}
    logger = logging.getLogger("transformers.tokenization_utils_base")
    records = _Records()
    logger.addHandler(records)
    saved = demo_tokenizer.model_max_length
    demo_tokenizer.model_max_length = 64
    try:
        prompt = NliPrompt(demo_tokenizer, template, digits, max_length=64)
        premise = " ".join(["the cat sat on the mat"] * 3000)  # ~20,000 words
        (encoded,) = prompt.encode([NliExample(premise, "A cat.", "entailment", "en")])
        assert encoded.truncated and len(encoded.input_ids) <= 63
        assert not any("Token indices sequence length" in m for m in records.messages)
        # Other code encoding with the same tokenizer still gets transformers' warning.
        demo_tokenizer(premise)
        assert any("Token indices sequence length" in m for m in records.messages)
    finally:
        demo_tokenizer.model_max_length = saved
        logger.removeHandler(records)


# ---------------------------------------------------------------- 10. digit labels in a TSV


def test_digit_labels_in_a_local_tsv_are_refused(tmp_path):
    rows = HEADER + "A cat.\tAn animal.\t1\n"
    _tsv(tmp_path / "xnli", "test-en.tsv", rows.encode())
    line = _run_failing(
        tmp_path, 'from regpt2.sources.data import load_xnli\nload_xnli("xnli", "en", "test")'
    )
    assert "test-en.tsv:2" in line and "entailment, neutral, contradiction" in line


# ---------------------------------------------------------------- 11. a stop signal mid-swap


def test_sigterm_between_the_renames_of_a_folder_swap(tmp_path):
    """SIGTERM arrives after the old folder is moved aside, before the new one is moved in: the
    swap completes first, then the stage stops (exit 143, one line), leaving no temporary."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights").write_text("old")
    script = textwrap.dedent(
        """
        import os, signal
        from regpt2.core.errors import run_stage
        from regpt2.core.io import atomic_path

        real_replace = os.replace

        def replace(source, target):
            real_replace(source, target)
            if str(target).endswith("old"):  # the old folder is aside: stop now
                os.kill(os.getpid(), signal.SIGTERM)

        def main():
            os.replace = replace
            with atomic_path("model") as tmp:
                tmp.mkdir()
                (tmp / "weights").write_text("new")
            raise AssertionError("the signal should have stopped the stage")

        run_stage(main)
        """
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 143, completed.stderr
    (line,) = completed.stderr.splitlines()
    assert line.startswith("error: python -c interrupted by SIGTERM; nothing half-written")
    assert (tmp_path / "model" / "weights").read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]


def test_timed_repro_without_dvc_is_one_line(tmp_path, monkeypatch, capsys):
    """scripts/timed_repro.py run by a Python with no dvc beside it and none on PATH."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "timed_repro.py"
    spec = importlib.util.spec_from_file_location("timed_repro", path)
    timed_repro = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timed_repro)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert timed_repro.main([]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: no dvc"), errors
    assert not list(tmp_path.iterdir())  # nothing written
