"""Stage `fingerprint_code`: data/code/SCRIPT.sha256 for every stage script, the sha256 of
each project file it runs (regpt2.core.code_closure says why). Every other stage depends on its
script's file, so an edit reruns the stages that run the edited file, and no others."""

from pathlib import Path

from regpt2.core.code_closure import code_fingerprint, stage_scripts
from regpt2.core.errors import run_stage
from regpt2.core.io import atomic_path

OUTPUT = Path("data/code")


def write_fingerprints() -> None:
    root = Path.cwd()
    with atomic_path(OUTPUT) as folder:
        folder.mkdir(parents=True)
        for script in stage_scripts(root):
            (folder / f"{script.stem}.sha256").write_text(
                code_fingerprint(root, script), encoding="utf-8"
            )


if __name__ == "__main__":
    run_stage(write_fingerprints)
