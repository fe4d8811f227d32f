"""Stage `fertility`: tokens per word (and per character) for every language and tokenizer: the
GPT-2 tokenizer (the study's), the second tokenizer (`sources.qwen_tokenizer`) and the tokenizer
of the model the NLI stages fine-tune (`nli_model`, from `sources.gpt2`: GPT-2's own in the
paper profile, a stand-in's elsewhere). The study's tiers, which also need zero-shot accuracy,
are `analyze`'s."""

from regpt2.config.params import load_params
from regpt2.core.errors import run_stage
from regpt2.core.io import write_json, write_text
from regpt2.sources.data import XnliRows, texts_of
from regpt2.sources.demo_models import demo_qwen_tokenizer
from regpt2.sources.models import load_tokenizer
from regpt2.sources.tokenizers import load_tokenizer_folder
from regpt2.studies.fertility import fertility_table


def main() -> None:
    params = load_params()
    settings = params.fertility
    tokenizers = {
        "gpt2": load_tokenizer_folder("data/tokenizer"),
        "qwen2.5": load_tokenizer(
            params.sources.qwen_tokenizer,
            role="sources.qwen_tokenizer",
            demo_builder=lambda: demo_qwen_tokenizer(
                params.demo.train_rows, params.demo.qwen_vocab_size
            ),
        ),
        "nli_model": load_tokenizer(params.sources.gpt2, role="sources.gpt2"),
    }
    rows = XnliRows.of(params.sources.xnli, params.demo)
    texts = {
        lang: texts_of(rows.load(lang, settings.split, settings.limit))
        for lang in settings.languages
    }
    table = fertility_table(texts, tokenizers)

    write_json("data/fertility/table.json", table)
    write_json(
        "metrics/fertility.json",
        {
            name: {
                row["lang"]: {
                    "tokens_per_word": _round(row["tokens_per_word"]),
                    "tokens_per_segmented_word": _round(row["tokens_per_segmented_word"]),
                    "tokens_per_char": _round(row["tokens_per_char"]),
                    "tokens_vs_en": _round(row["tokens_vs_en"]),
                }
                for row in table
                if row["tokenizer"] == name
            }
            for name in tokenizers
        },
    )
    # One row per language, one column per tokenizer: `dvc plots` draws them side by side.
    per_word = {(row["lang"], row["tokenizer"]): row["tokens_per_word"] for row in table}
    languages = list(dict.fromkeys(row["lang"] for row in table))
    lines = [",".join(["lang", *tokenizers])] + [
        ",".join([lang, *(str(_round(per_word[lang, name])) for name in tokenizers)])
        for lang in languages
    ]
    write_text("data/plots/fertility.csv", "\n".join(lines) + "\n")


def _round(value):
    return round(value, 4) if isinstance(value, float) else value


if __name__ == "__main__":
    run_stage(main)
