"""The prepared GPU check: the paper profile's model shapes on one GPU, through the project's own
training loop and scorer, and what that projects for each paper-profile stage.

In well under 8 minutes on a GPU it measures, with random weights built from configs (no hub):
- GPT-2 124M (`GPT2LMHead`, the hand-written model) full fine-tuning and NLI scoring;
- a Qwen2.5-0.5B-shaped `Qwen2ForCausalLM` (tied embeddings) with LoRA (the study's r 8,
  alpha 32, q/k/v/o) fine-tuning and scoring;
each in bf16 autocast, on the study's prompt with the label-token loss (bench_distributed.py's
task), and prints tokens/s, model FLOPs utilisation against the GPU's dense bf16 peak, and peak
memory. Then it projects the paper profile's time per stage from those rates and the measured
mean prompt length of each language (PROMPT_TOKENS). With more than one GPU, a 2-process
torchrun smoke test trains and scores across both over NCCL.

`--device cpu --tiny` runs the same code on small shapes (gloo for the 2-process run), so a
CPU test proves the script is not stale (tests/test_gpu_check.py); its numbers mean nothing.

    python bench/gpu_check.py                         # on the GPU machine (bash bench/gpu_check.sh)
    python bench/gpu_check.py --peak-tflops 989       # a GPU the peak table does not know
    python bench/gpu_check.py --device cpu --tiny     # seconds; what CI runs
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

bench_env.prepare()
warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' deprecation notes

import torch  # noqa: E402
from bench_distributed import model_flops, nli_task, timed_train  # noqa: E402

from regpt2.config.params import Loop  # noqa: E402
from regpt2.core import distributed  # noqa: E402
from regpt2.gpt2.config import GPT2Config  # noqa: E402
from regpt2.gpt2.model import GPT2LMHead  # noqa: E402
from regpt2.nli.prompts import NliPrompt  # noqa: E402
from regpt2.nli.scorer import predict  # noqa: E402
from regpt2.training.lora import apply_lora  # noqa: E402

# Dense bf16 peak TFLOP/s by device name (vendor data sheets; SXM parts).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0}

# Mean prompt tokens (the study's template) per language, GPT-2 BPE / Qwen2.5 BPE, measured on
# 500 XNLI test rows of each language (../shared). English MultiNLI rows are about as long.
PROMPT_TOKENS = {
    "en": (42, 40), "fr": (67, 52), "es": (60, 46), "de": (67, 49), "el": (158, 123),
    "bg": (148, 68), "ru": (151, 54), "tr": (69, 49), "ar": (123, 50), "vi": (130, 48),
    "th": (225, 74), "zh": (93, 38), "hi": (192, 126), "sw": (64, 59), "ur": (166, 94),
}  # fmt: skip
ALL = list(PROMPT_TOKENS)
PER_LANG = ["es", "fr", "de", "bg", "ar", "el", "hi"]
# Paper-profile sizes: MultiNLI train rows, XNLI test rows, 1% per language (finetune_per_lang,
# finetune_all), dev rows scored at each of the English run's evaluations.
TRAIN_ROWS, TEST_ROWS, DEV_ROWS = 392_702, 5_010, 2_490
SUBSET_ROWS = TRAIN_ROWS // 100

QWEN_05B = dict(
    hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
    num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
    rope_theta=1000000.0, tie_word_embeddings=True,
)  # fmt: skip
TINY_GPT2 = dict(n_positions=256, n_embd=64, n_layer=2, n_head=2)
TINY_QWEN = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, vocab_size=1000, max_position_embeddings=512, tie_word_embeddings=True,
)  # fmt: skip
TEMPLATE = "Premise: {premise}\nHypothesis: {hypothesis}\nLabel:"
DIGITS = {"entailment": "0", "contradiction": "1", "neutral": "2"}


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # the process, kB -> GB


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def non_embedding_params(model: torch.nn.Module) -> int:
    return sum(
        p.numel() for n, p in model.named_parameters() if "wte" not in n and "embed" not in n
    )


def measure(name, model, task, loop, device, peak, *, forward, per_example, backward, args):
    """Train once through the project's loop (timed), then score the same prompts through the
    project's scorer; a result row per pass. `forward` / `per_example`: forward FLOPs per
    token / per prompt (the LM head at the label position); training costs `backward` + 1
    forwards (full fine-tuning 3, LoRA 2: no gradients for the frozen weights)."""
    lengths, collate, loss_fn, prompt, encoded = task
    model.to(device)
    reset_peak(device)
    result, wall, _ = timed_train(
        model, lengths, collate, loss_fn, loop, device, 4 * loop.batch_size
    )
    tokens = result.tokens_seen
    train_flops = (1 + backward) * (forward * tokens + per_example * len(lengths))
    rows = [
        (
            f"{name} train",
            tokens / wall,
            train_flops / wall,
            peak_memory_gb(device),
            result.bf16_used,
        )
    ]
    reset_peak(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    predict(model, prompt, encoded, batch_size=args.score_batch, device=device, bf16=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    scored = sum(lengths)
    score_flops = forward * scored + per_example * len(lengths)
    rows.append((f"{name} score", scored / wall, score_flops / wall, peak_memory_gb(device), True))
    for label, tokens_per_s, flops_per_s, memory, bf16 in rows:
        mfu = f"{100 * flops_per_s / peak:6.2f}%" if peak else "   n/a"
        print(f"{label:<18} {tokens_per_s:>12,.0f} tokens/s  MFU {mfu}  peak memory "
              f"{memory:6.2f} GB  bf16 {bf16}")  # fmt: skip
    return {row[0]: row[1] for row in rows}


def prompts(args):
    """The NLI task of bench_distributed (demo English rows, the study's template), plus the
    encoded prompts for the scorer."""
    lengths, collate, loss_fn = nli_task(args.examples, 1024)
    from regpt2.demo.corpus import demo_nli_rows
    from regpt2.sources.data import NliExample
    from regpt2.sources.tokenizers import train_demo_bpe

    rows = [NliExample(**row, lang="en") for row in demo_nli_rows("en", "train", args.examples)]
    tokenizer = train_demo_bpe([f"{row.premise} {row.hypothesis}" for row in rows], 1000)
    prompt = NliPrompt(tokenizer, TEMPLATE, DIGITS, 1024)
    return lengths, collate, loss_fn, prompt, prompt.encode(rows)


def projection(rates: dict[str, float]) -> None:
    """Minutes per paper-profile stage at the measured tokens/s (one GPU)."""
    gpt2_train, gpt2_score = rates["GPT-2 train"], rates["GPT-2 score"]
    qwen_train, qwen_score = rates["Qwen2-0.5B train"], rates["Qwen2-0.5B score"]

    def tokens(langs, rows, model=0):
        return sum(PROMPT_TOKENS[lang][model] * rows for lang in langs)

    evaluations = TRAIN_ROWS // 4 // 10_000  # batch 4, a dev score every 10,000 steps
    stages = {
        "finetune_en (392,702 rows, 1 epoch)": tokens(["en"], TRAIN_ROWS) / gpt2_train
        + evaluations * tokens(["en"], DEV_ROWS) / gpt2_score,
        "finetune_en_test (5,010 test rows)": tokens(["en"], TEST_ROWS) / gpt2_score,
        "zeroshot (15 x 5,010)": tokens(ALL, TEST_ROWS) / gpt2_score,
        "finetune_per_lang (7 x 3,927 rows)": tokens(PER_LANG, SUBSET_ROWS) / gpt2_train,
        "finetune_per_lang_test (7 x 5,010)": tokens(PER_LANG, TEST_ROWS) / gpt2_score,
        "finetune_all (8 x 3,927 rows)": tokens(["en", *PER_LANG], SUBSET_ROWS) / gpt2_train,
        "finetune_all_test (15 x 5,010)": tokens(ALL, TEST_ROWS) / gpt2_score,
        "qwen_lora (392,702 rows, 1 epoch)": tokens(["en"], TRAIN_ROWS, 1) / qwen_train,
        "qwen_lora_test (15 x 5,010)": tokens(ALL, TEST_ROWS, 1) / qwen_score,
    }
    print("\nprojected paper-profile time per stage on this device (compute only; process start,")
    print("loading and the small tokenize/pretrain/translate/probe stages not included):")
    for stage, seconds in stages.items():
        print(f"  {stage:<36} {seconds / 60:8.1f} min")
    print(f"  {'total':<36} {sum(stages.values()) / 60:8.1f} min")


def smoke_worker(out: str) -> None:
    """One process of the 2-process run (under torchrun): the loop and the scorer across ranks."""
    distributed.setup()
    device = distributed.device()
    args = argparse.Namespace(examples=64, score_batch=16)
    lengths, collate, loss_fn, prompt, encoded = prompts(args)
    torch.manual_seed(0)
    model = GPT2LMHead(GPT2Config(vocab_size=1000, **TINY_GPT2)).to(device)
    loop = Loop(seed=0, epochs=1, batch_size=16, grad_accum=1, lr=1e-3, weight_decay=0.0,
                optimizer="regpt2", bf16=False)  # fmt: skip
    result, _, _ = timed_train(model, lengths, collate, loss_fn, loop, device, 16)
    scored = predict(model, prompt, encoded, batch_size=16, device=device)
    if distributed.is_main_process():
        backend = torch.distributed.get_backend() if distributed.world_size() > 1 else "none"
        Path(out).write_text(json.dumps({
            "world": distributed.world_size(), "backend": backend, "steps": result.steps,
            "scored": len(scored.gold), "final_loss": result.losses[-1],
        }))  # fmt: skip


def smoke_test(device: torch.device) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "smoke.json"
        env = dict(os.environ, OMP_NUM_THREADS="1")
        if device.type == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""  # gloo on the CPU, as asked
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc_per_node=2", __file__, "--smoke-worker", str(out)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        if done.returncode != 0:
            raise SystemExit(
                f"error: the 2-process torchrun smoke test failed:\n{done.stderr[-3000:]}"
            )
        record = json.loads(out.read_text())
    print(f"\n2-process torchrun smoke test: world {record['world']}, backend {record['backend']}, "
          f"{record['steps']} steps, {record['scored']} prompts scored across ranks, "
          f"final loss {record['final_loss']:.4f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument(
        "--tiny", action="store_true", help="small shapes (a CPU test of this script)"
    )
    parser.add_argument("--peak-tflops", type=float, help="dense bf16 peak (default: by GPU name)")
    parser.add_argument("--examples", type=int, help="training/scoring prompts per model")
    parser.add_argument(
        "--batch", type=int, default=16, help="micro-batch (the paper: 4 GPT-2, 8 LoRA)"
    )
    parser.add_argument("--score-batch", type=int, default=64)
    parser.add_argument("--smoke-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke_worker:
        smoke_worker(args.smoke_worker)
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no GPU; use --device cpu --tiny")
    device = torch.device(args.device, 0) if args.device == "cuda" else torch.device("cpu")
    args.examples = args.examples or (48 if args.tiny else 4096)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    peak_tflops = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    peak = peak_tflops * 1e12 if peak_tflops else None
    print(f"{name}, torch {torch.__version__}, {torch.cuda.device_count()} GPU(s); bf16 peak "
          f"{peak_tflops or 'unknown (pass --peak-tflops)'} TFLOP/s; {args.examples} prompts "
          f"per model, micro-batch {args.batch}; random weights from configs")  # fmt: skip
    task = prompts(args)
    mean = sum(task[0]) / len(task[0])
    loop = Loop(seed=0, epochs=1, batch_size=args.batch, grad_accum=1, lr=1e-4,
                weight_decay=0.01, bf16=True, optimizer="torch")  # fmt: skip

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=1000, **TINY_GPT2) if args.tiny else GPT2Config()
    gpt2 = GPT2LMHead(config)
    # model_flops counts one forward + backward (x6); per token and per example, forward only.
    forward_per_token = model_flops(config, 1, 0, mean) / 3
    forward_per_example = 2 * config.vocab_size * config.n_embd
    rates = measure("GPT-2", gpt2, task, loop, device, peak, args=args, forward=forward_per_token,
                    per_example=forward_per_example, backward=2)  # fmt: skip
    del gpt2

    from transformers import Qwen2Config, Qwen2ForCausalLM

    qwen_config = Qwen2Config(**(TINY_QWEN if args.tiny else QWEN_05B))
    torch.manual_seed(0)
    qwen = apply_lora(Qwen2ForCausalLM(qwen_config), r=8, alpha=32, dropout=0.1,
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])  # fmt: skip
    lora_loop = loop.model_copy(update={"lr": 2e-4})
    rates |= measure("Qwen2-0.5B", qwen, task, lora_loop, device, peak, args=args,
                     forward=2 * non_embedding_params(qwen), backward=1,
                     per_example=2 * qwen_config.vocab_size * qwen_config.hidden_size)  # fmt: skip
    projection(rates)
    if device.type == "cpu" or torch.cuda.device_count() > 1:
        smoke_test(device)
    else:
        print("\n2-process torchrun smoke test: skipped (one GPU)")


if __name__ == "__main__":
    main()
