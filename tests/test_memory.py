"""regpt2.core.memory: with the policy set, large blocks freed and allocated again reuse their
pages instead of faulting fresh ones in (what makes a training step cheaper)."""

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Allocate, touch and free 64 MiB a dozen times (a step's big tensors), then print the minor
# page faults of one more allocation: the steady state a training loop runs in. On the way there
# the heap grows by a few blocks (small objects settle in a freed block, and an aligned request
# asks for a little more than the rest holds); here it settled at 8 blocks after 8 rounds.
SCRIPT = """
import resource, sys
import torch
from regpt2.core.memory import reuse_freed_memory
if sys.argv[1] == "on" and not reuse_freed_memory():
    sys.exit("unsupported")
for _ in range(12):
    block = torch.ones(16 << 20)
    del block
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = torch.ones(16 << 20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _steady_allocation_faults(policy: str) -> int:
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
    assert _steady_allocation_faults("on") < pages // 20  # the freed block, reused
    assert _steady_allocation_faults("off") > pages // 2  # fresh pages from the kernel
