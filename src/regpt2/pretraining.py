"""Language-model pretraining of the hand-written GPT-2 (the study's toy run).

Documents are cut or padded to a fixed context, one document per row, as the study did. The
study's reported loss included the padding positions (pad = EOS, an easy target that deflates
the number); we compute that figure for comparison and, from the same forward pass, the loss over
real tokens only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from regpt2.batching import pad_id_of
from regpt2.errors import UserError


def encode_documents(tokenizer, documents: Sequence[str], context: int) -> dict[str, np.ndarray]:
    """Token ids (N, context) right-padded with the pad id, and each row's real length."""
    pad_id = pad_id_of(tokenizer)
    encoded = tokenizer(list(documents), add_special_tokens=False)["input_ids"]
    ids = np.full((len(encoded), context), pad_id, dtype=np.int32)
    lengths = np.zeros(len(encoded), dtype=np.int32)
    for row, tokens in enumerate(encoded):
        tokens = tokens[:context]
        ids[row, : len(tokens)] = tokens
        lengths[row] = len(tokens)
    return {"ids": ids, "lengths": lengths}


def save_tokens(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from regpt2.io import atomic_path

    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez(handle, **arrays)


def load_tokens(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise UserError(f"{path} not found; run the tokenize stage first (dvc repro tokenize)")
    with np.load(path) as archive:
        return {"ids": archive["ids"], "lengths": archive["lengths"]}


def lm_losses(
    logits: torch.Tensor, input_ids: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss over every position incl. padding, loss over real targets, number of real targets).

    Position t predicts token t+1; a target is real when t+1 < the row's length.
    """
    targets = input_ids[:, 1:]
    per_token = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.size(-1)).float(), targets.reshape(-1), reduction="none"
    ).view_as(targets)
    positions = torch.arange(1, input_ids.size(1), device=input_ids.device)
    real = positions[None, :] < lengths[:, None]
    n_real = real.sum()
    real_loss = (per_token * real).sum() / n_real.clamp(min=1)
    return per_token.mean(), real_loss, n_real


@torch.no_grad()
def evaluate_lm(model, arrays: dict[str, np.ndarray], batch_size: int) -> dict[str, float]:
    """Held-out loss over real tokens (token-weighted) and with padding (row mean), perplexity."""
    device = next(model.parameters()).device
    model.eval()
    total_real, count_real, total_padded, rows = 0.0, 0, 0.0, 0
    for start in range(0, len(arrays["ids"]), batch_size):
        ids = torch.as_tensor(arrays["ids"][start : start + batch_size], dtype=torch.long)
        lengths = torch.as_tensor(arrays["lengths"][start : start + batch_size], dtype=torch.long)
        ids, lengths = ids.to(device), lengths.to(device)
        logits = model(input_ids=ids).logits
        padded, real, n_real = lm_losses(logits, ids, lengths)
        total_real += float(real) * int(n_real)
        count_real += int(n_real)
        total_padded += float(padded) * len(ids)
        rows += len(ids)
    real_loss = total_real / max(count_real, 1)
    return {
        "loss_real_tokens": real_loss,
        "perplexity_real_tokens": math.exp(real_loss),
        "loss_with_padding": total_padded / max(rows, 1),
        "tokens": count_real,
    }
