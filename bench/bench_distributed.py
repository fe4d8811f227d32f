"""Throughput of the training loop (regpt2.training.loop.train) at 1 and 2 CPU processes
(torchrun + DDP).

Both runs train the same tiny hand-written GPT-2 (seed 0) on the same demo English NLI prompts
(the study's template, loss on the label token, as `regpt2.nli.finetune` does) with the same
effective batch (`--batch` examples per optimizer step, shared across the processes), fp32.
Each run is launched with `python -m torch.distributed.run --standalone --nproc_per_node=N`
(like tests/helpers/ddp_worker.py) and OMP_NUM_THREADS = cores / N, so both use every core.
Inside the worker, a short warm-up call of `train` runs first (threads, allocator, process
group); then, between two barriers, rank 0 times one `train` call and reports
TrainResult.tokens_seen (prompt tokens of every example of every batch, padding excluded)
divided by that wall time, and the CPU time its process used (cpu_util = CPU s / wall s).
The per-step losses of the two runs are compared too: DDP must follow the same trajectory.
Each pair runs twice, with the OpenMP runtime's default waiting (threads spin a while before
sleeping) and with OMP_WAIT_POLICY=PASSIVE: on a machine that other work keeps busy, spinning
threads of the 1-process run wait for descheduled siblings and its time can grow several-fold,
while 1-thread processes are unaffected, so the default-policy ratio can flatter DDP.

`--device cuda` instead measures single-GPU tokens/s of GPT-2 124M full fine-tuning in bf16
autocast (same loop, same label-token loss, micro-batch `--cuda-batch`) and its model FLOPs
utilisation: 6 * params * tokens / time / peak (`--peak-tflops`, default 989 = H100/H200 SXM
dense bf16), plus a finer count (see `model_flops`). Without CUDA it says so and stops.

    python bench/bench_distributed.py                     # CPU, 1 vs 2 processes (~1.5 min)
    python bench/bench_distributed.py --device cuda --peak-tflops 989
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

bench_env.prepare()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from regpt2.config.params import Loop  # noqa: E402
from regpt2.core import distributed  # noqa: E402
from regpt2.core.batching import left_padded, pad_id_of  # noqa: E402
from regpt2.demo.corpus import demo_nli_rows  # noqa: E402
from regpt2.gpt2.config import GPT2Config  # noqa: E402
from regpt2.gpt2.model import GPT2LMHead  # noqa: E402
from regpt2.nli.prompts import NliPrompt  # noqa: E402
from regpt2.nli.scorer import label_position_logits  # noqa: E402
from regpt2.sources.data import NliExample  # noqa: E402
from regpt2.sources.tokenizers import train_demo_bpe  # noqa: E402
from regpt2.training.loop import TrainResult, train  # noqa: E402

TEMPLATE = "Premise: {premise}\nHypothesis: {hypothesis}\nLabel:"
DIGITS = {"entailment": "0", "contradiction": "1", "neutral": "2"}
CPU_MODEL = dict(n_positions=128, n_embd=128, n_layer=4, n_head=4)
VOCAB = 1000


def nli_task(examples: int, max_length: int):
    """(lengths, collate, loss_fn) of the label-token NLI loss over demo English rows."""
    rows = [NliExample(**row, lang="en") for row in demo_nli_rows("en", "train", examples)]
    tokenizer = train_demo_bpe([f"{row.premise} {row.hypothesis}" for row in rows], VOCAB)
    prompt = NliPrompt(tokenizer, TEMPLATE, DIGITS, max_length)
    encoded = prompt.encode(rows)
    label_ids = torch.tensor(prompt.label_token_ids)
    pad_id = pad_id_of(tokenizer)

    def collate(indices: list[int]) -> dict[str, torch.Tensor]:
        batch = left_padded([encoded[i].input_ids for i in indices], pad_id)
        batch["targets"] = label_ids[[encoded[i].label for i in indices]]
        return batch

    def loss_fn(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(label_position_logits(model, batch).float(), batch["targets"])

    return [len(e.input_ids) for e in encoded], collate, loss_fn


def timed_train(model, lengths, collate, loss_fn, training, device, warmup_examples):
    """Warm up on the first examples, then time one full `train` call between barriers."""
    train(model, lengths=lengths[:warmup_examples], collate=collate, loss_fn=loss_fn,
          training=training.model_copy(update={"epochs": 1}), device=device)  # fmt: skip
    distributed.barrier()
    if device.type == "cuda":
        torch.cuda.synchronize()
    cpu_start, start = time.process_time(), time.perf_counter()
    result: TrainResult = train(
        model, lengths=lengths, collate=collate, loss_fn=loss_fn, training=training, device=device
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    distributed.barrier()
    return result, time.perf_counter() - start, time.process_time() - cpu_start


def worker(args: argparse.Namespace) -> None:
    """One process of a CPU run (under torchrun); rank 0 writes the JSON result."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    lengths, collate, loss_fn = nli_task(args.examples, CPU_MODEL["n_positions"])
    torch.manual_seed(0)
    model = GPT2LMHead(GPT2Config(vocab_size=VOCAB, **CPU_MODEL))
    training = Loop(seed=0, epochs=1, batch_size=args.batch, grad_accum=1, lr=1e-3,
                    weight_decay=0.01, optimizer="regpt2", bf16=False)  # fmt: skip
    device = torch.device("cpu")
    result, wall, cpu = timed_train(model, lengths, collate, loss_fn, training, device, args.batch)
    if distributed.is_main_process():
        record = {
            "world": distributed.world_size(),
            "threads": torch.get_num_threads(),
            "steps": result.steps,
            "tokens": result.tokens_seen,
            "wall_s": wall,
            "cpu_s": cpu,
            "losses": result.losses,
            "params": sum(p.numel() for p in model.parameters()),
        }
        Path(args.worker).write_text(json.dumps(record))


