"""Where bf16 autocast runs: the `bf16: auto | true | false` settings, resolved per path.

`auto` uses bf16 only where the hardware computes it natively and it was measured faster
(bench/bench_precision.py):
- CUDA with bf16 support: every path (training, scoring, generation, probing).
- CPUs with AVX512_BF16 or AMX: the inference paths only. bf16 autocast made SmolLM2 scoring
  2-2.5x faster there, while a training step ran at 1.05x and its first losses moved by up to
  0.9, so training stays fp32 on CPUs.
- Anything else (e.g. AVX2-only CPUs, where bf16 is emulated and slower): fp32.
`true` forces bf16 autocast wherever torch can run it, `false` never uses it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from regpt2.config.params import Bf16 as Bf16Setting

ComputePath = Literal["training", "inference"]


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when this CPU has bf16 instructions (AVX512_BF16 or AMX-BF16)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    if any(getattr(torch.cpu, name, lambda: False)() for name in probes):
        return True
    # Older torch builds lack the probes: read the kernel's flag list instead (Linux).
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="ignore")
    except OSError:
        return False
    flags = set(text.split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def use_bf16(setting: Bf16Setting, device: torch.device, path: ComputePath) -> bool:
    """Whether `path` runs under bf16 autocast on `device` for this setting."""
    if setting is False:
        return False
    if setting is True:
        return device.type == "cpu" or native_bf16(device)
    if not native_bf16(device):
        return False
    return device.type == "cuda" or path == "inference"


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on `device` when `enabled` (a no-op context otherwise)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


@contextmanager
def output_head_in_fp32(model: torch.nn.Module, enabled: bool = True) -> Iterator[None]:
    """Compute `model`'s output head (the LM head) in fp32, even inside bf16 autocast.

    Under autocast the head's matmul rounds every logit to bf16 (8 bits of mantissa: steps of
    0.06 near a logit of 10), so the label logits of one prompt often tie exactly, and the
    whole-vocabulary argmax and the argmax over the three labels then break the tie
    differently. The body keeps its bf16 speed; the head reads one position per prompt, so fp32
    there costs next to nothing. `model` follows the Hugging Face convention
    (`get_output_embeddings()`); a PEFT wrapper passes the call to its base model."""
    head = model.get_output_embeddings() if enabled else None
    if head is None:
        yield
        return

    def forward_in_fp32(hidden: torch.Tensor) -> torch.Tensor:
        with torch.autocast(hidden.device.type, enabled=False):
            bias = None if head.bias is None else head.bias.float()
            return F.linear(hidden.float(), head.weight.float(), bias)

    # An instance attribute shadows the class's forward for this block only.
    head.forward = forward_in_fp32
    try:
        yield
    finally:
        del head.forward
