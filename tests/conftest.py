"""Test fixtures. Real resources come from ../shared (or $REGPT2_SHARED) and skip when absent."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# One torch thread in this process and in the processes it starts: the paper profile's `dvc
# repro` runs in the background beside the tests that need no project, and two one-thread
# processes then each have a core, whereas a two-thread process beside a busy one waits on its
# own threads (bench/bench_threads_side_by_side.py: a demo training step took 3.8x as long).
# The demo's dvc runs are the exception: they keep torch's own thread count, as a user's do
# (helpers/demo_project.py, command_env).
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


def _run_order(item: pytest.Item) -> int:
    """0: the tests that need no project run; 1: those of the paper profile's run, which goes
    on in the background meanwhile; 2: those of the demo run, which starts when they do."""
    names = getattr(item, "fixturenames", ())
    return 2 if "demo_project" in names else 1 if "paper_run" in names else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_run_order)  # stable: each group keeps its order


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory) -> Path:
    """A committed copy of the project with the demo pipeline reproduced (minutes): one run
    for the session, shared by the end-to-end tests (the pipeline's, the seed robustness'). Its
    stages run with torch's own thread count, as a user's do, and nothing else runs beside
    them: a two-thread training beside another busy process slows down several times over."""
    from helpers.demo_project import reproduce_demo

    return reproduce_demo(tmp_path_factory.mktemp("regpt2") / "project")


@pytest.fixture(scope="session", autouse=True)
def _paper_repro(request, tmp_path_factory):
    """When a selected test needs `paper_run`: the local Hub up, the paper project prepared and
    its `dvc repro` started, before the first test, on one thread (the tests that need no
    project run meanwhile, each process on one thread too). Ended with the session if it is
    still going. A failure to start fails the tests that need the run, only."""
    if not any(_run_order(item) == 1 for item in request.session.items):
        yield None
        return
    if importlib.util.find_spec("olah") is None:
        yield "olah (a Hugging Face Hub mirror server) is not installed"
        return
    from helpers.paper_project import BackgroundRepro, local_hub, prepare_paper_project

    with local_hub(tmp_path_factory.mktemp("hub")) as hub:
        try:
            project = prepare_paper_project(tmp_path_factory.mktemp("paper") / "project", hub)
            repro = BackgroundRepro(project, env={**hub["env"], "OMP_NUM_THREADS": "1"})
        except (OSError, AssertionError) as error:
            yield hub, error
            return
        yield hub, repro
        repro.stop()


@pytest.fixture(scope="session")
def hub(_paper_repro) -> dict:
    """The local Hub the paper run uses: its root, and the environment of a user whose
    HF_ENDPOINT it is."""
    if isinstance(_paper_repro, str):
        pytest.skip(_paper_repro)
    return _paper_repro[0]


@pytest.fixture(scope="session")
def paper_run(_paper_repro, hub) -> Path:
    """The paper profile's committed copy of the project, `dvc repro`ed against the local Hub."""
    started = _paper_repro[1]
    if isinstance(started, Exception):
        raise AssertionError(f"the paper profile's dvc repro could not start: {started}")
    return started.result()
