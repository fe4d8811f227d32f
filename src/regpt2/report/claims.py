"""The study's claims, each checked against this run: one function per claim returns a `Finding`
with the models it compares, its preconditions (a failed one makes the claim *not testable*, with
the reason) and its test's p-value and direction; `check_claims` then corrects the p-values
across the claims and sets every verdict by the one rule of `regpt2.analysis.verdicts`.

The tests themselves (paired on the same rows, by premise) are computed by the `analyze` stage
into data/analysis/tests.json; here they are read and combined."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from statistics import median
from typing import Any

from scipy import stats as scipy_stats

from regpt2.analysis import published as study
from regpt2.analysis.comparisons import NEAR_CHANCE_POINTS
from regpt2.analysis.verdicts import (
    ALPHA,
    PENDING,
    count_decision,
    decide,
    direction_of,
    finite,
    p_for_count,
    significant,
    verdict,
)
from regpt2.core.stats import correlate, holm
from regpt2.report.document import Finding, model_name
from regpt2.report.formatting import (
    finite_mean,
    fmt,
    fmt_p,
    fmt_signed,
    xnli_order,
)
from regpt2.report.inputs import Context

#: Translations below this median chrF (0-100) are not translations: "grammar" then scores the
#: model's English whatever the source said (claim 5 is not testable).
MIN_TRANSLATION_CHRF = 20.0
#: A correlation across languages needs at least this many languages.
MIN_LANGUAGES = 5


def _not_run(claim: str, study_text: str, missing: str) -> Finding:
    return Finding(claim, study_text, f"needs {missing}", "not run")


def _not_testable(claim: str, study_text: str, why: str, models: str) -> Finding:
    return Finding(claim, study_text, f"Not testable in this run: {why}", "not testable", models)


def _tested(
    claim: str, study_text: str, ours: str, models: str, p: float, direction: int
) -> Finding:
    return Finding(claim, study_text, ours, PENDING, models, p, direction)


def _tests(ctx: Context) -> dict[str, Any]:
    return ctx.inputs.json("data/analysis/tests.json") or {}


def _names(ctx: Context) -> dict[str, str]:
    """How the models of this run are named in the claims."""
    gpt2 = model_name(ctx.sources, "gpt2")
    start = "after English" if ctx.deviation("finetune_per_lang.start") else "from its base"
    return {
        "base": gpt2,
        "english": f"{gpt2} fine-tuned on English",
        "per_language": f"{gpt2} fine-tuned on each language ({start})",
        "all": f"{gpt2} fine-tuned on all trained languages",
        "lora": f"{model_name(ctx.sources, 'qwen')} with LoRA on English",
    }


def _point(test: Mapping[str, Any]) -> str:
    """A paired difference as `+3.2 [0.1, 6.3]`."""
    return (
        f"{fmt_signed(test['estimate'])} [{fmt(test['ci95_low'], 1)}, {fmt(test['ci95_high'], 1)}]"
    )


def _rows_note(tests: Mapping[str, Mapping[str, Any]]) -> str:
    rows = sorted({t["rows"] for t in tests.values()})
    detectable = [t["detectable"] for t in tests.values() if finite(t.get("detectable"))]
    shown = f"{rows[0]}" if len(rows) == 1 else f"{rows[0]}-{rows[-1]}"
    return (
        f"{shown} rows per language, paired; detectable difference about "
        f"{fmt(median(detectable), 1)} points"
        if detectable
        else f"{shown} rows per language"
    )


def _languages_text(decision, tests: Mapping[str, Any], better: str, worse: str) -> str:
    rest = [k for k in xnli_order(tests) if k not in decision.for_claim + decision.against_claim]
    parts = [
        (better, xnli_order(decision.for_claim)),
        (worse, xnli_order(decision.against_claim)),
        ("no significant difference", rest),
    ]
    return "; ".join(
        f"{label}: " + ", ".join(f"{k} {fmt_signed(tests[k]['estimate'])}" for k in langs)
        for label, langs in parts
        if langs
    )


def _untrained(chance: Mapping[str, Any], languages: Sequence[str]) -> list[str]:
    """The languages where a model is not significantly above chance."""
    return [k for k in xnli_order(languages) if not significant(chance.get(k), +1)]


# ------------------------------------------------------------------------------------ claims


def claim_near_chance(ctx: Context) -> Finding:
    claim = "1. Zero-shot transfer from English is near chance for most languages."
    published = {k: v for k, v in study.ZEROSHOT.items() if k != "en"}
    near = [k for k, v in published.items() if abs(v - study.CHANCE) <= NEAR_CHANCE_POINTS]
    study_text = (
        f"{len(near)} of {len(published)} languages within {NEAR_CHANCE_POINTS:.0f} points of "
        f"chance (English {study.ZEROSHOT['en']:.2f}%)."
    )
    names = _names(ctx)
    tests = _tests(ctx).get("near_chance") or {}
    english = (_tests(ctx).get("vs_chance") or {}).get("zeroshot", {}).get("en")
    if not tests:
        return _not_run(claim, study_text, "data/analysis/tests.json (zeroshot, analyze)")
    if not significant(english, +1):
        return _not_testable(
            claim,
            study_text,
            "the English model is not above chance in English itself, so there is nothing "
            "to transfer.",
            names["english"],
        )
    needed = len(tests) // 2 + 1
    near_p = {k: t["p_near"] for k, t in tests.items()}
    far_p = {k: t["p_far"] for k, t in tests.items()}
    near = [k for k, p in holm(near_p).items() if p < ALPHA]
    far = [k for k, p in holm(far_p).items() if p < ALPHA]
    unclear = [k for k in tests if k not in near + far]
    accuracy = {k: t["accuracy"] for k, t in tests.items()}

    def listed(langs):
        return ", ".join(f"{k} {fmt(accuracy[k], 1)}" for k in xnli_order(langs)) or "none"

    ours = (
        f"Of {len(tests)} languages (Holm-corrected, {_rows_note(tests)}): within "
        f"{NEAR_CHANCE_POINTS:.0f} points of chance: {listed(near)}; farther: {listed(far)}; "
        f"unclear: {listed(unclear)}. English {fmt(ctx.inputs.zeroshot_accuracy().get('en'))}%."
    )
    # For the claim: more than half the languages near chance; against it: more than half far.
    p, direction = min((p_for_count(near_p, needed), 1), (p_for_count(far_p, needed), -1))
    return _tested(claim, study_text, ours, names["english"], p, direction)


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


def claim_fertility(ctx: Context) -> Finding:
    claim = "2. Higher fertility goes with lower zero-shot accuracy."
    published = fertility_correlation(study.FERTILITY, study.ZEROSHOT)
    study_text = (
        f"Claimed a strong negative relation; its numbers (GPT-2's tokenizer, English "
        f"included): {_fertility_text(published)}."
    )
    names = _names(ctx)
    inputs = ctx.inputs
    accuracy = {k: v for k, v in inputs.zeroshot_accuracy().items() if k != "en"}
    own = inputs.fertility(tokenizer="nli_model")
    if not accuracy or not own:
        return _not_run(claim, study_text, "metrics/fertility.json (nli_model), zeroshot")
    models = f"{names['english']}; fertility of its own tokenizer"
    chance = (_tests(ctx).get("vs_chance") or {}).get("zeroshot", {})
    above = [k for k in accuracy if significant(chance.get(k), +1)]
    if len(set(own) & set(accuracy)) < MIN_LANGUAGES:
        why = f"fewer than {MIN_LANGUAGES} languages have both numbers."
        return _not_testable(claim, study_text, why, models)
    if not above:
        why = "zero-shot accuracy is at chance in every language but English: it has no "
        return _not_testable(claim, study_text, why + "spread to correlate.", models)
    stats = fertility_correlation(own, accuracy)
    gpt2 = fertility_correlation(inputs.fertility(tokenizer="gpt2"), accuracy)
    ours = (
        f"The fine-tuned model's own tokenizer, English left out (it is the training language): "
        f"{_fertility_text(stats)}. GPT-2's tokenizer, for comparison: Spearman r = "
        f"{fmt(gpt2['spearman_r'])} ({fmt_p(gpt2['spearman_p'])})."
    )
    direction = direction_of(stats["spearman_r"], -1)
    return _tested(claim, study_text, ours, models, stats["spearman_p"], direction)


def claim_tier1_gain(ctx: Context) -> Finding:
    claim = "3. Per-language fine-tuning on 1% helps the Tier-1 languages more than the others."
    study_tier1 = {
        k
        for k in study.FERTILITY
        if k in study.ZEROSHOT and study.study_tier(study.FERTILITY[k], study.ZEROSHOT[k]) == 1
    }
    study_changes = {k: v - study.ZEROSHOT[k] for k, v in study.PER_LANGUAGE_REPORTED.items()}
    study_tier1_values = [v for k, v in study_changes.items() if k in study_tier1]
    study_other_values = [v for k, v in study_changes.items() if k not in study_tier1]
    study_p = scipy_stats.mannwhitneyu(
        study_tier1_values, study_other_values, alternative="greater"
    ).pvalue
    study_text = (
        f"Change vs zero-shot: Tier 1 ({_listing(study_changes, study_tier1)}) mean "
        f"{fmt_signed(finite_mean(study_tier1_values))} vs others "
        f"({_listing(study_changes, set(study_changes) - study_tier1)}) mean "
        f"{fmt_signed(finite_mean(study_other_values))} points; one-sided Mann-Whitney over its "
        f"7 languages {fmt_p(study_p)}."
    )
    names = _names(ctx)
    models = f"{names['per_language']} vs {names['english']}, same rows"
    tests = _tests(ctx)
    changes = tests.get("per_language_vs_zeroshot") or {}
    if not changes:
        return _not_run(claim, study_text, "per-language and zero-shot predictions (analyze)")
    at_chance = _untrained((tests.get("vs_chance") or {}).get("finetune_per_lang", {}), changes)
    if at_chance:
        why = (
            f"the per-language models are not above chance in {', '.join(at_chance)} (their "
            "test accuracy's interval reaches 33.3%): they learned nothing at this budget, so "
            "their change vs zero-shot is just minus the zero-shot accuracy."
        )
        return _not_testable(claim, study_text, why, models)
    contrast = tests.get("tier_contrast")
    if not contrast:
        why = "neither this run's nor the study's tiers split the fine-tuned languages."
        return _not_testable(claim, study_text, why, models)
    estimates = {k: t["estimate"] for k, t in changes.items()}
    tier1, others = set(contrast["tier1"]), set(contrast["others"])
    ours = (
        f"By {contrast['grouping']}: Tier 1 ({_listing(estimates, tier1)}) vs others "
        f"({_listing(estimates, others)}); Tier 1's mean change minus the others': "
        f"{_point(contrast)} points, {fmt_p(contrast['p'])} (bootstrap over premises, "
        f"{contrast['rows']} rows per language)."
    )
    direction = direction_of(contrast["estimate"], +1)
    return _tested(claim, study_text, ours, models, contrast["p"], direction)


def _listing(values: Mapping[str, float], languages: set[str]) -> str:
    return ", ".join(f"{k} {fmt_signed(values[k])}" for k in xnli_order(languages & set(values)))


def claim_all_language(ctx: Context) -> Finding:
    claim = "4. All-language training helps every language vs zero-shot."
    changes = {k: v - study.ZEROSHOT[k] for k, v in study.ALL_LANGUAGE_NOTEBOOK.items()}
    gains = [k for k, v in changes.items() if k != "en" and v > 0]
    study_text = (
        f"Notebook: {len(gains)} of {len(changes) - 1} trained non-English languages improve; "
        f"English {fmt_signed(changes['en'])} points."
    )
    names = _names(ctx)
    models = f"{names['all']} vs {names['english']}, same rows"
    tests = _tests(ctx)
    data = ctx.inputs.finetune_all() or {}
    comparisons = tests.get("all_languages_vs_zeroshot") or {}
    trained = [k for k in data.get("trained_on", []) if k in comparisons]
    if not trained:
        return _not_run(claim, study_text, "all-language and zero-shot predictions (analyze)")
    comparisons = {k: comparisons[k] for k in trained}
    at_chance = _untrained((tests.get("vs_chance") or {}).get("finetune_all", {}), trained)
    if len(at_chance) * 2 >= len(trained):
        why = (
            f"the all-language model is not above chance in {', '.join(at_chance)}, most of "
            "the languages it trained on: it learned nothing at this budget."
        )
        return _not_testable(claim, study_text, why, models)
    decision = count_decision(
        comparisons, expected_sign=1, needed_for=len(comparisons), needed_against=1
    )
    ours = (
        f"Of {len(comparisons)} trained languages, English included (Holm-corrected, "
        f"{_rows_note(comparisons)}): "
        + _languages_text(decision, comparisons, "better", "worse")
        + "."
    )
    return _tested(claim, study_text, ours, models, decision.p, decision.direction)


def claim_translation(ctx: Context) -> Finding:
    claim = "5. Translation grammar correlates with NLI accuracy."
    langs = list(study.TRANSLATION)
    recomputed = correlate(
        [study.TRANSLATION[k]["grammar"] for k in langs], [study.ZEROSHOT[k] for k in langs]
    )
    study_text = (
        f"Reported Pearson r = {study.TRANSLATION_GRAMMAR_NLI_PEARSON}; recomputed against its "
        f"zero-shot table: r = {fmt(recomputed['pearson_r'])} ({fmt_p(recomputed['pearson_p'])})."
    )
    names = _names(ctx)
    models = f"{names['base']} translating; {names['english']} on NLI"
    data = ctx.inputs.translate() or {}
    accuracy = ctx.inputs.zeroshot_accuracy()
    languages = {k: v for k, v in (data.get("languages") or {}).items() if k in accuracy}
    if not languages:
        return _not_run(claim, study_text, "metrics/translate.json, metrics/zeroshot.json")
    chrf = [v["chrf"] for v in languages.values() if finite(v.get("chrf"))]
    if len(languages) < MIN_LANGUAGES:
        why = f"fewer than {MIN_LANGUAGES} translated languages."
        return _not_testable(claim, study_text, why, models)
    if not chrf or median(chrf) < MIN_TRANSLATION_CHRF:
        bleu = [v["bleu"] for v in languages.values() if finite(v.get("bleu"))]
        why = (
            f"the translations failed (median chrF {fmt(median(chrf) if chrf else math.nan, 1)}"
            f" < {MIN_TRANSLATION_CHRF:.0f}; BLEU {fmt(min(bleu), 1)}-{fmt(max(bleu), 1)}), so "
            "the grammar score rates the model's own English, not a translation."
        )
        return _not_testable(claim, study_text, why, models)
    both = xnli_order(languages)
    stats = correlate([languages[k]["grammar"] for k in both], [accuracy[k] for k in both])
    ours = (
        f"Grammar vs zero-shot accuracy over {len(both)} languages: Pearson r = "
        f"{fmt(stats['pearson_r'])} ({fmt_p(stats['pearson_p'])}); median chrF "
        f"{fmt(median(chrf), 1)}."
    )
    direction = direction_of(stats["pearson_r"], +1)
    return _tested(claim, study_text, ours, models, stats["pearson_p"], direction)


def _probe_inputs(ctx: Context) -> tuple[str | None, dict]:
    """The probed model the claim is about (the pretrained one, as in the study) and its tests."""
    probe = _tests(ctx).get("probe") or {}
    model = "pretrained" if "pretrained" in probe else next(iter(probe), None)
    return model, probe.get(model, {})


def _probed(ctx: Context, model: str) -> str:
    names = _names(ctx)
    if model == "pretrained":
        return f"{names['base']}, pretrained (the study's setting), against English"
    return f"{names['english']}, against English" if model == "finetuned_en" else model


def _control_failure(tests: Mapping[str, Any]) -> str | None:
    """Why the probe's measure fails its control, or None: for most languages, the similarity
    to the translation must exceed the similarity to an unrelated English sentence of the same
    length in the early or the late layers."""
    seeing = [
        k
        for k, t in tests.items()
        if significant(t["early_excess"], +1) or significant(t["late_excess"], +1)
    ]
    if len(seeing) * 2 > len(tests):
        return None
    return (
        f"the similarity to the translation exceeds that to an unrelated English sentence of "
        f"the same length in only {len(seeing)} of {len(tests)} languages, so the layer "
        "similarity does not see translations."
    )


def claim_probe_gain(ctx: Context) -> Finding:
    claim = (
        "6a. Late layers are more similar to English than early ones (positive gain) for most "
        "languages."
    )
    gains = {k: v["gain"] for k, v in study.PROBE.items()}
    study_text = (
        "Gains (raw similarity, one sentence per language) "
        + ", ".join(f"{k} {fmt_signed(v, 4)}" for k, v in gains.items())
        + "."
    )
    model, tests = _probe_inputs(ctx)
    if model is None:
        return _not_run(claim, study_text, "data/probe/results.json (probe, analyze)")
    models = _probed(ctx, model)
    languages = tests["languages"]
    failure = _control_failure(languages)
    if failure:
        return _not_testable(claim, study_text, failure, models)
    gain_tests = {k: t["excess_gain"] for k, t in languages.items()}
    decision = count_decision(
        gain_tests,
        expected_sign=1,
        needed_for=len(gain_tests) // 2 + 1,
        needed_against=len(gain_tests) // 2 + 1,
    )
    ours = (
        f"Gain of the excess similarity (to the translation minus to an unrelated sentence), "
        f"Holm-corrected over {len(gain_tests)} languages, "
        f"{next(iter(gain_tests.values()))['rows']} distinct premises each: "
        + _languages_text(decision, gain_tests, "positive", "negative")
        + "."
    )
    return _tested(claim, study_text, ours, models, decision.p, decision.direction)


def claim_probe_scripts(ctx: Context) -> Finding:
    claim = "6b. The gain is larger for distant scripts (e.g. el) than for Latin-script languages."
    study_text = (
        f"el {fmt_signed(study.PROBE['el']['gain'], 4)} vs es "
        f"{fmt_signed(study.PROBE['es']['gain'], 4)}, de {fmt_signed(study.PROBE['de']['gain'], 4)}"
        " (one sentence each)."
    )
    model, tests = _probe_inputs(ctx)
    if model is None:
        return _not_run(claim, study_text, "data/probe/results.json (probe, analyze)")
    models = _probed(ctx, model)
    failure = _control_failure(tests["languages"])
    if failure:
        return _not_testable(claim, study_text, failure, models)
    contrast = tests.get("script_contrast")
    if not contrast:
        why = "the probed languages are not of both script groups."
        return _not_testable(claim, study_text, why, models)
    ours = (
        f"Mean excess gain of the other scripts ({', '.join(contrast['distant'])}) minus the "
        f"Latin-script languages' ({', '.join(contrast['latin'])}): "
        f"{fmt_signed(contrast['estimate'], 4)} [{fmt(contrast['ci95_low'], 4)}, "
        f"{fmt(contrast['ci95_high'], 4)}], {fmt_p(contrast['p'])} (paired by sentence)."
    )
    direction = direction_of(contrast["estimate"], +1)
    return _tested(claim, study_text, ours, models, contrast["p"], direction)


def claim_lora(ctx: Context) -> Finding:
    claim = "7. The modern LoRA model beats GPT-2 zero-shot in every language."
    wins = [k for k, v in study.QWEN_LORA.items() if v > study.ZEROSHOT[k]]
    study_text = f"{len(wins)} of {len(study.QWEN_LORA)} reported languages improve."
    names = _names(ctx)
    models = f"{names['lora']} vs {names['english']}, same rows"
    tests = _tests(ctx)
    comparisons = tests.get("lora_vs_zeroshot") or {}
    if not comparisons:
        return _not_run(claim, study_text, "LoRA and zero-shot predictions (analyze)")
    if ctx.sources.get("gpt2") == ctx.sources.get("qwen"):
        why = (
            f"the same model ({ctx.sources.get('gpt2')}) stands on both sides, so this compares "
            "LoRA with full fine-tuning of one model (this run's own comparison, below), not a "
            "modern model with GPT-2."
        )
        return _not_testable(claim, study_text, why, models)
    at_chance = _untrained((tests.get("vs_chance") or {}).get("qwen_lora", {}), ["en"])
    if at_chance:
        why = "the LoRA model is not above chance in English, the language it trained on."
        return _not_testable(claim, study_text, why, models)
    decision = count_decision(
        comparisons, expected_sign=1, needed_for=len(comparisons), needed_against=1
    )
    ours = (
        f"Of {len(comparisons)} languages (Holm-corrected, {_rows_note(comparisons)}): "
        + _languages_text(decision, comparisons, "better", "worse")
        + "."
    )
    return _tested(claim, study_text, ours, models, decision.p, decision.direction)


CLAIMS: tuple[Callable[[Context], Finding], ...] = (
    claim_near_chance,
    claim_fertility,
    claim_tier1_gain,
    claim_all_language,
    claim_translation,
    claim_probe_gain,
    claim_probe_scripts,
    claim_lora,
)


def settle(findings: Sequence[Finding]) -> list[Finding]:
    """Correct the tested claims' p-values across claims (Holm) and set their verdicts."""
    tested = {index: f.p for index, f in enumerate(findings) if f.verdict == PENDING}
    corrected = decide(tested)
    settled = []
    for index, finding in enumerate(findings):
        if index in corrected:
            p = corrected[index]
            finding = replace(finding, p_corrected=p, verdict=verdict(p, finding.direction))
        settled.append(finding)
    return settled


def lora_vs_full_finetuning(ctx: Context) -> dict[str, Any] | None:
    """This run's own comparison when LoRA and full fine-tuning share their base model (claim 7
    is then not testable): per language, Holm-corrected within the comparison. None when the
    bases differ or the tests are missing."""
    comparisons = _tests(ctx).get("lora_vs_zeroshot") or {}
    if not comparisons or ctx.sources.get("gpt2") != ctx.sources.get("qwen"):
        return None
    decision = count_decision(
        comparisons, expected_sign=1, needed_for=len(comparisons), needed_against=1
    )
    names = _names(ctx)
    return {
        "models": f"{names['lora']} vs {names['english']}",
        "tests": comparisons,
        "adjusted": decision.adjusted,
        "higher": decision.for_claim,
        "lower": decision.against_claim,
        "alpha": ALPHA,
    }
