"""Test fixtures. Real resources come from ../shared (or $REGPT2_SHARED) and skip when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One torch thread in this process and in every process it starts (the stages of the demo `dvc
# repro` that runs in the background included). The suite runs two things side by side, and
# two one-thread processes then each have a core, whereas a two-thread process beside a busy
# one waits on its own threads: a demo training step took 4.6x as long (bench numbers in
# docs/PERFORMANCE.md, "The test suite").
os.environ["OMP_NUM_THREADS"] = "1"
import torch  # noqa: E402  (after OMP_NUM_THREADS, which torch reads when it starts)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# A report section or claim that crashes raises in tests instead of becoming a paragraph.
os.environ.setdefault("REGPT2_STRICT_REPORT", "1")
# The Rust tokenizers' thread pool competes with torch for the few CPU cores of a test run.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(1)

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


@pytest.fixture(scope="session")
def demo_tokenizer():
    """A tiny demo BPE (400 tokens) over English demo sentences, the template words and digits
    (" 1" is a token of its own, as in GPT-2). Built in milliseconds; no ../shared needed."""
    from regpt2.demo.corpus import demo_nli_rows
    from regpt2.sources.tokenizers import train_demo_bpe

    rows = demo_nli_rows("en", "train", 200)
    texts = [row["premise"] for row in rows] + [row["hypothesis"] for row in rows]
    texts += ["Premise: Hypothesis: Label:"] * 20 + ["item 1 and 1 or 1, page 1 of 2"] * 20
    return train_demo_bpe(texts, 400)


@pytest.fixture
def tiny_gpt2(demo_tokenizer):
    """Factory of tiny hand-written GPT-2s over the demo tokenizer, seeded."""
    from regpt2.gpt2.config import GPT2Config
    from regpt2.gpt2.model import GPT2LMHead

    def make(seed: int = 0, n_embd: int = 32, n_layer: int = 1, n_positions: int = 128):
        torch.manual_seed(seed)
        config = GPT2Config(
            vocab_size=len(demo_tokenizer),
            n_positions=n_positions,
            n_embd=n_embd,
            n_layer=n_layer,
            n_head=2,
        )
        return GPT2LMHead(config).eval()

    return make


def _needs_demo_project(item: pytest.Item) -> bool:
    return "demo_project" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that need the demo run go last (in their own order): the run starts in the
    background with the session, and the other tests fill the wait."""
    items.sort(key=_needs_demo_project)  # stable: each group keeps its order


@pytest.fixture(scope="session", autouse=True)
def _demo_repro(request, tmp_path_factory):
    """Starts the demo `dvc repro` before the first test when a selected test needs it, and
    ends it with the session if it is still going."""
    if not any(_needs_demo_project(item) for item in request.session.items):
        yield None
        return
    from helpers.demo_project import DemoRepro

    try:
        repro = DemoRepro(tmp_path_factory.mktemp("regpt2") / "project")
    except (OSError, AssertionError) as error:  # fails the tests that need the run, only
        yield error
        return
    yield repro
    repro.stop()


@pytest.fixture(scope="session")
def demo_project(_demo_repro) -> Path:
    """A committed copy of the project with the demo pipeline reproduced (minutes, started with
    the session): one run shared by the end-to-end tests (the pipeline's, the seed robustness')."""
    if isinstance(_demo_repro, Exception):
        raise AssertionError(f"the demo dvc repro could not start: {_demo_repro}")
    return _demo_repro.result()
