"""bench/bench_evaluate.py: the batched scorer gives the study's one-token generation, exactly."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch

from regpt2.nli.prompts import NliPrompt
from regpt2.nli.scorer import NON_LABEL, Predictions, predict
from regpt2.sources.data import NliExample

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_evaluate.py"
TEMPLATE = "Premise: {premise}\nHypothesis: {hypothesis}\nLabel:"
DIGITS = {"entailment": "0", "contradiction": "1", "neutral": "2"}


def _bench():
    if "bench_evaluate" not in sys.modules:  # dataclasses need their module registered
        if str(BENCH.parent) not in sys.path:  # as when it runs as a script: bench_env beside it
            sys.path.insert(0, str(BENCH.parent))
        spec = importlib.util.spec_from_file_location("bench_evaluate", BENCH)
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_evaluate"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_evaluate"]


def _examples(prompt: NliPrompt, count: int):
    from regpt2.demo.corpus import demo_nli_rows

    rows = demo_nli_rows("en", "dev", count)
    return prompt.encode(
        [NliExample(row["premise"], row["hypothesis"], row["label"], "en") for row in rows]
    )


def test_batched_predict_equals_study_generation(demo_tokenizer, tiny_gpt2):
    bench = _bench()
    model = tiny_gpt2(seed=1, n_embd=32, n_layer=2)
    # Make the label digits likely outputs, so strict labels (not only tokens) are compared.
    prompt = NliPrompt(demo_tokenizer, TEMPLATE, DIGITS, 128)
    with torch.no_grad():
        model.transformer.wte.weight[prompt.label_token_ids] *= 20
    examples = _examples(prompt, 8)
    assert len({len(example.input_ids) for example in examples}) > 1  # padding is exercised

    hf_model = bench.study_hf_model(model)
    study = bench.study_predictions(hf_model, prompt, examples)
    ours = predict(model, prompt, examples, batch_size=3)

    assert bench.compare(study, ours) == {
        "token_mismatches": 0,
        "strict_mismatches": 0,
        "correct_mismatches": 0,
    }
    assert (study.strict != NON_LABEL).any()
    assert study.tokens.tolist() == ours.strict_tokens.tolist()

    # The bench's interleaved run (batch by batch) gives the same predictions.
    study2, ours2, bare, _ = bench.interleaved(model, hf_model, prompt, examples, 3, True)
    assert bench.compare(study2, ours2) == bench.compare(study, ours)
    assert study2.tokens.tolist() == bare.tolist() == study.tokens.tolist()
    assert study2.texts == study.texts and study2.correct.tolist() == study.correct.tolist()
    assert ours2.strict.tolist() == ours.strict.tolist()
    assert ours2.restricted.tolist() == ours.restricted.tolist()


def test_compare_counts_disagreements():
    bench = _bench()
    study = bench.StudyPredictions(
        tokens=np.array([5, 6, 7]),
        texts=["0", "x", "2"],
        strict=np.array([0, NON_LABEL, 1]),
        correct=np.array([True, False, False]),
    )
    ours = Predictions(
        gold=np.array([0, 1, 2]),
        strict=np.array([0, NON_LABEL, 2]),
        restricted=np.array([0, 1, 2]),
        strict_tokens=np.array([5, 6, 8]),
        label_logits=np.zeros((3, 3), dtype=np.float32),
    )
    assert bench.compare(study, ours) == {
        "token_mismatches": 1,
        "strict_mismatches": 1,
        "correct_mismatches": 1,
    }
