"""Stage `qwen_lora`: LoRA fine-tuning of a modern multilingual LM on English NLI (peft), through
the same training loop and evaluator as GPT-2. `train` (DVC stage qwen_lora) writes the adapter
folder, which loads on its own in PEFT; `evaluate` (qwen_lora_test) scores it on every language."""

import copy
import time
from pathlib import Path

from regpt2.config.params import load_params
from regpt2.core.errors import run_stage
from regpt2.core.io import atomic_path
from regpt2.core.seeding import seed_everything
from regpt2.nli.evaluate import evaluate_languages, make_prompt, model_context
from regpt2.nli.finetune import record_training, train_languages
from regpt2.nli.metrics import write_evaluation
from regpt2.sources.data import XnliRows
from regpt2.sources.demo_models import load_qwen_base
from regpt2.sources.resolve import parse_source
from regpt2.training.lora import apply_lora, load_adapter_model, parameter_counts, save_adapter
from stages import command

ADAPTER = "data/models/qwen_lora"


def train() -> None:
    params = load_params()
    settings = params.qwen_lora
    seed_everything(settings.training.seed)
    base, tokenizer = load_qwen_base(
        params.sources.qwen,
        demo_rows=params.demo.train_rows,
        demo_vocab_size=params.demo.qwen_vocab_size,
        seed=settings.training.seed,
    )
    # A hub base is named by its id; any other base travels inside the adapter's folder.
    on_hub = parse_source(params.sources.qwen, role="sources.qwen").kind == "hub"
    untouched_base = None if on_hub else copy.deepcopy(base)
    lora = settings.lora
    model = apply_lora(
        base,
        r=lora.r,
        alpha=lora.alpha,
        dropout=lora.dropout,
        target_modules=lora.target_modules,
        bias=lora.bias,
    )
    rows = XnliRows.of(params.sources.xnli, params.demo)
    started = time.perf_counter()
    result, counts = train_languages(
        rows,
        params.nli,
        model,
        tokenizer,
        [settings.language],
        settings.training,
        stage="qwen_lora",
    )
    elapsed = time.perf_counter() - started
    with atomic_path(ADAPTER) as folder:
        save_adapter(
            model, tokenizer, folder, merge=settings.merge, base=untouched_base, final=ADAPTER
        )
    record_training("qwen_lora", result, counts, elapsed, **parameter_counts(model))


def evaluate() -> None:
    params = load_params()
    settings = params.qwen_lora
    model, tokenizer = load_adapter_model(Path(ADAPTER), role="qwen_lora output")
    prompt = make_prompt(tokenizer, params.nli, model_context(model))
    languages = evaluate_languages(
        model,
        prompt,
        XnliRows.of(params.sources.xnli, params.demo),
        params.nli,
        settings.languages,
        settings.test_split,
        settings.test_limit,
        predictions_dir="data/predictions/qwen_lora",
    )
    write_evaluation("metrics/qwen_lora.json", "data/eval/qwen_lora.json", languages)


if __name__ == "__main__":
    run_stage(
        command({"train": train, "evaluate": evaluate}, "python -m stages.qwen_lora train|evaluate")
    )
