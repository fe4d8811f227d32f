"""Report section "Build": the profile, the sources, and which stages have run."""

from __future__ import annotations

from regpt2.report.document import Paragraph, Section
from regpt2.report.formatting import make_table
from regpt2.report.inputs import Context


def overview_section(ctx: Context) -> Section:
    rows = [(name, f"`{value}`" if value else "(empty)") for name, value in ctx.sources.items()]
    status_rows = []
    for stage, path in STAGE_OUTPUTS:
        ran = ctx.inputs.exists(path)
        status_rows.append((f"`{stage}`", f"`{path}`", "ran" if ran else "not run"))
    return Section(
        "overview",
        "Build",
        [
            Paragraph(
                f"Profile **{ctx.profile}**. Each table puts the study's published number "
                "(from `src/regpt2/analysis/published.py`, transcribed from the study) beside "
                "this run's. "
                "Accuracies are test-set percentages; brackets are 95% bootstrap intervals; "
                "chance is 33.33%."
            ),
            make_table(("Source", "Value"), rows, caption="Sources (params.yaml)"),
            make_table(("Stage", "Metrics file", "Status"), status_rows, caption="Stages"),
        ],
    )


STAGE_OUTPUTS: tuple[tuple[str, str], ...] = (
    ("tokenize", "metrics/tokenize.json"),
    ("pretrain", "metrics/pretrain.json"),
    ("finetune_en", "metrics/finetune_en.json"),
    ("zeroshot", "metrics/zeroshot.json"),
    ("fertility", "metrics/fertility.json"),
    ("finetune_per_lang", "metrics/finetune_per_lang"),
    ("finetune_all", "metrics/finetune_all.json"),
    ("translate", "metrics/translate.json"),
    ("probe", "metrics/probe.json"),
    ("qwen_lora", "metrics/qwen_lora.json"),
)
