"""Stage `finetune_en`: fine-tune the pretrained GPT-2 on English NLI (label-token loss)."""

from pathlib import Path

from regpt2.errors import run_stage
from regpt2.io import atomic_path, write_json
from regpt2.models import load_pretrained_lm
from regpt2.nli import finetune_language, summary, training_summary
from regpt2.params import load_params
from regpt2.seeding import seed_everything
from regpt2.train import write_loss_curve


def main() -> None:
    params = load_params()
    settings = params.finetune_en
    seed_everything(settings.seed)
    model, tokenizer = load_pretrained_lm(params.sources.gpt2)
    lang = settings.language
    result, counts, evaluation = finetune_language(
        params, model, tokenizer, lang, settings, stage="finetune_en"
    )

    with atomic_path("data/models/finetune_en") as folder:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    write_loss_curve(Path("metrics/plots/finetune_en_loss.csv"), result)
    write_json("data/eval/finetune_en.json", {"language": lang, **evaluation})
    write_json(
        "metrics/finetune_en.json",
        {
            "language": lang,
            **training_summary(result, counts),
            "dev": summary(evaluation["dev"]),
            "test": summary(evaluation["test"]),
        },
    )


if __name__ == "__main__":
    run_stage(main)
