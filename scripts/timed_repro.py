"""Run `dvc repro` and record how long each stage took: data/timings/repro.json.

DVC prints "Running stage 'NAME':" when a stage starts; a stage ends where DVC prints "Updating
lock file", starts the next stage or exits (it writes the lock after some stages only), so a
stage's wall time includes DVC's own bookkeeping for it. Stages skipped as up to date are not
listed.
Beside it, the CPU seconds the stage's processes used (sampled every second): on a machine
shared with other work the wall time grows, the CPU time hardly does, so CPU time / cores is
what the stage would take on idle cores. Timings are machine facts, never DVC metrics.

A run that was stopped (the machine went away, Ctrl-C) can be started again: DVC skips the
stages already done, and the times recorded for them are kept beside the new ones.

    python scripts/timed_repro.py            # any `dvc repro` arguments may follow
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

STARTED = re.compile(r"Running stage '([^']+)'")
ENDED = re.compile(r"Updating lock file")
OUTPUT = Path("data/timings/repro.json")


class CpuMeter:
    """CPU seconds used by the descendants of one process since the last `reset`."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.seen: dict[int, float] = {}

    def reset(self) -> None:
        self.sample()
        self.baseline = dict(self.seen)

    def sample(self) -> None:
        try:
            children = self.root.children(recursive=True)
        except psutil.Error:
            return
        for child in children:
            try:
                times = child.cpu_times()
            except psutil.Error:
                continue
            self.seen[child.pid] = times.user + times.system

    def seconds(self) -> float:
        return sum(value - self.baseline.get(pid, 0.0) for pid, value in self.seen.items())


def _dvc_command() -> str | None:
    """The dvc beside this Python (a venv's, even when it is not activated), else the one on
    PATH."""
    beside = Path(sys.executable).parent / "dvc"
    return str(beside) if beside.is_file() else shutil.which("dvc")


def main(argv: list[str]) -> int:
    dvc = _dvc_command()
    if dvc is None:
        print("error: no dvc beside this Python nor on PATH: run scripts/setup.sh", file=sys.stderr)
        return 2
    began = time.time()
    earlier = _unfinished_record()
    stages: dict[str, dict[str, float]] = dict(earlier.get("stages", {}))
    earlier_wall = earlier.get("total_wall_seconds", 0.0)
    current: tuple[str, float] | None = None
    # The stages' `python` is the interpreter running this script, so that
    # `.venv/bin/python scripts/timed_repro.py` works without activating the venv.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    process = subprocess.Popen(
        [dvc, "repro", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PATH": path},
    )
    meter = CpuMeter(process.pid)
    meter.reset()
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            meter.sample()
            continue
        if line is None:
            break
        sys.stdout.write(line)
        sys.stdout.flush()
        now = time.time()
        meter.sample()
        started = STARTED.search(line)
        if current and (started or ENDED.search(line)):
            _end(stages, current, now, meter)
            current = None
            _write(stages, earlier_wall + now - began, finished=False)
        if started:
            current = (started.group(1), now)
            meter.reset()
    code = process.wait()
    if current:
        _end(stages, current, time.time(), meter)
    _write(stages, earlier_wall + time.time() - began, finished=code == 0)
    width = max((len(name) for name in stages), default=5)
    for name, seconds in stages.items():
        wall, cpu = seconds["wall_seconds"] / 60, seconds["cpu_seconds"] / 60
        print(f"{name:<{width}}  wall {wall:7.1f} min  cpu {cpu:7.1f} min")
    total = (earlier_wall + time.time() - began) / 60
    print(f"{'total':<{width}}  wall {total:7.1f} min  (exit {code})")
    return code


def _end(stages: dict, current: tuple[str, float], now: float, meter: CpuMeter) -> None:
    meter.sample()
    stages[current[0]] = {
        "wall_seconds": round(now - current[1], 1),
        "cpu_seconds": round(meter.seconds(), 1),
    }


def _unfinished_record() -> dict:
    """The record of an earlier run that did not finish (its stage times carry over), else {}."""
    try:
        record = json.loads(OUTPUT.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {} if record.get("finished", True) else record


def _pump(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _write(stages: dict, total: float, *, finished: bool) -> None:
    record = {
        "stages": stages,
        "total_wall_seconds": round(total, 1),
        "total_cpu_seconds": round(sum(s["cpu_seconds"] for s in stages.values()), 1),
        "finished": finished,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUTPUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(OUTPUT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
