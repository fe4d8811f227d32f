"""Stage `finetune_all`: one GPT-2 fine-tuned on English plus the selected languages (shuffled),
evaluated on every language; change against per-language and zero-shot results."""

from pathlib import Path

from regpt2.errors import run_stage
from regpt2.io import write_json
from regpt2.models import load_pretrained_lm
from regpt2.nli import (
    evaluate_languages,
    finetune,
    make_prompt,
    model_context,
    summary,
    training_rows,
    training_summary,
)
from regpt2.params import load_params
from regpt2.results import finetuned_accuracy, zeroshot_accuracy
from regpt2.seeding import seed_everything
from regpt2.train import LoopConfig, write_loss_curve


def main() -> None:
    params = load_params()
    settings = params.finetune_all
    training = settings.training
    seed_everything(training.seed)
    model, tokenizer = load_pretrained_lm(params.sources.gpt2)
    prompt = make_prompt(tokenizer, params.nli, model_context(model))
    # The loop's seeded batch order shuffles the languages together.
    train_rows, dev_rows = [], []
    for lang in settings.languages:
        train, dev = training_rows(params, lang, training, settings)
        train_rows += train
        dev_rows += dev

    result, counts = finetune(
        model,
        prompt,
        train_rows,
        dev_rows,
        LoopConfig.from_params(training),
        eval_batch_size=params.nli.eval_batch_size,
        checkpoint_dir=Path("data/checkpoints/finetune_all"),
        description="finetune_all",
    )
    languages = evaluate_languages(
        model, prompt, params, settings.eval_languages, training.test_split, training.test_limit
    )
    zeroshot, per_language = zeroshot_accuracy(), finetuned_accuracy()

    def change(lang: str, reference: dict[str, float]):
        if lang not in reference:
            return None
        return round(languages[lang]["strict_accuracy"] - reference[lang], 4)

    write_loss_curve(Path("metrics/plots/finetune_all_loss.csv"), result)
    write_json("data/eval/finetune_all.json", {"languages": languages})
    write_json(
        "metrics/finetune_all.json",
        {
            "trained_on": settings.languages,
            **training_summary(result, counts),
            "languages": {
                lang: {
                    **summary(metrics),
                    "change_vs_zeroshot": change(lang, zeroshot),
                    "change_vs_per_language": change(lang, per_language),
                }
                for lang, metrics in languages.items()
            },
        },
    )


if __name__ == "__main__":
    run_stage(main)
