"""Benchmark tokenization and word segmentation for fertility on all of XNLI (dev + test).

Usage: python bench/bench_fertility.py [XNLI_FOLDER] [--tokenizers DIR] [--subset N]

XNLI_FOLDER defaults to $REGPT2_SHARED/data/xnli, else ../shared/data/xnli beside the project.
For each tokenizer (GPT-2, Qwen2.5) it times, each on a freshly loaded tokenizer: per-string
`tokenizer.encode` on an evenly spread subset of N strings (extrapolated to the full set), the
plain batched Rust path on all ~225,000 strings, and `count_tokens` (batched, each distinct string
encoded once: the path `fertility_table` uses). It then
times the zh/th word segmenters and prints the fertility table on the test split beside the
study's GPT-2 numbers (which were measured on XNLI-MT training rows, not on this test split).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import bench_env  # bench/bench_env.py: the stage-like setup, before torch is imported

bench_env.prepare()

from regpt2.sources.tokenizers import load_tokenizer_folder  # noqa: E402
from regpt2.studies.fertility import count_tokens, count_words, fertility_table, segment_words  # noqa: E402

LANGS = ["en", "es", "fr", "de", "sw", "tr", "vi", "zh", "ar", "hi", "ur", "bg", "ru", "el", "th"]
STUDY_GPT2 = {
    "en": 1.11, "es": 1.83, "fr": 1.75, "de": 2.10, "sw": 2.08, "tr": 2.73, "vi": 3.62,
    "zh": 3.77, "ar": 4.70, "hi": 5.12, "ur": 5.16, "bg": 5.53, "ru": 5.90, "el": 6.16,
    "th": 9.48,
}  # fmt: skip


def read_split(folder: Path, split: str, lang: str) -> list[str]:
    texts: list[str] = []
    with (folder / f"{split}-{lang}.tsv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            texts += [row["premise"], row["hypothesis"]]
    return texts


def bench_tokenizer(name: str, folder: Path, texts: list[str], subset: int) -> None:
    """Time three paths, each on a freshly loaded tokenizer (cold BPE cache)."""
    tokenizer = load_tokenizer_folder(folder)
    step = max(1, len(texts) // subset)
    sample = texts[::step][:subset]
    start = time.perf_counter()
    sample_tokens = sum(len(tokenizer.encode(text, add_special_tokens=False)) for text in sample)
    per_string = time.perf_counter() - start
    single_rate = len(sample) / per_string

    tokenizer = load_tokenizer_folder(folder)
    backend = tokenizer.backend_tokenizer
    start = time.perf_counter()
    tokens = 0
    for first in range(0, len(texts), 4096):
        batch = texts[first : first + 4096]
        tokens += sum(map(len, backend.encode_batch_fast(batch, add_special_tokens=False)))
    batched = time.perf_counter() - start
    batched_rate = len(texts) / batched

    tokenizer = load_tokenizer_folder(folder)
    start = time.perf_counter()
    counted = count_tokens(tokenizer, texts)
    deduped = time.perf_counter() - start
    deduped_rate = len(texts) / deduped
    assert counted == tokens, "count_tokens disagrees with the plain batched count"
    assert sample_tokens == count_tokens(tokenizer, sample), "per-string and batched disagree"

    print(
        f"{name:8s} per-string encode : {len(sample):,}-string subset in {per_string:.2f} s = "
        f"{single_rate:,.0f} strings/s -> extrapolated {len(texts) / single_rate:.1f} s for all"
    )
    print(
        f"{name:8s} batched (Rust)    : {len(texts):,} strings, {tokens:,} tokens in "
        f"{batched:.2f} s = {batched_rate:,.0f} strings/s ({batched_rate / single_rate:.1f}x)"
    )
    print(
        f"{name:8s} count_tokens      : batched + each distinct string once, {deduped:.2f} s = "
        f"{deduped_rate:,.0f} strings/s ({deduped_rate / single_rate:.1f}x per-string)"
    )


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "xnli", nargs="?", type=Path, default=bench_env.shared_folder() / "data" / "xnli"
    )
    parser.add_argument(
        "--tokenizers", type=Path, default=bench_env.shared_folder() / "data" / "tokenizers",
        help="folder with gpt2/ and qwen2.5/",
    )  # fmt: skip
    parser.add_argument("--subset", type=int, default=5000, help="strings for per-string encode")
    args = parser.parse_args()
    if not args.xnli.is_dir():
        sys.exit(f"error: XNLI folder {args.xnli} not found (pass it or set REGPT2_SHARED)")

    start = time.perf_counter()
    test = {lang: read_split(args.xnli, "test", lang) for lang in LANGS}
    dev = {lang: read_split(args.xnli, "dev", lang) for lang in LANGS}
    everything = [text for lang in LANGS for text in dev[lang] + test[lang]]
    print(
        f"read {len(everything):,} strings (15 languages, dev+test) in "
        f"{time.perf_counter() - start:.2f} s; {os.cpu_count()} CPUs visible"
    )

    tokenizers = {}
    for name in ("gpt2", "qwen2.5"):
        start = time.perf_counter()
        tokenizers[name] = load_tokenizer_folder(args.tokenizers / name)
        print(f"loaded {name} in {time.perf_counter() - start:.2f} s")
        bench_tokenizer(name, args.tokenizers / name, everything, args.subset)

    for lang in ("zh", "th"):
        segment_words("", lang)  # load the segmenter outside the timing
        texts = dev[lang] + test[lang]
        start = time.perf_counter()
        words = sum(len(segment_words(text, lang)) for text in texts)
        took = time.perf_counter() - start
        start = time.perf_counter()
        assert count_words(texts, lang)["segmented_words"] == words
        deduped = time.perf_counter() - start
        print(
            f"segment {lang}: {len(texts):,} strings, {words:,} words in {took:.2f} s = "
            f"{len(texts) / took:,.0f} strings/s; count_words (each distinct string once) "
            f"{deduped:.2f} s"
        )

    start = time.perf_counter()
    rows = fertility_table(test, tokenizers)
    print(
        f"fertility_table on the test split (both tokenizers): {time.perf_counter() - start:.2f} s"
    )
    table = {(row["tokenizer"], row["lang"]): row for row in rows}
    print()
    print("test split, 5,010 rows per language, premise + hypothesis; tokens per word")
    print("| lang | study GPT-2 | GPT-2 ws | GPT-2 seg | Qwen ws | Qwen seg | GPT-2 tok/char "
          "| Qwen tok/char | GPT-2 vs en | Qwen vs en | words | seg words |")  # fmt: skip
    print("|---" * 12 + "|")
    for lang in LANGS:
        g, q = table["gpt2", lang], table["qwen2.5", lang]
        print(
            f"| {lang} | {STUDY_GPT2[lang]:.2f} | {fmt(g['tokens_per_word'])} "
            f"| {fmt(g['tokens_per_segmented_word'])} | {fmt(q['tokens_per_word'])} "
            f"| {fmt(q['tokens_per_segmented_word'])} | {fmt(g['tokens_per_char'])} "
            f"| {fmt(q['tokens_per_char'])} | {fmt(g['tokens_vs_en'])} | {fmt(q['tokens_vs_en'])} "
            f"| {g['words']:,} | {g['segmented_words']:,} |"
        )


if __name__ == "__main__":
    main()
