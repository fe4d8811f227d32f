"""`regpt2` command line: small project chores that are not pipeline stages."""

from __future__ import annotations

import argparse

from regpt2.core.errors import run_stage


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="regpt2", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    profile = commands.add_parser("profile", help="write a profile's values into params.yaml")
    profile.add_argument("name", help="profile name: a file profiles/NAME.yaml (demo, paper)")
    commands.add_parser("check", help="validate params.yaml and print the active profile")
    commands.add_parser(
        "experiments", help="print the English fine-tuning runs of `dvc exp show` as Markdown"
    )
    snapshot = commands.add_parser(
        "snapshot", help="keep this finished run's report, metrics, params and dvc.lock in results/"
    )
    snapshot.add_argument("name", help="folder name under results/, e.g. offline")
    snapshot.add_argument("--force", action="store_true", help="replace results/NAME if it exists")
    args = parser.parse_args(argv)

    def run() -> None:
        if args.command == "profile":
            from regpt2.config.profiles import apply_profile

            apply_profile(args.name)
            print(f"params.yaml now holds the {args.name!r} profile; run `dvc repro`")
        elif args.command == "experiments":
            from regpt2.report import experiments_from_dvc, experiments_markdown

            print(experiments_markdown(experiments_from_dvc()), end="")
        elif args.command == "snapshot":
            from regpt2.analysis.snapshot import take_snapshot

            print(f"wrote {take_snapshot(args.name, force=args.force)}")
        else:
            from regpt2.config.params import load_params

            print(f"params.yaml is valid; profile {load_params().profile!r}")

    run_stage(run)


if __name__ == "__main__":
    main()
