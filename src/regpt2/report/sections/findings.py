"""Report section "Findings": the study's claims against this run, with their verdicts, and
this run's own comparison where a claim cannot be tested as stated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from regpt2.analysis.verdicts import ALPHA, VERDICTS
from regpt2.report.document import DASH, Block, Finding, Paragraph, Section
from regpt2.report.formatting import fmt, fmt_signed, language_cell, make_table, xnli_order

RULE = (
    "One rule decides every verdict, fixed in code before the data. Each claim has one test, "
    "two-sided, with the claim's direction written beside it; comparisons of two models are "
    "paired on the same test rows, with intervals and p-values from a bootstrap over premises "
    "(an XNLI premise and its three hypotheses move together). A claim about languages tests "
    "each language, corrects those p-values with Holm's method, and takes as its own the "
    "k-th smallest, k being the languages it needs (all for *every*, more than half for "
    "*most*). The claims tested in this run are then Holm-corrected against each other. "
    f"Corrected p < {ALPHA} in the claim's direction: *supported*; in the other: "
    "*contradicted*; else *inconclusive*. A claim whose precondition fails (the two sides are "
    "one model, the trained models are at chance, the measure fails its control, the "
    "translations failed) is *not testable*, with the reason."
)


def findings_section(findings: Sequence[Finding], own: Mapping[str, Any] | None = None) -> Section:
    rows = [(f.claim, f.study, f.ours, f.models or DASH, _p_cell(f), f.verdict) for f in findings]
    counts = {v: sum(f.verdict == v for f in findings) for v in VERDICTS}
    tested = sum(f.p_corrected is not None for f in findings)
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    blocks: list[Block] = [
        Paragraph(
            f"{tested} of the study's {len(findings)} claims could be tested in this run "
            f"({summary}). The verdicts are about the models named in each row, which are the "
            "study's models only in the paper profile; they are not a replication of the "
            "study's numbers."
        ),
        Paragraph(RULE),
        make_table(
            ("Claim", "Study", "This run", "Models compared", "p (corrected)", "Verdict"),
            rows,
            badge_column=5,
        ),
    ]
    if own:
        blocks += _own_comparison(own)
    return Section("findings", "Findings: the study's claims against this run", blocks)


def _p_cell(finding: Finding) -> str:
    if finding.p_corrected is None:
        return DASH
    return f"{_p(finding.p_corrected)} (raw {_p(finding.p)})"


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _own_comparison(own: Mapping[str, Any]) -> list[Block]:
    """LoRA against full fine-tuning of the same base: a comparison of this run, not a claim."""
    tests = own["tests"]
    rows = [
        (
            language_cell(lang),
            fmt(tests[lang]["a_accuracy"]),
            fmt(tests[lang]["b_accuracy"]),
            f"{fmt_signed(tests[lang]['estimate'])} [{fmt(tests[lang]['ci95_low'], 1)}, "
            f"{fmt(tests[lang]['ci95_high'], 1)}]",
            fmt(own["adjusted"][lang], 3),
        )
        for lang in xnli_order(tests)
    ]
    lower, higher = xnli_order(own["lower"]), xnli_order(own["higher"])
    return [
        Paragraph(
            f"**This run's own comparison (not a study claim): {own['models']}.** Both start "
            "from the same base model, so this measures LoRA against full fine-tuning, not a "
            f"modern model against GPT-2. Paired on the same rows, Holm-corrected over "
            f"{len(tests)} languages at {own['alpha']}: LoRA lower in "
            f"{', '.join(lower) or 'none'}; higher in {', '.join(higher) or 'none'}. The two "
            "trainings differ in rows, epochs and learning rate as well (params.yaml)."
        ),
        make_table(
            ("Language", "LoRA", "Full fine-tuning", "Difference [95% CI]", "p (Holm)"), rows
        ),
    ]
