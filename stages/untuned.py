"""Stage `untuned@MODEL`: a pretrained model before any NLI fine-tuning (`sources.gpt2` or
`sources.qwen`), scored on every test set exactly as the fine-tuned models are: the floor under
the zero-shot and LoRA tables. A model that has learned nothing still scores about a third by
always naming one label; a fine-tuned model has to beat this, not just chance."""

from functools import partial

from regpt2.config.params import load_params
from regpt2.core.errors import UserError, run_stage
from regpt2.nli.evaluate import evaluate_languages, make_prompt, model_context
from regpt2.nli.metrics import write_evaluation
from regpt2.sources.data import XnliRows
from regpt2.sources.demo_models import load_qwen_base
from regpt2.sources.models import load_pretrained_lm
from stages import command

MODELS = ("gpt2", "qwen")


def evaluate(name: str) -> None:
    params = load_params()
    settings = params.untuned
    if name not in settings.models:
        raise UserError(f"{name!r} is not in untuned.models ({', '.join(settings.models)})")
    if name == "gpt2":
        model, tokenizer = load_pretrained_lm(params.sources.gpt2)
    else:
        model, tokenizer = load_qwen_base(
            params.sources.qwen,
            demo_rows=params.demo.train_rows,
            demo_vocab_size=params.demo.qwen_vocab_size,
            seed=params.qwen_lora.training.seed,
        )
    prompt = make_prompt(tokenizer, params.nli, model_context(model))
    languages = evaluate_languages(
        model,
        prompt,
        XnliRows.of(params.sources.xnli, params.demo),
        params.nli,
        settings.languages,
        settings.split,
        settings.limit,
        predictions_dir=f"data/predictions/untuned_{name}",
    )
    write_evaluation(f"metrics/untuned/{name}.json", f"data/eval/untuned_{name}.json", languages)


if __name__ == "__main__":
    commands = {name: partial(evaluate, name) for name in MODELS}
    run_stage(command(commands, f"python -m stages.untuned {{{'|'.join(MODELS)}}}"))
