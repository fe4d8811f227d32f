"""Stage `report`: the whole study in one page, report/index.html (self-contained, offline) and
its Markdown twin report/index.md, every table and figure beside the study's own numbers."""

from pathlib import Path

from regpt2.errors import run_stage
from regpt2.params import load_params
from regpt2.report import build_report, experiments_from_dvc


def main() -> None:
    params = load_params()
    # The English fine-tuning variants live in `dvc exp`; without DVC only the workspace shows.
    experiments = experiments_from_dvc(Path.cwd())
    paths = build_report(
        Path.cwd(),
        Path("report"),
        profile=params.profile,
        sources=params.sources.model_dump(),
        experiments=experiments,
    )
    print(f"report: {paths.html} and {paths.markdown}")


if __name__ == "__main__":
    run_stage(main)
