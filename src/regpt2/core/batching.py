"""Padding token sequences into model batches."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def left_padded(sequences: Sequence[Sequence[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Left-pad so that every sequence ends at the last column.

    The NLI label is predicted at each prompt's last token; with left padding that is column -1
    for the whole batch, so a model only needs the logits of one position (`logits_to_keep=1`).
    Position ids count real tokens only, so a padded prompt is seen exactly as an unpadded one.
    """
    width = max(len(sequence) for sequence in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        if len(sequence):
            input_ids[row, width - len(sequence) :] = torch.as_tensor(sequence)
            attention_mask[row, width - len(sequence) :] = 1
    position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}


def right_padded(sequences: Sequence[Sequence[int]], pad_id: int, width: int | None = None):
    """Right-pad (or cut) to `width`; returns input_ids and attention_mask."""
    width = width or max(len(sequence) for sequence in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        sequence = list(sequence)[:width]
        input_ids[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
        attention_mask[row, : len(sequence)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def pad_id_of(tokenizer) -> int:
    """The pad id, or EOS for tokenizers without one (GPT-2 pads with EOS, as the study did);
    0 for a tokenizer with neither (padding is masked, never attended to nor read)."""
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if isinstance(value, int):
            return value
    return 0
