"""The project files a stage script runs, and their fingerprint: what a stage's code
dependency is.

A script runs its transitive imports of `regpt2` and `stages` (imports inside functions too),
found by reading the source, never by importing it, and the package data files beside those
modules (the report's HTML template and stylesheet), which they read at run time.

dvc.yaml does not list those files per stage (dozens each). The stage `fingerprint_code` writes
data/code/SCRIPT.sha256, one `sha256  path` line per file a script runs, and each stage depends
on its script's file. An edit reruns `fingerprint_code` (a second) and then exactly the stages
whose fingerprint changed: a comment in the LoRA module reruns the LoRA stages, not zero-shot
scoring.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

LOCAL_PACKAGES = ("regpt2", "stages")
# Package data a module reads from its own folder; pyproject.toml ships the same suffixes.
DATA_SUFFIXES = (".html", ".css", ".json")


def module_file(root: Path, module: str) -> Path | None:
    """The file of a local module name (`regpt2.nli.scorer` -> src/regpt2/nli/scorer.py) or
    None."""
    parts = module.split(".")
    if parts[0] not in LOCAL_PACKAGES:
        return None
    base = root / "src" if parts[0] == "regpt2" else root
    for candidate in (
        base.joinpath(*parts).with_suffix(".py"),
        base.joinpath(*parts, "__init__.py"),
    ):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """Local module names `path` imports anywhere, with their parent packages."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from regpt2.core import stats` imports regpt2.core.stats; `from regpt2.x import f`
            # regpt2.x
            found = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in found:
            parts = name.split(".")
            names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return {name for name in names if name.split(".")[0] in LOCAL_PACKAGES}


def import_closure(root: Path, script: Path) -> set[str]:
    """Paths (relative to `root`) of `script` and every local file it imports, transitively."""
    seen: set[Path] = set()
    # `python -m stages.NAME` runs the package's __init__.py before the script itself.
    package = script.parent / "__init__.py"
    pending = [script, package] if package.is_file() else [script]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in imported_modules(path):
            found = module_file(root, module)
            if found is not None and found not in seen:
                pending.append(found)
    data = {
        path
        for folder in {path.parent for path in seen}
        for path in folder.iterdir()
        if path.suffix in DATA_SUFFIXES and path.is_file()
    }
    return {path.relative_to(root).as_posix() for path in seen | data}


def stage_scripts(root: Path) -> list[Path]:
    """The stage scripts: every module of stages/ but the package's __init__."""
    return sorted(path for path in (root / "stages").glob("*.py") if path.name != "__init__.py")


def code_fingerprint(root: Path, script: Path) -> str:
    """`sha256  path` lines (the format `sha256sum -c` reads) for every file `script` runs:
    the script first, then the rest in path order."""
    name = script.relative_to(root).as_posix()
    paths = sorted(import_closure(root, script), key=lambda path: (path != name, path))
    return "".join(
        f"{hashlib.sha256((root / path).read_bytes()).hexdigest()}  {path}\n" for path in paths
    )
