"""Probing: attention entropy and cross-lingual layer similarity on parallel sentences.

The library behind the `probe` stage (the study's section 4; its published numbers are in
`regpt2.analysis.published`). Input: any model that follows the Hugging Face causal-LM calling
convention (docs/ARCHITECTURE.md) -- only `.hidden_states` (L+1 tensors (B, T, D), index 0 =
embeddings, index L = last block after the final LayerNorm) and `.attentions`
(L tensors (B, H, T, T)) are read -- a tokenizer, and parallel sentences `{lang: [row, ...]}`
whose rows are aligned with the English ones.

Definitions (all entropies in nats, i.e. natural log):
- Attention entropy (the study's metric): for one sentence of n real tokens, the attention
  maps of every layer and head are cropped to the real n x n block, averaged over heads and
  layers, the n x n map is normalised to sum 1, and its Shannon entropy is taken. It grows with
  the sentence length (at most 2 ln n). A language's value is the mean over its sentences.
- Relative attention entropy: the same entropy divided by that of uniform causal attention over
  the same n tokens (query i spreads 1/(i+1) over keys 0..i: ln n + ln(n!)/n), so 1 = no focus.
  Length drives the raw entropy (languages that cost more tokens score higher, whatever the
  model does); the ratio takes it out. A 1-token sentence scores 1.
- Per-layer, per-head entropy: for layer l and head h, the mean over the n real query positions
  of the Shannon entropy of that query's attention row (the row over the real keys, normalised
  to sum 1). With causal attention query i sees i+1 keys, so a head that attends uniformly
  scores mean_i ln(i+1). A language's value is the mean over its sentences.
- Layer similarity: for each hidden state k (0..L), the cosine similarity between the mean-pooled
  (over real tokens only) hidden state of a sentence and that of its English original, averaged
  over sentences. `similarity_per_layer[k]` is hidden_states[k]; English scores 1 everywhere.
- Control (unrelated English sentence): a mean-pooled hidden state can be close to any English
  sentence's (a few large hidden dimensions dominate the cosine), so the similarity to the
  translation is set against the similarity to an unrelated English sentence of about the same
  length: each sentence's partner is the next English sentence in token-length order (never
  its own translation). `excess_per_layer[k]` = similarity to the translation minus similarity
  to that partner, averaged over sentences: what the layer knows of the translation beyond
  "this is a sentence of that length". Early / late excess and the excess gain (late - early)
  are taken as for the similarity; the claim that late layers are closer to English is decided
  on the excess gain. Sentences should be distinct premises: repeated ones are not independent.
- Early / late / gain: the study's "layers 0-3" and "layers 8-11" of GPT-2 small. Study layer i
  is hidden_states[i + first_hidden_state]; the default first_hidden_state=0 reads the study's
  numbering literally as indices into hidden_states (0 = embeddings ... 11 = output of block 11;
  the final hidden state after ln_f is not in either range); first_hidden_state=1 makes layer i
  the output of block i+1 (layers 0-11 = hidden_states[1..12]). early = mean similarity over the
  early layers, late = likewise, gain = late - early, with a percentile bootstrap interval over
  sentences (the per-sentence gain is resampled; seeded).
- Depth: the ranges are written for a model of `reference_layers` blocks (12). For a model of
  another depth L, depth_policy "scale" (default) keeps the same relative depth: a range a..b
  becomes floor(a*L/R)..ceil((b+1)*L/R)-1 (a 2-block demo model gets early 0-0, late 1-1; a 24-block
  model 0-7 and 16-23); "clip" keeps the ranges and clips them to the available layers; "error"
  refuses ranges that do not fit. Any change is recorded in `ProbeResult.notes`.

Padding never enters a statistic: sentences are batched with right padding and an attention mask
(sorted by length to waste little), pooling uses real tokens only and every attention map is
cropped to its sentence's real n x n block, so a sentence's numbers do not depend on its batch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from regpt2.core.errors import UserError
from regpt2.core.stats import bootstrap_mean_interval
from regpt2.studies.probe_measures import (
    SentenceStatistics,
    cosine_similarity,
    relative_entropy_to_uniform,
    sentence_statistics,
)
from regpt2.studies.probe_results import ENGLISH, LanguageProbe, ProbeResult

DepthPolicy = Literal["scale", "clip", "error"]


# --------------------------------------------------------------------------------------------
# Layer ranges
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerRanges:
    """Resolved early/late ranges: study-numbered layers and the hidden_states indices they read."""

    early_layers: tuple[int, int]
    late_layers: tuple[int, int]
    early_hidden_states: tuple[int, int]
    late_hidden_states: tuple[int, int]
    notes: tuple[str, ...] = ()


def resolve_layer_ranges(
    n_layers: int,
    *,
    early_layers: Sequence[int] = (0, 3),
    late_layers: Sequence[int] = (8, 11),
    first_hidden_state: int = 0,
    reference_layers: int = 12,
    depth_policy: DepthPolicy = "scale",
) -> LayerRanges:
    """Map the study's inclusive early/late layer ranges onto a model with `n_layers` blocks.

    The settings come checked from params.yaml (`config.params.Probe`: ranges [first, last] with
    0 <= first <= last, first_hidden_state 0 or 1, a known depth policy); what is checked here
    depends on the model."""
    if n_layers < 1:
        raise UserError(f"probe: the model has {n_layers} layers; at least 1 is needed")
    first_early, last_early = early_layers
    first_late, last_late = late_layers
    spans = {"early_layers": (first_early, last_early), "late_layers": (first_late, last_late)}
    available = n_layers + 1 - first_hidden_state  # study layers 0 .. available-1
    notes: list[str] = []
    resolved: dict[str, tuple[int, int]] = {}
    for name, (first, last) in spans.items():
        if depth_policy == "scale" and n_layers != reference_layers:
            if last >= reference_layers:
                raise UserError(
                    f"probe: {name} [{first}, {last}] lies outside the {reference_layers} "
                    "reference layers it is scaled from; fix the range or reference_layers"
                )
            new = (
                (first * n_layers) // reference_layers,
                math.ceil((last + 1) * n_layers / reference_layers) - 1,
            )
            notes.append(
                f"{name} {first}-{last} of a {reference_layers}-layer model scaled to "
                f"{new[0]}-{new[1]} for this {n_layers}-layer model"
            )
        elif last >= available:
            if depth_policy != "clip" or first >= available:
                raise UserError(
                    f"probe: {name} [{first}, {last}] does not fit the model's layers "
                    f"0-{available - 1} (first_hidden_state={first_hidden_state}); change the "
                    "range or use depth_policy 'scale' or 'clip'"
                )
            new = (first, available - 1)
            notes.append(f"{name} {first}-{last} clipped to {new[0]}-{new[1]}")
        else:
            new = (first, last)
        resolved[name] = new
    early, late = resolved["early_layers"], resolved["late_layers"]
    if early == late:
        notes.append("early and late layers coincide: the gain is 0 by construction")
    return LayerRanges(
        early_layers=early,
        late_layers=late,
        early_hidden_states=(early[0] + first_hidden_state, early[1] + first_hidden_state),
        late_hidden_states=(late[0] + first_hidden_state, late[1] + first_hidden_state),
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# Per-language summary
# --------------------------------------------------------------------------------------------


def validate_parallel(sentences: Mapping[str, Sequence[str]]) -> int:
    """Check parallel sentences: 'en' present and non-empty, every language aligned; return N."""
    if ENGLISH not in sentences:
        raise UserError(
            f"probe: the parallel sentences have no '{ENGLISH}' rows "
            f"(languages: {', '.join(sentences) or 'none'}); English is the reference"
        )
    n = len(sentences[ENGLISH])
    if n == 0:
        raise UserError(f"probe: the '{ENGLISH}' parallel sentences are empty")
    for lang, rows in sentences.items():
        if isinstance(rows, str):
            raise UserError(f"probe: language '{lang}' must be a list of sentences, not a string")
        if len(rows) != n:
            raise UserError(
                f"probe: language '{lang}' has {len(rows)} rows but '{ENGLISH}' has {n}; "
                "parallel sentences must be aligned row by row"
            )
        for row, text in enumerate(rows):
            if not isinstance(text, str):
                raise UserError(
                    f"probe: row {row} of language '{lang}' is {type(text).__name__}, not text"
                )
    return n


def unrelated_partners(n_tokens: np.ndarray) -> np.ndarray:
    """For each sentence, the index of an unrelated sentence of about the same length: the next
    one in token-length order (ties by position), the longest wrapping to the shortest."""
    if n_tokens.size < 2:
        raise UserError("probe: the control needs at least 2 parallel sentences")
    order = np.lexsort((np.arange(n_tokens.size), n_tokens))
    partners = np.empty_like(order)
    partners[order] = np.roll(order, -1)
    return partners


def summarize_language(
    language: str,
    stats: SentenceStatistics,
    english: SentenceStatistics,
    ranges: LayerRanges,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> LanguageProbe:
    """Aggregate one language's per-sentence statistics against English's into a summary."""
    similarity = cosine_similarity(stats.pooled, english.pooled)  # (N, L+1)
    partners = unrelated_partners(english.n_tokens)
    control = cosine_similarity(stats.pooled, english.pooled[partners])
    excess = similarity - control
    e0, e1 = ranges.early_hidden_states
    l0, l1 = ranges.late_hidden_states

    def early_late(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return values[:, e0 : e1 + 1].mean(1), values[:, l0 : l1 + 1].mean(1)

    early_similarity, late_similarity = early_late(similarity)
    per_sentence_gain = late_similarity - early_similarity
    early_excess, late_excess = early_late(excess)
    per_layer = similarity.mean(axis=0)
    early = float(per_layer[e0 : e1 + 1].mean())
    late = float(per_layer[l0 : l1 + 1].mean())
    boot = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}

    def interval(values: np.ndarray) -> list[float]:
        return list(bootstrap_mean_interval(values, **boot))

    return LanguageProbe(
        language=language,
        n_sentences=int(stats.n_tokens.size),
        mean_tokens=float(stats.n_tokens.mean()),
        n_truncated=int(stats.truncated.sum()),
        attention_entropy=float(stats.attention_entropy.mean()),
        attention_entropy_interval=list(bootstrap_mean_interval(stats.attention_entropy, **boot)),
        attention_entropy_relative=float(
            relative_entropy_to_uniform(stats.attention_entropy, stats.n_tokens).mean()
        ),
        attention_entropy_per_layer_head=stats.head_entropy.mean(axis=0).tolist(),
        similarity_per_layer=per_layer.tolist(),
        early=early,
        late=late,
        gain=late - early,
        gain_interval=interval(per_sentence_gain),
        control_per_layer=control.mean(axis=0).tolist(),
        excess_per_layer=excess.mean(axis=0).tolist(),
        early_excess=float(early_excess.mean()),
        early_excess_interval=interval(early_excess),
        late_excess=float(late_excess.mean()),
        late_excess_interval=interval(late_excess),
        excess_gain=float((late_excess - early_excess).mean()),
        excess_gain_interval=interval(late_excess - early_excess),
        early_excess_per_sentence=early_excess.tolist(),
        late_excess_per_sentence=late_excess.tolist(),
    )


def probe_parallel(
    model: Any,
    tokenizer: Any,
    sentences: Mapping[str, Sequence[str]],
    *,
    max_length: int = 128,
    batch_size: int = 16,
    first_hidden_state: int = 0,
    early_layers: Sequence[int] = (0, 3),
    late_layers: Sequence[int] = (8, 11),
    reference_layers: int = 12,
    depth_policy: DepthPolicy = "scale",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    device: str | torch.device | None = None,
    bf16: bool = False,
) -> ProbeResult:
    """Probe every language of `sentences` (aligned with 'en'); see the module docstring."""
    validate_parallel(sentences)
    if n_resamples < 1:
        raise UserError(f"probe: n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise UserError(f"probe: confidence must be between 0 and 1, got {confidence}")
    layer_settings = {
        "early_layers": early_layers,
        "late_layers": late_layers,
        "first_hidden_state": first_hidden_state,
        "reference_layers": reference_layers,
        "depth_policy": depth_policy,
    }
    # Check the layer settings before the first forward pass, on a nominal depth.
    resolve_layer_ranges(reference_layers, **layer_settings)
    run = {"max_length": max_length, "batch_size": batch_size, "device": device, "bf16": bf16}
    english = sentence_statistics(model, tokenizer, sentences[ENGLISH], language=ENGLISH, **run)
    ranges = resolve_layer_ranges(english.n_layers, **layer_settings)
    summary = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    languages: dict[str, LanguageProbe] = {}
    for lang, rows in sentences.items():
        stats = (
            english
            if lang == ENGLISH
            else sentence_statistics(model, tokenizer, rows, language=lang, **run)
        )
        languages[lang] = summarize_language(lang, stats, english, ranges, **summary)
    return ProbeResult(
        languages=languages,
        n_layers=english.n_layers,
        n_heads=english.n_heads,
        first_hidden_state=first_hidden_state,
        early_layers=list(ranges.early_layers),
        late_layers=list(ranges.late_layers),
        early_hidden_states=list(ranges.early_hidden_states),
        late_hidden_states=list(ranges.late_hidden_states),
        max_length=max_length,
        confidence=confidence,
        notes=list(ranges.notes),
    )
