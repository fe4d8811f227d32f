"""Check and time the batched NLI scorer against the study's one-token greedy generation.

On the same model and the same encoded examples, in one run:

(a) the study's way: each example alone (batch 1), `model.generate(input_ids, max_new_tokens=1,
    do_sample=False)` on a Hugging Face model (the hand-written GPT-2 through `to_hf_model()`,
    any other causal LM as it is), the new token decoded and stripped; correct iff it equals the
    gold digit;
(b) ours: `regpt2.nli.scorer.predict` on length-sorted, left-padded batches (one forward pass per
    batch, argmax of the label position over the full vocabulary; on a transformers model, the
    prompts of one premise are read once up to their hypotheses: `nli.prefix_sharing`).

(c) with --breakdown: batch-1 forward passes of (a)'s model without `generate`, to split (a)'s
    time between the model and generate's per-call overhead.

The paths run batch by batch, alternating their order (the machine may be shared: load from
other processes then hits them alike); (b) gets exactly the batches of one `predict` call, and
one more `predict` call over everything is timed and checked too. It counts the examples whose
generated token, strict label or strict correctness differ (all must be 0; the exit status is 1
otherwise, and the top-2 logits of each differing example are printed), then prints wall and
CPU time, examples/s and the speed ratio (goal: ours >= 20x faster).

    python bench/bench_evaluate.py                         # toy GPT-2 (random init, GPT-2 vocab)
    python bench/bench_evaluate.py --model data/models/finetune_en --n 200
    python bench/bench_evaluate.py --model ../shared/models/smollm2-135m-instruct-q4_1.gguf --n 100

--model: `toy` (a GPT-2 built here, random init, shape --n-embd/--n-layer/--n-head, with the
real GPT-2 tokenizer from ../shared/data/tokenizers/gpt2 when present, else the demo BPE) or a
model source for `regpt2.sources.models.load_pretrained_lm` (a GPT-2 folder, HF model folder, GGUF
file, hub:ID when cached). --xnli: an XNLI source; default ../shared/data/xnli when present,
else `demo`. The prompt is `regpt2.nli.finetune.make_prompt` with the nli section of params.yaml.

--bf16 auto|true: (b) runs under bf16 autocast as the stages' `nli.bf16` would (auto: only where
the hardware has native bf16), against (a) in fp32, the study's baseline; rounding then flips a
few near-ties, so the mismatch counts are printed and do not fail the run.
    python bench/bench_evaluate.py --model ../shared/models/smollm2-135m-instruct-q4_1.gguf \
        --lang th --n 100 --bf16 auto
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

PROJECT_ROOT = bench_env.prepare()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from regpt2.core.batching import pad_id_of  # noqa: E402
from regpt2.core.precision import use_bf16  # noqa: E402
from regpt2.nli.prefix_sharing import group_batches, prefix_groups  # noqa: E402
from regpt2.nli.prompts import EncodedExample, NliPrompt  # noqa: E402
from regpt2.nli.scorer import NON_LABEL, Predictions, predict  # noqa: E402

# ------------------------------------------------------------------------- the comparison


@dataclass
class StudyPredictions:
    tokens: np.ndarray  # the generated token id per example
    texts: list[str]  # its decoded, stripped text
    strict: np.ndarray  # label index of that text, or NON_LABEL
    correct: np.ndarray  # text == the gold label's digit


def study_hf_model(model: torch.nn.Module) -> torch.nn.Module:
    """The HF model the study generated with: `to_hf_model()` of the hand-written GPT-2."""
    from regpt2.gpt2.model import GPT2LMHead

    return model.to_hf_model() if isinstance(model, GPT2LMHead) else model


@torch.no_grad()
def study_predictions(
    hf_model: torch.nn.Module, prompt: NliPrompt, examples: Sequence[EncodedExample]
) -> StudyPredictions:
    """The study's evaluation: one example at a time, greedy generation of one token."""
    tokenizer = prompt.tokenizer
    pad_id = pad_id_of(tokenizer)  # only silences "pad_token_id not set"; batch 1 has no padding
    device = next(hf_model.parameters()).device
    hf_model.eval()
    tokens = np.empty(len(examples), dtype=np.int64)
    texts: list[str] = []
    for index, example in enumerate(examples):
        input_ids = torch.tensor([example.input_ids], device=device)
        output = hf_model.generate(
            input_ids, max_new_tokens=1, do_sample=False, pad_token_id=pad_id
        )
        new = output[0, input_ids.shape[1] :]
        tokens[index] = int(new[0])
        texts.append(tokenizer.decode(new.tolist()).strip())
    return study_result(prompt, examples, tokens, texts)


