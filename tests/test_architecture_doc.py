"""docs/ARCHITECTURE.md's module table lists every module of src/regpt2, each with a docstring."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT_ROOT / "src" / "regpt2"
DOC = PROJECT_ROOT / "docs" / "ARCHITECTURE.md"
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py"))


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
        names.update(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[1]))
    return names


def test_package_has_modules():
    assert "model" in MODULES and len(MODULES) > 10


@pytest.mark.parametrize("module", MODULES)
def test_module_is_in_the_architecture_table(module: str):
    assert module in _table_modules(), (
        f"src/regpt2/{module}.py is missing from docs/ARCHITECTURE.md's module table: add a row "
        f"| `{module}` | one line on what it does |"
    )


def test_table_names_only_existing_modules():
    assert _table_modules() <= set(MODULES), "the table names modules that do not exist"


@pytest.mark.parametrize("module", MODULES)
def test_module_has_a_docstring(module: str):
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"src/regpt2/{module}.py has no module docstring"
