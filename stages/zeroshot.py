"""Stage `zeroshot`: the English fine-tuned model on every language's test set."""

from regpt2.config.params import load_params
from regpt2.core.errors import run_stage
from regpt2.core.io import write_text
from regpt2.nli.evaluate import evaluate_languages, make_prompt, model_context
from regpt2.nli.metrics import write_evaluation
from regpt2.sources.data import XnliRows
from regpt2.sources.models import load_pretrained_lm


def main() -> None:
    params = load_params()
    settings = params.zeroshot
    model, tokenizer = load_pretrained_lm("data/models/finetune_en", role="finetune_en output")
    prompt = make_prompt(tokenizer, params.nli, model_context(model))
    rows = XnliRows.of(params.sources.xnli, params.demo)
    results = evaluate_languages(
        model,
        prompt,
        rows,
        params.nli,
        settings.languages,
        settings.split,
        settings.limit,
        predictions_dir="data/predictions/zeroshot",
    )
    write_evaluation(
        "metrics/zeroshot.json", "data/eval/zeroshot.json", results, split=settings.split
    )
    rows = ["language,strict_accuracy,restricted_accuracy"]
    rows += [
        f"{lang},{m['strict_accuracy']:.4f},{m['restricted_accuracy']:.4f}"
        for lang, m in results.items()
    ]
    write_text("data/plots/zeroshot_accuracy.csv", "\n".join(rows) + "\n")


if __name__ == "__main__":
    run_stage(main)
