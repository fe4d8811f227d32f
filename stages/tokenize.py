"""Stage `tokenize`: pretraining text -> tokenizer and token-id arrays (train + held-out)."""

from regpt2.config.params import load_params
from regpt2.core.errors import run_stage
from regpt2.core.io import atomic_path, write_json
from regpt2.core.seeding import seed_everything
from regpt2.gpt2.pretraining import encode_documents, save_tokens
from regpt2.sources.data import load_pretrain_documents, split_documents
from regpt2.sources.models import load_tokenizer
from regpt2.sources.tokenizers import train_demo_bpe


def main() -> None:
    params = load_params()
    settings = params.tokenize
    seed_everything(settings.seed)
    documents = load_pretrain_documents(
        params.sources.pretrain_text,
        sha256=params.sources.pretrain_text_sha256,
        demo_documents=params.demo.pretrain_documents,
        demo_other_language_documents=params.demo.pretrain_other_language_documents,
    )
    train_docs, held_out_docs = split_documents(
        documents, settings.validation_fraction, settings.seed
    )
    tokenizer = load_tokenizer(
        params.sources.tokenizer,
        role="sources.tokenizer",
        demo_builder=lambda: train_demo_bpe(train_docs, params.demo.tokenizer_vocab_size),
    )
    train = encode_documents(tokenizer, train_docs, settings.context_length)
    held_out = encode_documents(tokenizer, held_out_docs, settings.context_length)

    with atomic_path("data/tokenizer") as folder:
        tokenizer.save_pretrained(folder)
    save_tokens("data/tokens/train.npz", train)
    save_tokens("data/tokens/validation.npz", held_out)
    write_json(
        "metrics/tokenize.json",
        {
            "documents": len(documents),
            "train_documents": len(train_docs),
            "validation_documents": len(held_out_docs),
            "vocab_size": len(tokenizer),
            "train_tokens": int(train["lengths"].sum()),
            "validation_tokens": int(held_out["lengths"].sum()),
            "truncated_documents": int((train["lengths"] >= settings.context_length).sum()),
            "mean_padding_fraction": round(
                float(1 - train["lengths"].mean() / settings.context_length), 4
            ),
        },
    )


if __name__ == "__main__":
    run_stage(main)
