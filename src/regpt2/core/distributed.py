"""Data-parallel training through PyTorch's own engine (torchrun + DistributedDataParallel).

A stage launched with `torchrun --nproc_per_node=N -m stages.NAME` (set `launcher` in
params.yaml) runs N processes; everything else in the project is unchanged:
- the training loop shards every batch across ranks and averages gradients (DDP), so N processes
  follow the same optimisation trajectory as one process with the same effective batch;
- evaluation shards the examples and gathers every rank's predictions once;
- only rank 0 writes files (`regpt2.core.io.atomic_path` discards other ranks' writes).
Launched with plain `python`, nothing here does anything.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def setup() -> bool:
    """Join the process group that torchrun describes in the environment (once); True if > 1."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return True


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    """True on rank 0, and in every single-process run (also before the group is joined)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def shard(items: list, *, of: int | None = None) -> list:
    """This rank's share of `items`: every world_size-th element, starting at its rank."""
    size = of or world_size()
    return items[rank() :: size]


def gather(value: Any) -> list[Any]:
    """Every rank's `value`, in rank order (a one-element list when not distributed)."""
    if world_size() == 1:
        return [value]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()
