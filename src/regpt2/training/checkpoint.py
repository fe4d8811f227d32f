"""Resumable training checkpoints, and the fingerprint that decides whether one may be resumed:
a content hash of the loop settings, the starting weights and the training inputs."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from regpt2.core.io import atomic_path

if TYPE_CHECKING:  # pragma: no cover - the settings type only
    from regpt2.config.params import Loop


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: parameter.detach().to("cpu", copy=True)
        for name, parameter in model.named_parameters()
        if parameter.requires_grad
    }


def load_trainable_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            parameters[name].copy_(value)


class Checkpoint:
    """`last.pt` (resume) and `best.pt` (best dev weights) in a per-stage folder.

    A checkpoint is only reused when its fingerprint (loop settings, starting weights, training
    inputs: see `fingerprint_of`) matches, so a changed param never resumes a stale run. The
    folder is removed after success.
    """

    def __init__(self, directory: Path | None, fingerprint: str):
        self.directory = directory
        self.fingerprint = fingerprint

    def _path(self, name: str) -> Path | None:
        return None if self.directory is None else self.directory / name

    def save(self, name: str, payload: dict) -> None:
        path = self._path(name)
        if path is None:
            return
        with atomic_path(path) as tmp:
            torch.save({"fingerprint": self.fingerprint, **payload}, tmp)

    def load(self, name: str) -> dict | None:
        path = self._path(name)
        if path is None or not path.exists():
            return None
        payload = torch.load(path, map_location="cpu", weights_only=True)
        return payload if payload.get("fingerprint") == self.fingerprint else None

    def clear(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def digest(*parts) -> str:
    """A short content hash of tensors, arrays, numbers, strings and nested lists/tuples of them."""
    hasher = hashlib.sha256()

    def feed(part) -> None:
        if isinstance(part, torch.Tensor):
            tensor = part.detach().to("cpu").contiguous()
            hasher.update(f"tensor{tuple(tensor.shape)}{tensor.dtype}".encode())
            hasher.update(tensor.reshape(-1).view(torch.uint8).numpy())
        elif isinstance(part, (list, tuple)):
            hasher.update(f"[{len(part)}".encode())
            for item in part:
                feed(item)
            hasher.update(b"]")
        elif hasattr(part, "tobytes"):  # numpy arrays
            hasher.update(f"array{part.shape}{part.dtype}".encode())
            hasher.update(part.tobytes())
        else:
            hasher.update(repr(part).encode())

    feed(list(parts))
    return hasher.hexdigest()[:16]


def fingerprint_of(
    training: Loop, model: torch.nn.Module, inputs_digest: str, **loop_settings
) -> str:
    """What a resumable checkpoint must match: the loop settings (the stage's `training` block
    and the loop's own `loop_settings`), the model's starting weights (every parameter and
    buffer, frozen ones too: a LoRA base counts) and the training inputs."""
    weights = digest([tensor for _, tensor in sorted(model.state_dict().items())])
    settings = {**training.model_dump(), **loop_settings}
    text = json.dumps([settings, weights, inputs_digest], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
