"""Stage `pretrain`: the hand-written GPT-2 trained from scratch with the hand-written AdamW."""

import time
from pathlib import Path

import torch

from regpt2.config.params import load_params
from regpt2.core.errors import run_stage
from regpt2.core.io import atomic_path
from regpt2.core.seeding import seed_everything
from regpt2.gpt2.config import GPT2Config
from regpt2.gpt2.model import GPT2LMHead
from regpt2.gpt2.pretraining import evaluate_lm, lm_losses, load_tokens
from regpt2.sources.tokenizers import load_tokenizer_folder, save_model_folder
from regpt2.training.checkpoint import digest
from regpt2.training.loop import record_run, train


def main() -> None:
    params = load_params()
    settings = params.pretrain
    seed_everything(settings.training.seed)
    tokenizer = load_tokenizer_folder("data/tokenizer")
    tokens = load_tokens(Path("data/tokens/train.npz"))
    held_out = load_tokens(Path("data/tokens/validation.npz"))
    ids = torch.as_tensor(tokens["ids"], dtype=torch.long)
    lengths = torch.as_tensor(tokens["lengths"], dtype=torch.long)

    model = GPT2LMHead(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=params.tokenize.context_length,
            n_embd=settings.n_embd,
            n_layer=settings.n_layer,
            n_head=settings.n_head,
            n_inner=settings.n_inner,
        )
    )

    def loss_fn(model, batch):
        losses = lm_losses(model, batch["input_ids"], batch["lengths"], settings.loss_on_padding)
        return losses.optimised, {
            "loss_with_padding": losses.with_padding,
            "loss_real_tokens": losses.real_tokens,
        }

    started = time.perf_counter()
    result = train(
        model,
        lengths=lengths.tolist(),  # real lengths, for the token count; batches stay random
        collate=lambda rows: {"input_ids": ids[rows], "lengths": lengths[rows]},
        loss_fn=loss_fn,
        training=settings.training,
        length_group_batches=1,  # plain random batches: the study's toy pretraining
        checkpoint_dir=Path("data/checkpoints/pretrain"),
        inputs_digest=digest(ids, lengths, settings.loss_on_padding),
        description="pretrain",
    )
    seconds = time.perf_counter() - started
    validation = evaluate_lm(model, held_out, settings.eval_batch_size)

    with atomic_path("data/models/pretrain") as folder:
        save_model_folder(model, tokenizer, folder)
    padded = result.extras["loss_with_padding"]
    real = result.extras["loss_real_tokens"]
    last_epoch = len(padded) // settings.training.epochs
    record_run(
        "pretrain",
        result,
        seconds,
        "metrics/pretrain.json",
        {
            # The study's "Global Avg Train Loss": cumulative mean of the per-step loss over all
            # epochs, padding positions included.
            "study_global_avg_train_loss": round(sum(padded) / len(padded), 4),
            "train_loss_real_tokens": round(sum(real) / len(real), 4),
            "last_epoch_train_loss_real_tokens": round(sum(real[-last_epoch:]) / last_epoch, 4),
            "validation_loss": round(validation["loss_real_tokens"], 4),
            "validation_perplexity": round(validation["perplexity_real_tokens"], 2),
            "validation_loss_with_padding": round(validation["loss_with_padding"], 4),
            "steps": result.steps,
            "parameters": model.num_parameters(),
        },
    )


if __name__ == "__main__":
    run_stage(main)
