"""Memory measurements shared by the benchmarks (imported as a sibling module of the scripts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch


def saved_activation_bytes(model: torch.nn.Module, step: Callable[[], object]) -> int:
    """Bytes of the distinct non-parameter storages autograd saves for backward during `step()`:
    the activation memory of one training step, exact and the same on any device."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        step()
    return sum(storages.values())


def proc_status_kib(field: str) -> int:
    """A `/proc/self/status` field in KiB (VmRSS, VmHWM, ...); Linux only."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)
