"""A source's fingerprint: what a stage reading it depends on, written as a small JSON file.

DVC tracks files inside the project. A source can be a local file or folder anywhere (the
offline profile reads ../shared), and dvc.yaml cannot name it, because the same param can also
be `demo` or `hub:ID`. So the stage `source_links` shows each local source to DVC as a link
(data/sources/links/NAME), and the `sources@NAME` stages (and `gpt2_source`), which depend on
the link, write `data/sources/NAME.json`: the source as written and, for a local path, the
sha256 of every file in it. A stage that reads the source depends on that file. DVC then reruns
it when the file's content changes, and not otherwise: replacing the model file behind
`sources.gpt2` retrains, and an unchanged fingerprint (a touched file, a new file the reader
ignores) reruns nothing.

What is fingerprinted by content: local paths. The others are fingerprinted by what the param
says: `demo` (built from params and code the reading stage declares), `hub:ID` (unpinned: a new
upload to the Hub is not noticed) and `url:URL` (its sha256 param pins it: the stage reading it
depends on that param, and refuses a URL without one).
"""

from __future__ import annotations

import os
from pathlib import Path

from regpt2.core.errors import UserError
from regpt2.sources.resolve import existing_path, parse_source, sha256_of

#: Not part of a source's content: version-control and tool metadata.
SKIPPED_PREFIX = "."
#: The files of a model folder that make up its tokenizer (the Hugging Face names).
TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "merges.txt",
        "special_tokens.json",
        "tokenizer.model",
        "vocab.txt",
    }
)


def fingerprint(text: str, *, role: str, tokenizer_only: bool = False) -> dict:
    """The fingerprint of the source `text` (the value of param `role`).

    `tokenizer_only` keeps, of a model folder, the tokenizer's files: what a stage that reads
    only the model's tokenizer depends on (new weights from the same tokenizer rerun nothing).
    A single file (a GGUF holds both) is taken whole."""
    source = parse_source(text, role=role)
    record: dict = {"param": role, "source": source.text, "kind": source.kind}
    if source.kind == "path":
        path = existing_path(source, role=role)
        files = _content_files(path, role)
        if tokenizer_only and path.is_dir():
            files = {name: file for name, file in files.items() if name in TOKENIZER_FILES}
            record["part"] = "tokenizer"
        record["files"] = {name: sha256_of(file) for name, file in files.items()}
        record["bytes"] = sum(file.stat().st_size for file in files.values())
    return record


def _content_files(path: Path, role: str) -> dict[str, Path]:
    """The files that make up `path`, by name relative to it (a file: its own name).

    Symbolic links are followed (a Hugging Face cache snapshot is links to blobs); hidden files
    and folders are skipped.
    """
    if path.is_file():
        return {path.name: path}
    files = {}
    for folder, subfolders, names in os.walk(path, followlinks=True):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(SKIPPED_PREFIX))
        for name in sorted(names):
            if not name.startswith(SKIPPED_PREFIX):
                file = Path(folder) / name
                files[file.relative_to(path).as_posix()] = file
    if not files:
        raise UserError(f"{role}: local folder {str(path)!r} holds no files")
    return files
