"""bench/gpu_check.py, the prepared GPU check, on the CPU with tiny shapes: it still runs the
project's loop and scorer on both model families, projects every paper stage, and its
2-process torchrun run works (gloo here, NCCL on GPUs). The numbers themselves mean nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


@pytest.mark.e2e
def test_gpu_check_runs_on_cpu_tiny():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--tiny"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for name in ("GPT-2 train", "GPT-2 score", "Qwen2-0.5B train", "Qwen2-0.5B score"):
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert re.search(r"[\d,]+ tokens/s .* peak memory +[\d.]+ GB +bf16 True", line), line
    for stage in (
        "finetune_en",
        "zeroshot",
        "finetune_per_lang",
        "finetune_all",
        "qwen_lora",
        "qwen_lora_test",
    ):
        assert re.search(rf"^  {stage} .* [\d.]+ min$", out, re.M), (stage, out)
    assert "2-process torchrun smoke test: world 2, backend gloo" in out, out
