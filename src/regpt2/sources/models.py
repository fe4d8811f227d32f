"""Model sources: turn `sources.gpt2` / `sources.qwen` into a model and its tokenizer.

GPT-2 sources load into the hand-written `GPT2LMHead` (as the study did); any other causal LM
source (hub id, HF model folder, GGUF file, or the demo's tiny Qwen2 model) loads with
`AutoModelForCausalLM`. Remote code is never trusted.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError

from regpt2.core.errors import UserError
from regpt2.core.io import atomic_path
from regpt2.sources.resolve import (
    Source,
    cache_dir,
    ensure_hub_reachable,
    existing_path,
    hub_error,
    parse_source,
)


def load_pretrained_lm(source_text: str, *, role: str = "sources.gpt2", attentions: bool = False):
    """The pretrained LM that the NLI stages fine-tune, and its tokenizer.

    GPT-2 checkpoints load into the hand-written `GPT2LMHead` (as the study did); any other
    causal LM (e.g. the SmolLM2 GGUF used for offline runs) loads with AutoModelForCausalLM.
    """
    from regpt2.gpt2.model import GPT2LMHead

    source = parse_source(source_text, role=role)
    if source.kind == "demo":
        raise UserError(
            f"{role}: `demo` is not a GPT-2 source; use data/models/pretrain (the model the "
            f"pretrain stage builds), hub:gpt2 or a local model folder"
        )
    if source.kind == "url":
        raise UserError(f"{role}: a model cannot come from a URL; use hub:ID or a local folder")
    if _model_type(source, role) != "gpt2":
        return load_causal_lm(source_text, role=role, attentions=attentions)
    location = str(existing_path(source, role=role)) if source.kind == "path" else source.value
    try:
        model = GPT2LMHead.from_pretrained(location)
    except pickle.UnpicklingError:
        raise _pickled_weights(role, source.text) from None
    except UserError as error:
        if source.kind == "hub":
            raise hub_error(source, role, error) from None
        raise UserError(f"{role}: {error}") from None
    return model, load_tokenizer(source_text, role=role)


def _model_type(source: Source, role: str) -> str | None:
    """The `model_type` of a model source, read from its config only (no weights)."""
    if source.kind == "path":
        path = existing_path(source, role=role)
        if path.suffix == ".gguf":
            return "gguf"
        if (declared := _declared_model_type(path)) is not None:
            return declared
        location = str(path)
    else:
        ensure_hub_reachable(source, role)
        location = source.value
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(location).model_type
    except (OSError, ValueError) as error:
        if source.kind == "hub":
            raise hub_error(source, role, error) from None
        raise UserError(
            f"{role}: {source.text} is not a model folder: {_first_line(error)}"
        ) from None


def _declared_model_type(folder: Path) -> str | None:
    """The model_type a folder's config.json names (what AutoConfig reads first), without
    importing transformers; None when there is no readable one (AutoConfig then says why)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    declared = config.get("model_type") if isinstance(config, dict) else None
    return declared if isinstance(declared, str) else None


def load_tokenizer(source_text: str, *, role: str, demo_builder=None):
    """A tokenizer from a hub id, a folder (HF files or vocab.json + merges.txt) or a GGUF file."""
    from transformers import AutoTokenizer

    from regpt2.sources.tokenizers import load_tokenizer_folder

    source = parse_source(source_text, role=role)
    if source.kind == "demo":
        if demo_builder is None:
            raise UserError(f"{role}: no demo tokenizer is defined here; give a folder or hub id")
        return demo_builder()
    if source.kind == "hub":
        ensure_hub_reachable(source, role)
        try:
            return AutoTokenizer.from_pretrained(source.value)
        except Exception as error:  # the hub client raises many types for one cause
            raise hub_error(source, role, error) from None
    if source.kind == "url":
        raise UserError(f"{role}: a tokenizer cannot come from a URL; use a folder or hub:ID")
    path = existing_path(source, role=role)
    if path.suffix == ".gguf":
        return _gguf_tokenizer(path, role)
    try:
        return load_tokenizer_folder(path)
    except UserError as error:
        raise UserError(f"{role}: {error}") from None


