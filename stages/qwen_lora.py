"""Stage `qwen_lora`: LoRA fine-tuning of a modern multilingual LM on English NLI (peft), through
the same training loop and evaluator as GPT-2, evaluated on every language beside GPT-2."""

import time
from pathlib import Path

from regpt2.demo_models import demo_qwen_model
from regpt2.errors import run_stage
from regpt2.io import atomic_path, write_json
from regpt2.lora import apply_lora, parameter_counts, save_adapter
from regpt2.models import load_causal_lm
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
from regpt2.results import zeroshot_accuracy
from regpt2.seeding import seed_everything
from regpt2.train import LoopConfig, write_loss_curve


def main() -> None:
    params = load_params()
    settings = params.qwen_lora
    seed_everything(settings.seed)
    base, tokenizer = load_causal_lm(
        params.sources.qwen,
        role="sources.qwen",
        demo_builder=lambda: demo_qwen_model(params, settings.seed),
    )
    prompt = make_prompt(tokenizer, params.nli, model_context(base))
    model = apply_lora(
        base,
        r=settings.r,
        alpha=settings.alpha,
        dropout=settings.dropout,
        target_modules=settings.target_modules,
        bias=settings.bias,
    )
    lang = settings.language
    train_rows, dev_rows = training_rows(params, lang, settings)

    started = time.perf_counter()
    result, counts = finetune(
        model,
        prompt,
        train_rows,
        dev_rows,
        LoopConfig.from_params(settings),
        eval_batch_size=params.nli.eval_batch_size,
        checkpoint_dir=Path("data/checkpoints/qwen_lora"),
        description="qwen_lora",
    )
    seconds = time.perf_counter() - started
    languages = evaluate_languages(
        model,
        prompt,
        params,
        settings.languages,
        settings.test_split,
        settings.test_limit,
        bf16=result.bf16_used,
    )

    with atomic_path("data/models/qwen_lora") as folder:
        save_adapter(model, tokenizer, folder, merge=settings.merge)
    write_loss_curve(Path("metrics/plots/qwen_lora_loss.csv"), result)
    write_json("data/eval/qwen_lora.json", {"languages": languages})
    gpt2 = zeroshot_accuracy()
    write_json(
        "metrics/qwen_lora.json",
        {
            **training_summary(result, counts),
            **parameter_counts(model),
            "train_seconds": round(seconds, 1),
            "train_tokens_per_second": round(result.tokens_seen / seconds, 1),
            "languages": {
                code: {
                    **summary(metrics),
                    "gpt2_zeroshot_strict_accuracy": gpt2.get(code),
                    "change_vs_gpt2": None
                    if code not in gpt2
                    else round(metrics["strict_accuracy"] - gpt2[code], 4),
                }
                for code, metrics in languages.items()
            },
        },
    )


if __name__ == "__main__":
    run_stage(main)
