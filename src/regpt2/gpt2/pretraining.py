"""Language-model pretraining of the hand-written GPT-2 (the study's toy run).

Documents are cut or padded to a fixed context, one document per row, as the study did. The
study's reported loss included the padding positions (pad = EOS, an easy target that deflates
the number); we compute that figure for comparison and, from the same forward pass, the loss over
real tokens only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from regpt2.core.batching import pad_id_of
from regpt2.core.errors import UserError
from regpt2.gpt2.lm_loss import head_cross_entropy


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
    from regpt2.core.io import atomic_path

    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez(handle, **arrays)


def load_tokens(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise UserError(f"{path} not found; run the tokenize stage first (dvc repro tokenize)")
    with np.load(path) as archive:
        return {"ids": archive["ids"], "lengths": archive["lengths"]}


@dataclass
class LmLosses:
    """One batch's next-token losses; `optimised` carries the gradient, the rest are numbers."""

    optimised: torch.Tensor
    with_padding: float  # mean over every position, padding included (the study's figure)
    real_tokens: float  # mean over positions whose target is a real token
    real_targets: int


def lm_losses(
    model, input_ids: torch.Tensor, lengths: torch.Tensor, loss_on_padding: bool = True
) -> LmLosses:
    """Both losses of a right-padded batch from one forward pass; optimise the chosen one.

    Position t predicts token t+1; a target is real when t+1 < the row's length. The LM head
    and the cross-entropy run chunk by chunk (regpt2.gpt2.lm_loss): the (positions x vocab) logits
    never exist at once.
    """
    hidden = model(input_ids=input_ids, output_logits=False).last_hidden_state[:, :-1]
    targets = input_ids[:, 1:]
    positions = torch.arange(1, input_ids.size(1), device=input_ids.device)
    real = (positions[None, :] < lengths[:, None]).reshape(-1)
    n_real = int(real.sum())
    if loss_on_padding:
        weights = torch.full(real.shape, 1.0 / real.numel(), device=real.device)
    else:
        weights = real.float() / max(n_real, 1)
    head = getattr(model, "module", model).get_output_embeddings().weight  # DDP wraps the model
    optimised, per_position = head_cross_entropy(
        hidden.reshape(-1, hidden.size(-1)), head, targets.reshape(-1), weights
    )
    return LmLosses(
        optimised=optimised,
        with_padding=float(per_position.mean()),
        real_tokens=float((per_position * real).sum()) / max(n_real, 1),
        real_targets=n_real,
    )


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
        losses = lm_losses(model, ids, lengths)
        total_real += losses.real_tokens * losses.real_targets
        count_real += losses.real_targets
        total_padded += losses.with_padding * len(ids)
        rows += len(ids)
    real_loss = total_real / max(count_real, 1)
    return {
        "loss_real_tokens": real_loss,
        "perplexity_real_tokens": math.exp(real_loss),
        "loss_with_padding": total_padded / max(rows, 1),
        "tokens": count_real,
    }
