"""docs/ARCHITECTURE.md's module table lists every module and package of src/regpt2 by its dotted
name below `regpt2` (`core.io`; a package by its own name, `core`), each with a docstring."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT_ROOT / "src" / "regpt2"
DOC = PROJECT_ROOT / "docs" / "ARCHITECTURE.md"


def _dotted(path: Path) -> str:
    """`core/io.py` -> `core.io`; `core/__init__.py` -> `core`; the top one stays `__init__`."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


FILES = {_dotted(path): path for path in PACKAGE.rglob("*.py")}
MODULES = sorted(FILES)


def _table_modules() -> set[str]:
    """Backticked names in the first column of the rows of the `## Modules` table."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Modules\n", 1)
    assert len(section) == 2, "docs/ARCHITECTURE.md has no '## Modules' section"
    body = re.split(r"\n## ", section[1], maxsplit=1)[0]
    names: set[str] = set()
    for line in body.splitlines():
        cells = line.strip().split("|")
        if len(cells) < 3 or set(cells[1].strip()) <= {"-", " "}:
            continue
        names.update(re.findall(r"`([A-Za-z_][A-Za-z0-9_.]*)`", cells[1]))
    return names


def test_package_has_modules():
    assert "gpt2.model" in MODULES and len(MODULES) > 10


@pytest.mark.parametrize("module", MODULES)
def test_module_is_in_the_architecture_table(module: str):
    assert module in _table_modules(), (
        f"{FILES[module].relative_to(PROJECT_ROOT)} is missing from docs/ARCHITECTURE.md's module "
        f"table: add a row "
        f"| `{module}` | one line on what it does |"
    )


def test_table_names_only_existing_modules():
    assert _table_modules() <= set(MODULES), "the table names modules that do not exist"


@pytest.mark.parametrize("module", MODULES)
def test_module_has_a_docstring(module: str):
    tree = ast.parse(FILES[module].read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{FILES[module].relative_to(PROJECT_ROOT)} has no docstring"
