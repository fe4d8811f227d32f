"""The stages' allocator policy (regpt2.core.memory) on vs off: speed, page faults, memory.

Each measurement is a fresh process (the policy is process-wide and must be set before the first
large tensor): it loads the model, sets the policy or not, then times NLI training steps (batch 4,
label-token loss, the hand-written AdamW, real English XNLI prompts, as bench_precision.py builds
them) and one `predict` pass over test rows, in fp32. Processes alternate on, off, off, on, ...
(load from other processes hits both alike). Printed per policy: median seconds per training
step, minor page faults per step, scoring examples/s, the process's peak resident memory; the
ratios off/on; and whether the training losses were bit-identical (they must be: only where
the bytes live changes).

    python bench/bench_malloc.py                  # SmolLM2 from ../shared, 3 rounds
    python bench/bench_malloc.py --rounds 1 --steps 6
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

PROJECT_ROOT = bench_env.prepare(reuse_freed_memory=False)

SHARED = bench_env.shared_folder()
DEFAULT_MODEL = SHARED / "models" / "smollm2-135m-instruct-q4_1.gguf"


def measure(args) -> dict:
    """One process's measurement (the child side)."""
    import torch
    import torch.nn.functional as F

    from regpt2.config.params import load_params
    from regpt2.core.batching import left_padded, pad_id_of
    from regpt2.core.memory import reuse_freed_memory
    from regpt2.gpt2.optim import AdamW
    from regpt2.nli.evaluate import make_prompt, model_context
    from regpt2.nli.scorer import label_position_logits, predict
    from regpt2.sources.data import DemoSizes, load_xnli
    from regpt2.sources.models import load_pretrained_lm

    if args.policy == "on" and not reuse_freed_memory():
        raise SystemExit("this C library has no mallopt: nothing to compare")
    torch.manual_seed(0)
    model, tokenizer = load_pretrained_lm(args.model, role="--model")
    prompt = make_prompt(tokenizer, load_params(PROJECT_ROOT / "params.yaml").nli,
                         model_context(model))  # fmt: skip
    sizes = DemoSizes(*[4 * args.steps + 8] * 3)
    train = prompt.encode(load_xnli(args.xnli, "en", "dev", limit=4 * (args.steps + 2),
                                    demo_sizes=sizes))  # fmt: skip
    pad_id, label_ids = pad_id_of(tokenizer), torch.tensor(prompt.label_token_ids)
    optimizer = AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    model.train()
    seconds, faults, losses = [], [], []
    for step in range(args.steps + 2):  # the first two warm up (optimizer state, first pages)
        chunk = train[4 * step : 4 * step + 4]
        batch = left_padded([example.input_ids for example in chunk], pad_id)
        targets = label_ids[[example.label for example in chunk]]
        before, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        loss = F.cross_entropy(label_position_logits(model, batch).float(), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= 2:
            seconds.append(time.perf_counter() - start)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        losses.append(loss.item())
    model.eval()
    test = prompt.encode(load_xnli(args.xnli, "en", "test", limit=args.n, demo_sizes=sizes))
    start = time.perf_counter()
    predict(model, prompt, test, batch_size=16)
    scoring = len(test) / (time.perf_counter() - start)
    return {
        "step_seconds": statistics.median(seconds),
        "faults_per_step": statistics.median(faults),
        "scoring_examples_per_second": scoring,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "losses": losses,
    }


def child(policy: str, args) -> dict:
    command = [sys.executable, __file__, "--child", policy, "--model", args.model,
               "--xnli", args.xnli, "--steps", str(args.steps), "--n", str(args.n)]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--xnli", default=str(SHARED / "data" / "xnli"))
    parser.add_argument("--rounds", type=int, default=3, help="processes per policy")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--n", type=int, default=64, help="test rows scored")
    parser.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.policy = args.child
        print(json.dumps(measure(args)))
        return 0
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    for number in range(args.rounds):
        for policy in ("on", "off") if number % 2 == 0 else ("off", "on"):
            runs[policy].append(child(policy, args))
    median = {
        policy: {key: statistics.median(run[key] for run in results)
                 for key in results[0] if key != "losses"}
        for policy, results in runs.items()
    }  # fmt: skip
    print(f"{args.model}; {args.rounds} processes per policy, {args.steps} timed steps each")
    for policy in ("off", "on"):
        m = median[policy]
        print(f"policy {policy:<3}: step {m['step_seconds']:.3f} s   page faults/step "
              f"{m['faults_per_step']:8.0f}   scoring {m['scoring_examples_per_second']:6.2f} ex/s"
              f"   peak RSS {m['peak_rss_mib']:7.0f} MiB")  # fmt: skip
    on, off = median["on"], median["off"]
    identical = all(run["losses"] == runs["on"][0]["losses"] for run in runs["on"] + runs["off"])
    print(f"training step off/on {off['step_seconds'] / on['step_seconds']:.2f}x, scoring on/off "
          f"{on['scoring_examples_per_second'] / off['scoring_examples_per_second']:.2f}x, "
          f"peak RSS on/off {on['peak_rss_mib'] / off['peak_rss_mib']:.2f}x; "
          f"losses bit-identical: {'yes' if identical else 'NO'}")  # fmt: skip
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