def study_result(
    prompt: NliPrompt, examples: Sequence[EncodedExample], tokens: np.ndarray, texts: list[str]
) -> StudyPredictions:
    """Judge generated texts as the study did: correct iff the stripped text is the gold digit."""
    strict = np.array([_label_of(prompt, text) for text in texts], dtype=np.int64)
    gold = [prompt.label_strings[example.label] for example in examples]
    correct = np.array([text == digit for text, digit in zip(texts, gold, strict=True)])
    return StudyPredictions(tokens, texts, strict, correct)


def _label_of(prompt: NliPrompt, text: str) -> int:
    return prompt.label_strings.index(text) if text in prompt.label_strings else NON_LABEL


def compare(study: StudyPredictions, ours: Predictions) -> dict:
    """Counts of examples where the two evaluations disagree (all must be 0)."""
    return {
        "token_mismatches": int((study.tokens != ours.strict_tokens).sum()),
        "strict_mismatches": int((study.strict != ours.strict).sum()),
        "correct_mismatches": int((study.correct != (ours.strict == ours.gold)).sum()),
    }


@torch.no_grad()
def bare_forwards(hf_model: torch.nn.Module, examples: Sequence[EncodedExample]) -> np.ndarray:
    """Batch-1 forward passes of the study's model without `generate` (last position's logits
    only): the model's own cost in (a), the rest of (a) being generate's per-call overhead."""
    device = next(hf_model.parameters()).device
    tokens = np.empty(len(examples), dtype=np.int64)
    for index, example in enumerate(examples):
        input_ids = torch.tensor([example.input_ids], device=device)
        tokens[index] = int(hf_model(input_ids, logits_to_keep=1).logits[0, -1].argmax())
    return tokens


@torch.no_grad()
def top2(hf_model: torch.nn.Module, example: EncodedExample) -> tuple[int, float, int, float]:
    """The two best next tokens of one unpadded example and their logits (to judge near-ties)."""
    device = next(hf_model.parameters()).device
    logits = hf_model(torch.tensor([example.input_ids], device=device)).logits[0, -1].float()
    values, ids = logits.topk(2)
    return int(ids[0]), float(values[0]), int(ids[1]), float(values[1])


# ------------------------------------------------------------------------- model and data


def toy_tokenizer():
    from regpt2.sources.tokenizers import load_tokenizer_folder, train_demo_bpe

    folder = bench_env.shared_folder() / "data" / "tokenizers" / "gpt2"
    if (folder / "vocab.json").is_file():
        return load_tokenizer_folder(folder), f"GPT-2 tokenizer from {folder}"
    from regpt2.demo.corpus import demo_nli_rows

    rows = demo_nli_rows("en", "train", 500)
    texts = [row["premise"] for row in rows] + [row["hypothesis"] for row in rows]
    texts += ["Premise: Hypothesis: Label: 0 1 2"] * 20
    return train_demo_bpe(texts, 2000), "demo BPE (no ../shared GPT-2 tokenizer)"


def load_model(args: argparse.Namespace):
    """(model, tokenizer, description)."""
    if args.model == "toy":
        from regpt2.gpt2.config import GPT2Config
        from regpt2.gpt2.model import GPT2LMHead

        tokenizer, origin = toy_tokenizer()
        torch.manual_seed(args.seed)
        config = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=1024,
            n_embd=args.n_embd,
            n_layer=args.n_layer,
            n_head=args.n_head,
        )
        shape = f"n_embd {args.n_embd}, {args.n_layer} layers, {args.n_head} heads"
        return GPT2LMHead(config), tokenizer, f"toy GPT-2 ({shape}, random init), {origin}"
    from regpt2.sources.models import load_pretrained_lm

    model, tokenizer = load_pretrained_lm(args.model, role="--model")
    return model, tokenizer, f"{args.model} ({type(model).__name__})"


def default_xnli() -> str:
    folder = bench_env.shared_folder() / "data" / "xnli"
    return str(folder) if folder.is_dir() else "demo"


def load_examples(args: argparse.Namespace, prompt: NliPrompt) -> list[EncodedExample]:
    from regpt2.sources.data import DemoSizes, load_xnli

    demo = DemoSizes(train=args.n, dev=args.n, test=args.n)
    rows = load_xnli(args.xnli, args.lang, args.split, limit=args.n, demo_sizes=demo)
    return prompt.encode(rows)


