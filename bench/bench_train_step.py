"""Time one training step of the hand-written GPT-2 against HF's GPT2LMHeadModel.

Both models get the same config, the same weights (HF's is `ours.to_hf_model()`, attention
implementation "sdpa"), the same batch, the same loss (mean next-token cross-entropy computed
outside the model, over real tokens) and the same optimizer (ours or torch's AdamW, --optim).
A step is zero_grad + forward + loss + backward + optimizer step. Steps are interleaved
(ours, HF, HF, ours, ...) after warmup, so machine noise hits both alike; the medians and the
ratio ours/HF (goal <= 1) are printed.

Memory, per model, after warmup (so optimizer state already exists):
- both devices: the distinct non-parameter tensors autograd saves for backward during one step
  (activation memory, exact and deterministic; via saved_tensors_hooks).
- cuda: `torch.cuda.max_memory_allocated()` during one step minus the memory allocated just
  before it (activations, gradients, temporaries), in this process.
- cpu: a fresh subprocess per model builds it, runs two warmup steps, resets the kernel's RSS
  high-water mark (`/proc/self/clear_refs`), runs two steps and reports VmHWM minus the RSS at
  the reset: the peak resident memory a training step adds, as the OS sees it. glibc is told
  to mmap every block >= 64 KiB (MALLOC_MMAP_THRESHOLD_), so freed tensors leave RSS at once.
  Falls back to the growth of ru_maxrss when clear_refs is unavailable.

    python bench/bench_train_step.py                    # toy + small, CPU, fp32 (< 1 min)
    python bench/bench_train_step.py --config 124m --batch 2 --seq 128 --steps 5
    python bench/bench_train_step.py --device cuda --dtype bf16 --config 124m --batch 8
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

bench_env.prepare()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from step_memory import proc_status_kib, saved_activation_bytes  # noqa: E402

from regpt2.gpt2.config import GPT2Config  # noqa: E402
from regpt2.gpt2.model import GPT2LMHead  # noqa: E402
from regpt2.gpt2.optim import AdamW  # noqa: E402

CONFIGS = {
    # The study's section 1 toy config (params.yaml's pretrain): hidden 128, 2 layers,
    # 4 heads, MLP 384, context 128; batch 4.
    "toy": (dict(n_positions=128, n_embd=128, n_layer=2, n_head=4, n_inner=384), 4, 128),
    "small": (dict(vocab_size=8192, n_positions=256, n_embd=256, n_layer=4, n_head=8), 4, 128),
    "124m": (dict(), 2, 128),
}


def build(args: argparse.Namespace) -> tuple[GPT2Config, int, int]:
    shape, batch, seq = CONFIGS[args.config]
    return GPT2Config(**shape), args.batch or batch, args.seq or seq


def make_batch(config: GPT2Config, batch: int, seq: int, padded: bool, device: str):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, config.vocab_size, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long)
    if padded:  # right padding: row i keeps a different share of real tokens, about half
        for i in range(batch):
            mask[i, max(1, seq * (i + 2) // (2 * batch + 2)) :] = 0
    labels = ids.masked_fill(mask == 0, -100)
    return ids.to(device), (mask.to(device) if padded else None), labels.to(device)


def make_optimizer(model: torch.nn.Module, which: str) -> torch.optim.Optimizer:
    if which == "torch":
        return torch.optim.AdamW(model.parameters(), lr=1e-4, eps=1e-6, weight_decay=0.01)
    return AdamW(model.parameters(), lr=1e-4, eps=1e-6, weight_decay=0.01)


def make_step(model, optimizer, batch, args):
    ids, mask, labels = batch
    autocast = (
        torch.autocast(device_type=args.device, dtype=torch.bfloat16)
        if args.dtype == "bf16"
        else contextlib.nullcontext()
    )

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            logits = model(input_ids=ids, attention_mask=mask).logits
        loss = F.cross_entropy(
            logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-100
        )
        loss.backward()
        optimizer.step()
        return loss.item()

    # Next-token targets: labels shifted left, -100 at the end (no copy of the logits).
    targets = torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], -100)], dim=1)
    return step


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def cuda_step_memory(step) -> int:
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - before


def memory_child(args: argparse.Namespace) -> None:
    """Run in a fresh process: build one model, print its step's peak RSS growth as JSON."""
    config, batch, seq = build(args)
    torch.manual_seed(0)
    if args.memory_child == "ours":
        model = GPT2LMHead(config).train()
    else:
        model = transformers.GPT2LMHeadModel(config.to_hf()).train()
    data = make_batch(config, batch, seq, args.padded, "cpu")
    step = make_step(model, make_optimizer(model, args.optim), data, args)
    step()  # optimizer state now exists
    step()  # and the allocator has seen a full step
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        start = proc_status_kib("VmRSS")
        method = "VmHWM after clear_refs"
    except OSError:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        method = "ru_maxrss growth"
    for _ in range(2):
        step()
    if method.startswith("VmHWM"):
        peak = proc_status_kib("VmHWM")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"step_peak_mib": (peak - start) / 1024, "method": method}))


