"""The demo's fine-tuning converges robustly (issue 13): with the settings in params.yaml,
three training seeds agree within their 95% bootstrap intervals and end clearly above chance.
Seeds stand in for another machine: a CPU with another instruction set changes the last bits
of the floats, which, like a new seed, sends the training down another path. A recipe that
sits on a knife edge (some seeds "click", others stay at chance) fails here.

Built in-process, no data/models/pretrain needed: the demo tokenizer (the `tokenize` stage's
BPE over the demo pretraining text) and a base model of the demo `pretrain` architecture.
Pretraining that base as the pipeline does takes minutes, so the base is freshly initialised
instead (one fixed init for all seeds): the harder case. What is tested is the recipe
(params.yaml's finetune_en.training; finetune_per_lang.training and the language's fraction on
a Latin script and on Devanagari), not the base.

The nine trainings (three recipes x three seeds) are independent and single-threaded (tiny
models gain little from a second thread), so they run side by side in one process per
available core: on 2 cores about half the wall time of one after the other.
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
from regpt2.gpt2.config import GPT2Config
from regpt2.gpt2.model import GPT2LMHead
from regpt2.nli.evaluate import evaluate_languages, make_prompt, model_context
from regpt2.nli.finetune import train_languages
from regpt2.sources.data import XnliRows, load_pretrain_documents
from regpt2.sources.models import load_pretrained_lm
from regpt2.sources.tokenizers import train_demo_bpe

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The recipes behind the headline numbers: the English test, and per-language fine-tuning on a
# Latin script and on Devanagari. es dropped 73.33 -> 37.83 on another machine (issue 13); hi
# was the script furthest apart across seeds (65.2 / 39.8 / 64.2) with an English-only BPE.
# Longest first, so that the parallel runs finish close together.
CASES = (("finetune_per_lang", "hi"), ("finetune_per_lang", "es"), ("finetune_en", "en"))
SEEDS = (0, 1, 2)
CHANCE = 100 / 3
# "Clearly above chance": every seed's lower 95% bound at least this far above 33.3%.
MARGIN = 10.0


def _base(params, tokenizer) -> GPT2LMHead:
    settings = params.pretrain
    torch.manual_seed(settings.training.seed)
    return GPT2LMHead(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=params.tokenize.context_length,
            n_embd=settings.n_embd,
            n_layer=settings.n_layer,
            n_head=settings.n_head,
            n_inner=settings.n_inner,
        )
    )


def recipe(params, stage: str, language: str):
    """The stage's training settings and the language's training subset (None: all rows)."""
    if stage == "finetune_en":
        return params.finetune_en.training, None
    section = params.finetune_per_lang
    return section.training, section.languages[language]


def train_and_score(
    stage: str, language: str, seed: int, workdir: str, changes=None, base: str | None = None
) -> dict:
    """One seed of one recipe (params.yaml's, with `changes` to its training block), on one
    thread (in a worker process), from a fresh base or (`base`) a saved model folder: the test
    strict accuracy, its 95% interval and the training time in seconds
    (bench/bench_demo_recipe.py compares recipes with it)."""
    torch.set_num_threads(1)
    os.chdir(workdir)  # training checkpoints go under ./data/checkpoints
    params = load_params(PROJECT_ROOT / "params.yaml")
    training, subset = recipe(params, stage, language)
    rows = XnliRows.of(params.sources.xnli, params.demo)
    if base is None:
        documents = load_pretrain_documents(
            params.sources.pretrain_text,
            demo_documents=params.demo.pretrain_documents,
            demo_other_language_documents=params.demo.pretrain_other_language_documents,
        )
        tokenizer = train_demo_bpe(documents, params.demo.tokenizer_vocab_size)
        model = _base(params, tokenizer)
    else:
        model, tokenizer = load_pretrained_lm(base, role="base")
    seed_everything(seed)
    started = time.perf_counter()
    train_languages(
        rows,
        params.nli,
        model,
        tokenizer,
        [language],
        training.model_copy(update={**(changes or {}), "seed": seed}),
        stage=f"robustness/{stage}/{language}/{seed}",
        subset=subset,
    )
    seconds = time.perf_counter() - started
    prompt = make_prompt(tokenizer, params.nli, model_context(model))
    metrics = evaluate_languages(
        model, prompt, rows, params.nli, [language], "test", None, predictions_dir="predictions"
    )[language]
    low, high = metrics["strict_ci95"]
    return {"accuracy": metrics["strict_accuracy"], "low": low, "high": high, "seconds": seconds}


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@pytest.fixture(scope="module")
def seed_results(tmp_path_factory) -> dict[tuple[str, str], dict[int, tuple]]:
    """(stage, language) -> seed -> (accuracy, low, high), all nine runs side by side."""
    params = load_params(PROJECT_ROOT / "params.yaml")
    assert params.profile == "demo", "the demo settings are tested; run `regpt2 profile demo`"
    jobs = [(stage, language, seed) for stage, language in CASES for seed in SEEDS]
    # Spawned, not forked: a fork of a process whose torch thread pool has run can hang.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(len(jobs), _cores() or 1), mp_context=context) as pool:
        futures = {
            job: pool.submit(train_and_score, *job, str(tmp_path_factory.mktemp("seed")))
            for job in jobs
        }
        results: dict[tuple[str, str], dict[int, tuple]] = {}
        for (stage, language, seed), future in futures.items():
            score = future.result()
            results.setdefault((stage, language), {})[seed] = (
                score["accuracy"],
                score["low"],
                score["high"],
            )
    return results


@pytest.mark.parametrize(("stage", "language"), CASES)
def test_demo_training_agrees_across_seeds(stage, language, seed_results):
    results = seed_results[(stage, language)]
    table = ", ".join(
        f"seed {s}: {a:.2f} [{lo:.2f}, {hi:.2f}]" for s, (a, lo, hi) in results.items()
    )
    for seed, (_, low, _) in results.items():
        assert low > CHANCE + MARGIN, f"seed {seed} is not clearly above chance: {table}"
    # Agreement: every two seeds' 95% intervals overlap. A knife-edge recipe (issue 13: es at
    # 73.3 [69.8, 76.7] on one CPU, 37.8 on another) is far outside that.
    for one, other in itertools.combinations(SEEDS, 2):
        (_, low_one, high_one), (_, low_other, high_other) = results[one], results[other]
        assert low_one <= high_other and low_other <= high_one, (
            f"seeds {one} and {other} disagree beyond their 95% intervals: {table}"
        )
