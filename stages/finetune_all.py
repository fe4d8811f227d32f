"""Stage `finetune_all`: one GPT-2 fine-tuned on English plus the selected languages (shuffled
together), scored on every language. `train` (DVC stage finetune_all) writes the model,
`evaluate` (finetune_all_test) scores it; comparing it with zero-shot and per-language runs is
`analyze`'s."""

import time

from regpt2.config.params import load_params
from regpt2.core.errors import run_stage
from regpt2.core.io import atomic_path
from regpt2.core.seeding import seed_everything
from regpt2.nli.evaluate import evaluate_languages, make_prompt, model_context
from regpt2.nli.finetune import record_training, train_languages
from regpt2.nli.metrics import write_evaluation
from regpt2.sources.data import XnliRows
from regpt2.sources.models import load_pretrained_lm
from regpt2.sources.tokenizers import save_model_folder
from stages import command

MODEL = "data/models/finetune_all"


def train() -> None:
    params = load_params()
    settings = params.finetune_all
    training = settings.training
    seed_everything(training.seed)
    model, tokenizer = load_pretrained_lm(params.sources.gpt2)
    rows = XnliRows.of(params.sources.xnli, params.demo)
    started = time.perf_counter()
    result, counts = train_languages(
        rows,
        params.nli,
        model,
        tokenizer,
        settings.languages,
        training,
        stage="finetune_all",
        subset=settings,
    )
    with atomic_path(MODEL) as folder:
        save_model_folder(model, tokenizer, folder)
    record_training("finetune_all", result, counts, time.perf_counter() - started)


def evaluate() -> None:
    params = load_params()
    settings = params.finetune_all
    model, tokenizer = load_pretrained_lm(MODEL, role="finetune_all output")
    prompt = make_prompt(tokenizer, params.nli, model_context(model))
    rows = XnliRows.of(params.sources.xnli, params.demo)
    languages = evaluate_languages(
        model,
        prompt,
        rows,
        params.nli,
        settings.eval_languages,
        settings.test_split,
        settings.test_limit,
        predictions_dir="data/predictions/finetune_all",
    )
    write_evaluation(
        "metrics/finetune_all.json",
        "data/eval/finetune_all.json",
        languages,
        trained_on=settings.languages,
    )


if __name__ == "__main__":
    run_stage(
        command(
            {"train": train, "evaluate": evaluate}, "python -m stages.finetune_all train|evaluate"
        )
    )
