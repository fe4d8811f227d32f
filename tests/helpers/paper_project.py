"""The paper profile's project for tests/test_paper_hub.py: a local Hugging Face Hub (olah
serving the repos hub_mirror.py builds, and a url server for the pretraining text) and a
committed copy of the project under the paper profile, sizes shrunk. conftest.py's
`paper_run` reproduces it in the background from the session's start."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from helpers import hub_mirror
from helpers.demo_project import project_files, run, set_params
from ruamel.yaml import YAML

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PAPER = YAML(typ="safe").load((PROJECT_ROOT / "profiles" / "paper.yaml").read_text())

# What the test changes in the paper profile: sizes only (the served XNLI repo is small too:
# hub_mirror.XNLI_ROWS rows per language and split).
SIZES = {
    "pretrain.training.epochs": 1,
    "pretrain.n_embd": 32,
    "pretrain.n_head": 2,
    "pretrain.n_inner": 64,
    "translate.samples": 2,
    "probe.rows": 4,
}
# Lines of the study's pretraining text that are served (the profile pins all 5,778 by sha256;
# the test pins the lines it serves the same way).
PRETRAIN_LINES = 24
# The Hugging Face clients' switches to the local cache only (CI sets them), and credentials or
# proxies that the runner's environment may hold: none of them applies to the local Hub.
DROPPED_ENV = (
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


def shared_or_none() -> Path | None:
    root = Path(os.environ.get("REGPT2_SHARED", PROJECT_ROOT.parent / "shared"))
    return root if (root / "data").is_dir() else None


@contextmanager
def local_hub(root: Path):
    """The local Hub (olah) and the url server, built under `root` and running; yields the
    environment of a user whose HF_ENDPOINT is that Hub."""
    import datasets

    datasets.disable_progress_bars()
    shared = shared_or_none()
    hub_mirror.build_hub(root, shared)
    if shared is not None:
        lines = (shared / "data" / "pretrain" / "pretrain.txt").read_bytes().split(b"\n")
    else:
        from regpt2.demo.corpus import demo_pretrain_documents

        lines = [line.encode() for line in demo_pretrain_documents(PRETRAIN_LINES)]
    text = b"\n".join(lines[:PRETRAIN_LINES]) + b"\n"
    url_path = urlparse(PAPER["sources"]["pretrain_text"].removeprefix("url:")).path
    with (
        hub_mirror.olah_server(root, denied=(hub_mirror.DENIED_MODEL,)) as endpoint,
        hub_mirror.file_server({url_path: text}) as files,
    ):
        env = {name: value for name, value in os.environ.items() if name not in DROPPED_ENV}
        env.update(
            HF_ENDPOINT=endpoint,
            HF_HOME=str(root / "hf-home"),  # a fresh Hugging Face cache
            REGPT2_CACHE=str(root / "regpt2-cache"),  # and a fresh cache of url: downloads
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_DATASETS_DISABLE_PROGRESS_BARS="1",
            PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
        )
        yield {
            "env": env,
            "root": root,
            "pretrain_url": f"url:{files}{url_path}",
            "pretrain_sha256": hashlib.sha256(text).hexdigest(),
        }


def flat(tree: dict, where: str = "") -> dict:
    """{dotted key: value} of a params tree."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{where}{key}."))
        else:
            out[f"{where}{key}"] = value
    return out


def prepare_paper_project(project: Path, hub: dict) -> Path:
    """A committed copy of the project under the paper profile, sizes shrunk, ready for `dvc
    repro` (conftest.py's `paper_run` runs it)."""
    env = hub["env"]
    for name in project_files():
        if name.startswith(("metrics/", "report/", "results/")) or name == "dvc.lock":
            continue  # the run must produce them itself
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, project / name)
    run(["regpt2", "profile", "paper"], project, env=env)
    paper = flat(YAML(typ="safe").load((project / "params.yaml").read_text()))
    local_url = {
        "sources.pretrain_text": hub["pretrain_url"],
        "sources.pretrain_text_sha256": hub["pretrain_sha256"],
    }
    set_params(project, {**SIZES, **local_url})
    params = flat(YAML(typ="safe").load((project / "params.yaml").read_text()))
    changed = {key for key in params if params[key] != paper[key]}
    assert changed <= set(SIZES) | set(local_url), changed  # the paper profile, but for sizes
    for name in [key for key in params if key.startswith("sources.") and "sha256" not in key]:
        assert params[name].startswith(("hub:", "url:")), (name, params[name])
    for git in (["init", "-q"], ["add", "-A"]):
        run(["git", *git], project, env=env)
    run(["git", "-c", "user.name=CI", "-c", "user.email=ci@localhost", "commit", "-qm", "paper"],
        project, env=env)  # fmt: skip
    return project


class BackgroundRepro:
    """`dvc repro` of a committed project, started now and left running in the background
    (conftest.py starts the paper profile's run this way, beside the tests that need no
    project); `result()` waits for it."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.log_path = root.parent / "repro.log"
        with self.log_path.open("w", encoding="utf-8") as log:
            # A session of its own, so that stop() reaches the stage processes DVC starts.
            self.process = subprocess.Popen(
                ["dvc", "repro"],
                cwd=root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def result(self, timeout: float = 3600) -> Path:
        """Wait for the run to end well, and return the project."""
        try:
            returncode = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as error:
            self.stop()
            raise AssertionError(f"dvc repro did not finish in {timeout:.0f} s") from error
        if returncode != 0:
            tail = self.log_path.read_text(encoding="utf-8")[-6000:]
            raise AssertionError(f"dvc repro failed ({returncode}) in {self.root}:\n{tail}")
        return self.root

    def stop(self) -> None:
        """End the run and every stage process under it, if it is still going (Ctrl-C, or a
        session that never asked for its result)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
