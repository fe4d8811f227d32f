"""The study's claims, each checked against this run's numbers: one function per claim returns a
`Finding` whose verdict follows the one significance rule of `regpt2.analysis.verdicts`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from scipy import stats as scipy_stats

from regpt2.analysis import published as study
from regpt2.analysis.verdicts import (
    OUTCOMES,
    change_outcome,
    compound_verdict,
    correlation_verdict,
    difference_verdict,
    every_language_verdict,
    finite,
    majority_verdict,
    significance_verdict,
)
from regpt2.core.stats import correlate
from regpt2.report.document import Finding
from regpt2.report.formatting import (
    LATIN_SCRIPT,
    PROBE_MODELS,
    finite_mean,
    fmt,
    fmt_corr,
    fmt_p,
    fmt_signed,
    xnli_order,
)
from regpt2.report.inputs import Inputs

#: A zero-shot accuracy within this many points of chance counts as "near chance" (claim 1).
NEAR_CHANCE_POINTS = 5.0


def _not_run_finding(claim: str, study_text: str, missing: str) -> Finding:
    return Finding(claim, study_text, f"needs {missing}", "not run")


def _outcome_text(outcomes: Mapping[str, str]) -> str:
    groups = {name: [k for k in xnli_order(outcomes) if outcomes[k] == name] for name in OUTCOMES}
    return "; ".join(f"{name}: {', '.join(langs)}" for name, langs in groups.items() if langs)


def claim_near_chance(inputs: Inputs) -> Finding:
    claim = "1. Zero-shot transfer from English is near chance for most languages."
    published = {k: v for k, v in study.ZEROSHOT.items() if k != "en"}
    near = [k for k, v in published.items() if abs(v - study.CHANCE) <= NEAR_CHANCE_POINTS]
    study_text = (
        f"{len(near)} of {len(published)} languages within {NEAR_CHANCE_POINTS:.0f} points of "
        f"chance (English {study.ZEROSHOT['en']:.2f}%)."
    )
    zeroshot = inputs.zeroshot()
    others = {k: v for k, v in zeroshot.items() if k != "en"}
    if not others:
        return _not_run_finding(claim, study_text, "metrics/zeroshot.json")
    close = [
        k
        for k, m in others.items()
        if abs(m["strict_accuracy"] - study.CHANCE) <= NEAR_CHANCE_POINTS
    ]
    covering = [
        k
        for k, m in others.items()
        if finite(m.get("strict_ci95_low"))
        and m["strict_ci95_low"] <= study.CHANCE <= m["strict_ci95_high"]
    ]
    english = zeroshot.get("en", {}).get("strict_accuracy")
    ours = (
        f"{len(close)} of {len(others)} languages within {NEAR_CHANCE_POINTS:.0f} points of "
        f"chance; the 95% CI includes chance for {len(covering)}; English {fmt(english)}%."
    )
    verdict = "supported" if len(close) * 2 > len(others) else "not supported"
    if finite(english) and english - study.CHANCE <= NEAR_CHANCE_POINTS:
        verdict = "inconclusive"
        ours += " English itself is near chance, so there is nothing to transfer."
    return Finding(claim, study_text, ours, verdict)


def fertility_correlation(
    fertility: Mapping[str, float], accuracy: Mapping[str, float]
) -> dict[str, Any]:
    """Fertility vs accuracy across languages: Pearson on log10 fertility, Spearman on ranks."""
    both = [lang for lang in xnli_order(fertility) if lang in accuracy and finite(fertility[lang])]
    both = [lang for lang in both if fertility[lang] > 0]
    return correlate([math.log10(fertility[k]) for k in both], [accuracy[k] for k in both])


def _fertility_text(stats: Mapping[str, Any]) -> str:
    return (
        f"Spearman r = {fmt(stats['spearman_r'])} ({fmt_p(stats['spearman_p'])}), Pearson r on "
        f"log10 fertility = {fmt(stats['pearson_r'])} ({fmt_p(stats['pearson_p'])}), "
        f"n = {stats['n']}"
    )


def claim_fertility(inputs: Inputs) -> Finding:
    claim = "2. Higher fertility goes with lower zero-shot accuracy."
    published = fertility_correlation(study.FERTILITY, study.ZEROSHOT)
    study_text = f"Claimed a strong negative relation; its numbers: {_fertility_text(published)}."
    accuracy = inputs.zeroshot_accuracy()
    fertility = inputs.fertility()
    if not accuracy or not fertility:
        return _not_run_finding(claim, study_text, "metrics/fertility.json, metrics/zeroshot.json")
    stats = fertility_correlation(fertility, accuracy)
    segmented = fertility_correlation(inputs.fertility(key="tokens_per_segmented_word"), accuracy)
    ours = (
        f"Whitespace fertility: {_fertility_text(stats)}. Segmented words (zh, th): Spearman r = "
        f"{fmt(segmented['spearman_r'])} ({fmt_p(segmented['spearman_p'])})."
    )
    return Finding(claim, study_text, ours, correlation_verdict(stats, "spearman", -1))


def _tier_gap_text(changes: Mapping[str, float], tier1: set[str]) -> tuple[str, float, float]:
    """Tier 1 against the rest: per-language changes, means, and a one-sided Mann-Whitney p in
    the direction observed (Tier 1 larger, or smaller). Returns (text, mean difference, p)."""
    groups = [
        xnli_order(k for k in changes if k in tier1),
        xnli_order(k for k in changes if k not in tier1),
    ]
    values = [[float(changes[k]) for k in group] for group in groups]
    means = [finite_mean(v) for v in values]
    parts = [
        f"{label} ({', '.join(f'{k} {fmt_signed(changes[k])}' for k in group)}) mean "
        f"{fmt_signed(mean)}"
        for label, group, mean in zip(("Tier 1", "others"), groups, means, strict=True)
    ]
    difference = means[0] - means[1]
    direction = "greater" if not difference < 0 else "less"
    p = float(scipy_stats.mannwhitneyu(*values, alternative=direction).pvalue)
    side = "Tier 1 larger" if direction == "greater" else "Tier 1 smaller"
    return (
        f"{parts[0]} vs {parts[1]} points; one-sided Mann-Whitney ({side}) {fmt_p(p)}",
        difference,
        p,
    )


def claim_tier1_gain(inputs: Inputs) -> Finding:
    claim = "3. Per-language fine-tuning on 1% helps the Tier-1 languages more than the others."
    study_tier1 = {
        k
        for k in study.FERTILITY
        if k in study.ZEROSHOT and study.study_tier(study.FERTILITY[k], study.ZEROSHOT[k]) == 1
    }
    study_changes = {k: v - study.ZEROSHOT[k] for k, v in study.PER_LANGUAGE_REPORTED.items()}
    study_text = "Change vs zero-shot: " + _tier_gap_text(study_changes, study_tier1)[0] + "."
    per_language = inputs.per_language()
    changes = {
        k: m["change_vs_zeroshot"]
        for k, m in per_language.items()
        if finite(m.get("change_vs_zeroshot"))
    }
    if not changes:
        return _not_run_finding(claim, study_text, "metrics/finetune_per_lang/*.json")
    tiers = inputs.tiers()
    tier1 = {k for k in changes if tiers.get(k) == 1}
    grouping = "this run's tiers"
    if not tier1 or tier1 == set(changes):
        tier1 = study_tier1 & set(changes)
        grouping = "the study's tiers (this run's tiers give no split)"
    if not tier1 or tier1 == set(changes):
        return Finding(
            claim,
            study_text,
            "No Tier-1 / other split among the fine-tuned languages.",
            "inconclusive",
        )
    text, difference, p = _tier_gap_text(changes, tier1)
    return Finding(claim, study_text, f"By {grouping}: {text}.", difference_verdict(difference, p))


def claim_all_language(inputs: Inputs) -> Finding:
    claim = "4. All-language training helps every language vs zero-shot."
    changes = {k: v - study.ZEROSHOT[k] for k, v in study.ALL_LANGUAGE_NOTEBOOK.items()}
    gains = [k for k, v in changes.items() if k != "en" and v > 0]
    study_text = (
        f"Notebook: {len(gains)} of {len(changes) - 1} trained non-English languages improve; "
        f"English {fmt_signed(changes['en'])} points."
    )
    data = inputs.finetune_all()
    if not data or not data.get("languages"):
        return _not_run_finding(claim, study_text, "metrics/finetune_all.json")
    zeroshot = inputs.zeroshot_accuracy()
    languages = data["languages"]
    # Every trained language, English included: the claim is about every language.
    trained = [k for k in data.get("trained_on", languages) if k in languages and k in zeroshot]
    outcomes = {
        k: change_outcome(
            languages[k].get("strict_ci95_low"), languages[k].get("strict_ci95_high"), zeroshot[k]
        )
        for k in trained
    }
    english = (languages.get("en") or {}).get("change_vs_zeroshot")
    ours = (
        f"Of {len(outcomes)} trained languages (English included), by whether the 95% CI lies "
        f"above / below the zero-shot accuracy: {_outcome_text(outcomes) or 'none'}; English "
        f"{fmt_signed(english)} points."
    )
    return Finding(claim, study_text, ours, every_language_verdict(outcomes))


def claim_translation(inputs: Inputs) -> Finding:
    claim = "5. Translation grammar correlates with NLI accuracy."
    langs = list(study.TRANSLATION)
    recomputed = correlate(
        [study.TRANSLATION[k]["grammar"] for k in langs], [study.ZEROSHOT[k] for k in langs]
    )
    study_text = (
        f"Reported Pearson r = {study.TRANSLATION_GRAMMAR_NLI_PEARSON}; recomputed against its "
        f"zero-shot table: r = {fmt(recomputed['pearson_r'])} ({fmt_p(recomputed['pearson_p'])})."
    )
    data = inputs.json("metrics/translate.json")
    accuracy = inputs.zeroshot_accuracy()
    if not data or not data.get("languages") or not accuracy:
        return _not_run_finding(claim, study_text, "metrics/translate.json")
    both = [k for k in xnli_order(data["languages"]) if k in accuracy]
    stats = correlate([data["languages"][k]["grammar"] for k in both], [accuracy[k] for k in both])
    chrf = correlate(
        [data["languages"][k].get("chrf", math.nan) for k in both], [accuracy[k] for k in both]
    )
    ours = (
        f"Grammar vs zero-shot accuracy: {fmt_corr(stats)}. chrF: Pearson r = "
        f"{fmt(chrf['pearson_r'])} ({fmt_p(chrf['pearson_p'])})."
    )
    return Finding(claim, study_text, ours, correlation_verdict(stats, "pearson", 1))


def claim_probe(inputs: Inputs) -> Finding:
    claim = (
        "6. Late layers are more similar to English than early ones (positive gain), "
        "more so for distant scripts (el)."
    )
    gains = {k: v["gain"] for k, v in study.PROBE.items()}
    study_text = "Gains " + ", ".join(f"{k} {fmt_signed(v, 4)}" for k, v in gains.items()) + "."
    summary = inputs.json("metrics/probe.json") or {}
    model = "pretrained" if "pretrained" in summary else next(iter(summary), None)
    if model is None:
        return _not_run_finding(claim, study_text, "metrics/probe.json")
    ours_gains = {
        k: m["gain"] for k, m in summary[model].items() if k != "en" and finite(m.get("gain"))
    }
    if not ours_gains:
        return Finding(claim, study_text, "No per-language gains.", "inconclusive")
    details = (inputs.json("data/probe/results.json") or {}).get(model, {}).get("languages", {})
    per_language = {
        k: significance_verdict(v, ci=tuple(details.get(k, {}).get("gain_interval") or (None,) * 2))
        for k, v in ours_gains.items()
    }
    above_zero = [k for k, v in per_language.items() if v == "supported"]
    below_zero = [k for k, v in per_language.items() if v == "contradicted"]
    latin_gains = [v for k, v in ours_gains.items() if k in LATIN_SCRIPT]
    distant_gains = [v for k, v in ours_gains.items() if k not in LATIN_SCRIPT]
    latin, distant = finite_mean(latin_gains), finite_mean(distant_gains)
    script_verdict, script_p = "inconclusive", math.nan
    if latin_gains and distant_gains:
        direction = "greater" if not distant < latin else "less"
        script_p = float(
            scipy_stats.mannwhitneyu(distant_gains, latin_gains, alternative=direction).pvalue
        )
        script_verdict = significance_verdict(distant - latin, p=script_p)
    ours = (
        f"{PROBE_MODELS.get(model, model)}: of {len(ours_gains)} languages, the gain's 95% CI "
        f"lies above 0 for {len(above_zero)} and below 0 for {len(below_zero)}; mean gain, other "
        f"scripts {fmt_signed(distant, 4)} vs Latin {fmt_signed(latin, 4)} (one-sided "
        f"Mann-Whitney {fmt_p(script_p)})"
        + (f"; el {fmt_signed(ours_gains['el'], 4)}." if "el" in ours_gains else ".")
        + ("" if details else " No gain intervals (data/probe/results.json is missing).")
    )
    verdict = compound_verdict([majority_verdict(per_language), script_verdict])
    return Finding(claim, study_text, ours, verdict)


def claim_lora(inputs: Inputs) -> Finding:
    claim = "7. The modern LoRA model beats GPT-2 zero-shot in every language."
    wins = [k for k, v in study.QWEN_LORA.items() if v > study.ZEROSHOT[k]]
    study_text = f"{len(wins)} of {len(study.QWEN_LORA)} reported languages improve."
    data = inputs.qwen_lora()
    if not data or not data.get("languages"):
        return _not_run_finding(claim, study_text, "metrics/qwen_lora.json")
    changes = {k: m.get("change_vs_gpt2") for k, m in data["languages"].items()}
    changes = {k: v for k, v in changes.items() if finite(v)}
    gpt2 = inputs.zeroshot_accuracy()
    outcomes = {
        k: change_outcome(
            data["languages"][k].get("strict_ci95_low"),
            data["languages"][k].get("strict_ci95_high"),
            gpt2[k],
        )
        for k in changes
        if k in gpt2
    }
    ours = (
        f"Of {len(outcomes)} languages, by whether the LoRA model's 95% CI lies above / below "
        f"GPT-2's accuracy: {_outcome_text(outcomes) or 'none'}; mean change "
        f"{fmt_signed(finite_mean(changes.values()))} points."
    )
    return Finding(claim, study_text, ours, every_language_verdict(outcomes))


CLAIMS: tuple[Callable[[Inputs], Finding], ...] = (
    claim_near_chance,
    claim_fertility,
    claim_tier1_gain,
    claim_all_language,
    claim_translation,
    claim_probe,
    claim_lora,
)
