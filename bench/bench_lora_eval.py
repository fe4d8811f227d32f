"""Scoring a LoRA model: the adapter as PEFT applies it vs merged into the weights.

`qwen_lora evaluate` scores the adapter merged into its base (`load_adapter_model`). This bench
shows what that buys and that it changes nothing: on a real model and real XNLI test prompts,
in one run, interleaved (unmerged, merged, merged, unmerged, ...: load from other processes
hits both alike), it prints examples/s of `regpt2.nli.scorer.predict` for each, the ratio
merged/unmerged, and the predictions that differ between the two (expected: none, or a rare
near-tie that float rounding flips).

The adapter: --adapter FOLDER (a saved one, e.g. data/models/qwen_lora) or, by default, a fresh
one on --model with params.yaml's `qwen_lora.lora` settings whose B matrices are drawn at random
(seed 0; PEFT starts them at zero, which would make the adapter a no-op).

    python bench/bench_lora_eval.py                     # SmolLM2 from ../shared, en + th
    python bench/bench_lora_eval.py --n 64 --rounds 2   # quicker
    python bench/bench_lora_eval.py --adapter data/models/qwen_lora --langs en,hi
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

PROJECT_ROOT = bench_env.prepare()

import torch  # noqa: E402

from regpt2.config.params import load_params  # noqa: E402
from regpt2.core.precision import use_bf16  # noqa: E402
from regpt2.nli.evaluate import make_prompt, model_context  # noqa: E402
from regpt2.nli.scorer import predict  # noqa: E402
from regpt2.sources.data import DemoSizes, load_xnli  # noqa: E402
from regpt2.sources.models import load_pretrained_lm  # noqa: E402
from regpt2.training.lora import apply_lora  # noqa: E402

SHARED = bench_env.shared_folder()
DEFAULT_MODEL = SHARED / "models" / "smollm2-135m-instruct-q4_1.gguf"


def unmerged_adapter(args):
    """(PEFT model with the adapter applied, tokenizer)."""
    if args.adapter:
        from peft import AutoPeftModelForCausalLM
        from transformers import AutoTokenizer

        model = AutoPeftModelForCausalLM.from_pretrained(args.adapter, dtype=torch.float32)
        return model, AutoTokenizer.from_pretrained(args.adapter)
    base, tokenizer = load_pretrained_lm(args.model, role="--model")
    lora = load_params(PROJECT_ROOT / "params.yaml").qwen_lora.lora
    model = apply_lora(
        base, r=lora.r, alpha=lora.alpha, dropout=lora.dropout,
        target_modules=lora.target_modules, bias=lora.bias,
    )  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
    return model, tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--adapter", default=None, help="a saved PEFT adapter folder")
    parser.add_argument("--xnli", default=str(SHARED / "data" / "xnli"))
    parser.add_argument("--langs", default="en,th")
    parser.add_argument("--n", type=int, default=128, help="test rows per language")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    torch.manual_seed(0)
    unmerged, tokenizer = unmerged_adapter(args)
    unmerged.eval()
    merged = copy.deepcopy(unmerged).merge_and_unload().eval()
    device = torch.device("cpu")
    bf16 = use_bf16("auto", device, "inference")
    nli = load_params(PROJECT_ROOT / "params.yaml").nli
    prompt = make_prompt(tokenizer, nli, model_context(merged))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, bf16 (auto) {bf16}; "
          f"{args.adapter or args.model}, {args.n} rows per language")  # fmt: skip

    models = {"unmerged": unmerged, "merged": merged}
    for lang in args.langs.split(","):
        rows = load_xnli(args.xnli, lang, "test", limit=args.n, demo_sizes=DemoSizes(*[args.n] * 3))
        examples = prompt.encode(rows)
        times: dict[str, list[float]] = {name: [] for name in models}
        labels = {}
        for number in range(args.rounds):
            order = list(models) if number % 2 == 0 else list(models)[::-1]
            for name in order:
                start = time.perf_counter()
                predictions = predict(
                    models[name], prompt, examples, batch_size=args.batch_size, bf16=bf16
                )
                times[name].append(time.perf_counter() - start)
                labels[name] = predictions.strict
        rate = {name: len(examples) / statistics.median(times[name]) for name in models}
        changed = int((labels["unmerged"] != labels["merged"]).sum())
        print(f"{lang}: unmerged {rate['unmerged']:6.2f} ex/s   merged {rate['merged']:6.2f} ex/s"
              f"   merged/unmerged {rate['merged'] / rate['unmerged']:5.2f}x   "
              f"changed strict predictions {changed} of {len(examples)}")  # fmt: skip


if __name__ == "__main__":
    main()
