"""Fertility: counts, word segmentation for zh/th, and real XNLI numbers from ../shared."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from regpt2.core.errors import UserError
from regpt2.sources.tokenizers import gpt2_tokenizer_from_files, qwen2_tokenizer_from_files
from regpt2.studies import fertility
from regpt2.studies.fertility import count_tokens, count_words, fertility_table, segment_words

ROWS = 300


def read_xnli(path: Path, rows: int) -> list[str]:
    """Premise and hypothesis of the first `rows` rows, as separate strings."""
    texts: list[str] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for index, row in enumerate(reader):
            if index >= rows:
                break
            texts += [row["premise"], row["hypothesis"]]
    return texts


@pytest.fixture(scope="module")
def gpt2(gpt2_tokenizer_dir: Path):
    return gpt2_tokenizer_from_files(gpt2_tokenizer_dir)


@pytest.fixture(scope="module")
def xnli_table(xnli_dir: Path, gpt2, shared: Path):
    qwen = qwen2_tokenizer_from_files(shared / "data" / "tokenizers" / "qwen2.5")
    texts = {
        lang: read_xnli(xnli_dir / f"test-{lang}.tsv", ROWS) for lang in ("en", "el", "th", "zh")
    }
    rows = fertility_table(texts, {"gpt2": gpt2, "qwen2.5": qwen})
    return {(row["tokenizer"], row["lang"]): row for row in rows}


def test_count_tokens_excludes_specials_and_matches_per_string(gpt2):
    texts = ["Hello world", "", "Ünïcödé and 中文", "x" * 5000, "Hello world", "Hello world"]
    per_string = sum(len(gpt2.encode(text, add_special_tokens=False)) for text in texts)
    assert count_tokens(gpt2, texts, batch_size=3) == per_string
    assert count_tokens(gpt2, ["Hello world"]) == 2


def test_count_words_and_chars():
    counts = count_words(["a bb  ccc\n", "  d\te "], "en")
    assert counts == {"strings": 2, "words": 5, "chars": 8, "segmented_words": 5}
    assert "segmented_words" not in count_words(["a"], "zh", segmented=False)


def test_segmentation_zh_th():
    zh = segment_words("我们今天去公园，天气很好。", "zh")
    assert "".join(zh) == "我们今天去公园天气很好"  # punctuation dropped
    assert len(zh) >= 5
    assert "，" in segment_words("我们今天去公园，天气很好。", "zh", drop_punctuation=False)
    th = segment_words("ฉันไม่ได้คุยกับเขาอีกเลย", "th")
    assert "".join(th) == "ฉันไม่ได้คุยกับเขาอีกเลย"
    assert len(th) >= 5
    assert segment_words("Der Mann , ging", "de") == ["Der", "Mann", ",", "ging"]


def test_missing_segmenter_is_user_error(monkeypatch):
    monkeypatch.setattr(fertility, "_segmenters", {})
    monkeypatch.setitem(sys.modules, "jieba", None)  # import jieba -> ImportError
    with pytest.raises(UserError, match="jieba"):
        segment_words("我们", "zh")


def test_table_ratios_and_vs_en(gpt2):
    texts = {"en": ["Hello world"], "de": ["Hallo Welt"], "xx": ["a", "b"]}
    rows = {row["lang"]: row for row in fertility_table(texts, {"g": gpt2})}
    en = rows["en"]
    assert en["tokens"] == 2 and en["words"] == 2 and en["tokens_per_word"] == 1.0
    assert en["tokens_vs_en"] == 1.0
    assert rows["de"]["tokens_vs_en"] == rows["de"]["tokens"] / 2
    assert rows["xx"]["tokens_vs_en"] is None  # not parallel: different string counts
    empty = fertility_table({"en": [""]}, {"g": gpt2})[0]
    assert empty["tokens_per_word"] is None and empty["tokens_per_char"] is None


def test_xnli_gpt2_fertility(xnli_table):
    en = xnli_table["gpt2", "en"]
    assert en["strings"] == 2 * ROWS
    assert 1.1 <= en["tokens_per_word"] <= 1.4
    for lang in ("th", "el"):
        assert xnli_table["gpt2", lang]["tokens_per_word"] > 3 * en["tokens_per_word"]
        assert xnli_table["gpt2", lang]["tokens_vs_en"] > 3


def test_xnli_segmented_words(xnli_table):
    zh, th = xnli_table["gpt2", "zh"], xnli_table["gpt2", "th"]
    assert zh["segmented_words"] > 5 * zh["words"]
    assert th["segmented_words"] > 3 * th["words"]
    # Segmented word counts are of the same order as English's on parallel text.
    en_words = xnli_table["gpt2", "en"]["words"]
    assert 0.5 * en_words < zh["segmented_words"] < 1.5 * en_words
    assert 0.5 * en_words < th["segmented_words"] < 1.5 * en_words
    el = xnli_table["gpt2", "el"]
    assert el["segmented_words"] == el["words"]


def test_xnli_qwen_more_efficient_on_zh_th(xnli_table):
    for lang in ("zh", "th"):
        assert xnli_table["qwen2.5", lang]["tokens"] < 0.5 * xnli_table["gpt2", lang]["tokens"]
