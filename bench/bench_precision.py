"""fp32 vs bf16 autocast on every compute path, against this machine's matmul peak.

In one run, interleaved (fp32, bf16, bf16, fp32, ...: load from other processes hits both
alike), on a real model and real XNLI prompts:
- matmul peak: a 2048x2048 @ 2048x2048 product, GFLOP/s in fp32 and in bf16;
- NLI training step (batch 4, label-token loss, the hand-written AdamW; a copy of the model so
  the timed steps start from the same weights): examples/s, tokens/s;
- NLI evaluation (`regpt2.nli.scorer.predict`, length-sorted batches) per language: examples/s;
- generation (`model.generate`, greedy, 16 new tokens, batch 8): new tokens/s;
- probing forward (hidden states + attention maps, eager attention): tokens/s.
Each path prints its median throughput in both precisions, the bf16/fp32 ratio, the share of
the matching matmul peak it reaches (model FLOPs: 2 x non-embedding parameters per token
forward, 6 x for a training step), and what `bf16: auto` picks here (regpt2.core.precision).

--parity MODEL_FOLDER scores N test rows per language in fp32 and in bf16 and prints strict
accuracy with its 95% interval for each and the share of changed predictions (any CPU can run
it: bf16 autocast rounds the same way everywhere, native or emulated, only speed differs).

    python bench/bench_precision.py                       # SmolLM2 from ../shared when present
    python bench/bench_precision.py --rounds 2 --n 32     # quicker
    python bench/bench_precision.py --bf16               # time bf16 even where it is emulated
    python bench/bench_precision.py --parity data/models/finetune_en --n 300 --langs en,th

--trained-bf16 FOLDER (with --parity): FOLDER is the same recipe trained under bf16 autocast
(e.g. `-S finetune_en.training.bf16=true`); both models are scored in fp32 and the same line
compares them: does bf16 training change the results?
    python bench/bench_precision.py --parity fp32/finetune_en --trained-bf16 bf16/finetune_en
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

PROJECT_ROOT = bench_env.prepare()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from regpt2.config.params import load_params  # noqa: E402
from regpt2.core.batching import left_padded, pad_id_of  # noqa: E402
from regpt2.core.precision import autocast, cpu_has_native_bf16, use_bf16  # noqa: E402
from regpt2.gpt2.optim import AdamW  # noqa: E402
from regpt2.nli.evaluate import make_prompt, model_context  # noqa: E402
from regpt2.nli.scorer import (  # noqa: E402
    Predictions,
    accuracy_metrics,
    label_position_logits,
    predict,
)
from regpt2.sources.data import DemoSizes, load_xnli  # noqa: E402
from regpt2.sources.models import load_pretrained_lm  # noqa: E402

SHARED = bench_env.shared_folder()
DEFAULT_MODEL = SHARED / "models" / "smollm2-135m-instruct-q4_1.gguf"


# Where bf16 is emulated (no AVX512_BF16/AMX, e.g. AVX2) a bf16 matmul runs far below fp32 and
# `auto` never picks it: the paths are then timed in fp32 only (--bf16 forces both).
PRECISIONS = (False, True)


def interleaved(run, rounds: int) -> dict[bool, float]:
    """Median seconds of run(bf16) for each precision, in the order F T T F F T ..."""
    times: dict[bool, list[float]] = {bf16: [] for bf16 in PRECISIONS}
    for number in range(rounds):
        for bf16 in PRECISIONS if number % 2 == 0 else PRECISIONS[::-1]:
            start = time.perf_counter()
            run(bf16)
            times[bf16].append(time.perf_counter() - start)
    return {bf16: statistics.median(values) for bf16, values in times.items()}


def matmul_peak(rounds: int, device: torch.device, size: int = 2048) -> dict[bool, float]:
    """GFLOP/s of a size^3 matmul in fp32 (False) and bf16 (True), interleaved."""
    repeat = 4
    operands = {
        bf16: [torch.randn(size, size, device=device).to(torch.bfloat16 if bf16 else torch.float32)
               for _ in range(2)]
        for bf16 in (False, True)
    }  # fmt: skip

    def run(bf16: bool) -> None:
        a, b = operands[bf16]
        for _ in range(repeat):
            a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()

    times: dict[bool, list[float]] = {False: [], True: []}
    for number in range(rounds + 1):  # the first round warms up
        for bf16 in (False, True) if number % 2 == 0 else (True, False):
            start = time.perf_counter()
            run(bf16)
            if number:
                times[bf16].append(time.perf_counter() - start)
    return {bf16: repeat * 2 * size**3 / statistics.median(times[bf16]) / 1e9 for bf16 in times}


def body_parameters(model: torch.nn.Module) -> int:
    """Parameters a token's forward pass multiplies (the embedding lookup is not a matmul; the
    LM head is computed at one position only, so it is left out too)."""
    embedding = model.get_input_embeddings().weight
    return sum(p.numel() for p in model.parameters() if p is not embedding)


def report(name: str, unit: str, amount: float, flops: float, seconds, peak, device) -> None:
    rate = {b: amount / seconds[b] for b in seconds}
    share = {b: flops / seconds[b] / 1e9 / peak[b] for b in seconds}
    path = "training" if name.startswith("train") else "inference"
    auto = "bf16" if use_bf16("auto", device, path) else "fp32"
    line = f"{name:<24} fp32 {rate[False]:8.2f} {unit:<6} ({share[False]:4.0%} of fp32 peak)"
    if True in rate:
        line += (
            f"   bf16 {rate[True]:8.2f} ({share[True]:4.0%} of bf16 peak)"
            f"   bf16/fp32 {rate[True] / rate[False]:5.2f}x"
        )
    print(f"{line}   auto: {auto}")


def encoded(prompt, lang: str, split: str, n: int, xnli: str):
    rows = load_xnli(xnli, lang, split, limit=n, demo_sizes=DemoSizes(n, n, n))
    return prompt.encode(rows)


def bench_paths(args, model, tokenizer, prompt, device) -> None:
    peak = matmul_peak(args.rounds, device, size=2048 if True in PRECISIONS else 1024)
    print(f"matmul peak            fp32 {peak[False]:8.1f} GFLOP/s   bf16 {peak[True]:8.1f} "
          f"GFLOP/s   bf16/fp32 {peak[True] / peak[False]:5.2f}x")  # fmt: skip
    body = body_parameters(model)
    pad_id = pad_id_of(tokenizer)
    label_ids = torch.tensor(prompt.label_token_ids, device=device)

    english = encoded(prompt, "en", "test", args.n, args.xnli)
    train_batch = left_padded([e.input_ids for e in english[:4]], pad_id)
    train_batch = {k: v.to(device) for k, v in train_batch.items()}
    targets = label_ids[[e.label for e in english[:4]]]
    student = copy.deepcopy(model).train()
    optimizer = AdamW(student.parameters(), lr=1e-9, weight_decay=0.01)

    def train_step(bf16: bool) -> None:
        with autocast(device, bf16):
            logits = label_position_logits(student, train_batch).float()
        F.cross_entropy(logits, targets).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for bf16 in PRECISIONS:
        train_step(bf16)  # warm up
    tokens = int(train_batch["attention_mask"].sum())
    seconds = interleaved(train_step, args.rounds)
    report("train step (batch 4)", "ex/s", 4, 6 * body * tokens, seconds, peak, device)

    model.eval()
    for lang in args.langs:
        examples = english if lang == "en" else encoded(prompt, lang, "test", args.n, args.xnli)
        tokens = sum(len(e.input_ids) for e in examples)

        def evaluate(bf16: bool, examples=examples) -> None:
            predict(model, prompt, examples, batch_size=args.batch_size, bf16=bf16)

        seconds = interleaved(evaluate, args.rounds)
        average = tokens / len(examples)
        name = f"evaluate {lang} ({average:.0f} tok)"
        report(name, "ex/s", len(examples), 2 * body * tokens, seconds, peak, device)

    prompts = left_padded([e.input_ids for e in english[:8]], pad_id)
    prompts = {k: v.to(device) for k, v in prompts.items() if k != "position_ids"}
    new_tokens = 16

    @torch.no_grad()
    def generate(bf16: bool) -> None:
        with autocast(device, bf16):
            model.generate(**prompts, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                           do_sample=False, pad_token_id=pad_id)  # fmt: skip

    seconds = interleaved(generate, args.rounds)
    width = prompts["input_ids"].shape[1]
    flops = 2 * body * 8 * (width + new_tokens)  # the prompt once, then one token a step
    report("generate (batch 8)", "tok/s", 8 * new_tokens, flops, seconds, peak, device)

    probe_model, _ = load_pretrained_lm(args.model, role="--model", attentions=True)
    probe_model.to(device).eval()
    batch = left_padded([e.input_ids for e in english[:16]], pad_id)
    batch = {k: v.to(device) for k, v in batch.items() if k != "position_ids"}

    @torch.no_grad()
    def probe_forward(bf16: bool) -> None:
        with autocast(device, bf16):
            probe_model(**batch, output_hidden_states=True, output_attentions=True)

    seconds = interleaved(probe_forward, args.rounds)
    tokens = int(batch["attention_mask"].sum())
    report("probe forward (16)", "tok/s", tokens, 2 * body * tokens, seconds, peak, device)


def compare(lang: str, names: tuple[str, str], runs: tuple[Predictions, Predictions]) -> None:
    """One line: strict accuracy of both runs, whether the second lies in the first's 95%
    interval, and the share of examples whose strict label / argmax token differ."""
    first, second = (accuracy_metrics(run, seed=0) for run in runs)
    low, high = first["strict_ci95"]
    inside = low <= second["strict_accuracy"] <= high
    changed = (runs[0].strict != runs[1].strict).mean()
    changed_tokens = (runs[0].strict_tokens != runs[1].strict_tokens).mean()
    print(
        f"{lang}: strict {names[0]} {first['strict_accuracy']:.2f} [{low:.2f}, {high:.2f}]"
        f"  {names[1]} {second['strict_accuracy']:.2f} ({'inside' if inside else 'OUTSIDE'}"
        f" the {names[0]} interval)  changed strict labels {changed:.1%}, changed argmax tokens "
        f"{changed_tokens:.1%}"
    )


def parity(args, model, prompt) -> None:
    """Inference: one model's predictions scored in fp32 vs under bf16 autocast."""
    print(f"parity on {args.parity}: {args.n} test rows per language")
    runs = ((model, False), (model, True))
    compare_per_language(args, prompt, ("fp32", "bf16"), runs)


