"""GPT-2, Qwen2 and demo byte-level BPE tokenizers, all as Hugging Face fast tokenizers.

Every function returns a `transformers.PreTrainedTokenizerFast`, so the rest of the project uses
one tokenizer API. The GPT-2 and Qwen2 tokenizers are built here from `vocab.json` + `merges.txt`
with the `tokenizers` library (the exact pipelines of the published `tokenizer.json` files), which
works the same on every `transformers` version and needs no download. Padding is on the right and
the pad token is the end-of-text token, as the project's prompts and scorer expect.

Every failure to load (missing folder, missing file, corrupt file) raises `UserError` with one line
that names the folder and what was expected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.models import BPE
from tokenizers.normalizers import NFC
from tokenizers.trainers import BpeTrainer
from transformers import PreTrainedTokenizerFast

from regpt2.core.errors import UserError
from regpt2.core.io import TEXT_ENCODING

__all__ = [
    "ENDOFTEXT",
    "QWEN2_SPLIT_REGEX",
    "QWEN2_DEFAULT_SPECIAL_TOKENS",
    "gpt2_tokenizer_from_files",
    "qwen2_tokenizer_from_files",
    "load_tokenizer_folder",
    "train_demo_bpe",
]

ENDOFTEXT = "<|endoftext|>"

# The pre-tokenizer split regex of the Qwen2 / Qwen2.5 tokenizer.json (digits one by one,
# letters with at most one leading non-letter, punctuation runs, newlines, whitespace).
QWEN2_SPLIT_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Qwen2.5's special tokens (ids 151643-151664 after its 151,643 regular tokens); used when a
# Qwen2 folder has no special_tokens.json.
QWEN2_DEFAULT_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)

# A vocab.json + merges.txt folder with more entries than this is taken to be Qwen2's.
_QWEN2_MIN_VOCAB = 100_000


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _require_dir(directory: str | os.PathLike) -> Path:
    path = Path(directory)
    if not path.is_dir():
        raise UserError(f"tokenizer folder {path} does not exist or is not a folder")
    return path


def _read_vocab(path: Path) -> dict[str, int]:
    try:
        vocab = json.loads(path.read_text(encoding=TEXT_ENCODING))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"cannot read tokenizer vocabulary {path}: {_one_line(error)}") from None
    if (
        not isinstance(vocab, dict)
        or not vocab
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in vocab.values())
    ):
        raise UserError(f"tokenizer vocabulary {path} is not a JSON object of token -> int id")
    return vocab


def _read_merges(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding=TEXT_ENCODING).split("\n")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read tokenizer merges {path}: {_one_line(error)}") from None
    merges: list[tuple[str, str]] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        if not line or (number == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise UserError(
                f"tokenizer merges {path} line {number} is not two space-separated symbols"
            )
        merges.append((parts[0], parts[1]))
    if not merges:
        raise UserError(f"tokenizer merges {path} holds no merges")
    return merges


def _vocab_and_merges(directory: str | os.PathLike) -> tuple[Path, dict[str, int], list]:
    path = _require_dir(directory)
    missing = [name for name in ("vocab.json", "merges.txt") if not (path / name).is_file()]
    if missing:
        raise UserError(
            f"tokenizer folder {path} lacks {' and '.join(missing)} "
            "(expected vocab.json + merges.txt)"
        )
    return path, _read_vocab(path / "vocab.json"), _read_merges(path / "merges.txt")


def _bpe(vocab: dict[str, int], merges: list[tuple[str, str]], where: Path) -> BPE:
    try:
        return BPE(
            vocab=vocab,
            merges=merges,
            dropout=None,
            unk_token=None,
            continuing_subword_prefix="",
            end_of_word_suffix="",
            fuse_unk=False,
            byte_fallback=False,
        )
    except Exception as error:  # the Rust side raises plain Exception
        raise UserError(f"cannot build BPE from {where}: {_one_line(error)}") from None


def _wrap(
    tokenizer: Tokenizer,
    *,
    eos: str,
    bos: str | None,
    unk: str | None,
    model_max_length: int,
) -> PreTrainedTokenizerFast:
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=bos,
        eos_token=eos,
        unk_token=unk,
        pad_token=eos,
        model_max_length=model_max_length,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    wrapped.padding_side = "right"
    return wrapped


def gpt2_tokenizer_from_files(directory: str | os.PathLike) -> PreTrainedTokenizerFast:
    """GPT-2 byte-level BPE from `vocab.json` + `merges.txt`; bos = eos = unk = pad = 50256."""
    path, vocab, merges = _vocab_and_merges(directory)
    tokenizer = Tokenizer(_bpe(vocab, merges, path))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer.add_special_tokens([AddedToken(ENDOFTEXT, special=True)])
    return _wrap(tokenizer, eos=ENDOFTEXT, bos=ENDOFTEXT, unk=ENDOFTEXT, model_max_length=1024)


def _qwen2_special_tokens(path: Path, n_regular: int) -> list[tuple[str, int]]:
    special_file = path / "special_tokens.json"
    if not special_file.is_file():
        return [(name, n_regular + i) for i, name in enumerate(QWEN2_DEFAULT_SPECIAL_TOKENS)]
    try:
        table = json.loads(special_file.read_text(encoding=TEXT_ENCODING))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"cannot read {special_file}: {_one_line(error)}") from None
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and isinstance(v, int) for k, v in table.items()
    ):
        raise UserError(f"{special_file} is not a JSON object of token -> int id")
    if ENDOFTEXT not in table:
        raise UserError(f"{special_file} has no {ENDOFTEXT} entry")
    return sorted(table.items(), key=lambda item: item[1])


def qwen2_tokenizer_from_files(directory: str | os.PathLike) -> PreTrainedTokenizerFast:
    """Qwen2/Qwen2.5 BPE (NFC, Qwen2 split regex, byte-level) from vocab.json + merges.txt.

    Special tokens come from `special_tokens.json` ({token: id}) when present, else Qwen2.5's
    list; their ids must follow the regular vocabulary (151643-151664 for Qwen2.5).
    eos = pad = `<|endoftext|>`, no bos, no unk.
    """
    path, vocab, merges = _vocab_and_merges(directory)
    tokenizer = Tokenizer(_bpe(vocab, merges, path))
    tokenizer.normalizer = NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(
        add_prefix_space=False, trim_offsets=False, use_regex=False
    )
    specials = _qwen2_special_tokens(path, len(vocab))
    tokenizer.add_special_tokens(
        [AddedToken(name, special=True, normalized=False) for name, _ in specials]
    )
    wrong = [(name, i) for name, i in specials if tokenizer.token_to_id(name) != i]
    if wrong:
        name, expected = wrong[0]
        raise UserError(
            f"special token {name} of {path} should have id {expected} but gets "
            f"{tokenizer.token_to_id(name)}: special ids must follow the {len(vocab)} "
            "vocab.json entries in order"
        )
    return _wrap(tokenizer, eos=ENDOFTEXT, bos=None, unk=None, model_max_length=131072)


def _is_qwen2_folder(path: Path) -> bool:
    if (path / "special_tokens.json").is_file():
        return True
    return len(_read_vocab(path / "vocab.json")) > _QWEN2_MIN_VOCAB


# tokenizer_config.json classes that AutoTokenizer maps to PreTrainedTokenizerFast itself (the
# tokenizers this project saves): loaded through it directly, as AutoTokenizer would, without
# importing AutoTokenizer's model registry (a third of a second in every stage).
_PLAIN_FAST_CLASSES = ("PreTrainedTokenizerFast", "TokenizersBackend")


def _auto_tokenizer(path: Path) -> PreTrainedTokenizerFast:
    try:
        config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    if isinstance(config, dict) and config.get("tokenizer_class") in _PLAIN_FAST_CLASSES:
        return PreTrainedTokenizerFast.from_pretrained(str(path))
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), trust_remote_code=False, use_fast=True)


def load_tokenizer_folder(directory: str | os.PathLike) -> PreTrainedTokenizerFast:
    """Load a tokenizer folder: HF format (tokenizer.json / tokenizer_config.json) through
    `AutoTokenizer` (never remote code), else vocab.json + merges.txt as Qwen2 (with
    special_tokens.json or > 100k entries) or GPT-2. Padding is set to the right, and a missing
    pad token to the eos token."""
    path = _require_dir(directory)
    if (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file():
        try:
            tokenizer = _auto_tokenizer(path)
        except UserError:
            raise
        except Exception as error:
            raise UserError(f"cannot load tokenizer folder {path}: {_one_line(error)}") from None
        if not getattr(tokenizer, "is_fast", False):
            raise UserError(
                f"tokenizer folder {path} gives no fast (Rust) tokenizer; "
                "expected a tokenizer.json or GPT-2/Qwen2-style vocab.json + merges.txt"
            )
        tokenizer.padding_side = "right"
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer
    if (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
        if _is_qwen2_folder(path):
            return qwen2_tokenizer_from_files(path)
        return gpt2_tokenizer_from_files(path)
    lacking = [name for name in ("vocab.json", "merges.txt") if not (path / name).is_file()]
    if len(lacking) == 1:
        raise UserError(
            f"tokenizer folder {path} has {({'vocab.json', 'merges.txt'} - set(lacking)).pop()} "
            f"but no {lacking[0]} (and no tokenizer.json); copy the missing file into it"
        )
    raise UserError(
        f"tokenizer folder {path} has no tokenizer.json, tokenizer_config.json or "
        "vocab.json + merges.txt"
    )


def train_demo_bpe(texts: Iterable[str], vocab_size: int, seed: int = 0) -> PreTrainedTokenizerFast:
    """Train a small GPT-2-style byte-level BPE on `texts` (deterministic), with `<|endoftext|>`
    as id 0 and eos = bos = unk = pad. `seed` is accepted for a uniform stage API: BPE training
    has no randomness, the result depends only on `texts` and `vocab_size`."""
    del seed
    texts = [text for text in texts if text]
    if not texts:
        raise UserError("cannot train the demo BPE tokenizer: no non-empty training text")
    minimum = len(pre_tokenizers.ByteLevel.alphabet()) + 1
    if not isinstance(vocab_size, int) or vocab_size < minimum:
        raise UserError(
            f"demo tokenizer vocab_size {vocab_size!r} is too small: a byte-level BPE needs at "
            f"least {minimum} (256 bytes + {ENDOFTEXT})"
        )
    tokenizer = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[AddedToken(ENDOFTEXT, special=True)],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return _wrap(tokenizer, eos=ENDOFTEXT, bos=ENDOFTEXT, unk=ENDOFTEXT, model_max_length=1024)


# Keys transformers writes into tokenizer_config.json that describe how a tokenizer was loaded
# (e.g. HF_HUB_OFFLINE=1 sets local_files_only), not the tokenizer: a saved model folder must not
# depend on the environment of the run that wrote it (DVC would see a different output).
_LOADING_KEYS = ("local_files_only",)


def save_tokenizer(tokenizer, folder: str | os.PathLike) -> None:
    """`tokenizer.save_pretrained(folder)`, without the loading environment in its config."""
    tokenizer.save_pretrained(folder)
    config_path = Path(folder) / "tokenizer_config.json"
    if config_path.is_file():
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if any(key in config for key in _LOADING_KEYS):
            for key in _LOADING_KEYS:
                config.pop(key, None)
            text = json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            config_path.write_text(text, encoding="utf-8")


def save_model_folder(model, tokenizer, folder: str | os.PathLike) -> None:
    """A model folder any `from_pretrained` loads: the weights and config, and the tokenizer."""
    model.save_pretrained(folder)
    save_tokenizer(tokenizer, folder)
