"""Rewrite the code deps of every stage in dvc.yaml: its script and the project modules it
imports, transitively (tests/test_graph.py fails until they match). Other deps stay as they
are. Run from the project root: `python scripts/sync_code_deps.py`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from import_closure import import_closure  # noqa: E402

# Code: the project's modules and the package data beside them (see import_closure).
CODE = re.compile(r"^(src/regpt2|stages)/.*\.(py|html|css|json)$")


def main() -> None:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    path = ROOT / "dvc.yaml"
    document = yaml.load(path.read_text(encoding="utf-8"))
    for stage in document["stages"].values():
        body = stage.get("do", stage)
        script = re.search(r"-m (stages\.\w+)", body["cmd"]).group(1).replace(".", "/") + ".py"
        code = sorted(import_closure(ROOT, ROOT / script), key=lambda p: (p != script, p))
        data = [dep for dep in body["deps"] if not CODE.match(str(dep))]
        body["deps"].clear()
        body["deps"].extend(code + data)
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(document, handle)


if __name__ == "__main__":
    main()
