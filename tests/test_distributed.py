"""Data parallel through torchrun + DDP (gloo, 2 CPU processes) equals one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).parent / "helpers" / "ddp_worker.py"


def run_worker(out: Path, processes: int, batch_size: int, grad_accum: int) -> dict:
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    command = [*launcher, str(WORKER), str(out), str(batch_size), str(grad_accum)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "result.json").read_text())


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_two_processes_match_one_with_the_same_effective_batch(tmp_path: Path):
    single = run_worker(tmp_path / "single", 1, batch_size=8, grad_accum=2)
    double = run_worker(tmp_path / "double", 2, batch_size=8, grad_accum=2)
    assert double["steps"] == single["steps"]
    # Same trajectory up to float32 summation order: each step's batch is split across ranks.
    assert double["losses"] == pytest.approx(single["losses"], rel=1e-4, abs=1e-5)
    assert double["best"] == single["best"]
    assert double["sum"] == pytest.approx(single["sum"], rel=1e-5)
    # Outputs are written once (rank 0), nothing else appears beside them.
    assert sorted(p.name for p in (tmp_path / "double").iterdir()) == ["model", "result.json"]
    hf_model_files = sorted(p.name for p in (tmp_path / "double" / "model").iterdir())
    assert hf_model_files == ["config.json", "generation_config.json", "model.safetensors"]
