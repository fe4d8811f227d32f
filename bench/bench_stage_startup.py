"""What one stage process costs before it does its work, against the floor of importing torch.

Every DVC stage is a fresh `python -m stages.NAME` process: it imports torch, transformers'
tokenizer classes and the project, reads params.yaml, loads its model, then scores or trains.
In the demo the work itself is often a fraction of a second, so this start-up is much of the
run. This times, interleaved over a few rounds:

- `python -c "import torch"`: the floor every torch stage pays;
- `python -m stages.finetune_per_lang evaluate es`: a whole scoring stage (600 demo test rows);
- the same stage's imports alone;
- the report stage's imports (no model, no torch);
- the whole `analyze` stage (no model; since issue 34's third round no torch either),

and prints each as a ratio to the floor, then the heaviest modules of the stage's import
(`python -X importtime`). Run it in a project where the demo `dvc repro` has run (it rewrites
those stages' outputs with the same bytes):

    python bench/bench_stage_startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "import torch (the floor)": [sys.executable, "-c", "import torch"],
    "import the stage": [sys.executable, "-c", "import stages.finetune_per_lang"],
    # A stage without a model: since issue 34 it imports no torch.
    "import the report stage": [sys.executable, "-c", "import stages.report"],
    "whole stage: finetune_per_lang evaluate es": [
        sys.executable,
        "-m",
        "stages.finetune_per_lang",
        "evaluate",
        "es",
    ],  # fmt: skip
    "whole stage: analyze": [sys.executable, "-m", "stages.analyze"],
}
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=_env(), check=True, capture_output=True)
    return time.perf_counter() - start


def heaviest_imports(count: int = 8) -> list[tuple[str, float]]:
    """The modules with the largest cumulative import time, nested ones left out."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import stages.finetune_per_lang"],
        cwd=ROOT, env=_env(), check=True, capture_output=True, text=True,
    )  # fmt: skip
    rows = []
    for match in IMPORT_LINE.finditer(result.stderr):
        depth = len(match.group(3)) // 2
        rows.append((depth, match.group(4), int(match.group(2)) / 1e6))
    top = [(name, cumulative) for depth, name, cumulative in rows if depth <= 1]
    return sorted(top, key=lambda row: -row[1])[:count]


def _env() -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not (ROOT / "data/models/finetune_per_lang/es").is_dir():
        print("run the demo `dvc repro` first: data/models/finetune_per_lang/es is missing")
        return 2
    totals = dict.fromkeys(COMMANDS, 0.0)
    for round_ in range(args.rounds):
        names = list(COMMANDS) if round_ % 2 == 0 else list(reversed(COMMANDS))
        for name in names:
            totals[name] += seconds(COMMANDS[name])
    floor = totals["import torch (the floor)"] / args.rounds
    print(f"mean of {args.rounds} rounds, {os.cpu_count()} CPUs")
    for name, total in totals.items():
        mean = total / args.rounds
        print(f"{name:45s} {mean:5.2f} s  {mean / floor:4.2f}x the floor")
    print("\nheaviest imports of stages.finetune_per_lang (cumulative s):")
    for name, cumulative in heaviest_imports():
        print(f"  {name:40s} {cumulative:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
