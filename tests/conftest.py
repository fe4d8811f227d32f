"""Test fixtures. Real resources come from ../shared (or $REGPT2_SHARED) and skip when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _shared_root() -> Path:
    return Path(os.environ.get("REGPT2_SHARED", PROJECT_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ../shared folder of real resources; the test is skipped when it is absent."""
    root = _shared_root()
    if not (root / "data").is_dir():
        pytest.skip(f"shared resources not found at {root} (set REGPT2_SHARED)")
    return root


@pytest.fixture(scope="session")
def gpt2_tokenizer_dir(shared: Path) -> Path:
    return shared / "data" / "tokenizers" / "gpt2"


@pytest.fixture(scope="session")
def xnli_dir(shared: Path) -> Path:
    return shared / "data" / "xnli"
