"""Two busy processes on a 2-core CPU: how many torch threads each should have.

The test suite runs the demo `dvc repro` beside its other tests, and `dvc queue start -j 2` runs
two experiments at once. This times a demo training step (the demo GPT-2's sizes, the
hand-written AdamW, a batch of 4 x 64 tokens; forward, loss, backward, update) in fresh
processes, one set-up after the other, in one run:

    alone, 2 threads               how `dvc repro` runs a stage on 2 cores
    alone, 1 thread
    2 threads beside a busy peer   the peer: one Python process spinning (a test, a stage start)
    1 thread beside a busy peer
    1 thread beside a 1-thread training, both timed

and prints the median ms per step over the rounds, each relative to "alone, 2 threads".

    python bench/bench_threads_side_by_side.py [--steps 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

SCRIPT = Path(__file__).resolve()
SPIN = "while True: pass"


def time_steps(steps: int) -> float:
    """Milliseconds per training step of the demo GPT-2 in this process (after 20 warm-up
    steps), with the thread count OMP_NUM_THREADS gave it."""
    bench_env.prepare()
    import torch
    import torch.nn.functional as F

    from regpt2.gpt2.config import GPT2Config
    from regpt2.gpt2.model import GPT2LMHead
    from regpt2.gpt2.optim import AdamW

    torch.manual_seed(0)
    # params.yaml's demo pretrain block, over the demo BPE's 1,929 tokens.
    config = GPT2Config(
        vocab_size=1929, n_positions=256, n_embd=128, n_layer=2, n_head=4, n_inner=384
    )
    model = GPT2LMHead(config)
    optimizer = AdamW(model.parameters(), lr=5e-4, weight_decay=0.01)
    tokens = torch.randint(0, config.vocab_size, (4, 64))

    def step() -> None:
        logits = model(tokens[:, :-1]).logits
        loss = F.cross_entropy(logits.reshape(-1, config.vocab_size), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(20):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps * 1000


def start_worker(threads: int, steps: int) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), "--worker", "--steps", str(steps)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def result(worker: subprocess.Popen) -> float:
    out, _ = worker.communicate()
    if worker.returncode != 0:
        raise SystemExit(f"a worker failed ({worker.returncode})")
    return json.loads(out)["ms_per_step"]


def threads_label(threads: int) -> str:
    return "1 thread" if threads == 1 else f"{threads} threads"


def one_round(steps: int) -> dict[str, float]:
    times: dict[str, float] = {}
    for threads in (2, 1):
        times[f"alone, {threads_label(threads)}"] = result(start_worker(threads, steps))
    for threads in (2, 1):
        peer = subprocess.Popen([sys.executable, "-c", SPIN])
        try:
            label = f"{threads_label(threads)} beside a busy peer"
            times[label] = result(start_worker(threads, steps))
        finally:
            peer.kill()
            peer.wait()
    one, other = start_worker(1, steps), start_worker(1, steps)
    times["1 thread beside a 1-thread training"] = statistics.mean([result(one), result(other)])
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 1 or args.rounds < 1:
        parser.error("--steps and --rounds must be at least 1")
    if args.worker:
        print(json.dumps({"ms_per_step": time_steps(args.steps)}))
        return 0
    rounds = [one_round(args.steps) for _ in range(args.rounds)]
    base = statistics.median(r["alone, 2 threads"] for r in rounds)
    print(f"{os.cpu_count()} CPUs; median of {args.rounds} rounds, {args.steps} steps each")
    for label in rounds[0]:
        ms = statistics.median(r[label] for r in rounds)
        print(f"  {label:<38} {ms:7.2f} ms/step  {ms / base:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
