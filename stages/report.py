"""Stage `report`: the whole study in one page, report/index.html (self-contained, offline) and
its Markdown twin report/index.md, every table and figure beside the study's own numbers.

It reads only the pipeline's tracked outputs, params.yaml and the study's settings
(profiles/paper.yaml, to say where this run's differ); the table of `dvc exp` variants is a
separate command (`regpt2 experiments`), since the experiment store is not an input DVC tracks."""

from pathlib import Path

from regpt2.config.params import load_params
from regpt2.config.profiles import profile_mismatches, read_profile
from regpt2.core.errors import run_stage
from regpt2.report import build_report

STUDY_PROFILE = "paper"  # the study's own settings


def main() -> None:
    params = load_params()
    paths = build_report(
        Path.cwd(),
        Path("report"),
        profile=params.profile,
        sources=params.sources.model_dump(),
        settings_vs_study=profile_mismatches(params.model_dump(), read_profile(STUDY_PROFILE)),
    )
    print(f"report: {paths.html} and {paths.markdown}")


if __name__ == "__main__":
    run_stage(main)
