"""Results snapshots: one finished run of the study kept in the repository for readers.

`regpt2 snapshot NAME` copies, from an up-to-date workspace, into `results/NAME/`:
- `README.md`: the report (report/index.md) with its figures (`figures/`), so the folder reads
  as the report wherever the repository is browsed;
- `metrics/`: every metrics file, exactly as the stages wrote them;
- `params.yaml` and `dvc.lock`: what produced them (the lock pins every input's hash);
- `timings.json`: wall time per stage (`scripts/timed_repro.py`) and per training run;
- `SNAPSHOT.json`: the commit, the profile, the machine, the date and the metrics format
  (`nli.metrics.METRICS_FORMAT`).
The DVC cache is not kept with the repository: these small text files are what lasts.

NAME is one plain folder name, checked before anything else: the snapshot replaces whatever is
at its target, so a name like `../docs` must never reach the file system. An existing
results/NAME is replaced only when asked (`--force`).
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from ruamel.yaml import YAML

from regpt2.config.profiles import NOT_SET, profile_mismatches
from regpt2.core.errors import UserError
from regpt2.core.io import atomic_path
from regpt2.core.languages import XNLI_LANGUAGES
from regpt2.nli.metrics import METRICS_FORMAT, Summary, evaluation_languages

RESULTS = Path("results")
# Files a run may change without touching the code it ran: the profile's values and DVC's lock.
RUN_FILES = ("params.yaml", "dvc.lock")
PER_LANGUAGE_STAGES = ("zeroshot", "qwen_lora")  # evaluated on all 15 languages
#: A snapshot name: one folder name, never a path (no `/`, no `..`, not hidden).
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")


def take_snapshot(name: str, root: Path = Path("."), *, force: bool = False) -> Path:
    """Write results/NAME from the workspace at `root`; refuse a name that is not one plain
    folder name, an existing snapshot (unless `force`), and a stale or incomplete run."""
    root = Path(root)
    target = snapshot_folder(name, root, force=force)
    _require_up_to_date(root)
    commit, dirty = _commit(root)
    if dirty:
        raise UserError(
            f"code differs from commit {commit[:12]} ({', '.join(dirty[:3])}); commit it first, "
            "so the snapshot names the code that produced it"
        )
    with atomic_path(target) as folder:
        folder.mkdir(parents=True)
        shutil.copytree(root / "metrics", folder / "metrics")
        for file in RUN_FILES:
            shutil.copy2(root / file, folder / file)
        shutil.copy2(root / "report" / "index.md", folder / "README.md")
        if (root / "report" / "figures").is_dir():
            shutil.copytree(root / "report" / "figures", folder / "figures")
        (folder / "timings.json").write_text(_timings(root), encoding="utf-8")
        profile = YAML(typ="safe").load((root / "params.yaml").read_text(encoding="utf-8"))
        source = {
            "commit": commit,
            "profile": profile.get("profile"),
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": _machine(),
            "metrics_format": METRICS_FORMAT,
        }
        (folder / "SNAPSHOT.json").write_text(json.dumps(source, indent=2) + "\n", "utf-8")
        problems = snapshot_problems(folder)
        if problems:
            raise UserError(f"the run is incomplete: {problems[0]}")
    return target


def snapshot_folder(name: str, root: Path, *, force: bool) -> Path:
    """results/NAME under `root`, once NAME is known to be one plain folder name and the folder
    is free (or `force` says to replace it)."""
    if not NAME.fullmatch(name):
        raise UserError(
            f"snapshot name {name!r} is not a plain folder name: use letters, digits, '-', '_' "
            "and '.', not starting with '.' or '-' (e.g. offline); the snapshot goes to "
            "results/NAME"
        )
    target = root / RESULTS / name
    if (target.exists() or target.is_symlink()) and not force:
        raise UserError(
            f"{RESULTS / name} exists already; add --force to replace it, or choose another name"
        )
    return target


def snapshot_problems(folder: Path) -> list[str]:
    """What a complete snapshot lacks (empty when complete): every stage's results, every
    language where the study evaluated all of them, the files that say how it was made."""
    folder = Path(folder)
    problems = [
        f"{name} is missing"
        for name in ("README.md", "params.yaml", "dvc.lock", "SNAPSHOT.json", "timings.json")
        if not (folder / name).is_file()
    ]
    metrics = folder / "metrics"
    for stage in PER_LANGUAGE_STAGES:
        languages = _scores(metrics, f"{stage}.json", problems)
        missing = [lang for lang in XNLI_LANGUAGES if lang not in languages]
        if missing:
            problems.append(f"metrics/{stage}.json lacks {', '.join(missing)}")
    params = YAML(typ="safe").load((folder / "params.yaml").read_text("utf-8")) or {}
    per_lang = (params.get("finetune_per_lang") or {}).get("languages") or {}
    for lang in per_lang:
        if lang not in _scores(metrics, f"finetune_per_lang/{lang}.json", problems):
            problems.append(f"metrics/finetune_per_lang/{lang}.json has no test result")
    if not per_lang:
        problems.append("params.yaml names no per-language fine-tuning")
    for name in ("finetune_en.json", "finetune_all.json"):
        if not _scores(metrics, name, problems):
            problems.append(f"metrics/{name} is missing or empty")
    checks = {
        "fertility.json": "gpt2",
        "translate.json": "languages",
        "pretrain.json": None,
        "probe.json": None,
    }
    for file, key in checks.items():
        data = _read(metrics / file)
        if not data or (key and not data.get(key)):
            problems.append(f"metrics/{file} is missing or empty")
    return problems


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _scores(metrics: Path, name: str, problems: list[str]) -> dict[str, Summary]:
    """The summaries by language in evaluation metrics file `metrics/NAME`: empty when it is
    missing, and empty with the reason added to `problems` when it has another shape."""
    data = _read(metrics / name)
    try:
        return evaluation_languages(data, f"metrics/{name}") if data else {}
    except UserError as error:
        problems.append(str(error))
        return {}


def _require_up_to_date(root: Path) -> None:
    try:
        status = subprocess.run(
            ["dvc", "status", "--json"], cwd=root, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError) as error:
        raise UserError(f"cannot run `dvc status` in {root}: {error}") from None
    changed = list(json.loads(status.stdout or "{}"))
    if changed:
        raise UserError(
            f"the pipeline is not up to date ({', '.join(sorted(changed)[:4])}); run `dvc repro`"
        )
    if not (root / "report" / "index.md").is_file():
        raise UserError("report/index.md is missing; run `dvc repro report`")


def _commit(root: Path) -> tuple[str, list[str]]:
    """HEAD and the tracked files that differ from it, leaving out what a run writes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        if done.returncode:
            raise UserError(f"git {args[0]} failed in {root}: {done.stderr.strip()}")
        return done.stdout

    commit = git("rev-parse", "HEAD").strip()
    changed = git("status", "--porcelain", "--untracked-files=no").splitlines()
    paths = [line[3:] for line in changed]
    dirty = [p for p in paths if p not in RUN_FILES and not p.startswith(("metrics/", "results/"))]
    return commit, dirty


def _timings(root: Path) -> str:
    timings: dict = {}
    folder = root / "data" / "timings"
    repro = folder / "repro.json"
    if repro.is_file():
        timings["repro"] = json.loads(repro.read_text(encoding="utf-8"))
    timings["training"] = {
        path.relative_to(folder).with_suffix("").as_posix(): json.loads(path.read_text("utf-8"))
        for path in sorted(folder.rglob("*.json"))
        if path != repro
    }
    return json.dumps(timings, indent=2) + "\n"


def _machine() -> dict:
    import torch

    return {
        "cpu": _cpu_model(),
        "cores": _cores(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cores() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def profile_differences(params: dict, profile: dict) -> list[str]:
    """Keys of `profile` whose value in `params` differs: empty when params holds the profile."""
    return [
        f"{key}: {None if held is NOT_SET else held!r} (profile: {value!r})"
        for key, held, value in profile_mismatches(params, profile)
    ]