# ------------------------------------------------------------------------- the run


@dataclass
class Timing:
    wall: float = 0.0
    cpu: float = 0.0

    def __call__(self, function, *arguments, **keywords):
        start, cpu = time.perf_counter(), time.process_time()
        result = function(*arguments, **keywords)
        self.wall += time.perf_counter() - start
        self.cpu += time.process_time() - cpu
        return result


def interleaved(
    model, hf_model, prompt, examples, batch_size: int, breakdown: bool, bf16: bool = False
):
    """Run (a), (b) and optionally (c) batch by batch, alternating their order, so that load
    from other processes on a shared machine hits all of them alike. (b) gets exactly the
    batches of one `predict` call over everything (whole groups of prompts that start alike,
    length-sorted, as `predict` batches them)."""
    n = len(examples)
    sequences = [example.input_ids for example in examples]
    groups = sorted(
        prefix_groups(sequences), key=lambda g: max(len(sequences[i]) for i in g.members)
    )
    timings = {"study": Timing(), "ours": Timing(), "bare": Timing()}
    study_tokens = np.empty(n, dtype=np.int64)
    study_texts = [""] * n
    bare_tokens = np.empty(n, dtype=np.int64)
    ours = Predictions(
        *(np.empty(n, dtype=np.int64) for _ in range(4)), np.empty((n, 3), dtype=np.float32)
    )
    for number, batch in enumerate(group_batches(groups, sequences, batch_size)):
        chunk = [member for group in batch for member in group.members]
        sub = [examples[i] for i in chunk]
        steps = ["study", "ours"] + (["bare"] if breakdown else [])
        for step in steps if number % 2 == 0 else steps[::-1]:
            if step == "study":
                result = timings[step](study_predictions, hf_model, prompt, sub)
                study_tokens[chunk] = result.tokens
                for index, text in zip(chunk, result.texts, strict=True):
                    study_texts[index] = text
            elif step == "ours":
                result = timings[step](
                    predict, model, prompt, sub, batch_size=batch_size, bf16=bf16
                )
                for field in ("gold", "strict", "restricted", "strict_tokens", "label_logits"):
                    getattr(ours, field)[chunk] = getattr(result, field)
            else:
                bare_tokens[chunk] = timings[step](bare_forwards, hf_model, sub)
    return study_result(prompt, examples, study_tokens, study_texts), ours, bare_tokens, timings


