"""Report section 4b: probing, attention entropy and layer similarity to English per language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.ticker import MaxNLocator

from regpt2.analysis import published as study
from regpt2.core.languages import LATIN_SCRIPT
from regpt2.report.document import Block, Paragraph, Plot, Section, Table
from regpt2.report.figures import PALETTE, bars, new_figure, png_bytes
from regpt2.report.formatting import (
    PROBE_MODELS,
    fmt,
    fmt_ci,
    fmt_corr,
    fmt_signed,
    language_cell,
    make_table,
    not_run,
    xnli_order,
)
from regpt2.report.inputs import Context


def probe_section(ctx: Context, section: Section) -> None:
    summary = ctx.inputs.json("metrics/probe.json")
    if not summary:
        section.blocks.append(not_run("probe", "metrics/probe.json"))
        section.status = "not run"
        return
    details = ctx.inputs.json("data/probe/results.json") or {}
    for model, languages in summary.items():
        section.blocks.append(probe_table(model, languages, details.get(model, {})))
    first = next(iter(details.values()), {})
    if first:
        section.blocks.append(
            Paragraph(
                f"Layer ranges: early = study layers {first.get('early_layers')} (hidden states "
                f"{first.get('early_hidden_states')}), late = {first.get('late_layers')} (hidden "
                f"states {first.get('late_hidden_states')}) of a {first.get('n_layers')}-layer "
                f"model. {' '.join(first.get('notes', []))}"
            )
        )
    section.blocks.append(probe_correlation_table(ctx.inputs.correlations("probe")))
    curves = probe_curves(details, ctx.inputs.csv("data/plots/probe_similarity.csv"))
    if curves:
        section.blocks.append(similarity_plot(curves, details))
    section.blocks.append(entropy_plot(summary, details))


def probe_table(model: str, languages: Mapping[str, Any], details: Mapping[str, Any]) -> Table:
    per_language = details.get("languages", {})
    rows = []
    for lang in xnli_order(languages):
        m = languages[lang]
        d = per_language.get(lang, {})
        entropy_ci = d.get("attention_entropy_interval") or (None, None)
        gain_ci = d.get("gain_interval") or (None, None)
        excess_ci = d.get("excess_gain_interval") or (None, None)
        published = study.PROBE.get(lang, {}) if model == "pretrained" else {}
        rows.append(
            (
                language_cell(lang),
                fmt(d.get("n_sentences"))
                + (f" ({cut} cut)" if (cut := d.get("n_truncated")) else ""),
                fmt_ci(m.get("attention_entropy"), *entropy_ci, digits=3),
                fmt(m.get("attention_entropy_relative"), 3),
                fmt(m.get("early"), 4),
                fmt(m.get("late"), 4),
                fmt_ci(m.get("gain"), *gain_ci, digits=4),
                fmt(d.get("early_excess"), 4),
                fmt(d.get("late_excess"), 4),
                fmt_ci(d.get("excess_gain"), *excess_ci, digits=4),
                fmt(published.get("early"), 4),
                fmt(published.get("late"), 4),
                fmt_signed(published.get("gain"), 4),
            )
        )
    return make_table(
        (
            "Language",
            "Sentences",
            "Attention entropy [95% CI]",
            "Entropy / uniform",
            "Early",
            "Late",
            "Gain [95% CI]",
            "Excess early",
            "Excess late",
            "Excess gain [95% CI]",
            "Study early",
            "Study late",
            "Study gain",
        ),
        rows,
        caption=f"Probe: {PROBE_MODELS.get(model, model)}",
        note="Similarity = cosine between the mean-pooled hidden state of a sentence and of its "
        "English original; gain = late - early. Excess = that similarity minus the similarity "
        "to an unrelated English sentence of about the same length (the control: two unrelated "
        "sentences already score high, since a few large hidden dimensions dominate the "
        "cosine); claim 6 is decided on the excess gain. Sentences are distinct premises. "
        "Entropy / uniform divides by the entropy of "
        "uniform causal attention over as many tokens (the raw entropy mostly tracks length). "
        "'Cut' sentences exceeded probe.max_length tokens and were truncated. The study used "
        "4 sentences, pretrained GPT-2.",
    )


def probe_correlation_table(data: Mapping[str, Any] | None) -> Block:
    rows = [
        (PROBE_MODELS.get(model, model), name, fmt_corr(stats))
        for model, fields in (data or {}).items()
        for name, stats in fields.items()
    ]
    if not rows:
        return not_run("probe (correlations)", "metrics/probe_correlations.json")
    return make_table(
        ("Model", "Probe number", "vs zero-shot accuracy (languages but English)"),
        rows,
        caption="Probe numbers vs zero-shot NLI accuracy",
    )


def probe_curves(
    details: Mapping[str, Any], csv: pd.DataFrame | None
) -> dict[str, dict[str, list[float]]]:
    """model -> language -> similarity per hidden state, from results.json or the plot CSV."""
    curves = {
        model: {
            lang: list(d["similarity_per_layer"])
            for lang, d in result.get("languages", {}).items()
            if d.get("similarity_per_layer")
        }
        for model, result in details.items()
    }
    curves = {model: langs for model, langs in curves.items() if langs}
    if curves or csv is None or not {"model", "language", "layer", "similarity"} <= set(csv):
        return curves
    for (model, lang), group in csv.sort_values("layer").groupby(["model", "language"]):
        curves.setdefault(str(model), {})[str(lang)] = group["similarity"].tolist()
    return curves


def similarity_plot(
    curves: Mapping[str, Mapping[str, list[float]]], details: Mapping[str, Any]
) -> Plot:
    fig, axes = new_figure(13, 4.6, ncols=len(curves))
    colors = [f"C{i}" for i in range(10)] + ["#444444", "#bcbd22", "#aec7e8", "#ffbb78", "#98df8a"]
    for ax, (model, languages) in zip(axes, curves.items(), strict=True):
        info = details.get(model, {})
        for key, shade in (("early_hidden_states", "#e8f1fb"), ("late_hidden_states", "#fdeeee")):
            span = info.get(key)
            if span:
                ax.axvspan(min(span) - 0.4, max(span) + 0.4, color=shade, zorder=0)
        for number, lang in enumerate(lang for lang in xnli_order(languages) if lang != "en"):
            style = "-" if lang in LATIN_SCRIPT else "--"
            ax.plot(
                range(len(languages[lang])),
                languages[lang],
                style,
                marker="o",
                markersize=3,
                color=colors[number % len(colors)],
                label=lang,
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(
            xlabel="hidden state (0 = embeddings)",
            ylabel="cosine similarity to English",
            title=PROBE_MODELS.get(model, model),
        )
        ax.legend(fontsize=7, ncols=2, loc="lower right")
    fig.suptitle("Layer similarity to English by language (blue band: early, red: late)")
    return Plot(
        "probe_similarity",
        png_bytes(fig),
        "Cosine similarity to the English sentence per hidden state; solid: Latin script, "
        "dashed: other scripts; shaded: the early and late ranges of the gain.",
    )


def entropy_plot(summary: Mapping[str, Any], details: Mapping[str, Any]) -> Plot:
    langs = xnli_order(lang for languages in summary.values() for lang in languages)
    series = []
    for (model, languages), color in zip(summary.items(), PALETTE, strict=False):
        per_language = details.get(model, {}).get("languages", {})
        intervals = {
            lang: tuple(d["attention_entropy_interval"])
            for lang, d in per_language.items()
            if d.get("attention_entropy_interval")
        }
        values = {lang: m["attention_entropy"] for lang, m in languages.items()}
        series.append((PROBE_MODELS.get(model, model), values, intervals, color))
    fig, (ax,) = new_figure(10, 4)
    bars(ax, langs, series)
    ax.set(
        xlabel="language",
        ylabel="attention entropy (nats)",
        title="Attention entropy by language (95% CI)",
    )
    ax.legend(fontsize=8)
    return Plot(
        "attention_entropy",
        png_bytes(fig),
        "Shannon entropy of the head- and layer-averaged attention map, by language and model.",
    )
