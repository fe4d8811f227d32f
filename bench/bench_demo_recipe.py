"""Compare demo fine-tuning recipes: robustness and training time, against params.yaml's.

Each recipe trains the seed-robustness test's cases (tests/test_demo_robustness.py) with seeds
0-2, one thread per run, from a saved model: by default the pipeline's pretrained GPT-2
(data/models/pretrain, so run `dvc repro pretrain` first), as the pipeline's runs start. A
recipe passes where every seed's lower 95% bound clears chance by the test's margin and every
two seeds' intervals overlap, for each language scored (finetune_all: each language it trains
on); its time is the mean training seconds per run, as a ratio to params.yaml's recipe measured
in the same run (so a busy machine slows both alike).

    python bench/bench_demo_recipe.py finetune_per_lang "epochs=3" --languages es,el,hi
    python bench/bench_demo_recipe.py finetune_all "epochs=2"
    python bench/bench_demo_recipe.py finetune_en "batch_size=16 lr=0.002"

Each candidate is a space-separated list of `key=value` changes to the stage's training block.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_demo_robustness import SEEDS, _cores, seeds_agree, train_and_score  # noqa: E402

LANGUAGES = {"finetune_per_lang": ("hi", "es"), "finetune_en": ("en",), "finetune_all": ("all",)}


def parse_changes(text: str) -> dict:
    changes = {}
    for item in text.split():
        key, _, value = item.partition("=")
        if not key or not value:
            raise SystemExit(f"bad change {item!r}: write key=value, e.g. batch_size=32")
        changes[key] = YAML(typ="safe").load(value)
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=sorted(LANGUAGES))
    parser.add_argument("candidates", nargs="+", help='e.g. "batch_size=32 lr=0.002"')
    parser.add_argument(
        "--base", default="data/models/pretrain", help="the model folder every run starts from"
    )
    parser.add_argument(
        "--languages", help="comma-separated, instead of the test's (finetune_per_lang)"
    )
    args = parser.parse_args()
    languages = args.languages.split(",") if args.languages else LANGUAGES[args.stage]
    base = Path(args.base).resolve()
    if not (base / "config.json").is_file():
        raise SystemExit(f"no model folder at {base}: run `dvc repro pretrain`, or pass --base")
    recipes = {"params.yaml": {}} | {text: parse_changes(text) for text in args.candidates}
    jobs = [(name, language, seed) for name in recipes for language in languages for seed in SEEDS]
    context = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory() as scratch,
        ProcessPoolExecutor(min(len(jobs), _cores() or 1), mp_context=context) as pool,
    ):
        futures = {
            (name, language, seed): pool.submit(
                train_and_score,
                args.stage,
                language,
                seed,
                tempfile.mkdtemp(dir=scratch),  # each run its checkpoints and predictions
                str(base),
                recipes[name],
            )
            for name, language, seed in jobs
        }
        scores = {job: future.result() for job, future in futures.items()}
    baseline = _mean_seconds(scores, "params.yaml")
    print(f"{args.stage}: test strict % [95% CI] per seed; time = mean training s per run")
    for name in recipes:
        seconds = _mean_seconds(scores, name)
        print(f"\n{name}: {seconds:.1f} s per run, {seconds / baseline:.2f}x params.yaml's")
        scored = sorted(
            {lang for (n, _, _), score in scores.items() if n == name for lang in score["scores"]}
        )
        for language in scored:
            runs = {
                seed: score["scores"][language]
                for (recipe, _, seed), score in scores.items()
                if recipe == name and language in score["scores"]
            }
            cells = ", ".join(f"{a:.1f} [{lo:.1f}, {hi:.1f}]" for a, lo, hi in runs.values())
            print(f"  {language}: {cells}  {'FAILS' if seeds_agree(runs) else 'passes'}")


def _mean_seconds(scores: dict, name: str) -> float:
    runs = [score["seconds"] for (recipe, _, _), score in scores.items() if recipe == name]
    return sum(runs) / len(runs)


if __name__ == "__main__":
    main()