def training_parity(args, model, prompt) -> None:
    """Training: the fp32-trained model (--parity) vs the same recipe trained under bf16
    autocast (--trained-bf16), both scored in fp32."""
    other, _ = load_pretrained_lm(args.trained_bf16, role="--trained-bf16")
    print(f"training parity: {args.parity} (fp32) vs {args.trained_bf16} (bf16), both scored "
          f"in fp32, {args.n} test rows per language")  # fmt: skip
    runs = ((model, False), (other, False))
    compare_per_language(args, prompt, ("fp32-trained", "bf16-trained"), runs)


def compare_per_language(args, prompt, names: tuple[str, str], runs) -> None:
    """`compare` per language of --langs; `runs` are two (model, bf16 scoring) pairs."""
    for lang in args.langs:
        examples = encoded(prompt, lang, "test", args.n, args.xnli)
        predictions = tuple(
            predict(scored, prompt, examples, batch_size=args.batch_size, bf16=bf16)
            for scored, bf16 in runs
        )
        compare(lang, names, predictions)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="a model source")
    parser.add_argument("--xnli", default=str(SHARED / "data" / "xnli"))
    parser.add_argument("--langs", default="en,th", help="comma-separated languages")
    parser.add_argument("--n", type=int, default=48, help="test rows per language")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--parity", help="a fine-tuned model folder: fp32 vs bf16 predictions")
    parser.add_argument("--trained-bf16", help="with --parity: the same recipe trained in bf16")
    parser.add_argument("--bf16", action="store_true", help="time bf16 even where it is emulated")
    args = parser.parse_args()
    args.langs = args.langs.split(",")
    if not Path(args.xnli).exists():
        args.xnli = "demo"
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    source = args.parity or args.model
    model, tokenizer = load_pretrained_lm(source, role="--model")
    model.to(device)
    prompt = make_prompt(tokenizer, load_params(PROJECT_ROOT / "params.yaml").nli,
                         model_context(model))  # fmt: skip
    native = cpu_has_native_bf16() if device.type == "cpu" else torch.cuda.is_bf16_supported()
    print(f"torch {torch.__version__}, {device}, threads {torch.get_num_threads()}, native bf16: "
          f"{native}; model {source}")  # fmt: skip
    if not (native or args.bf16):
        global PRECISIONS
        PRECISIONS = (False,)
        print("bf16 is emulated here: paths timed in fp32 only (the matmul line shows why)")
    if args.parity and args.trained_bf16:
        training_parity(args, model, prompt)
    elif args.parity:
        parity(args, model, prompt)
    else:
        bench_paths(args, model, tokenizer, prompt, device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
