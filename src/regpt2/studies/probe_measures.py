"""Probe measures: entropy of attention maps, per-sentence statistics from batched forward passes
(mean-pooled hidden states, attention entropies), cosine similarity. Definitions: see
`regpt2.studies.probe`, which aggregates these numbers per language."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from regpt2.core.batching import pad_id_of
from regpt2.core.errors import UserError
from regpt2.core.precision import autocast

# --------------------------------------------------------------------------------------------
# Entropy of attention maps
# --------------------------------------------------------------------------------------------


def shannon_entropy(weights: torch.Tensor | np.ndarray) -> float:
    """Shannon entropy in nats of non-negative weights (any shape), normalised to sum 1 first."""
    p = torch.as_tensor(weights, dtype=torch.float64).flatten()
    total = p.sum()
    if not torch.isfinite(total) or total <= 0 or bool((p < 0).any()):
        raise ValueError("entropy needs finite non-negative weights with a positive sum")
    p = p / total
    return float(-torch.xlogy(p, p).sum())


def attention_entropy(attention: torch.Tensor) -> float:
    """The study's entropy of one sentence's attention (L, H, n, n): mean over L and H, sum-1 map.

    A 2-D (n, n) map is taken as is. Crop the map to the sentence's real tokens first.
    """
    attn = torch.as_tensor(attention, dtype=torch.float64)
    if attn.dim() < 2 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"attention must end in a square (n, n) map, got {tuple(attn.shape)}")
    mean_map = attn.reshape(-1, attn.shape[-2], attn.shape[-1]).mean(dim=0)
    return shannon_entropy(mean_map)


def uniform_causal_entropy(n_tokens: np.ndarray) -> np.ndarray:
    """Entropy (nats) of the sum-1 n x n map of uniform causal attention: ln n + ln(n!)/n."""
    n = np.asarray(n_tokens, dtype=np.float64)
    if (n < 1).any():
        raise ValueError("uniform_causal_entropy needs n >= 1 tokens")
    return np.log(n) + np.array([math.lgamma(k + 1) for k in n.flat]).reshape(n.shape) / n


def relative_entropy_to_uniform(entropy: np.ndarray, n_tokens: np.ndarray) -> np.ndarray:
    """Attention entropy / uniform causal attention's over as many tokens (1 for 1 token)."""
    uniform = uniform_causal_entropy(n_tokens)
    return np.divide(entropy, uniform, out=np.ones_like(uniform), where=uniform > 0)


def head_entropies(attention: torch.Tensor) -> torch.Tensor:
    """Per-layer, per-head entropy of one sentence's attention (L, H, n, n) -> (L, H) in nats.

    Each query row is normalised to sum 1, its entropy taken, and the n rows averaged.
    """
    attn = torch.as_tensor(attention, dtype=torch.float64)
    if attn.dim() != 4 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"attention must be (L, H, n, n), got {tuple(attn.shape)}")
    rows = attn / attn.sum(dim=-1, keepdim=True)
    return (-torch.xlogy(rows, rows).sum(dim=-1)).mean(dim=-1)


# --------------------------------------------------------------------------------------------
# Per-sentence statistics (batched forward passes)
# --------------------------------------------------------------------------------------------


@dataclass
class SentenceStatistics:
    """Per-sentence probe numbers for one list of sentences, in input order.

    n_tokens (N,): real tokens after truncation; truncated (N,): whether the sentence was cut;
    pooled (N, L+1, D): mean-pooled hidden states (float32); attention_entropy (N,): the study's
    entropy; head_entropy (N, L, H): per-layer, per-head entropy.
    """

    n_tokens: np.ndarray
    truncated: np.ndarray
    pooled: np.ndarray
    attention_entropy: np.ndarray
    head_entropy: np.ndarray

    @property
    def n_layers(self) -> int:
        return int(self.head_entropy.shape[1])

    @property
    def n_heads(self) -> int:
        return int(self.head_entropy.shape[2])


def _model_device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def _tokenize(
    tokenizer: Any, texts: Sequence[str], max_length: int, language: str
) -> tuple[list[list[int]], list[bool]]:
    # One token more than allowed tells which sentences were cut; then keep max_length.
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length + 1)
    ids_list = [list(ids) for ids in encoded["input_ids"]]
    truncated = [len(ids) > max_length for ids in ids_list]
    ids_list = [ids[:max_length] for ids in ids_list]
    for row, ids in enumerate(ids_list):
        if not ids:
            raise UserError(
                f"probe: sentence {row} of language '{language}' has no tokens; "
                "drop empty rows from the parallel sentences"
            )
    return ids_list, truncated


