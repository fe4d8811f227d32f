"""Parameter counts and a COMPUTED peak-memory estimate of the study's Qwen2.5-0.5B LoRA run.

The model is built by hand from Qwen2.5-0.5B's shape (hidden 896, MLP 4864, 24 layers, 14 heads, 2
KV heads, vocab 151936, tied embeddings) on the `meta` device: nothing is downloaded or allocated.
LoRA is applied with the study's settings through `regpt2.training.lora.apply_lora` and the counts
come from `regpt2.training.lora.parameter_counts` (exact).

Peak training memory, micro-batch 8, bf16 autocast over fp32 weights (as `stages/qwen_lora.py`
runs it: `load_causal_lm` loads float32, the loop autocasts; torch AdamW), at the end of the
forward pass, when everything saved for backward is alive:
- weights: every parameter in fp32 (tied embedding counted once), LoRA included;
- LoRA gradients (fp32) and AdamW's two moment buffers (fp32) for the trainable parameters;
- bf16 weight copies: autocast casts each frozen Linear weight to bf16 at every call and does not
  cache the cast (it caches only leaf tensors that require grad); the matmul keeps that copy for
  the input gradient, so 2 bytes x every frozen Linear weight (lm_head included, since gradients
  flow through it to the adapters) stay alive until backward, except layer 0's q/k/v (their
  input, the embedding output, needs no gradient); plus the bf16 casts of the LoRA weights
  (cached by autocast, as trainable leaves, and saved too);
- activations, bytes per token (N = B x T tokens of the padded micro-batch, d hidden, f MLP, H
  heads, r LoRA rank, m = bytes of a dropout mask: 1 on CUDA (bool), 4 on CPU (fp32 noise)):
    per layer: 2 RMSNorm inputs 2*4d + 4 LoRA dropout masks 4*m*d + 4 bf16 LoRA inputs 4*2d
      + SDPA q, k, v (k, v repeated to H heads: a padding mask disables SDPA's native GQA),
      out 4*2d + logsumexp 4H + LoRA A outputs 4*2r + MLP gate, silu(gate), up 3*2f
      + 2 RMSNorm rsqrt 2*4 + the bf16 additive attention mask, 2T per token;
    minus layer 0's input-norm (4d+4) and q/k/v masks (3md), whose input needs no gradient;
    plus the final norm input 4d+4 and RoPE cos + sin 2*4*(d/H);
  and the label-position logits only: `logits_to_keep=1` gives (B, 1, V), so B*V*4 bytes of
  log-softmax, not a (B, T, 151936) tensor (which would be 8*T*151936*4 bytes in fp32).
Not included: the CUDA context (outside the allocator), allocator caching/fragmentation, cuBLAS
workspaces and backward's transient buffers (a layer's worth at a time); the CPU check below
measures how much a real step adds on top of the saved tensors.

Sequence length: the mean and max length of the study's prompt over XNLI English test rows in
Qwen2.5 tokens (../shared tokenizer + data, the prompt cut at nli.max_length 256), else 128.
The micro-batch is padded to its longest prompt; length-grouped batching keeps that close to
each prompt's own length, so the mean row is a typical step and the max row the worst one.

CPU check (`--check`, on by default): a tiny Qwen2 with the same LoRA runs one real training
step (the project's label-position loss under bf16 autocast) and the bytes of everything saved
for backward are measured exactly with saved_tensors_hooks and compared with the same formula
(m = 4 on CPU); a child process then measures the peak resident memory a whole step adds (VmHWM
after clear_refs, glibc told to mmap blocks >= 64 KiB), to show the transient part left out.

    python bench/qwen_lora_budget.py
    python bench/qwen_lora_budget.py --seq 128 --batch 8 --no-check
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

ROOT = bench_env.prepare()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from step_memory import proc_status_kib, saved_activation_bytes  # noqa: E402

from regpt2.core.batching import left_padded  # noqa: E402
from regpt2.nli.scorer import label_position_logits  # noqa: E402
from regpt2.training.lora import apply_lora, parameter_counts  # noqa: E402

# The study's section 4 settings, as params.yaml's qwen_lora section has them.
LORA = dict(r=8, alpha=32, dropout=0.1, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
TEMPLATE = "Premise: {premise}\nHypothesis: {hypothesis}\nLabel:"
DIGITS = {"entailment": "0", "contradiction": "1", "neutral": "2"}
MAX_LENGTH = 256  # params.yaml nli.max_length
GIB = 2**30


@dataclass(frozen=True)
class Shape:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


PAPER = Shape(hidden=896, intermediate=4864, layers=24, heads=14, kv_heads=2, vocab=151936)
TINY = Shape(hidden=64, intermediate=352, layers=2, heads=4, kv_heads=2, vocab=1000)
# Big enough for its tensors to stand well above the RSS noise of a step, small enough for ~1 s.
SMALL = Shape(hidden=128, intermediate=704, layers=4, heads=4, kv_heads=2, vocab=8000)


def qwen_lora(shape: Shape, device: str):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=shape.vocab,
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.kv_heads,
        max_position_embeddings=32768,
        rope_theta=1_000_000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    with torch.device(device):
        return apply_lora(Qwen2ForCausalLM(config), **LORA)


def weight_copy_elements(shape: Shape, trainable: int) -> int:
    return frozen_linear_weights(shape) + lora_copy_elements(shape, trainable)


def frozen_linear_weights(shape: Shape) -> int:
    """Elements of the frozen Linear weights whose bf16 copies are saved for backward."""
    d, kv, f = shape.hidden, shape.kv_heads * shape.head_dim, shape.intermediate
    qkv, o_mlp = d * d + 2 * d * kv, d * d + 3 * d * f
    return shape.layers * (qkv + o_mlp) - qkv + shape.vocab * d


def lora_copy_elements(shape: Shape, trainable: int) -> int:
    """Elements of the bf16 LoRA weight copies saved for backward: autocast caches the cast of
    a trainable leaf, and the matmul keeps it, except layer 0's q/k/v lora_A (input without
    gradient)."""
    return trainable - 3 * LORA["r"] * shape.hidden


def activation_bytes(shape: Shape, batch: int, seq: int, mask_bytes: int) -> int:
    """Bytes of the tensors saved for backward (the formula of the module docstring)."""
    d, f, heads, r = shape.hidden, shape.intermediate, shape.heads, LORA["r"]
    per_layer = 8 * d + 4 * mask_bytes * d + 8 * d + 8 * d + 4 * heads + 8 * r + 6 * f + 8
    per_layer += 2 * seq  # the bf16 additive attention mask, (B, 1, T, T)
    first_layer_saving = 4 * d + 4 + 3 * mask_bytes * d
    shared = 4 * d + 4 + 8 * shape.head_dim
    tokens = batch * seq
    return (
        tokens * (shape.layers * per_layer - first_layer_saving + shared) + batch * shape.vocab * 4
    )


def budget(shape: Shape, counts: dict[str, int], batch: int, seq: int, mask_bytes: int):
    """(name, bytes) rows of the estimate."""
    trainable = counts["trainable_parameters"]
    return [
        ("weights (fp32, LoRA included)", 4 * counts["total_parameters"]),
        ("LoRA gradients (fp32)", 4 * trainable),
        ("AdamW moments (2 x fp32)", 8 * trainable),
        ("bf16 weight copies (frozen Linear + LoRA)", 2 * weight_copy_elements(shape, trainable)),
        ("activations saved for backward", activation_bytes(shape, batch, seq, mask_bytes)),
    ]


def prompt_lengths(shared: Path) -> tuple[list[int], str] | None:
    tokenizer_dir = shared / "data" / "tokenizers" / "qwen2.5"
    xnli = shared / "data" / "xnli"
    if not (tokenizer_dir / "vocab.json").is_file() or not (xnli / "test-en.tsv").is_file():
        return None
    from regpt2.nli.prompts import NliPrompt
    from regpt2.sources.data import load_xnli
    from regpt2.sources.tokenizers import qwen2_tokenizer_from_files

    tokenizer = qwen2_tokenizer_from_files(tokenizer_dir)
    rows = load_xnli(str(xnli), "en", "test")
    encoded = NliPrompt(tokenizer, TEMPLATE, DIGITS, MAX_LENGTH).encode(rows)
    truncated = sum(example.truncated for example in encoded)
    where = f"{len(rows)} XNLI en test prompts in Qwen2.5 tokens ({truncated} cut at {MAX_LENGTH})"
    return [len(example.input_ids) for example in encoded], where


def print_table(title: str, rows: list[tuple[str, int]]) -> None:
    print(title)
    width = max(len(name) for name, _ in rows) + 2
    for name, size in rows:
        print(f"  {name:<{width}} {size / 2**20:>10.1f} MiB")
    print(f"  {'total':<{width}} {sum(s for _, s in rows) / 2**20:>10.1f} MiB "
          f"({sum(s for _, s in rows) / GIB:.2f} GiB)")  # fmt: skip


def example_batch(shape: Shape, batch: int, seq: int) -> dict[str, torch.Tensor]:
    """A left-padded batch: half the rows full length, half 5 tokens shorter (padding)."""
    generator = torch.Generator().manual_seed(0)
    lengths = [seq if i % 2 else seq - 5 for i in range(batch)]
    ids = [torch.randint(1, shape.vocab, (n,), generator=generator).tolist() for n in lengths]
    out = left_padded(ids, 0)
    out["targets"] = torch.randint(0, shape.vocab, (batch,), generator=generator)
    return out


def train_step(model, batch: dict[str, torch.Tensor], optimizer) -> None:
    """One step of the project's loop: label-position loss (nli.finetune) under bf16 autocast."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = label_position_logits(model, batch).float()
        loss = F.cross_entropy(logits, batch["targets"])
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def make_optimizer(model):
    trainable = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(trainable, lr=2e-4, weight_decay=0.01)


