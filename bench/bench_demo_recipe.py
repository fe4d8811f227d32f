"""Compare demo fine-tuning recipes: robustness and training time, against params.yaml's.

Each recipe trains the seed-robustness test's cases (tests/test_demo_robustness.py: a freshly
initialised demo base, or with --base a saved model such as the pipeline's pretrained GPT-2;
one thread per run) with seeds 0-2. A recipe passes where every seed's
lower 95% bound clears chance by the test's margin and every two seeds' intervals overlap; its
time is the mean training seconds per run, as a ratio to params.yaml's recipe measured in the
same run (so a busy machine slows both alike).

    python bench/bench_demo_recipe.py finetune_per_lang "batch_size=32 lr=0.002 epochs=5"
    python bench/bench_demo_recipe.py finetune_en "batch_size=16 lr=0.002"

Each candidate is a space-separated list of `key=value` changes to the stage's training block.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_demo_robustness import CHANCE, MARGIN, SEEDS, _cores, train_and_score  # noqa: E402

LANGUAGES = {"finetune_per_lang": ("hi", "es"), "finetune_en": ("en",)}


def parse_changes(text: str) -> dict:
    changes = {}
    for item in text.split():
        key, _, value = item.partition("=")
        if not key or not value:
            raise SystemExit(f"bad change {item!r}: write key=value, e.g. batch_size=32")
        changes[key] = YAML(typ="safe").load(value)
    return changes


def passes(scores: list[dict]) -> bool:
    above = all(score["low"] > CHANCE + MARGIN for score in scores)
    overlap = all(
        one["low"] <= other["high"] and other["low"] <= one["high"]
        for one, other in itertools.combinations(scores, 2)
    )
    return above and overlap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=sorted(LANGUAGES))
    parser.add_argument("candidates", nargs="+", help='e.g. "batch_size=32 lr=0.002"')
    parser.add_argument("--base", help="a saved model folder (data/models/pretrain) to start from")
    parser.add_argument("--languages", help="comma-separated, instead of the test's")
    args = parser.parse_args()
    languages = args.languages.split(",") if args.languages else LANGUAGES[args.stage]
    base = str(Path(args.base).resolve()) if args.base else None
    recipes = {"params.yaml": {}} | {text: parse_changes(text) for text in args.candidates}
    jobs = [(name, language, seed) for name in recipes for language in languages for seed in SEEDS]
    context = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory() as scratch,
        ProcessPoolExecutor(min(len(jobs), _cores() or 1), mp_context=context) as pool,
    ):
        futures = {
            (name, language, seed): pool.submit(
                train_and_score, args.stage, language, seed, scratch, recipes[name], base
            )
            for name, language, seed in jobs
        }
        scores = {job: future.result() for job, future in futures.items()}
    baseline = _mean_seconds(scores, "params.yaml")
    print(f"{args.stage}: test strict % [95% CI] per seed; time = mean training s per run")
    for name in recipes:
        seconds = _mean_seconds(scores, name)
        print(f"\n{name}: {seconds:.1f} s per run, {seconds / baseline:.2f}x params.yaml's")
        for language in languages:
            runs = [scores[(name, language, seed)] for seed in SEEDS]
            cells = ", ".join(
                f"{s['accuracy']:.1f} [{s['low']:.1f}, {s['high']:.1f}]" for s in runs
            )
            print(f"  {language}: {cells}  {'passes' if passes(runs) else 'FAILS'}")


def _mean_seconds(scores: dict, name: str) -> float:
    runs = [score["seconds"] for (recipe, _, _), score in scores.items() if recipe == name]
    return sum(runs) / len(runs)


if __name__ == "__main__":
    main()
