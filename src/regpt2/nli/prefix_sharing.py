"""Scoring prompts that start alike once: XNLI lists each premise with its three hypotheses.

The NLI prompt puts the premise first, so the three prompts of a premise share their first
tokens (most of the prompt: premises are longer than hypotheses). A model with a key/value cache
reads that shared prefix once, then each member's own tokens on top of a copy of the cache: the
same attention, the same positions, so the same logits up to float rounding, for about half the
work on XNLI. Models without a cache (the hand-written GPT-2) are scored prompt by prompt.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from regpt2.core.batching import left_padded

# Below this many shared tokens a group is not worth a second forward pass.
MIN_SHARED_TOKENS = 8
# Prefix sharing is used when it saves at least this share of the tokens to read.
MIN_SAVING = 0.2
# Batches are capped in tokens as well as in prompts: 32 Thai prompts of ~210 SmolLM2 tokens
# scored 1.6x slower per prompt than 8 of them on a 2-core CPU (the activations outgrow the
# caches), while 32 English prompts of ~45 tokens gain from the larger batch.
MAX_BATCH_TOKENS = 2048


@dataclass(frozen=True)
class PrefixGroup:
    """Examples (by index) whose token sequences all start with the same `shared` tokens."""

    members: tuple[int, ...]
    shared: int


def prefix_groups(sequences: Sequence[Sequence[int]]) -> list[PrefixGroup]:
    """Group neighbouring sequences by their common first tokens (in input order).

    Each member keeps at least its last token outside the shared part: the label is read there.
    A sequence that shares fewer than MIN_SHARED_TOKENS with its neighbour starts a new group.
    """
    groups: list[PrefixGroup] = []
    members: list[int] = []
    shared = 0
    for index, sequence in enumerate(sequences):
        if members:
            common = _common_length(sequences[members[0]], sequence, shared)
            common = min(common, len(sequence) - 1)
            if common >= MIN_SHARED_TOKENS:
                members.append(index)
                shared = common
                continue
            groups.append(PrefixGroup(tuple(members), shared))
        members, shared = [index], max(len(sequence) - 1, 0)
    if members:
        groups.append(PrefixGroup(tuple(members), shared))
    return groups


def _common_length(first: Sequence[int], second: Sequence[int], limit: int) -> int:
    length = 0
    for a, b in zip(first[:limit], second[:limit], strict=False):
        if a != b:
            break
        length += 1
    return length


def token_saving(sequences: Sequence[Sequence[int]], groups: Sequence[PrefixGroup]) -> float:
    """Share of the tokens to read that prefix sharing saves."""
    total = sum(len(sequence) for sequence in sequences)
    saved = sum(group.shared * (len(group.members) - 1) for group in groups)
    return saved / total if total else 0.0


def supports_prefix_cache(model: torch.nn.Module) -> bool:
    """True for a transformers model (or a PEFT model around one): it takes `past_key_values`."""
    # No such model exists before transformers' modeling module is imported; importing it only
    # to answer no (the hand-written GPT-2) would cost every scoring stage most of a second.
    modeling = sys.modules.get("transformers.modeling_utils")
    if modeling is None:
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return isinstance(base, modeling.PreTrainedModel)


def _cache_parameter(model: torch.nn.Module) -> str:
    """`cache` in recent transformers (`past_key_values` is deprecated there), else the old name."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def group_batches(
    groups: Sequence[PrefixGroup],
    sequences: Sequence[Sequence[int]],
    batch_size: int,
    max_tokens: int = MAX_BATCH_TOKENS,
) -> Iterator[list[PrefixGroup]]:
    """Consecutive whole groups per batch: at most `batch_size` members and `max_tokens` padded
    tokens read (the longest shared part once per group, the longest rest once per member); a
    group over either limit goes alone."""
    batch: list[PrefixGroup] = []
    members = shared = rest = 0
    for group in groups:
        group_rest = max(len(sequences[member]) - group.shared for member in group.members)
        count = members + len(group.members)
        tokens = (len(batch) + 1) * max(shared, group.shared) + count * max(rest, group_rest)
        if batch and (count > batch_size or tokens > max_tokens):
            yield batch
            batch, members, shared, rest = [], 0, 0, 0
        batch.append(group)
        members += len(group.members)
        shared, rest = max(shared, group.shared), max(rest, group_rest)
    if batch:
        yield batch


def label_logits_with_shared_prefixes(
    model: torch.nn.Module,
    sequences: Sequence[Sequence[int]],
    groups: Sequence[PrefixGroup],
    pad_id: int,
    device: torch.device,
) -> torch.Tensor:
    """Logits (members, V) at each member's last token, members in the order of `groups`."""
    from transformers import DynamicCache

    prefixes = left_padded([sequences[g.members[0]][: g.shared] for g in groups], pad_id)
    prefixes = {key: value.to(device) for key, value in prefixes.items()}
    cache = DynamicCache()
    cache_argument = {_cache_parameter(model): cache}
    model(**prefixes, **cache_argument, use_cache=True, logits_to_keep=1)

    # One cache row per member: its group's prefix, copied.
    owner = torch.tensor(
        [row for row, group in enumerate(groups) for _ in group.members], device=device
    )
    cache.batch_select_indices(owner)
    suffixes = left_padded(
        [sequences[member][group.shared :] for group in groups for member in group.members],
        pad_id,
    )
    suffixes = {key: value.to(device) for key, value in suffixes.items()}
    prefix_mask = prefixes["attention_mask"][owner]
    # A member's own tokens continue the positions of its prefix's real tokens.
    prefix_length = prefix_mask.sum(dim=1, keepdim=True)
    output = model(
        input_ids=suffixes["input_ids"],
        attention_mask=torch.cat([prefix_mask, suffixes["attention_mask"]], dim=1),
        position_ids=suffixes["position_ids"] + prefix_length,
        **cache_argument,
        use_cache=True,
        logits_to_keep=1,
    )
    return output.logits[:, -1, :]
