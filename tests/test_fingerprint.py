"""Source fingerprints (regpt2.sources.fingerprint): what a stage reading a source depends on.

A fingerprint must change exactly when the content a stage would read changes: a file's bytes,
a file added or removed, the param's value; not a touch, not hidden metadata."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from regpt2.core.errors import UserError
from regpt2.sources.fingerprint import fingerprint

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _model_folder(root: Path) -> Path:
    folder = root / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"n_layer": 2}')
    (folder / "sub" / "weights.bin").write_bytes(b"\x00\x01" * 100)
    return folder


def test_a_folder_is_fingerprinted_file_by_file(tmp_path: Path):
    record = fingerprint(str(_model_folder(tmp_path)), role="sources.gpt2")
    assert record["param"] == "sources.gpt2" and record["kind"] == "path"
    assert sorted(record["files"]) == ["config.json", "sub/weights.bin"]
    assert record["bytes"] == len('{"n_layer": 2}') + 200


def test_content_changes_change_the_fingerprint(tmp_path: Path):
    folder = _model_folder(tmp_path)
    before = fingerprint(str(folder), role="sources.gpt2")
    (folder / "sub" / "weights.bin").write_bytes(b"\x00\x02" * 100)  # same size, new bytes
    changed = fingerprint(str(folder), role="sources.gpt2")
    assert changed["files"]["sub/weights.bin"] != before["files"]["sub/weights.bin"]
    assert changed["files"]["config.json"] == before["files"]["config.json"]
    (folder / "extra.txt").write_text("new file")
    assert "extra.txt" in fingerprint(str(folder), role="sources.gpt2")["files"]


def test_touching_or_hidden_metadata_changes_nothing(tmp_path: Path):
    folder = _model_folder(tmp_path)
    before = fingerprint(str(folder), role="sources.gpt2")
    os.utime(folder / "config.json", (0, 0))
    (folder / ".cache").mkdir()
    (folder / ".cache" / "download.lock").write_text("tool state")
    (folder / ".DS_Store").write_text("finder state")
    assert fingerprint(str(folder), role="sources.gpt2") == before


def test_a_file_and_a_linked_folder(tmp_path: Path):
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF" + bytes(60))
    record = fingerprint(str(weights), role="sources.qwen")
    assert list(record["files"]) == ["model.gguf"] and record["bytes"] == 64
    # A Hugging Face cache snapshot is symbolic links to blobs: the blobs' content counts.
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "model.gguf").symlink_to(weights)
    (tmp_path / "linked").symlink_to(snapshot, target_is_directory=True)
    linked = fingerprint(str(tmp_path / "linked"), role="sources.qwen")
    assert linked["files"] == record["files"]


def test_the_value_is_part_of_the_fingerprint(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "vocab.json").write_text("{}")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "vocab.json").write_text("{}")
    first = fingerprint(str(tmp_path / "a"), role="sources.tokenizer")
    second = fingerprint(str(tmp_path / "b"), role="sources.tokenizer")
    assert first["files"] == second["files"] and first != second


@pytest.mark.parametrize(
    ("text", "kind"),
    [("demo", "demo"), ("hub:openai-community/gpt2", "hub"), ("url:https://x.org/t.txt", "url")],
)
def test_non_local_sources_are_fingerprinted_by_their_value(text: str, kind: str):
    assert fingerprint(text, role="sources.xnli") == {
        "param": "sources.xnli",
        "source": text,
        "kind": kind,
    }


def test_a_missing_path_or_an_empty_folder_is_one_clear_error(tmp_path: Path):
    with pytest.raises(UserError, match=r"sources\.xnli: local path '.*nowhere' does not exist"):
        fingerprint(str(tmp_path / "nowhere"), role="sources.xnli")
    (tmp_path / "empty" / ".git").mkdir(parents=True)
    with pytest.raises(UserError, match=r"sources\.xnli: local folder '.*empty' holds no files"):
        fingerprint(str(tmp_path / "empty"), role="sources.xnli")


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared")
def test_the_offline_profile_sources_are_fingerprinted():
    """The real offline sources: the GGUF model (98 MB) and the XNLI folder, every file read."""
    model = fingerprint(str(SHARED / "models" / "smollm2-135m-instruct-q4_1.gguf"), role="g")
    assert model["bytes"] > 50_000_000 and len(next(iter(model["files"].values()))) == 64
    xnli = fingerprint(str(SHARED / "data" / "xnli"), role="x")
    assert {"dev-en.tsv", "test-th.tsv"} <= set(xnli["files"])