def cpu_step_memory(args: argparse.Namespace, which: str) -> tuple[float, str]:
    cmd = [sys.executable, __file__, "--memory-child", which]
    for name in ("config", "batch", "seq", "dtype", "optim", "threads"):
        value = getattr(args, name)
        if value is not None:
            cmd += [f"--{name}", str(value)]
    if args.padded:
        cmd.append("--padded")
    # Fixed mmap threshold: glibc then serves every block >= 64 KiB with mmap and unmaps it on
    # free, so RSS follows the live tensors instead of keeping freed blocks resident.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    result = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return data["step_peak_mib"], data["method"]


def bench(args: argparse.Namespace) -> dict:
    config, batch, seq = build(args)
    torch.manual_seed(0)
    ours = GPT2LMHead(config).to(args.device).train()
    hf = ours.to_hf_model().train()  # identical weights; attention implementation "sdpa"
    data = make_batch(config, batch, seq, args.padded, args.device)
    models = {"ours": ours, "hf": hf}
    steps = {
        name: make_step(model, make_optimizer(model, args.optim), data, args)
        for name, model in models.items()
    }
    first = {name: step() for name, step in steps.items()}  # same weights -> same first loss
    for _ in range(args.warmup - 1):
        for step in steps.values():
            step()
    times: dict[str, list[float]] = {"ours": [], "hf": []}
    for i in range(args.steps):
        order = ("ours", "hf") if i % 2 == 0 else ("hf", "ours")
        for name in order:
            sync(args.device)
            start = time.perf_counter()
            steps[name]()
            sync(args.device)
            times[name].append(time.perf_counter() - start)
    saved = {
        name: saved_activation_bytes(model, steps[name]) / 2**20 for name, model in models.items()
    }
    if args.device == "cuda":
        memory = {name: cuda_step_memory(step) / 2**20 for name, step in steps.items()}
        method = "cuda max_memory_allocated during a step - allocated before"
    else:
        del steps, models, ours, hf
        memory, method = {}, ""
        for name in ("ours", "hf"):
            memory[name], method = cpu_step_memory(args, name)
    med = {name: statistics.median(values) * 1000 for name, values in times.items()}
    return {
        "config": args.config,
        "batch": batch,
        "seq": seq,
        "first_loss": first,
        "median_ms": med,
        "ratio": med["ours"] / med["hf"],
        "step_peak_mib": memory,
        "saved_mib": saved,
        "memory_method": method,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", choices=sorted(CONFIGS), default=["toy", "small"])
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--seq", type=int, default=None)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--optim", choices=["ours", "torch"], default="ours")
    parser.add_argument("--padded", action="store_true", help="right-padded batch + mask")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--memory-child", choices=["ours", "hf"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        args.config = args.config[0]
        memory_child(args)
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but CUDA is not available")
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"device {args.device}, dtype {args.dtype}, optimizer {args.optim}, "
        f"threads {torch.get_num_threads()}, padded {args.padded}"
    )
    configs = args.config
    for name in configs:
        args.config = name
        r = bench(args)
        print(
            f"[{name}] batch {r['batch']} x seq {r['seq']}: "
            f"ours {r['median_ms']['ours']:.1f} ms, HF {r['median_ms']['hf']:.1f} ms, "
            f"ratio ours/HF {r['ratio']:.3f} (median of {args.steps}); "
            f"first loss ours {r['first_loss']['ours']:.4f} HF {r['first_loss']['hf']:.4f}"
        )
        print(
            f"[{name}] step peak memory: ours {r['step_peak_mib']['ours']:.1f} MiB, "
            f"HF {r['step_peak_mib']['hf']:.1f} MiB ({r['memory_method']}); "
            f"saved for backward: ours {r['saved_mib']['ours']:.1f} MiB, "
            f"HF {r['saved_mib']['hf']:.1f} MiB"
        )


if __name__ == "__main__":
    main()
