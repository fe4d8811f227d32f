"""regpt2.core.memory: with the policy set, a large block freed and allocated again reuses its
pages instead of faulting fresh ones in (what makes a training step cheaper)."""

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Allocate and touch 64 MiB, free it, do it again: print the minor page faults of the second.
SCRIPT = """
import resource, sys
import torch
from regpt2.core.memory import reuse_freed_memory
if sys.argv[1] == "on" and not reuse_freed_memory():
    sys.exit("unsupported")
block = torch.ones(16 << 20)
del block
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = torch.ones(16 << 20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _second_allocation_faults(policy: str) -> int:
    """Run in a fresh process: the policy is process-wide (the test process stays as it is)."""
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, policy],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC)},
        timeout=120,
    )
    if "unsupported" in result.stderr:
        pytest.skip("no glibc mallopt here: the policy is a no-op")
    assert result.returncode == 0, result.stderr
    return int(result.stdout.strip().splitlines()[-1])


def test_freed_blocks_are_reused_instead_of_faulted_in_again():
    pages = (64 << 20) // 4096
    assert _second_allocation_faults("on") < pages // 20  # the freed block, reused
    assert _second_allocation_faults("off") > pages // 2  # fresh pages from the kernel
