"""Report section "Findings": the study's claims against this run, with their verdicts."""

from __future__ import annotations

from collections.abc import Sequence

from regpt2.analysis.verdicts import ALPHA, VERDICTS
from regpt2.report.document import Finding, Paragraph, Section
from regpt2.report.formatting import make_table


def findings_section(findings: Sequence[Finding]) -> Section:
    rows = [(f.claim, f.study, f.ours, f.verdict) for f in findings]
    counts = {v: sum(f.verdict == v for f in findings) for v in VERDICTS}
    summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    return Section(
        "findings",
        "Findings: the study's claims against this run",
        [
            Paragraph(
                f"Computed from the numbers below ({summary}). Correlations are across languages. "
                f"One rule decides significance: p < {ALPHA} or a 95% CI excluding zero, and then "
                "the sign makes a claim *supported* or *contradicted*; else *inconclusive*. A "
                "change helps a language only when its 95% CI lies above the baseline."
            ),
            make_table(("Claim", "Study", "This run", "Verdict"), rows, badge_column=3),
        ],
    )
