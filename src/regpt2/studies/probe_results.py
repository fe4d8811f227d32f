"""The probe's results, as the `probe` stage writes them, and their correlation with another
per-language number: plain data and arithmetic, no torch, so that `analyze` (which correlates
the probe's numbers with accuracy) starts without it. The measures themselves are
`regpt2.studies.probe`'s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from regpt2.core.errors import UserError
from regpt2.core.stats import correlate

ENGLISH = "en"
#: Per-language numbers that `correlate_with_metric` correlates by default.
PROBE_FIELDS: tuple[str, ...] = (
    "attention_entropy",
    "attention_entropy_relative",
    "early",
    "late",
    "gain",
    "excess_gain",
)


@dataclass
class LanguageProbe:
    """One language's probe numbers (entropies in nats; similarities against English)."""

    language: str
    n_sentences: int
    mean_tokens: float
    n_truncated: int
    attention_entropy: float
    attention_entropy_interval: list[float]
    attention_entropy_relative: float  # / uniform causal attention over as many tokens
    attention_entropy_per_layer_head: list[list[float]]  # [layer][head]
    similarity_per_layer: list[float]  # index k = hidden_states[k]
    early: float
    late: float
    gain: float
    gain_interval: list[float]
    control_per_layer: list[float]  # similarity to an unrelated English sentence, per layer
    excess_per_layer: list[float]  # similarity to the translation minus the control's
    early_excess: float
    early_excess_interval: list[float]
    late_excess: float
    late_excess_interval: list[float]
    excess_gain: float
    excess_gain_interval: list[float]
    # Per sentence (for tests across languages, which pair sentences by row):
    early_excess_per_sentence: list[float]
    late_excess_per_sentence: list[float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProbeResult:
    """The probe over all languages plus the settings needed to read the numbers."""

    languages: dict[str, LanguageProbe]
    n_layers: int
    n_heads: int
    first_hidden_state: int
    early_layers: list[int]
    late_layers: list[int]
    early_hidden_states: list[int]
    late_hidden_states: list[int]
    max_length: int
    confidence: float
    entropy_unit: str = "nats"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict (languages keep their input order)."""
        data = asdict(self)
        data["languages"] = {lang: probe.to_dict() for lang, probe in self.languages.items()}
        return data


# --------------------------------------------------------------------------------------------
# Correlation with another per-language metric
# --------------------------------------------------------------------------------------------


def _language_value(probe: LanguageProbe | Mapping[str, Any], name: str) -> float:
    value = getattr(probe, name) if isinstance(probe, LanguageProbe) else probe[name]
    return float(value)


def correlate_with_metric(
    probe: ProbeResult | Mapping[str, Any],
    metric: Mapping[str, float],
    *,
    fields: Sequence[str] = PROBE_FIELDS,
    exclude: Sequence[str] = (ENGLISH,),
) -> dict[str, dict[str, Any]]:
    """Correlate per-language probe numbers with a per-language metric (e.g. zero-shot accuracy).

    `probe` is a ProbeResult, its `to_dict()`, or {lang: LanguageProbe | dict}. Languages present
    in both and not in `exclude` (English by default: its similarity is 1 by construction) are
    used, in probe order. Returns {field: regpt2.core.stats.correlate(...) + {"languages": [...]}}.
    """
    if isinstance(probe, ProbeResult):
        per_language: Mapping[str, Any] = probe.languages
    elif "languages" in probe and isinstance(probe["languages"], Mapping):
        per_language = probe["languages"]
    else:
        per_language = probe
    languages = [lang for lang in per_language if lang in metric and lang not in exclude]
    results: dict[str, dict[str, Any]] = {}
    for name in fields:
        try:
            xs = [_language_value(per_language[lang], name) for lang in languages]
        except (AttributeError, KeyError):
            raise UserError(
                f"probe: '{name}' is not a per-language probe number; use one of "
                f"{', '.join(PROBE_FIELDS)}"
            ) from None
        ys = [float(metric[lang]) for lang in languages]
        results[name] = {**correlate(xs, ys), "languages": languages}
    return results
