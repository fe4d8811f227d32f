"""Report section "Build": the profile, the sources, the settings that differ from the
study's, and which stages have run."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from regpt2.config.profiles import NOT_SET
from regpt2.report.document import Paragraph, Section, Table
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
            *_settings_table(ctx.settings_vs_study, ctx.profile),
            make_table(("Stage", "Metrics file", "Status"), status_rows, caption="Stages"),
        ],
    )


def _settings_table(settings: Iterable[tuple[str, Any, Any]], profile: str) -> list[Table]:
    """Where this run's settings differ from the study's: one row per setting (a per-language
    setting once for every language that shares its values); none when nothing differs."""
    rows: dict[tuple[str, str, str], list[str]] = {}
    for key, this_run, study in settings:
        if key.startswith("sources."):
            continue  # the sources table shows them, and the banner says what stands in
        language = re.fullmatch(r"(.+\.languages)\.(\w+)\.(.+)", key)
        if language:
            prefix, lang, rest = language.groups()
            key = f"{prefix}.*.{rest}"
        cells = (key, _setting_value(key, this_run), _setting_value(key, study))
        rows.setdefault(cells, []).extend([lang] if language else [])
    if not rows:
        return []
    table_rows = [
        (f"`{key}`" + (f" ({', '.join(langs)})" if langs else ""), this_run, study)
        for (key, this_run, study), langs in rows.items()
    ]
    return [
        make_table(
            ("Setting", "This run", "Study"),
            table_rows,
            caption="Settings that differ from the study's (the `paper` profile)",
            note=(
                f"Why each differs: the comments in `profiles/{profile}.yaml` (the values "
                "`regpt2 profile` wrote) and in `params.yaml`."
            ),
        )
    ]


def _setting_value(key: str, value: Any) -> str:
    if value is NOT_SET:
        return "(not set)"
    if value is None:
        return "all" if key.endswith("limit") else "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value)


STAGE_OUTPUTS: tuple[tuple[str, str], ...] = (
    ("tokenize", "metrics/tokenize.json"),
    ("pretrain", "metrics/pretrain.json"),
    ("finetune_en_test", "metrics/finetune_en.json"),
    ("zeroshot", "metrics/zeroshot.json"),
    ("fertility", "metrics/fertility.json"),
    ("finetune_per_lang_test", "metrics/finetune_per_lang"),
    ("finetune_all_test", "metrics/finetune_all.json"),
    ("translate", "metrics/translate.json"),
    ("probe", "metrics/probe.json"),
    ("qwen_lora_test", "metrics/qwen_lora.json"),
)