def launch(processes: int, policy: str, args: argparse.Namespace, out: Path) -> dict:
    cores = os.cpu_count() or 1
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(max(1, cores // processes)),
        CUDA_VISIBLE_DEVICES="",  # the CPU measurement stays on the CPU on a GPU machine too
        PYTHONWARNINGS="ignore",
    )
    env.pop("OMP_WAIT_POLICY", None)
    if policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={processes}", __file__, "--worker", str(out),
        "--examples", str(args.examples), "--batch", str(args.batch),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"error: the {processes}-process run failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def cpu_bench(args: argparse.Namespace) -> None:
    cores = os.cpu_count() or 1
    runs: dict[tuple[str, int], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for policy in args.omp_wait_policy:
            for n in args.processes:
                runs[policy, n] = launch(n, policy, args, Path(tmp) / f"{policy}-{n}.json")
    first = next(iter(runs.values()))
    print(
        f"torch {torch.__version__}, {cores} CPU cores, gloo; GPT2LMHead "
        f"n_embd {CPU_MODEL['n_embd']} x {CPU_MODEL['n_layer']} layers, vocab {VOCAB} "
        f"({first['params'] / 1e6:.2f}M params), fp32; {args.examples} demo en NLI prompts, "
        f"label-token loss; batch {args.batch} x accum 1 per optimizer step in every run"
    )
    print(f"{'OMP_WAIT_POLICY':>15} {'procs':>5} {'thr/proc':>8} {'steps':>5} {'tokens':>6} "
          f"{'wall_s':>6} {'tokens/s':>8} {'cpu_util':>8} {'final loss':>10}")  # fmt: skip
    for (policy, n), r in runs.items():
        print(
            f"{policy:>15} {n:>5} {r['threads']:>8} {r['steps']:>5} {r['tokens']:>6} "
            f"{r['wall_s']:>6.2f} {r['tokens'] / r['wall_s']:>8.0f} "
            f"{r['cpu_s'] / r['wall_s']:>8.2f} {r['losses'][-1]:>10.5f}"
        )
    for policy in args.omp_wait_policy:
        if (policy, 1) in runs and (policy, 2) in runs:
            one, two = runs[policy, 1], runs[policy, 2]
            ratio = (two["tokens"] / two["wall_s"]) / (one["tokens"] / one["wall_s"])
            drift = max(abs(a - b) for a, b in zip(one["losses"], two["losses"], strict=True))
            print(
                f"OMP_WAIT_POLICY {policy}: ratio 2-proc/1-proc tokens/s = {ratio:.3f}; same "
                f"trajectory: max |loss difference| over {one['steps']} steps = {drift:.2e}"
            )
    print(
        "cpu_util = CPU seconds of the rank-0 process / wall seconds (at most its thread "
        "count; OpenMP threads that spin while waiting count as busy)"
    )


def model_flops(config: GPT2Config, tokens: int, examples: int, mean_length: float) -> float:
    """Training FLOPs with the logits at the label position only (logits_to_keep=1):
    6 * non-embedding params per token, 6 * V * d per example (lm_head at one position),
    and attention scores + weighted sum 6 * 2 * L * d * T per token (T = mean prompt length,
    the full T x T product, as kernels compute it; padding not counted)."""
    d, layers = config.n_embd, config.n_layer
    inner = config.n_inner or 4 * d
    per_layer = 4 * d * d + 4 * d + 2 * d * inner + inner + d + 4 * d  # attn, mlp, 2 LayerNorms
    non_embedding = layers * per_layer + 2 * d
    attention = 12 * layers * d * mean_length
    return 6 * non_embedding * tokens + 6 * config.vocab_size * d * examples + attention * tokens


def cuda_bench(args: argparse.Namespace) -> None:
    if not torch.cuda.is_available():
        print(
            f"--device cuda: no GPU is available on this machine (torch {torch.__version__}, "
            "torch.cuda.is_available() is False); the single-GPU GPT-2 124M bf16 tokens/s and "
            "MFU measurement was skipped"
        )
        return
    device = torch.device("cuda", 0)
    lengths, collate, loss_fn = nli_task(args.cuda_examples, 1024)
    config = GPT2Config()  # GPT-2 124M shape; random weights, nothing downloaded
    torch.manual_seed(0)
    model = GPT2LMHead(config)
    params = sum(p.numel() for p in model.parameters())
    loop = Loop(seed=0, epochs=1, batch_size=args.cuda_batch, grad_accum=1, lr=1e-4,
                weight_decay=0.01, bf16=True, optimizer=args.optimizer)  # fmt: skip
    result, wall, _ = timed_train(
        model, lengths, collate, loss_fn, loop, device, 10 * args.cuda_batch
    )
    tokens = result.tokens_seen
    peak = args.peak_tflops * 1e12
    simple = 6 * params * tokens / wall / peak
    finer = model_flops(config, tokens, len(lengths), tokens / len(lengths)) / wall / peak
    print(
        f"cuda: {torch.cuda.get_device_name(device)}, torch {torch.__version__}; GPT-2 124M "
        f"({params / 1e6:.1f}M params, tied), bf16 autocast (used: {result.bf16_used}), "
        f"optimizer {args.optimizer}, micro-batch {args.cuda_batch}, {len(lengths)} prompts "
        f"(mean {tokens / len(lengths):.1f} tokens), {result.steps} steps in {wall:.2f} s"
    )
    print(f"cuda tokens/s: {tokens / wall:.0f}")
    print(f"MFU (6 * params * tokens / time / {args.peak_tflops:g} TFLOP/s): {100 * simple:.2f}%")
    print(f"MFU (finer count, logits at the label position only): {100 * finer:.2f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--examples", type=int, default=160, help="CPU training prompts")
    parser.add_argument(
        "--omp-wait-policy", nargs="+", choices=["default", "passive"],
        default=["default", "passive"],
        help="OpenMP waiting of the CPU runs: the runtime's default (spin, then sleep) or "
        "PASSIVE (sleep at once: much faster for >1 thread on a machine busy with other work)",
    )  # fmt: skip
    parser.add_argument("--batch", type=int, default=32, help="examples per optimizer step")
    parser.add_argument("--cuda-examples", type=int, default=8192)
    parser.add_argument("--cuda-batch", type=int, default=16)
    parser.add_argument("--optimizer", choices=["regpt2", "torch"], default="torch")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
    elif args.device == "cuda":
        cuda_bench(args)
    else:
        cpu_bench(args)


if __name__ == "__main__":
    main()
