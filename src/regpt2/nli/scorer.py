"""The one NLI scorer: a batched forward pass per batch, read at the label position.

For each example it gives the study's strict prediction (argmax over the whole vocabulary, the
same token its greedy one-token generation produced, judged by its stripped text), the
restricted prediction (argmax over the three label tokens only) and the three label logits.
The logits are read in fp32 even when the model body runs in bf16 (`output_head_in_fp32`), so
the two argmaxes never disagree through a tie.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from regpt2.core import distributed
from regpt2.core.batching import left_padded, pad_id_of
from regpt2.core.languages import LABELS
from regpt2.core.precision import autocast, output_head_in_fp32
from regpt2.core.stats import bootstrap_interval
from regpt2.nli.prefix_sharing import (
    MIN_SAVING,
    PrefixGroup,
    group_batches,
    label_logits_with_shared_prefixes,
    prefix_groups,
    supports_prefix_cache,
    token_saving,
)
from regpt2.nli.prompts import EncodedExample, NliPrompt

NON_LABEL = -1  # a strict prediction whose text is none of the label strings


def label_position_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits (B, V) at the last (label-predicting) position of a left-padded batch."""
    output = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=batch["position_ids"],
        logits_to_keep=1,
    )
    return output.logits[:, -1, :]


@dataclass
class Predictions:
    gold: np.ndarray  # label index per example
    strict: np.ndarray  # label index, or NON_LABEL when the output text is not a label
    restricted: np.ndarray  # label index (argmax over the label tokens)
    strict_tokens: np.ndarray  # the argmax token id over the full vocabulary
    label_logits: np.ndarray  # (examples, 3) fp32 logits of the label tokens, in LABELS order


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    prompt: NliPrompt,
    examples: Sequence[EncodedExample],
    *,
    batch_size: int,
    device: torch.device | None = None,
    bf16: bool = False,
    description: str = "evaluate",
) -> Predictions:
    """Score every example in length-sorted batches of at most `batch_size` prompts and
    MAX_BATCH_TOKENS tokens; results come back in input order.

    Prompts that start with the same tokens (a premise's three hypotheses) are read once up to
    where they differ when the model has a key/value cache (nli.prefix_sharing)."""
    device = device or next(model.parameters()).device
    pad_id = pad_id_of(prompt.tokenizer)
    label_ids = torch.tensor(prompt.label_token_ids, device=device)
    sequences = [example.input_ids for example in examples]
    groups = prefix_groups(sequences)
    if not supports_prefix_cache(model) or token_saving(sequences, groups) < MIN_SAVING:
        groups = [PrefixGroup((index,), 0) for index in range(len(examples))]
    # Length-sorted batches waste little padding; in a data-parallel run each rank scores its
    # share and the shares are gathered once at the end.
    groups.sort(key=lambda group: max(len(sequences[i]) for i in group.members))
    mine_groups = distributed.shard(groups)
    mine, mine_strict, mine_logits = [], [], []
    was_training = model.training
    model.eval()
    batches = list(group_batches(mine_groups, sequences, batch_size))
    with tqdm(batches, desc=description, mininterval=2) as progress:
        for batch_groups in progress:
            with autocast(device, bf16), output_head_in_fp32(model, enabled=bf16):
                if all(group.shared > 0 for group in batch_groups):
                    logits = label_logits_with_shared_prefixes(
                        model, sequences, batch_groups, pad_id, device
                    )
                else:
                    batch = [sequences[member] for g in batch_groups for member in g.members]
                    batch = left_padded(batch, pad_id)
                    batch = {key: value.to(device) for key, value in batch.items()}
                    logits = label_position_logits(model, batch)
            logits = logits.float()
            mine += [member for group in batch_groups for member in group.members]
            mine_strict += logits.argmax(dim=-1).tolist()
            mine_logits += logits[:, label_ids].tolist()
    model.train(was_training)
    strict_tokens = np.empty(len(examples), dtype=np.int64)
    label_logits = np.empty((len(examples), len(LABELS)), dtype=np.float32)
    for indices, strict_part, logits_part in distributed.gather((mine, mine_strict, mine_logits)):
        strict_tokens[indices] = strict_part
        label_logits[indices] = np.asarray(logits_part, dtype=np.float32).reshape(-1, len(LABELS))
    return Predictions(
        gold=np.array([example.label for example in examples], dtype=np.int64),
        strict=_strict_labels(strict_tokens, prompt),
        restricted=label_logits.argmax(axis=1),
        strict_tokens=strict_tokens,
        label_logits=label_logits,
    )


def _strict_labels(tokens: np.ndarray, prompt: NliPrompt) -> np.ndarray:
    """Map generated tokens to labels by their stripped text, as the study compared strings."""
    by_text = {text: index for index, text in enumerate(prompt.label_strings)}
    cache: dict[int, int] = {}
    labels = np.empty(len(tokens), dtype=np.int64)
    for position, token in enumerate(tokens.tolist()):
        if token not in cache:
            text = prompt.tokenizer.decode([token]).strip()
            cache[token] = by_text.get(text, NON_LABEL)
        labels[position] = cache[token]
    return labels


def accuracy_metrics(
    predictions: Predictions, *, bootstrap_resamples: int = 1000, seed: int = 0
) -> dict:
    """Strict and restricted accuracy (percent) with 95% bootstrap intervals, confusion matrices
    (rows gold, columns predicted; strict has a last column for non-label outputs)."""
    strict_correct = predictions.strict == predictions.gold
    restricted_correct = predictions.restricted == predictions.gold
    n = len(predictions.gold)
    return {
        "n": n,
        "strict_accuracy": _percent(strict_correct),
        "strict_ci95": bootstrap_interval(
            strict_correct, n_resamples=bootstrap_resamples, seed=seed
        ),
        "restricted_accuracy": _percent(restricted_correct),
        "restricted_ci95": bootstrap_interval(
            restricted_correct, n_resamples=bootstrap_resamples, seed=seed
        ),
        "non_label_outputs": int((predictions.strict == NON_LABEL).sum()),
        "labels": list(LABELS),
        "confusion_strict": _confusion(predictions.gold, predictions.strict, with_other=True),
        "confusion_restricted": _confusion(predictions.gold, predictions.restricted),
    }


def _percent(correct: np.ndarray) -> float:
    return float(100.0 * correct.mean()) if correct.size else float("nan")


def _confusion(gold: np.ndarray, predicted: np.ndarray, with_other: bool = False) -> list:
    columns = len(LABELS) + (1 if with_other else 0)
    matrix = np.zeros((len(LABELS), columns), dtype=np.int64)
    for g, p in zip(gold.tolist(), predicted.tolist(), strict=True):
        matrix[g, p if p != NON_LABEL else len(LABELS)] += 1
    return matrix.tolist()