def measured_step(shape: Shape, batch: int, seq: int, rss: bool) -> dict[str, int]:
    """One real training step after two warm-up steps (optimizer state exists, the allocator
    has seen a step): the exact bytes of the distinct non-parameter storages autograd saves,
    and with `rss` the peak resident memory the step adds (VmHWM after clear_refs)."""
    model = qwen_lora(shape, "cpu").train()
    data = example_batch(shape, batch, seq)
    optimizer = make_optimizer(model)
    for _ in range(2):
        train_step(model, data, optimizer)
    result = {}
    if rss:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
        start = proc_status_kib("VmRSS")
    saved = saved_activation_bytes(model, lambda: train_step(model, data, optimizer))
    if rss:
        result["step_peak_bytes"] = (proc_status_kib("VmHWM") - start) * 1024
    result["saved_bytes"] = saved
    return result


def saved_formula(shape: Shape, batch: int, seq: int) -> int:
    trainable = parameter_counts(qwen_lora(shape, "meta"))["trainable_parameters"]
    return activation_bytes(shape, batch, seq, 4) + 2 * weight_copy_elements(shape, trainable)


def cpu_check(batch: int, seq: int) -> None:
    print(f"\nCPU check (Qwen2 + the same LoRA, one real step, B {batch} x T {seq}, m = 4):")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
    command = [sys.executable, __file__, "--child", "--batch", str(batch), "--seq", str(seq)]
    runs = {"tiny": (TINY, measured_step(TINY, batch, seq, rss=False))}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    try:
        runs["small"] = (SMALL, json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        print(f"  small: the measuring child failed: {done.stderr.strip()[-500:]}")
    for name, (shape, measured) in runs.items():
        formula = saved_formula(shape, batch, seq)
        print(
            f"  {name} (d {shape.hidden}, f {shape.intermediate}, {shape.layers} layers, vocab "
            f"{shape.vocab}): saved for backward MEASURED {measured['saved_bytes'] / 2**20:.3f} "
            f"MiB, COMPUTED (activations + bf16 weight copies) {formula / 2**20:.3f} MiB, "
            f"measured/computed {measured['saved_bytes'] / formula:.4f}"
        )
        if "step_peak_bytes" in measured:
            step = measured["step_peak_bytes"]
            counts = parameter_counts(qwen_lora(shape, "meta"))
            rows = budget(shape, counts, batch, seq, 4)
            # Weights and AdamW moments are resident before the step; the rest is made in it.
            computed = sum(size for row, size in rows if not row.startswith(("weights", "AdamW")))
            print(
                f"  {name}: peak RSS a whole step adds MEASURED {step / 2**20:.1f} MiB, COMPUTED "
                f"LoRA grads + bf16 copies + activations {computed / 2**20:.1f} MiB; the "
                f"difference ({(step - computed) / 2**20:+.1f} MiB) is backward's transients"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="micro-batch (study: 8)")
    parser.add_argument("--seq", type=int, default=None, help="fix the sequence length")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--no-check", dest="check", action="store_false")
    parser.add_argument("--check-seq", type=int, default=64, help="T of the CPU check")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.child:
        print(json.dumps(measured_step(SMALL, args.batch, args.seq, rss=True)))
        return

    model = qwen_lora(PAPER, "meta")
    counts = parameter_counts(model)
    base = counts["total_parameters"] - counts["trainable_parameters"]
    print(
        f"Qwen2.5-0.5B shape on the meta device; LoRA r {LORA['r']}, alpha {LORA['alpha']}, "
        f"dropout {LORA['dropout']}, targets {' '.join(LORA['target_modules'])}"
    )
    print(
        f"parameters (COMPUTED, exact): total {counts['total_parameters']:,} = base {base:,} "
        f"+ LoRA {counts['trainable_parameters']:,}; trainable {counts['trainable_parameters']:,}"
        f" ({100 * counts['trainable_parameters'] / counts['total_parameters']:.3f}%)"
    )

    if args.seq:
        lengths, where = [args.seq], f"--seq {args.seq}"
    else:
        measured = prompt_lengths(args.shared)
        lengths, where = measured or ([128], f"assumed 128 (no tokenizer/XNLI in {args.shared})")
    mean, longest = round(sum(lengths) / len(lengths)), max(lengths)
    print(f"sequence length: mean {sum(lengths) / len(lengths):.1f}, max {longest} ({where})")
    for label, seq in (("mean", mean), ("max", longest)):
        if label == "max" and longest == mean:
            break
        rows = budget(PAPER, counts, args.batch, seq, 1)
        print_table(
            f"COMPUTED (not measured) peak training memory, CUDA, micro-batch {args.batch} x "
            f"T {seq} ({label} length), bf16 autocast, fp32 weights:",
            rows,
        )
    full = args.batch * longest * PAPER.vocab * 4
    print(
        f"(logits_to_keep=1: full-sequence fp32 logits would add {full / GIB:.2f} GiB at T "
        f"{longest}; the CUDA context, allocator cache and backward temporaries are not included)"
    )
    if args.check:
        cpu_check(args.batch, args.check_seq)


if __name__ == "__main__":
    main()
