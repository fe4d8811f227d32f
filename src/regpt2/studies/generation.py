"""Batched, seeded text generation with any Hugging Face causal LM (`model.generate`, KV cache):
left-padded prompts, a new-token budget per prompt, output cut at the first stop token."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from tqdm.auto import tqdm

from regpt2.core.batching import left_padded
from regpt2.core.errors import UserError
from regpt2.core.precision import autocast

# --------------------------------------------------------------------------- generation


def generate_continuations(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int | Sequence[int],
    *,
    batch_size: int = 16,
    do_sample: bool = True,
    temperature: float = 0.7,
    top_k: int | None = 50,
    no_repeat_ngram_size: int = 2,
    seed: int | None = 0,
    progress: bool = False,
    bf16: bool = False,
) -> list[str]:
    """Decode continuations of `prompts` with `model.generate`, in batches; raw text, input order.

    Batches are built from prompts sorted by token length (longest first) and left-padded with an
    attention mask, so every prompt ends where generation starts; the KV cache is on. Each batch
    generates up to the batch's largest budget, then each continuation is cut to its own budget
    of `max_new_tokens[i]` tokens and at the first end-of-sequence token. For greedy decoding this
    equals generating each prompt alone; for sampling every output has the same distribution as
    alone (each token is drawn from the same conditional), though not the same draws.

    `seed` makes sampling reproducible: batch k runs under `torch.manual_seed(seed + k)` inside
    a forked RNG, so the caller's RNG state is untouched. The draws depend on `batch_size` and on
    the batch composition; `seed=None` samples from the global RNG (the study's unseeded run).
    `top_k=50` is the Hugging Face default the study ran with implicitly; None disables it. The
    settings are passed explicitly so a model's own `generation_config` (top_p, repetition
    penalty...) cannot change the decoding.
    """
    budgets = _budgets(max_new_tokens, len(prompts))
    if batch_size < 1:
        raise UserError(f"translate: batch_size must be >= 1, got {batch_size}")
    if not prompts:
        return []
    pad_id, stop_ids = _special_ids(model, tokenizer)
    encoded = [list(tokenizer(prompt)["input_ids"]) for prompt in prompts]
    _check_context(model, encoded, budgets)
    order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
    device = next(model.parameters()).device
    options = _decoding(do_sample, temperature, top_k, no_repeat_ngram_size, pad_id, stop_ids)
    outputs: list[str] = [""] * len(prompts)
    was_training = model.training
    model.eval()
    try:
        starts = range(0, len(order), batch_size)
        with tqdm(starts, desc="translate", disable=not progress) as bar:
            for number, start in enumerate(bar):
                batch = order[start : start + batch_size]
                # generate() derives its own position ids from the mask: left_padded's are not
                # passed.
                padded = left_padded([encoded[i] for i in batch], pad_id)
                input_ids = padded["input_ids"].to(device)
                attention_mask = padded["attention_mask"].to(device)
                with (
                    _seeded(None if seed is None else seed + number, device),
                    autocast(device, bf16),
                ):
                    generated = model.generate(
                        input_ids=input_ids,
                        attention_mask=attention_mask,
                        max_new_tokens=max(budgets[i] for i in batch),
                        **options,
                    )
                continuations = generated[:, input_ids.shape[1] :].tolist()
                for index, tokens in zip(batch, continuations, strict=True):
                    tokens = _cut_at_stop(tokens[: budgets[index]], stop_ids)
                    outputs[index] = tokenizer.decode(tokens, skip_special_tokens=True)
    finally:
        model.train(was_training)
    return outputs


def _decoding(
    do_sample: bool,
    temperature: float,
    top_k: int | None,
    no_repeat_ngram_size: int,
    pad_id: int,
    stop_ids: set[int],
) -> dict[str, Any]:
    """Every decoding option `generate` gets, explicitly (see `generate_continuations`)."""
    options: dict[str, Any] = {
        "do_sample": do_sample,
        "num_beams": 1,
        "no_repeat_ngram_size": no_repeat_ngram_size,
        "repetition_penalty": 1.0,
        "pad_token_id": pad_id,
        "eos_token_id": sorted(stop_ids),
        "use_cache": True,
    }
    if do_sample:
        options.update(temperature=temperature, top_k=top_k or 0, top_p=1.0)
    return options


def _budgets(max_new_tokens: int | Sequence[int], count: int) -> list[int]:
    if isinstance(max_new_tokens, int):
        budgets = [max_new_tokens] * count
    else:
        budgets = [int(budget) for budget in max_new_tokens]
        if len(budgets) != count:
            raise ValueError(f"{count} prompts but {len(budgets)} max_new_tokens")
    if any(budget < 1 for budget in budgets):
        raise UserError("translate: max_new_tokens must be >= 1 for every prompt")
    return budgets


def _special_ids(model: Any, tokenizer: Any) -> tuple[int, set[int]]:
    """Pad id (the tokenizer's, else EOS) and every end-of-sequence id of tokenizer and model."""
    stop_ids: set[int] = set()
    for candidate in (
        tokenizer.eos_token_id,
        getattr(model.generation_config, "eos_token_id", None),
    ):
        if isinstance(candidate, int):
            stop_ids.add(candidate)
        elif candidate is not None:
            stop_ids.update(int(token) for token in candidate)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = (
            tokenizer.eos_token_id
            if tokenizer.eos_token_id is not None
            else min(stop_ids, default=None)
        )
    if pad_id is None:
        raise UserError("translate: the tokenizer has neither a pad nor an end-of-sequence token")
    return pad_id, stop_ids


def _check_context(model: Any, encoded: Sequence[Sequence[int]], budgets: Sequence[int]) -> None:
    config = model.config
    limit = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    for index, (tokens, budget) in enumerate(zip(encoded, budgets, strict=True)):
        if not tokens:
            raise UserError(f"translate: prompt {index} encodes to no tokens")
        if limit and len(tokens) + budget > limit:
            raise UserError(
                f"translate: prompt {index} has {len(tokens)} tokens + {budget} new tokens, more "
                f"than the model's context of {limit}; lower max_words"
            )


def _cut_at_stop(tokens: list[int], stop_ids: set[int]) -> list[int]:
    for position, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[:position]
    return tokens


@contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Run a block under `torch.manual_seed(seed)` in a forked RNG; no-op for seed None."""
    if seed is None:
        yield
        return
    devices = [] if device.type == "cpu" else [device.index or 0]
    with torch.random.fork_rng(devices=devices, device_type=device.type):
        torch.manual_seed(seed)
        yield