def _forward(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor):
    output = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        output_hidden_states=True,
        output_attentions=True,
    )
    attentions = getattr(output, "attentions", None)
    if attentions is None or len(attentions) == 0:
        raise UserError(
            "probe: the model returned no attentions; load Hugging Face models with "
            "attn_implementation='eager' (sdpa/flash attention cannot return them)"
        )
    hidden_states = getattr(output, "hidden_states", None)
    if hidden_states is None or len(hidden_states) == 0:
        raise UserError("probe: the model returned no hidden_states with output_hidden_states=True")
    if len(hidden_states) != len(attentions) + 1:
        raise UserError(
            f"probe: the model returned {len(hidden_states)} hidden states for "
            f"{len(attentions)} attention layers; expected layers + 1 (embeddings first)"
        )
    return hidden_states, attentions


def _right_padded(
    ids_list: list[list[int]], rows: np.ndarray, lengths: np.ndarray, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) of the sentences `rows`, padded on the right."""
    width = int(lengths[rows].max())
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        input_ids[b, : lengths[row]] = torch.tensor(ids_list[row], dtype=torch.long)
        mask[b, : lengths[row]] = 1
    return input_ids, mask


def _mean_pooled(
    hidden_states: Sequence[torch.Tensor], mask: torch.Tensor
) -> tuple[np.ndarray, torch.device]:
    """Each sentence's hidden states averaged over its real tokens, (B, L+1, D), and the device
    the statistics are computed on."""
    # Mean pooling over real tokens only (padding replaced by 0, never multiplied:
    # a NaN at a padded position must not leak in).
    # Statistics in float64, on the model's device (CPU for MPS: no float64 there).
    where = hidden_states[0].device
    where = torch.device("cpu") if where.type == "mps" else where
    hs = torch.stack([h.detach().to(where, torch.float64) for h in hidden_states])
    batch_mask = mask.to(where)
    real = batch_mask.bool()[None, :, :, None]
    counts = batch_mask.sum(dim=1).to(torch.float64)[None, :, None]
    batch_pooled = torch.where(real, hs, torch.zeros((), dtype=hs.dtype, device=where))
    return (batch_pooled.sum(2) / counts).permute(1, 0, 2).cpu().numpy(), where


def sentence_statistics(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    max_length: int = 128,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    language: str = "?",
    bf16: bool = False,
) -> SentenceStatistics:
    """Run the model over `texts` in right-padded batches; per-sentence statistics, input order."""
    if max_length < 1 or batch_size < 1:
        raise UserError(
            f"probe: max_length ({max_length}) and batch_size ({batch_size}) must be >= 1"
        )
    if not texts:
        raise UserError(f"probe: language '{language}' has no sentences")
    ids_list, truncated = _tokenize(tokenizer, texts, max_length, language)
    device = torch.device(device) if device is not None else _model_device(model)
    pad_id = pad_id_of(tokenizer)
    lengths = np.array([len(ids) for ids in ids_list], dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")  # longest first: little padding, early OOM

    n = len(ids_list)
    pooled: np.ndarray | None = None
    entropy = np.zeros(n, dtype=np.float64)
    heads: np.ndarray | None = None

    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.inference_mode():
            batches = range(0, n, batch_size)
            with tqdm(batches, desc=f"probe {language}", leave=False) as progress:
                for start in progress:
                    rows = order[start : start + batch_size]
                    input_ids, mask = _right_padded(ids_list, rows, lengths, pad_id)
                    with autocast(device, bf16):
                        hidden_states, attentions = _forward(
                            model, input_ids.to(device), mask.to(device)
                        )

                    batch_pooled, where = _mean_pooled(hidden_states, mask)
                    attn = torch.stack([a.detach().to(where, torch.float64) for a in attentions])
                    if pooled is None:
                        pooled = np.zeros((n, *batch_pooled.shape[1:]), dtype=np.float32)
                        heads = np.zeros((n, attn.shape[0], attn.shape[2]), dtype=np.float64)
                    for b, row in enumerate(rows):
                        k = int(lengths[row])
                        sentence_attn = attn[:, b, :, :k, :k]  # (L, H, k, k): the real block only
                        entropy[row] = attention_entropy(sentence_attn)
                        heads[row] = head_entropies(sentence_attn).cpu().numpy()
                        pooled[row] = batch_pooled[b]
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    assert pooled is not None and heads is not None
    return SentenceStatistics(
        n_tokens=lengths,
        truncated=np.array(truncated, dtype=bool),
        pooled=pooled,
        attention_entropy=entropy,
        head_entropy=heads,
    )


def cosine_similarity(pooled: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cosine similarity along the last axis of two equally shaped arrays (e.g. (N, L+1, D))."""
    a = np.asarray(pooled, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    dot = (a * b).sum(axis=-1)
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(dot / norms, -1.0, 1.0)
