"""Sources and data: every XNLI layout, label spellings, pretraining text, and bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from regpt2.core.errors import UserError
from regpt2.core.languages import LABELS
from regpt2.sources.data import (
    DemoSizes,
    NliExample,
    load_pretrain_documents,
    load_xnli,
    normalise_label,
    split_documents,
    take_subset,
)
from regpt2.sources.resolve import parse_source


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


def _write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------- sources


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("demo", "demo", ""),
        ("  demo ", "demo", ""),
        ("hub:gpt2", "hub", "gpt2"),
        ("hub:facebook/xnli", "hub", "facebook/xnli"),
        ("url:https://example.org/a.txt", "url", "https://example.org/a.txt"),
        ("data/models/pretrain", "path", "data/models/pretrain"),
        ("../shared/data/xnli", "path", "../shared/data/xnli"),
        ("demo.txt", "path", "demo.txt"),
    ],
)
def test_parse_source_kinds(text, kind, value):
    source = parse_source(text)
    assert (source.kind, source.value) == (kind, value)


@pytest.mark.parametrize("text", ["", "   ", "hub:", "url: "])
def test_parse_source_refuses_empty_locations(text):
    with pytest.raises(UserError, match="sources.x") as caught:
        parse_source(text, role="sources.x")
    _one_line(caught)


def test_only_a_path_source_has_a_path():
    assert parse_source("a/b").path == Path("a/b")
    with pytest.raises(UserError, match="not a local path"):
        _ = parse_source("hub:gpt2").path


def test_missing_local_path_is_named(tmp_path: Path):
    missing = tmp_path / "no-such-xnli"
    with pytest.raises(UserError, match="sources.xnli") as caught:
        load_xnli(str(missing), "en", "test")
    assert str(missing) in _one_line(caught)


# ------------------------------------------------------------------------------------- XNLI


def test_shared_per_language_folder(xnli_dir: Path):
    rows = load_xnli(str(xnli_dir), "fr", "test", limit=5)
    assert len(rows) == 5
    assert all(isinstance(row, NliExample) and row.lang == "fr" for row in rows)
    assert all(row.label in LABELS and row.premise and row.hypothesis for row in rows)
    english = load_xnli(str(xnli_dir), "en", "dev", limit=3)
    assert [row.label for row in english] == [
        normalise_label(line.split("\t")[2], where="t")
        for line in (xnli_dir / "dev-en.tsv").read_text(encoding="utf-8").splitlines()[1:4]
    ]


def test_per_language_tsv_layout(tmp_path: Path):
    _write_tsv(
        tmp_path / "test-de.tsv",
        ["premise", "hypothesis", "label", "genre"],
        [
            ['Er sagte "hallo".', "Er grüßte.", "entailment", "x"],
            ["Es regnet.", "Die Sonne scheint.", "contradiction", "x"],
            ["Sie liest.", "Sie liest ein Buch.", "neutral", "y"],
        ],
    )
    rows = load_xnli(str(tmp_path), "de", "test")
    assert rows == [
        NliExample('Er sagte "hallo".', "Er grüßte.", "entailment", "de"),
        NliExample("Es regnet.", "Die Sonne scheint.", "contradiction", "de"),
        NliExample("Sie liest.", "Sie liest ein Buch.", "neutral", "de"),
    ]
    assert len(load_xnli(str(tmp_path), "de", "test", limit=2)) == 2


@pytest.fixture
def original_layout(tmp_path: Path) -> Path:
    """A miniature of the XNLI-1.0 + XNLI-MT-1.0 distribution."""
    header = ["language", "gold_label", "sentence1_binary_parse", "sentence1", "sentence2"]
    header += ["pairID"]
    _write_tsv(
        tmp_path / "XNLI-1.0" / "xnli.test.tsv",
        header,
        [
            ["en", "entailment", "( x )", "A man sleeps.", "A person sleeps.", "1"],
            ["fr", "entailment", "( x )", "Un homme dort.", "Une personne dort.", "1"],
            ["en", "neutral", "( x )", "A cat sits.", "A black cat sits.", "2"],
            ["fr", "neutral", "( x )", "Un chat est assis.", "Un chat noir est assis.", "2"],
            ["fr", "contradiction", "( x )", "Il pleut.", 'Il fait "beau".', "3"],
        ],
    )
    _write_tsv(
        tmp_path / "XNLI-1.0" / "xnli.dev.tsv",
        header,
        [["fr", "neutral", "( x )", "Elle lit.", "Elle lit un livre.", "4"]],
    )
    _write_tsv(
        tmp_path / "XNLI-MT-1.0" / "multinli" / "multinli.train.fr.tsv",
        ["premise", "hypo", "label"],
        [
            ["Il mange.", "Il ne mange pas.", "contradictory"],
            ["Il mange une pomme.", "Il mange.", "entailment"],
            ["Il mange.", "Il mange une pomme.", "neutral"],
        ],
    )
    return tmp_path


def test_original_layout_test_and_dev_filter_by_language(original_layout: Path):
    rows = load_xnli(str(original_layout), "fr", "test")
    assert [row.premise for row in rows] == ["Un homme dort.", "Un chat est assis.", "Il pleut."]
    assert [row.label for row in rows] == ["entailment", "neutral", "contradiction"]
    assert rows[2].hypothesis == 'Il fait "beau".'
    assert {row.lang for row in rows} == {"fr"}
    assert [row.premise for row in load_xnli(str(original_layout), "en", "test")] == [
        "A man sleeps.",
        "A cat sits.",
    ]
    assert load_xnli(str(original_layout), "fr", "dev")[0].hypothesis == "Elle lit un livre."
    assert len(load_xnli(str(original_layout), "fr", "test", limit=2)) == 2


def test_original_layout_train_maps_contradictory(original_layout: Path):
    rows = load_xnli(str(original_layout), "fr", "train")
    assert [row.label for row in rows] == ["contradiction", "entailment", "neutral"]
    assert rows[0] == NliExample("Il mange.", "Il ne mange pas.", "contradiction", "fr")


def test_original_layout_found_from_a_subfolder(original_layout: Path):
    rows = load_xnli(str(original_layout / "XNLI-1.0"), "en", "test")
    assert len(rows) == 2


def test_language_absent_from_the_original_layout_is_empty(original_layout: Path):
    with pytest.raises(UserError, match=r"split 'test' of language 'sw' is empty") as caught:
        load_xnli(str(original_layout), "sw", "test")
    _one_line(caught)


def test_missing_split_file_says_what_was_expected(original_layout: Path):
    with pytest.raises(UserError, match="train-de.tsv") as caught:
        load_xnli(str(original_layout), "de", "train")
    assert "XNLI-1.0" in _one_line(caught)


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("entailment", "entailment"),
        (" Neutral ", "neutral"),
        ("CONTRADICTION", "contradiction"),
        ("contradictory", "contradiction"),
        (0, "entailment"),
        (1, "neutral"),  # the Hub's ids: 0 entailment, 1 neutral, 2 contradiction
        (2, "contradiction"),
        ("2", "contradiction"),
    ],
)
def test_label_normalisation(raw, label):
    assert normalise_label(raw, where="x") == label


@pytest.mark.parametrize("raw", ["maybe", "-", 3, -1, ""])
def test_unknown_label(raw):
    with pytest.raises(UserError, match="file.tsv:7: label") as caught:
        normalise_label(raw, where="file.tsv:7")
    assert "entailment, neutral, contradiction" in _one_line(caught)


def test_unknown_label_in_a_file_names_file_and_line(tmp_path: Path):
    path = _write_tsv(
        tmp_path / "dev-en.tsv",
        ["premise", "hypothesis", "label"],
        [["a", "b", "neutral"], ["c", "d", "maybe"]],
    )
    with pytest.raises(UserError, match="'maybe'") as caught:
        load_xnli(str(tmp_path), "en", "dev")
    assert f"{path}:3" in _one_line(caught)


def test_malformed_row_names_file_and_line(tmp_path: Path):
    path = tmp_path / "test-en.tsv"
    path.write_text("premise\thypothesis\tlabel\na\tb\tneutral\nc\td\te\tneutral\n")
    with pytest.raises(UserError, match="expected 3 tab-separated fields, found 4") as caught:
        load_xnli(str(tmp_path), "en", "test")
    assert f"{path}:3:" in _one_line(caught)


def test_missing_column_is_named(tmp_path: Path):
    _write_tsv(tmp_path / "test-en.tsv", ["premise", "hypo", "label"], [["a", "b", "neutral"]])
    with pytest.raises(UserError, match="missing column") as caught:
        load_xnli(str(tmp_path), "en", "test")
    assert "hypothesis" in _one_line(caught)


def test_empty_split(tmp_path: Path):
    _write_tsv(tmp_path / "test-en.tsv", ["premise", "hypothesis", "label"], [])
    with pytest.raises(UserError, match="'test' of language 'en' is empty") as caught:
        load_xnli(str(tmp_path), "en", "test")
    _one_line(caught)
    (tmp_path / "dev-en.tsv").write_text("")
    with pytest.raises(UserError, match="empty file"):
        load_xnli(str(tmp_path), "en", "dev")


def test_unknown_language_lists_valid_ones(tmp_path: Path):
    with pytest.raises(UserError, match="unknown language 'xx'") as caught:
        load_xnli(str(tmp_path), "xx", "test")
    assert "en, fr, es, de" in _one_line(caught)


def test_unknown_split():
    with pytest.raises(UserError, match="unknown split 'validation'"):
        load_xnli("demo", "en", "validation")  # type: ignore[arg-type]


def test_xnli_cannot_come_from_a_url():
    with pytest.raises(UserError, match="URL"):
        load_xnli("url:https://example.org/xnli.zip", "en", "test")


def test_hub_source_offline_fails_in_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(UserError) as caught:
        load_xnli("hub:facebook/xnli", "en", "test", limit=3)
    message = _one_line(caught)
    assert message.startswith("sources.xnli: could not load 'facebook/xnli'")
    assert "HF_HUB_OFFLINE" in message
    assert "set sources.xnli to the local folder" in message


def test_demo_source_is_deterministic():
    sizes = DemoSizes(train=12, dev=6, test=9)
    first = load_xnli("demo", "zh", "test", demo_sizes=sizes)
    assert first == load_xnli("demo", "zh", "test", demo_sizes=sizes)
    assert len(first) == 9
    assert {row.label for row in first} == set(LABELS)
    assert {row.lang for row in first} == {"zh"}
    assert len(load_xnli("demo", "zh", "train", demo_sizes=sizes)) == 12
    assert len(load_xnli("demo", "zh", "test", limit=4, demo_sizes=sizes)) == 4
    assert first != load_xnli("demo", "zh", "dev", demo_sizes=sizes)[:9]


# ------------------------------------------------------------------------- pretraining text


def test_pretrain_text_file(tmp_path: Path):
    path = tmp_path / "pretrain.txt"
    path.write_text("  first document \n\n\nsecond document\n\t\nthird\n", encoding="utf-8")
    assert load_pretrain_documents(str(path)) == ["first document", "second document", "third"]


def test_pretrain_text_with_a_byte_order_mark(tmp_path: Path):
    """Saved by a Windows editor: UTF-8 with a BOM and CRLF line ends. The BOM is no text."""
    path = tmp_path / "pretrain.txt"
    path.write_bytes("\ufefffirst document\r\nsecond document\r\n".encode())
    assert load_pretrain_documents(str(path)) == ["first document", "second document"]


def test_tsv_with_a_byte_order_mark(tmp_path: Path):
    rows = "premise\thypothesis\tlabel\r\nA cat.\tAn animal.\tentailment\r\n"
    (tmp_path / "test-en.tsv").write_bytes("\ufeff".encode() + rows.encode())
    (row,) = load_xnli(str(tmp_path), "en", "test")
    assert (row.premise, row.label) == ("A cat.", "entailment")


def test_pretrain_text_demo_is_deterministic():
    documents = load_pretrain_documents("demo", demo_documents=7, demo_other_language_documents=2)
    assert len(documents) == 7 + 14 * 2 and all(documents)
    assert documents[:7] == load_pretrain_documents(
        "demo", demo_documents=7, demo_other_language_documents=0
    )
    assert documents == load_pretrain_documents(
        "demo", demo_documents=7, demo_other_language_documents=2
    )


def test_pretrain_text_missing_file(tmp_path: Path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(UserError, match="sources.pretrain_text") as caught:
        load_pretrain_documents(str(missing))
    assert str(missing) in _one_line(caught)


def test_pretrain_text_blank_file(tmp_path: Path):
    path = tmp_path / "blank.txt"
    path.write_text("\n   \n\t\n\n")
    with pytest.raises(UserError, match="no text") as caught:
        load_pretrain_documents(str(path))
    _one_line(caught)


def test_pretrain_text_not_utf8(tmp_path: Path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\u00e9 cr\u00e8me\n".encode("latin-1"))
    with pytest.raises(UserError, match="not UTF-8") as caught:
        load_pretrain_documents(str(path))
    assert str(path) in _one_line(caught)


def test_pretrain_text_directory(tmp_path: Path):
    with pytest.raises(UserError, match="is not a file") as caught:
        load_pretrain_documents(str(tmp_path))
    _one_line(caught)


def test_pretrain_text_from_hub_is_refused():
    with pytest.raises(UserError, match="file or a URL"):
        load_pretrain_documents("hub:some/dataset")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("REGPT2_CACHE", str(root))
    return root


def _downloads(cache: Path) -> list[str]:
    folder = cache / "downloads"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def test_url_source_with_checksum(tmp_path: Path, cache: Path):
    text = "one document\ntwo document\n"
    path = tmp_path / "remote.txt"
    path.write_text(text, encoding="utf-8")
    digest = hashlib.sha256(text.encode()).hexdigest()
    url = "url:" + path.as_uri()
    assert load_pretrain_documents(url, sha256=digest) == ["one document", "two document"]
    assert len(_downloads(cache)) == 1
    path.unlink()  # the cached copy is used from now on (and checked again)
    assert load_pretrain_documents(url, sha256=digest.upper()) == ["one document", "two document"]


def test_url_source_with_a_wrong_checksum_removes_the_file(tmp_path: Path, cache: Path):
    path = tmp_path / "remote.txt"
    path.write_text("tampered\n", encoding="utf-8")
    with pytest.raises(UserError, match="expected 0000") as caught:
        load_pretrain_documents("url:" + path.as_uri(), sha256="0" * 64)
    message = _one_line(caught)
    assert "file removed" in message and hashlib.sha256(b"tampered\n").hexdigest() in message
    assert _downloads(cache) == []


def test_unreachable_url_leaves_nothing_behind(tmp_path: Path, cache: Path):
    url = (tmp_path / "absent.txt").as_uri()
    with pytest.raises(UserError, match="could not download") as caught:
        load_pretrain_documents("url:" + url)
    assert "set sources.pretrain_text to the local file path" in _one_line(caught)
    assert _downloads(cache) == []


# ------------------------------------------------------------------------ splits and subsets


def test_split_documents_is_seeded_and_never_empty():
    documents = [f"doc {i}" for i in range(40)]
    train, held_out = split_documents(documents, 0.1, seed=3)
    assert (train, held_out) == split_documents(documents, 0.1, seed=3)
    assert (train, held_out) != split_documents(documents, 0.1, seed=4)
    assert len(held_out) == 4
    assert sorted(train + held_out) == sorted(documents)
    # Original order is kept on each side.
    assert train == [doc for doc in documents if doc in set(train)]
    for count in (2, 3, 10):
        for fraction in (0.001, 0.5, 0.999):
            train, held_out = split_documents(documents[:count], fraction, seed=0)
            assert train and held_out and len(train) + len(held_out) == count


def test_split_documents_needs_two():
    with pytest.raises(UserError, match="at least 2 documents"):
        split_documents(["only one"], 0.5, seed=0)


def _rows(count: int) -> list[NliExample]:
    return [NliExample(f"p{i}", f"h{i}", LABELS[i % 3], "en") for i in range(count)]


def test_take_subset_head_and_random():
    rows = _rows(100)
    assert take_subset(rows, 0.25, "head", seed=0) == rows[:25]
    picked = take_subset(rows, 0.25, "random", seed=1)
    assert len(picked) == 25 and picked != rows[:25]
    assert picked == take_subset(rows, 0.25, "random", seed=1)
    assert picked != take_subset(rows, 0.25, "random", seed=2)
    assert picked == sorted(picked, key=rows.index)  # kept in the original order
    assert len(set(picked)) == 25
    assert take_subset(rows, 0.001, "head", seed=0) == rows[:1]  # never empty
    assert take_subset(rows, 1.0, "random", seed=0) == rows
