"""Stage `finetune_per_lang`: GPT-2 fine-tuned on one language's own data (a subset of its
training split), scored on that language. One DVC stage pair per language: `train LANG`
(finetune_per_lang@LANG) writes the model, `evaluate LANG` (finetune_per_lang_test@LANG) scores it.

Every run starts from the model `finetune_per_lang.start` names: the pretrained GPT-2
(`sources.gpt2`, the study) or the English fine-tuned model. `start` (DVC stage per_lang_start)
fingerprints that model; the runs depend on the fingerprint, so with the study's start a new
English model retrains nothing."""

import time

from regpt2.config.params import Params, load_params
from regpt2.core.errors import UserError, run_stage
from regpt2.core.io import atomic_path, read_json, write_json
from regpt2.core.seeding import seed_everything
from regpt2.nli.evaluate import evaluate_languages, make_prompt, model_context
from regpt2.nli.finetune import record_training, train_languages
from regpt2.nli.metrics import write_evaluation
from regpt2.sources.data import XnliRows
from regpt2.sources.fingerprint import fingerprint
from regpt2.sources.models import load_pretrained_lm
from regpt2.sources.tokenizers import save_model_folder
from stages import command

ENGLISH_MODEL = "data/models/finetune_en"
START_FINGERPRINT = "data/sources/finetune_per_lang_start.json"


def start_model(params: Params) -> tuple[str, str]:
    """(source, its name in messages) of the model the per-language runs start from."""
    if params.finetune_per_lang.start == "pretrained":
        return params.sources.gpt2, "sources.gpt2"
    return ENGLISH_MODEL, "finetune_en output"


def start() -> None:
    params = load_params()
    source, role = start_model(params)
    if params.finetune_per_lang.start == "pretrained":
        model = read_json("data/sources/gpt2.json")  # what sources@gpt2 fingerprinted
    else:
        model = fingerprint(source, role=role)
    write_json(START_FINGERPRINT, {"start": params.finetune_per_lang.start, "model": model})


def model_folder(lang: str) -> str:
    return f"data/models/finetune_per_lang/{lang}"


def listed(params: Params, lang: str) -> str:
    if lang not in params.finetune_per_lang.languages:
        names = ", ".join(params.finetune_per_lang.languages)
        raise UserError(f"{lang!r} is not in finetune_per_lang.languages ({names})")
    return lang


def train(lang: str) -> None:
    params = load_params()
    lang = listed(params, lang)
    training = params.finetune_per_lang.training
    seed_everything(training.seed)
    source, role = start_model(params)
    model, tokenizer = load_pretrained_lm(source, role=role)
    started = time.perf_counter()
    result, counts = train_languages(
        XnliRows.of(params.sources.xnli, params.demo),
        params.nli,
        model,
        tokenizer,
        [lang],
        training,
        stage=f"finetune_per_lang/{lang}",
        subset=params.finetune_per_lang.languages[lang],
    )
    with atomic_path(model_folder(lang)) as folder:
        save_model_folder(model, tokenizer, folder)
    record_training(f"finetune_per_lang/{lang}", result, counts, time.perf_counter() - started)


def evaluate(lang: str) -> None:
    params = load_params()
    lang = listed(params, lang)
    settings = params.finetune_per_lang
    model, tokenizer = load_pretrained_lm(
        model_folder(lang), role=f"finetune_per_lang@{lang} output"
    )
    prompt = make_prompt(tokenizer, params.nli, model_context(model))
    rows = XnliRows.of(params.sources.xnli, params.demo)
    languages = evaluate_languages(
        model,
        prompt,
        rows,
        params.nli,
        [lang],
        settings.test_split,
        settings.test_limit,
        predictions_dir="data/predictions/finetune_per_lang",
    )
    write_evaluation(
        f"metrics/finetune_per_lang/{lang}.json",
        f"data/eval/finetune_per_lang/{lang}.json",
        languages,
    )


if __name__ == "__main__":
    run_stage(
        command(
            {"start": start, "train": train, "evaluate": evaluate},
            "python -m stages.finetune_per_lang train|evaluate LANG, or start",
        )
    )