def load_causal_lm(
    source_text: str,
    *,
    role: str,
    demo_builder=None,
    dtype=torch.float32,
    attentions: bool = False,
):
    """Any HF causal LM and its tokenizer. `demo_builder()` returns (model, tokenizer).

    `attentions=True` selects the eager attention kernel, the only one that returns attention
    maps (probing needs them); the default lets transformers pick its fastest kernel.
    """
    from transformers import AutoModelForCausalLM

    source = parse_source(source_text, role=role)
    if source.kind == "demo":
        if demo_builder is None:
            raise UserError(f"{role}: no demo model is defined here; give a folder or hub id")
        return demo_builder()
    if source.kind == "url":
        raise UserError(f"{role}: a model cannot come from a URL; use hub:ID or a local folder")
    if source.kind == "path":
        path = existing_path(source, role=role)
        if path.suffix == ".gguf":
            path = _converted_gguf(path, role)
        location = str(path)
    else:
        ensure_hub_reachable(source, role)
        location = source.value
    try:
        extra = {"attn_implementation": "eager"} if attentions else {}
        model, loading = AutoModelForCausalLM.from_pretrained(
            location, dtype=dtype, output_loading_info=True, **extra
        )
    except SafetensorError as error:
        raise UserError(_damaged_weights(role, source.text, error)) from None
    except pickle.UnpicklingError:
        raise _pickled_weights(role, source.text) from None
    except ValueError as error:
        if "Unrecognized configuration class" in str(error):
            raise UserError(f"{role}: {source.text} is not a causal language model") from None
        raise UserError(f"{role}: cannot load {source.text}: {_first_line(error)}") from None
    except OSError as error:
        if source.kind == "hub":
            raise hub_error(source, role, error) from None
        raise UserError(f"{role}: cannot load {source.text}: {_first_line(error)}") from None
    if loading["missing_keys"]:
        # An encoder (e.g. BERT) maps to a "...LMHeadModel" whose head it never trained.
        raise UserError(
            f"{role}: {source.text} is not a causal language model (it has no weights for "
            f"{sorted(loading['missing_keys'])[0]})"
        )
    tokenizer = load_tokenizer(str(path) if source.kind == "path" else source_text, role=role)
    _ensure_pad(tokenizer)
    return model, tokenizer


def _ensure_pad(tokenizer) -> None:
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token


def _damaged_weights(role: str, where: str, error: Exception) -> str:
    return (
        f"{role}: the weights in {where} are damaged or truncated ({_first_line(error)}); "
        "download or re-create the model folder"
    )


def _pickled_weights(role: str, where: str) -> UserError:
    """A pickled weights file (pytorch_model.bin) that torch's weights-only loading refused:
    it holds objects other than tensors, and unpickling those can run any code."""
    return UserError(
        f"{role}: the weights file in {where} is a pickle holding more than tensors; it is not "
        "loaded, for safety (unpickling it could run code); give the weights as "
        "model.safetensors, or as a weights-only state dict (tensors only)"
    )


#: What a damaged GGUF file raises inside the GGUF reader, besides OSError / ValueError.
_GGUF_ERRORS = (OSError, ValueError, ImportError, struct.error, EOFError, IndexError, KeyError)


def _gguf_reason(error: Exception) -> str:
    if isinstance(error, (struct.error, EOFError)):
        return "the file ends too early (truncated); download it again"
    return _first_line(error)


def _check_gguf(path: Path, role: str) -> None:
    """Refuse a file that does not start like a GGUF file, before any parser sees it."""
    with path.open("rb") as handle:
        head = handle.read(24)
    if len(head) < 24 or head[:4] != b"GGUF":
        raise UserError(
            f"{role}: {path} is not a GGUF file (too short or no GGUF magic); download it again"
        )


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _converted_gguf(path: Path, role: str) -> Path:
    """Dequantise a GGUF file once into a cached HF folder (safetensors); reuse it after."""
    from transformers import AutoModelForCausalLM

    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    target = cache_dir() / "gguf" / f"{path.stem}-{key.hexdigest()[:12]}"
    if (target / "config.json").exists():
        return target
    _check_gguf(path, role)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32
        )
    except _GGUF_ERRORS as error:
        raise UserError(f"{role}: cannot read GGUF file {path}: {_gguf_reason(error)}") from None
    tokenizer = _gguf_tokenizer(path, role)
    # The weights are dequantised already, but transformers still marks the model as a GGUF
    # one and refuses to save it: rebuild a plain float32 model from the same config.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    with atomic_path(target) as tmp:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target


def _gguf_tokenizer(path: Path, role: str):
    from transformers import AutoTokenizer

    _check_gguf(path, role)
    try:
        return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except _GGUF_ERRORS as error:
        reason = _gguf_reason(error)
        raise UserError(f"{role}: cannot read the tokenizer of {path}: {reason}") from None
