"""The demo profile reproduced once per test session in a committed copy of the project (the
`demo_project` fixture in conftest.py), and the command runner and params editor the
end-to-end tests share."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def command_env() -> dict[str, str]:
    """Offline, and with torch's own thread count (one per core), as in a user's shell: the
    suite's one-thread setting (conftest.py) stays with the suite's own processes."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("OMP_NUM_THREADS", None)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    return env


def run(
    args: list[str],
    cwd: Path,
    check: bool = True,
    timeout: float = 900,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run a command in `cwd` (in `env`, by default `command_env()`'s offline one); a command
    that hangs fails its test after `timeout` seconds instead of stalling the whole suite."""
    try:
        result = subprocess.run(
            args,
            cwd=cwd,
            env=command_env() if env is None else env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        raise AssertionError(f"{' '.join(args)} did not finish within {timeout:.0f} s") from error
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-3000:]}"
        )
    return result


def project_files() -> list[str]:
    """The files a fresh clone would have: tracked plus untracked-but-not-ignored."""
    listing = run(["git", "ls-files", "-co", "--exclude-standard"], PROJECT_ROOT).stdout
    return [name for name in listing.splitlines() if (PROJECT_ROOT / name).is_file()]


def set_params(project: Path, values: dict) -> None:
    """Set dotted params of the project's params.yaml, its comments kept."""
    from ruamel.yaml import YAML

    yaml = YAML()  # round trip: comments stay
    path = project / "params.yaml"
    document = yaml.load(path.read_text(encoding="utf-8"))
    for dotted, value in values.items():
        *parents, last = dotted.split(".")
        section = document
        for key in parents:
            section = section[key]
        section[last] = value
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(document, handle)


def reproduce_demo(root: Path) -> Path:
    """Copy the project to `root` (no metrics, report or dvc.lock: the run must make them),
    commit it, `dvc repro` the demo profile and commit the result."""
    for name in project_files():
        if name.startswith(("metrics/", "report/")) or name == "dvc.lock":
            continue
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, target)
    run(["git", "init", "-q"], root)
    run(["git", "config", "user.email", "ci@example.com"], root)
    run(["git", "config", "user.name", "CI"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "copy"], root)
    run(["dvc", "repro"], root, timeout=3600)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "demo run"], root)
    return root
