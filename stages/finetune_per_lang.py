"""Stage `finetune_per_lang LANG`: the pretrained GPT-2 fine-tuned on one language's own data
(a subset of its training split), evaluated on that language; change against zero-shot."""

import sys
from pathlib import Path

from regpt2.errors import UserError, run_stage
from regpt2.io import write_json
from regpt2.models import load_pretrained_lm
from regpt2.nli import finetune_language, summary, training_summary
from regpt2.params import load_params
from regpt2.results import zeroshot_accuracy
from regpt2.seeding import seed_everything
from regpt2.train import write_loss_curve


def main() -> None:
    params = load_params()
    if len(sys.argv) != 2:
        raise UserError("usage: python stages/finetune_per_lang.py LANG")
    lang = sys.argv[1]
    if lang not in params.finetune_per_lang.languages:
        listed = ", ".join(params.finetune_per_lang.languages)
        raise UserError(f"{lang!r} is not in finetune_per_lang.languages ({listed})")
    subset = params.finetune_per_lang.languages[lang]
    training = params.finetune_per_lang.training
    seed_everything(training.seed)
    model, tokenizer = load_pretrained_lm(params.sources.gpt2)
    result, counts, evaluation = finetune_language(
        params, model, tokenizer, lang, training, stage=f"finetune_per_lang/{lang}", subset=subset
    )
    zeroshot = zeroshot_accuracy().get(lang)
    test = summary(evaluation["test"])
    write_loss_curve(Path(f"metrics/plots/finetune_per_lang/{lang}_loss.csv"), result)
    write_json(f"data/eval/finetune_per_lang/{lang}.json", {"language": lang, **evaluation})
    write_json(
        f"metrics/finetune_per_lang/{lang}.json",
        {
            "language": lang,
            "fraction": subset.fraction,
            "mode": subset.mode,
            **training_summary(result, counts),
            "dev": summary(evaluation["dev"]),
            "test": test,
            "zeroshot_strict_accuracy": zeroshot,
            "change_vs_zeroshot": None
            if zeroshot is None
            else round(test["strict_accuracy"] - zeroshot, 4),
        },
    )


if __name__ == "__main__":
    run_stage(main)
