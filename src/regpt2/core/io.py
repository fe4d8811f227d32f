"""Atomic writes: a killed stage never leaves a half-written file that DVC would cache. And the
one encoding every text input is read with (`TEXT_ENCODING`)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from regpt2.core.errors import signals_deferred

#: How text inputs are read (XNLI TSVs, the pretraining text, tokenizer files): UTF-8, with a
#: leading byte-order mark ignored. Excel and many Windows tools write one; read as plain UTF-8,
#: it would stick to the first column's name or the first token.
TEXT_ENCODING = "utf-8-sig"


def is_main_process() -> bool:
    """Whether this process writes the outputs: rank 0 of a data-parallel run, or the only one.

    torch is consulted only when something has loaded it (a process group needs it), so a stage
    that never touches torch, like `sources@NAME`, starts without its two-second import.
    """
    if "torch" in sys.modules:
        from regpt2.core import distributed

        return distributed.is_main_process()
    return int(os.environ.get("RANK", "0")) == 0


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it over `target`.

    Works for files and directories alike: whatever the caller writes at the yielded path
    replaces `target` in one rename. On an exception (the caller's, a full disk, a read-only
    folder) the temporary is removed and `target` is left as it was: no temp file remains.
    """
    target = Path(target)
    if not is_main_process():
        # In a data-parallel run only rank 0 writes: the others write to a scratch folder
        # that is thrown away, so every output exists exactly once.
        scratch = Path(tempfile.mkdtemp(prefix="regpt2-rank-"))
        try:
            yield scratch / "out"
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as error:
        raise _naming(error, target, str(target.parent)) from None
    tmp = scratch / "out"
    try:
        try:
            yield tmp
        except OSError as error:
            raise _naming(error, target, str(scratch)) from None
        real_dir = target.is_dir() and not target.is_symlink()
        if real_dir or (tmp.is_dir() and (target.exists() or target.is_symlink())):
            # A folder cannot be renamed over a non-empty one (nor over a file): move the old
            # one aside first, and put it back if the rename fails, so it survives a failure.
            # Ctrl-C waits for both renames: between them the old folder is in `scratch`.
            old = scratch / "old"
            with signals_deferred():
                os.replace(target, old)
                try:
                    os.replace(tmp, target)
                except OSError:
                    os.replace(old, target)
                    raise
        else:
            os.replace(tmp, target)  # atomic over an existing file
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _naming(error: OSError, target: Path, inside: str) -> OSError:
    """The same error, naming `target` instead of a temporary path under `inside`: a message
    about a file that no longer exists would not help."""
    for attribute in ("filename", "filename2"):
        name = getattr(error, attribute)
        if name is not None and str(name).startswith(inside):
            setattr(error, attribute, str(target))
    return error


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write `data` as pretty JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
