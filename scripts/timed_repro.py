"""Run `dvc repro` and record how long each stage took: data/timings/repro.json.

DVC prints "Running stage 'NAME':" when a stage starts and "Updating lock file" when it ends;
the time between them is the stage's wall time (stages skipped as up to date are not listed).
Timings are machine facts, never DVC metrics, so they stay out of metrics/.

    python scripts/timed_repro.py            # any `dvc repro` arguments may follow
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

STARTED = re.compile(r"Running stage '([^']+)'")
ENDED = re.compile(r"Updating lock file")
OUTPUT = Path("data/timings/repro.json")


def main(argv: list[str]) -> int:
    began = time.time()
    stages: dict[str, float] = {}
    current: tuple[str, float] | None = None
    process = subprocess.Popen(
        ["dvc", "repro", *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        now = time.time()
        if match := STARTED.search(line):
            current = (match.group(1), now)
        elif ENDED.search(line) and current:
            stages[current[0]] = round(now - current[1], 1)
            current = None
            _write(stages, now - began, finished=False)
    code = process.wait()
    _write(stages, time.time() - began, finished=code == 0)
    width = max((len(name) for name in stages), default=5)
    for name, seconds in stages.items():
        print(f"{name:<{width}}  {seconds / 60:7.1f} min")
    print(f"{'total':<{width}}  {(time.time() - began) / 60:7.1f} min  (exit {code})")
    return code


def _write(stages: dict[str, float], total: float, *, finished: bool) -> None:
    record = {
        "stages_seconds": stages,
        "total_seconds": round(total, 1),
        "finished": finished,
        "cpu_count": os.cpu_count(),
        "torch_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUTPUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(OUTPUT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
