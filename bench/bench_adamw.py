"""Time the orders of the hand-written AdamW update on SmolLM2-135M-shaped tensors, or on the
demo GPT-2's.

On SmolLM2 the update is memory-bound; on the demo GPT-2 (0.6M parameters in 28 tensors) the cost
is Python's, per op call. This prints seconds per update for the per-tensor loop, the
`torch._foreach_*` kernels, the chunk-by-chunk order used on CPUs (regpt2.gpt2.optim) and the
slice-by-slice per-tensor loop it replaced, each relative to `_foreach_*`, interleaved in one
run, and checks that all of them give identical numbers.

    python bench/bench_adamw.py [--model smollm2|demo] [--rounds 4] [--slice 262144]
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
SMOLLM2 = [(49152, 576)] + [shape for _ in range(30) for shape in [*LAYER, (576,), (576,)]]
# The demo GPT-2 (params.yaml's pretrain block, the demo BPE's 1,929 tokens): tied embedding,
# positions, 2 blocks (LayerNorms, fused QKV, projections, MLP) and the final LayerNorm.
BLOCK = [(128,), (128,), (384, 128), (384,), (128, 128), (128,), (128,), (128,)]
BLOCK += [(384, 128), (384,), (128, 384), (128,)]
DEMO = [(1929, 128), (256, 128)] + BLOCK * 2 + [(128,), (128,)]
MODELS = {"smollm2": SMOLLM2, "demo": DEMO}
GROUP = dict(lr=5e-5, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01, correct_bias=True)


def state(shapes: list[tuple[int, ...]]) -> list[list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    params, grads, exp_avgs, exp_avg_sqs = (
        [torch.randn(shape, generator=generator) * scale for shape in shapes]
        for scale in (1.0, 1.0, 0.01, 0.01)
    )
    return [params, grads, exp_avgs, [v.abs() for v in exp_avg_sqs]]


def _per_slice_loop(params, grads, exp_avgs, exp_avg_sqs, step, group) -> None:
    """The CPU order before issue 34's third round, the peer of `chunks`: the per-tensor loop
    over slices of at most SLICE elements (the tensors here are contiguous)."""
    slices = [
        [piece for tensor in tensors for piece in tensor.view(-1).split(optim.SLICE)]
        for tensors in (params, grads, exp_avgs, exp_avg_sqs)
    ]
    optim._update_loop(*slices, step, group)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="smollm2")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--slice", type=int, default=optim.SLICE, help="elements per slice")
    args = parser.parse_args()
    optim.SLICE = args.slice
    shapes = MODELS[args.model]
    orders = {
        "foreach": optim._update_foreach,
        "loop": optim._update_loop,
        "chunks": optim._update_in_slices,
        "slices": _per_slice_loop,
    }
    results = {}
    for name, update in orders.items():
        tensors = state(shapes)
        update(*tensors, 3, GROUP)
        results[name] = tensors
    identical = all(
        torch.equal(a, b)
        for other in orders
        for a, b in zip(sum(results["foreach"], []), sum(results[other], []), strict=True)
    )
    tensors = state(shapes)
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
        print(
            f"{name:8s} {per_update * 1e3:9.3f} ms per update  {ratio:5.2f}x the speed of foreach"
        )
    print("identical numbers in all orders:", identical)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
