"""Time the three orders of the hand-written AdamW update on SmolLM2-135M-shaped tensors.

The update is memory-bound; this prints seconds per update for the per-tensor loop, the
`torch._foreach_*` kernels and the slice-by-slice order used on CPUs (regpt2.gpt2.optim), each
relative to `_foreach_*`, interleaved in one run, and checks that all three give identical
numbers.

    python bench/bench_adamw.py [--rounds 4] [--slice 262144]
"""

from __future__ import annotations

import argparse
import sys
import time

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

bench_env.prepare()

import torch  # noqa: E402

from regpt2.gpt2 import optim  # noqa: E402

# SmolLM2-135M: the tied embedding, then 30 blocks of attention (GQA: 3 KV heads of 64),
# SwiGLU MLP and two RMSNorm weights; 134.5M parameters.
LAYER = [(576, 576), (192, 576), (192, 576), (576, 576), (1536, 576), (1536, 576), (576, 1536)]
SHAPES = [(49152, 576)] + [shape for _ in range(30) for shape in [*LAYER, (576,), (576,)]]
GROUP = dict(lr=5e-5, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01, correct_bias=True)


def state() -> list[list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    params, grads, exp_avgs, exp_avg_sqs = (
        [torch.randn(shape, generator=generator) * scale for shape in SHAPES]
        for scale in (1.0, 1.0, 0.01, 0.01)
    )
    return [params, grads, exp_avgs, [v.abs() for v in exp_avg_sqs]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--slice", type=int, default=optim.SLICE, help="elements per slice")
    args = parser.parse_args()
    optim.SLICE = args.slice
    orders = {
        "foreach": optim._update_foreach,
        "loop": optim._update_loop,
        "slices": optim._update_in_slices,
    }
    results = {}
    for name, update in orders.items():
        tensors = state()
        update(*tensors, 3, GROUP)
        results[name] = tensors
    identical = all(
        torch.equal(a, b)
        for other in ("loop", "slices")
        for a, b in zip(sum(results["foreach"], []), sum(results[other], []), strict=True)
    )
    tensors = state()
    seconds = dict.fromkeys(orders, 0.0)
    for round_ in range(args.rounds):
        names = list(orders) if round_ % 2 == 0 else list(reversed(orders))
        for name in names:
            start = time.perf_counter()
            orders[name](*tensors, 3, GROUP)
            seconds[name] += time.perf_counter() - start
    count = sum(t.numel() for t in tensors[0])
    print(f"{count / 1e6:.1f}M parameters, {torch.get_num_threads()} threads, slice {args.slice}")
    for name, total in seconds.items():
        per_update = total / args.rounds
        ratio = seconds["foreach"] / total
        print(f"{name:8s} {per_update:6.3f} s per update  {ratio:4.2f}x the speed of foreach")
    print("identical numbers in all three orders:", identical)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
