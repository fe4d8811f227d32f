"""Tokenizers: real GPT-2 / Qwen2.5 files from ../shared, the demo BPE, and load errors."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from regpt2.core.errors import UserError
from regpt2.sources.tokenizers import (
    ENDOFTEXT,
    gpt2_tokenizer_from_files,
    load_tokenizer_folder,
    qwen2_tokenizer_from_files,
    save_tokenizer,
    train_demo_bpe,
)

MULTILINGUAL = [
    "Hello world, it's 2024!",
    "Der Mann ging nach Hause.  Zwei\tLeerzeichen\n",
    "你好，世界。我们今天去公园。",
    "ฉันไม่ได้คุยกับเขาอีกเลย",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "Η γάτα κάθεται.",
    "Tôi không biết.",
]

DEMO_TEXTS = [
    "the cat sat on the mat",
    "the dog sat on the log",
    "le chat est sur le tapis",
    "猫坐在垫子上",
    "แมวนั่งบนเสื่อ",
] * 20


@pytest.fixture(scope="module")
def gpt2(gpt2_tokenizer_dir: Path):
    return gpt2_tokenizer_from_files(gpt2_tokenizer_dir)


@pytest.fixture(scope="module")
def qwen_dir(shared: Path) -> Path:
    return shared / "data" / "tokenizers" / "qwen2.5"


@pytest.fixture(scope="module")
def qwen(qwen_dir: Path):
    return qwen2_tokenizer_from_files(qwen_dir)


def test_gpt2_known_ids(gpt2):
    assert gpt2("Hello world")["input_ids"] == [15496, 995]
    assert gpt2.encode("Hello world", add_special_tokens=False) == [15496, 995]
    assert gpt2.eos_token_id == gpt2.pad_token_id == 50256
    assert gpt2.encode(ENDOFTEXT) == [50256]
    assert len(gpt2) == 50257
    assert gpt2.padding_side == "right"


def test_gpt2_round_trip(gpt2):
    for text in MULTILINGUAL:
        assert gpt2.decode(gpt2.encode(text)) == text


def test_qwen_known_ids_and_specials(qwen):
    assert qwen.encode("Hello world") == [9707, 1879]
    assert qwen.encode("12345") == [16, 17, 18, 19, 20]  # digits one by one
    assert qwen.encode(ENDOFTEXT) == [151643]
    assert qwen.convert_tokens_to_ids("<|im_start|>") == 151644
    assert qwen.convert_tokens_to_ids("<|file_sep|>") == 151664
    assert len(qwen) == 151665
    assert qwen.eos_token_id == qwen.pad_token_id == 151643
    assert qwen.bos_token_id is None


def test_qwen_round_trip(qwen):
    for text in MULTILINGUAL:
        assert qwen.decode(qwen.encode(text)) == text
    # The NFC normaliser composes characters: decoding gives the NFC form.
    decomposed = "e\u0301te\u0301"
    assert qwen.decode(qwen.encode(decomposed)) == unicodedata.normalize("NFC", decomposed)


def test_dispatch(gpt2_tokenizer_dir: Path, qwen_dir: Path):
    assert load_tokenizer_folder(gpt2_tokenizer_dir).encode("Hello world") == [15496, 995]
    assert len(load_tokenizer_folder(qwen_dir)) == 151665


def test_qwen_special_ids_must_follow_vocab(tmp_path: Path):
    vocab = {chr(ord("a") + i): i for i in range(4)} | {"ab": 4}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\n")
    (tmp_path / "special_tokens.json").write_text(json.dumps({ENDOFTEXT: 5}))
    small = load_tokenizer_folder(tmp_path)  # special_tokens.json -> Qwen2 pipeline
    assert small.encode("ab" + ENDOFTEXT) == [4, 5]
    (tmp_path / "special_tokens.json").write_text(json.dumps({ENDOFTEXT: 99}))
    with pytest.raises(UserError, match="should have id 99"):
        load_tokenizer_folder(tmp_path)


def test_tokenizer_files_with_a_byte_order_mark(tmp_path: Path):
    """vocab.json, merges.txt and special_tokens.json saved with a BOM (Windows tools) read as
    without one: the BOM is not taken for part of the first token or merge."""
    vocab = {chr(ord("a") + i): i for i in range(4)} | {"ab": 4}
    files = {
        "vocab.json": json.dumps(vocab),
        "merges.txt": "#version: 0.2\na b\n",
        "special_tokens.json": json.dumps({ENDOFTEXT: 5}),
    }
    for name, text in files.items():
        (tmp_path / name).write_text("\ufeff" + text, encoding="utf-8")
    tokenizer = load_tokenizer_folder(tmp_path)
    assert tokenizer.encode("ab" + ENDOFTEXT) == [4, 5]


def test_demo_bpe_trains_saves_reloads(tmp_path: Path):
    tokenizer = train_demo_bpe(DEMO_TEXTS, vocab_size=300, seed=1)
    again = train_demo_bpe(DEMO_TEXTS, vocab_size=300, seed=2)
    assert tokenizer.get_vocab() == again.get_vocab()  # deterministic
    assert 257 < len(tokenizer) <= 300
    assert tokenizer.eos_token == tokenizer.pad_token == ENDOFTEXT
    assert tokenizer.convert_tokens_to_ids(ENDOFTEXT) == tokenizer.eos_token_id
    tokenizer.save_pretrained(tmp_path / "tok")
    reloaded = load_tokenizer_folder(tmp_path / "tok")
    for text in DEMO_TEXTS[:5] + MULTILINGUAL:
        ids = tokenizer.encode(text)
        assert reloaded.encode(text) == ids
        assert reloaded.decode(ids) == text
    assert reloaded.pad_token_id == reloaded.eos_token_id
    assert reloaded.padding_side == "right"


def test_a_saved_fast_tokenizer_loads_as_autotokenizer_loads_it(tmp_path: Path):
    """The project's own tokenizer folders skip AutoTokenizer's registry (start-up time); the
    tokenizer is the one AutoTokenizer gives: same class, specials, settings and ids."""
    from transformers import AutoTokenizer

    train_demo_bpe(DEMO_TEXTS, vocab_size=300).save_pretrained(tmp_path / "tok")
    direct = load_tokenizer_folder(tmp_path / "tok")
    auto = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    auto.padding_side = "right"
    assert type(direct) is type(auto)
    assert direct.special_tokens_map == auto.special_tokens_map
    assert direct.get_vocab() == auto.get_vocab()
    assert direct.init_kwargs == auto.init_kwargs
    texts = DEMO_TEXTS[:5] + MULTILINGUAL
    assert direct(texts, padding=True) == auto(texts, padding=True)


@pytest.mark.parametrize("texts, size", [([], 300), (["", ""], 300), (DEMO_TEXTS, 100)])
def test_demo_bpe_bad_input(texts, size):
    with pytest.raises(UserError):
        train_demo_bpe(texts, vocab_size=size)


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_folder(tmp_path: Path):
    with pytest.raises(UserError, match="does not exist") as error:
        load_tokenizer_folder(tmp_path / "nope")
    assert "nope" in _one_line(error)


def test_empty_folder(tmp_path: Path):
    with pytest.raises(UserError, match="vocab.json") as error:
        load_tokenizer_folder(tmp_path)
    assert str(tmp_path) in _one_line(error)


def test_missing_merges(tmp_path: Path):
    (tmp_path / "vocab.json").write_text("{}")
    with pytest.raises(UserError, match="merges.txt") as error:
        gpt2_tokenizer_from_files(tmp_path)
    _one_line(error)


@pytest.mark.parametrize(
    "vocab, merges",
    [("{not json", "a b\n"), ('["a"]', "a b\n"), ('{"a": 0, "b": 1}', "a b c\n")],
)
def test_corrupt_vocab_or_merges(tmp_path: Path, vocab: str, merges: str):
    (tmp_path / "vocab.json").write_text(vocab)
    (tmp_path / "merges.txt").write_text(merges)
    with pytest.raises(UserError) as error:
        load_tokenizer_folder(tmp_path)
    _one_line(error)


def test_corrupt_tokenizer_json(tmp_path: Path):
    (tmp_path / "tokenizer.json").write_text("{broken")
    (tmp_path / "tokenizer_config.json").write_text("{}")
    with pytest.raises(UserError, match="cannot load tokenizer folder") as error:
        load_tokenizer_folder(tmp_path)
    _one_line(error)


def test_a_saved_tokenizer_does_not_depend_on_how_it_was_loaded(tmp_path: Path):
    """HF_HUB_OFFLINE=1 makes transformers record local_files_only in tokenizer_config.json; the
    model folders a stage writes must be the same bytes with or without it (DVC hashes them)."""
    from transformers import AutoTokenizer

    train_demo_bpe(["a small text to train on"] * 20, 300).save_pretrained(tmp_path / "built")
    folders = []
    for offline in (True, False):
        loaded = AutoTokenizer.from_pretrained(tmp_path / "built", local_files_only=offline)
        folder = tmp_path / f"saved-{offline}"
        save_tokenizer(loaded, folder)
        folders.append(folder)
    config = json.loads((folders[0] / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert "local_files_only" not in config and config["model_max_length"]
    for name in ("tokenizer_config.json", "tokenizer.json"):
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes()
