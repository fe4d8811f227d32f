"""The demo's fine-tuning converges robustly (issues 13, 34): with the settings in params.yaml,
three training seeds agree within their 95% bootstrap intervals and end clearly above chance.
Seeds stand in for another machine: a CPU with another instruction set changes the last bits
of the floats, which, like a new seed, sends the training down another path. A recipe that
sits on a knife edge (some seeds "click", others stay at chance) fails here.

The runs start where the pipeline's do: from the demo `pretrain` stage's GPT-2, taken from the
session's demo `dvc repro` (conftest's `demo_project`). A freshly initialised base once stood in
for it and hid a knife edge the pretrained one has (issue 34: es at 58% with one thread and 89%
with two). What is tested is the recipe: params.yaml's finetune_en.training,
finetune_per_lang.training with the language's fraction on a Latin script and on Devanagari,
and finetune_all (each of its languages scored).

Seed 0, the one params.yaml sets, is the pipeline's own run: its scores are read from that
`dvc repro`'s metrics, so the test also checks that the result users see is one of the
agreeing seeds. Seeds 1 and 2 are trained here, independent and single-threaded (tiny models
gain little from a second thread), side by side in one process per available core: on 2 cores
about half the wall time of one after the other.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import torch

from regpt2.config.params import load_params
from regpt2.core.seeding import seed_everything
from regpt2.nli.evaluate import evaluate_languages, make_prompt, model_context
from regpt2.nli.finetune import train_languages
from regpt2.nli.metrics import read_evaluation
from regpt2.sources.data import XnliRows
from regpt2.sources.models import load_pretrained_lm

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The recipes behind the headline numbers: all languages together, per-language fine-tuning on
# Devanagari (the script furthest apart across seeds in issue 13) and on a Latin script (es
# dropped 73.3 -> 37.8 on another machine in issue 13, and had two plateaus in issue 34), and
# the English test. Longest first, so that the parallel runs finish close together.
CASES = (
    ("finetune_all", "all"),
    ("finetune_per_lang", "hi"),
    ("finetune_per_lang", "es"),
    ("finetune_en", "en"),
)
SEEDS = (0, 1, 2)
CHANCE = 100 / 3
# "Clearly above chance": every seed's lower 95% bound at least this far above 33.3%.
MARGIN = 10.0


def recipe(params, stage: str, language: str):
    """The stage's training settings, the languages it trains on (and scores) and their
    training subset (None: all rows)."""
    if stage == "finetune_en":
        return params.finetune_en.training, [language], None
    if stage == "finetune_all":
        section = params.finetune_all
        return section.training, list(section.languages), section
    section = params.finetune_per_lang
    return section.training, [language], section.languages[language]


def train_and_score(
    stage: str, language: str, seed: int, workdir: str, base: str, changes=None
) -> dict:
    """One seed of one recipe (params.yaml's, with `changes` to its training block), on one
    thread (in a worker process), from the model folder `base`: the training seconds and, per
    language trained on, the test strict accuracy and its 95% interval
    (bench/bench_demo_recipe.py compares recipes with it)."""
    torch.set_num_threads(1)
    os.chdir(workdir)  # training checkpoints go under ./data/checkpoints
    params = load_params(PROJECT_ROOT / "params.yaml")
    training, languages, subset = recipe(params, stage, language)
    rows = XnliRows.of(params.sources.xnli, params.demo)
    model, tokenizer = load_pretrained_lm(base, role="base")
    seed_everything(seed)
    started = time.perf_counter()
    train_languages(
        rows,
        params.nli,
        model,
        tokenizer,
        languages,
        training.model_copy(update={**(changes or {}), "seed": seed}),
        stage=f"robustness/{stage}/{language}/{seed}",
        subset=subset,
    )
    seconds = time.perf_counter() - started
    prompt = make_prompt(tokenizer, params.nli, model_context(model))
    metrics = evaluate_languages(
        model, prompt, rows, params.nli, languages, "test", None, predictions_dir="predictions"
    )
    scores = {
        lang: (summary["strict_accuracy"], *summary["strict_ci95"])
        for lang, summary in metrics.items()
    }
    return {"seconds": seconds, "scores": scores}


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def seed_table(results: dict[int, tuple]) -> str:
    return ", ".join(
        f"seed {s}: {a:.2f} [{lo:.2f}, {hi:.2f}]" for s, (a, lo, hi) in results.items()
    )


def seeds_agree(results: dict[int, tuple]) -> str | None:
    """None when every seed's lower bound is clearly above chance and every two seeds' 95%
    intervals overlap; else what fails."""
    for seed, (_, low, _) in results.items():
        if low <= CHANCE + MARGIN:
            return f"seed {seed} is not clearly above chance"
    # A knife-edge recipe (issue 13: es at 73.3 [69.8, 76.7] on one CPU, 37.8 on another) is
    # far outside overlapping intervals.
    for one, other in itertools.combinations(sorted(results), 2):
        (_, low_one, high_one), (_, low_other, high_other) = results[one], results[other]
        if low_one > high_other or low_other > high_one:
            return f"seeds {one} and {other} disagree beyond their 95% intervals"
    return None


def pipeline_metrics(project: Path, stage: str, language: str) -> Path:
    """The metrics file in which the demo `dvc repro` scored the case's model."""
    if stage == "finetune_per_lang":
        return project / "metrics" / "finetune_per_lang" / f"{language}.json"
    return project / "metrics" / f"{stage}.json"


@pytest.fixture(scope="module")
def seed_results(demo_project, tmp_path_factory) -> dict[tuple[str, str], dict[int, tuple]]:
    """(stage, language scored) -> seed -> (accuracy, low, high). The seed params.yaml sets is
    the pipeline's own run, read from the demo `dvc repro`'s metrics (two threads); the other
    seeds are trained here, side by side."""
    params = load_params(PROJECT_ROOT / "params.yaml")
    assert params.profile == "demo", "the demo settings are tested; run `regpt2 profile demo`"
    base = str(demo_project / "data" / "models" / "pretrain")
    results: dict[tuple[str, str], dict[int, tuple]] = {}
    jobs = []
    for stage, language in CASES:
        training, languages, _ = recipe(params, stage, language)
        assert training.seed in SEEDS, f"{stage}: the pipeline's seed is one of {SEEDS}"
        scored = read_evaluation(pipeline_metrics(demo_project, stage, language))
        for lang in languages:
            summary = scored[lang]
            results.setdefault((stage, lang), {})[training.seed] = (
                summary["strict_accuracy"],
                summary["strict_ci95_low"],
                summary["strict_ci95_high"],
            )
        jobs += [(stage, language, seed) for seed in SEEDS if seed != training.seed]
    # Spawned, not forked: a fork of a process whose torch thread pool has run can hang.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(len(jobs), _cores() or 1), mp_context=context) as pool:
        futures = {
            job: pool.submit(train_and_score, *job, str(tmp_path_factory.mktemp("seed")), base)
            for job in jobs
        }
        for (stage, _, seed), future in futures.items():
            for lang, score in future.result()["scores"].items():
                results[(stage, lang)][seed] = score
    return results


@pytest.mark.parametrize(("stage", "language"), CASES)
def test_demo_training_agrees_across_seeds(stage, language, seed_results):
    """Every language the case scores (finetune_all: each of its training languages)."""
    failures = [
        f"{lang}: {failure}: {seed_table(results)}"
        for (case, lang), results in seed_results.items()
        if case == stage and (failure := seeds_agree(results))
    ]
    assert any(case == stage for case, _ in seed_results)
    assert not failures, f"{stage}:\n" + "\n".join(failures)
