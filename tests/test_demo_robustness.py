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
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from regpt2.config.params import load_params
from regpt2.core.seeding import seed_everything
from regpt2.gpt2.config import GPT2Config
from regpt2.gpt2.model import GPT2LMHead
from regpt2.nli.finetune import evaluate_languages, make_prompt, model_context, train_languages
from regpt2.sources.data import XnliRows, load_pretrain_documents
from regpt2.sources.tokenizers import train_demo_bpe

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("one_thread")]

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The recipes behind the headline numbers: the English test, and per-language fine-tuning on a
# Latin script and on Devanagari. es dropped 73.33 -> 37.83 on another machine (issue 13); hi
# was the script furthest apart across seeds (65.2 / 39.8 / 64.2) with an English-only BPE.
CASES = (("finetune_en", "en"), ("finetune_per_lang", "es"), ("finetune_per_lang", "hi"))
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


def _recipe(params, stage: str, language: str):
    """The stage's training settings and the language's training subset (None: all rows)."""
    if stage == "finetune_en":
        return params.finetune_en.training, None
    section = params.finetune_per_lang
    return section.training, section.languages[language]


@pytest.mark.parametrize(("stage", "language"), CASES)
def test_demo_training_agrees_across_seeds(stage, language, tmp_path, monkeypatch):
    params = load_params(PROJECT_ROOT / "params.yaml")
    assert params.profile == "demo", "the demo settings are tested; run `regpt2 profile demo`"
    recipe, subset = _recipe(params, stage, language)
    documents = load_pretrain_documents(
        params.sources.pretrain_text,
        demo_documents=params.demo.pretrain_documents,
        demo_other_language_documents=params.demo.pretrain_other_language_documents,
    )
    tokenizer = train_demo_bpe(documents, params.demo.tokenizer_vocab_size)
    monkeypatch.chdir(tmp_path)  # training checkpoints go under ./data/checkpoints

    rows = XnliRows.of(params.sources.xnli, params.demo)
    results = {}
    for seed in SEEDS:
        training = recipe.model_copy(update={"seed": seed})
        model = _base(params, tokenizer)
        seed_everything(seed)
        train_languages(
            rows,
            params.nli,
            model,
            tokenizer,
            [language],
            training,
            stage=f"robustness/{stage}/{language}/{seed}",
            subset=subset,
        )
        prompt = make_prompt(tokenizer, params.nli, model_context(model))
        metrics = evaluate_languages(model, prompt, rows, params.nli, [language], "test", None)
        metrics = metrics[language]
        results[seed] = (metrics["strict_accuracy"], *metrics["strict_ci95"])

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