def run(args: argparse.Namespace) -> int:
    from regpt2.config.params import load_params
    from regpt2.nli.evaluate import make_prompt, model_context

    start = time.perf_counter()
    model, tokenizer, description = load_model(args)
    model.eval()
    hf_model = study_hf_model(model).eval()
    load_s = time.perf_counter() - start
    nli = load_params(PROJECT_ROOT / "params.yaml").nli
    prompt = make_prompt(tokenizer, nli, model_context(model))
    examples = load_examples(args, prompt)
    lengths = [len(example.input_ids) for example in examples]
    n = len(examples)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}; model {description}; "
        f"study model {type(hf_model).__name__}; loaded in {load_s:.1f} s"
    )
    print(
        f"data {args.xnli} {args.split}-{args.lang}: {n} examples, prompt tokens "
        f"min {min(lengths)} / mean {np.mean(lengths):.1f} / max {max(lengths)}, "
        f"truncated {sum(example.truncated for example in examples)}; "
        f"label digits {prompt.label_strings} -> tokens {prompt.label_token_ids}"
    )

    # Warm up every path (first-call allocations, lazy imports), untimed.
    warm = examples[: min(n, args.batch_size)]
    study_predictions(hf_model, prompt, warm[:2])
    bare_forwards(hf_model, warm[:2])
    bf16 = use_bf16(args.bf16, torch.device("cpu"), "inference")
    predict(model, prompt, warm, batch_size=args.batch_size, bf16=bf16)

    study, ours, bare, timings = interleaved(
        model, hf_model, prompt, examples, args.batch_size, args.breakdown, bf16
    )
    # Ours once more as the stages call it, one call over everything: same predictions.
    whole = Timing()
    again = whole(predict, model, prompt, examples, batch_size=args.batch_size, bf16=bf16)
    if not np.array_equal(again.strict_tokens, ours.strict_tokens):
        print("FAIL: one predict call over everything differs from the batch-by-batch calls")
        return 1

    counts = compare(study, ours)
    a, b = timings["study"], timings["ours"]
    print(
        f"(a) study, generate batch 1 : {a.wall:8.2f} s wall ({a.cpu:8.2f} s CPU)  "
        f"{n / a.wall:8.1f} examples/s  strict accuracy {100 * study.correct.mean():.2f}%"
    )
    print(
        f"(b) ours, predict batch {args.batch_size:<4d}{' bf16' if bf16 else ' fp32'}: "
        f"{b.wall:8.2f} s wall ({b.cpu:8.2f} s "
        f"CPU)  {n / b.wall:8.1f} examples/s  strict accuracy "
        f"{100 * (ours.strict == ours.gold).mean():.2f}%, "
        f"restricted {100 * (ours.restricted == ours.gold).mean():.2f}%"
    )
    print(
        f"    ours in one predict call: {whole.wall:8.2f} s wall ({whole.cpu:8.2f} s CPU), "
        f"{n / whole.wall:.1f} examples/s (not interleaved), identical predictions"
    )
    if args.breakdown:
        c = timings["bare"]
        print(
            f"(c) study model, bare forward batch 1 (no generate): {c.wall:8.2f} s wall "
            f"({c.cpu:8.2f} s CPU)  {n / c.wall:8.1f} examples/s; generate's own cost is "
            f"{100 * (1 - c.wall / a.wall):.0f}% of (a); token mismatches with (a) "
            f"{int((bare != study.tokens).sum())}"
        )
    top = Counter(study.texts).most_common(5)
    print(
        f"outputs: {int((study.strict != NON_LABEL).sum())}/{n} label digits; most frequent "
        + ", ".join(f"{text!r} x{count}" for text, count in top)
    )
    ratio = a.wall / b.wall
    print(
        f"speed-up ours vs study (interleaved): {ratio:.1f}x wall, {a.cpu / b.cpu:.1f}x CPU "
        f"(goal >= 20x: {'met' if ratio >= 20 else 'NOT met'} on wall time)"
    )
    print(
        f"mismatches over {n} examples: generated token {counts['token_mismatches']}, "
        f"strict prediction {counts['strict_mismatches']}, "
        f"strict correctness {counts['correct_mismatches']}"
    )
    for index in np.flatnonzero(study.tokens != ours.strict_tokens)[:10]:
        best, best_logit, second, second_logit = top2(hf_model, examples[index])
        print(
            f"  example {index} ({lengths[index]} tokens): study {study.tokens[index]} "
            f"{study.texts[index]!r}, ours {ours.strict_tokens[index]} "
            f"{tokenizer.decode([int(ours.strict_tokens[index])]).strip()!r}; unpadded top-2 "
            f"{best} ({best_logit:.6f}), {second} ({second_logit:.6f})"
        )
    if bf16:
        changed = counts["strict_mismatches"]
        print(f"bf16: {changed} of {n} strict predictions differ from fp32 generation (rounding; "
              "bench_precision.py --parity measures accuracy)")  # fmt: skip
        return 0
    if any(counts.values()):
        print("FAIL: the batched scorer disagrees with the study's generation")
        return 1
    print("OK: identical strict predictions for every example")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy", help="`toy` or a model source (path, hub:ID)")
    parser.add_argument("--xnli", default=None, help="XNLI source (default: ../shared or demo)")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--split", default="test", choices=["train", "dev", "test"])
    parser.add_argument("--n", type=int, default=200, help="number of examples")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size of ours")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time (c) batch-1 forwards, no generate"
    )
    parser.add_argument(
        "--bf16",
        choices=["auto", "true", "false"],
        default="false",
        help="(b) under bf16 autocast as `nli.bf16` would run it (default false: the exact check)",
    )
    parser.add_argument("--n-embd", type=int, default=256, help="toy model width")
    parser.add_argument("--n-layer", type=int, default=4, help="toy model depth")
    parser.add_argument("--n-head", type=int, default=4, help="toy model heads")
    parser.add_argument("--seed", type=int, default=0, help="toy model init seed")
    args = parser.parse_args(argv)
    args.bf16 = {"auto": "auto", "true": True, "false": False}[args.bf16]
    if args.n < 1 or args.batch_size < 1:
        parser.error("--n and --batch-size must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    args.xnli = args.xnli or default_xnli()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
