"""The setup every bench script runs before it imports torch.

A bench measures what the stages run, so its process is set up as a stage process is: the Hub
stays offline unless the caller says otherwise (a hub call retries for tens of seconds), library
progress bars and chatter are off, `src/` is importable without an install, and freed memory is
reused (`regpt2.core.memory`, which must act before the first tensor exists).

    import bench_env  # bench/ is on sys.path when a script here runs

    PROJECT_ROOT = bench_env.prepare()

    import torch  # noqa: E402
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def prepare(*, reuse_freed_memory: bool = True) -> Path:
    """Set the bench process up like a stage process; returns the project root.

    `reuse_freed_memory=False` leaves the allocator as it is, for a bench that compares
    the policy with its absence (bench_malloc.py).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    source = str(PROJECT_ROOT / "src")
    if source not in sys.path:
        sys.path.insert(0, source)
    if reuse_freed_memory:
        from regpt2.core import memory

        memory.reuse_freed_memory()
    return PROJECT_ROOT


def shared_folder() -> Path:
    """The `../shared` folder of real data beside the project ($REGPT2_SHARED overrides it)."""
    return Path(os.environ.get("REGPT2_SHARED", PROJECT_ROOT.parent / "shared"))
