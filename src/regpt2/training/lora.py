"""LoRA adapters through peft, with a clear error for target modules the model does not have."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from regpt2.core.errors import UserError
from regpt2.sources.tokenizers import save_model_folder, save_tokenizer


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """Short names (last path component) of the model's Linear layers, sorted."""
    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear)
        }
    )


def apply_lora(
    model: torch.nn.Module,
    *,
    r: int,
    alpha: int,
    dropout: float,
    target_modules: list[str],
    bias: str = "none",
):
    """Wrap `model` with LoRA adapters; only the adapters (and biases, per `bias`) train."""
    from peft import LoraConfig, get_peft_model

    available = linear_module_names(model)
    missing = [name for name in target_modules if name not in available]
    if missing:
        raise UserError(
            f"LoRA target module(s) {', '.join(missing)} not found in the model; its linear "
            f"layers are: {', '.join(available)}"
        )
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        bias=bias,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable_parameters": trainable, "total_parameters": total}


# Where a saved adapter finds its base model when the base is not a hub id: a folder inside the
# adapter's own folder, named relative to the project root (PEFT resolves it from the working
# directory), so `AutoPeftModelForCausalLM.from_pretrained(folder)` works in a fresh process.
BASE_FOLDER = "base"


def save_adapter(model, tokenizer, directory: Path, *, merge: bool, base=None, final=None):
    """The adapter as a PEFT folder (adapter_config.json + safetensors) that loads on its own.

    `base` is an untouched copy of the base model to save under `base/` (for a base that is not
    a hub id: a demo model, a converted GGUF, a local folder); `final` is the folder's path
    after the atomic rename, which adapter_config.json names as the base. With `merge`, also
    the base with the adapter merged in, under `merged/`, loadable with AutoModelForCausalLM.
    Merging folds the adapter into `model`'s own weights: call it last."""
    final_base = None
    if base is not None:
        save_model_folder(base, tokenizer, directory / BASE_FOLDER)
        # While saving, PEFT reads the base's config.json (to tell whether the vocabulary was
        # resized), so the config names the copy that exists now; the final path is written
        # after (else PEFT warns that it "could not find a config file" there).
        _name_base(model, directory / BASE_FOLDER)
        final_base = Path(final or directory) / BASE_FOLDER
    model.save_pretrained(directory)
    if final_base is not None:
        _name_base(model, final_base)
    _rewrite_adapter_config(Path(directory) / "adapter_config.json", base=final_base)
    save_tokenizer(tokenizer, directory)
    if merge:
        merged = model.merge_and_unload()
        save_model_folder(merged, tokenizer, directory / "merged")


def _name_base(model, path: Path) -> None:
    for config in model.peft_config.values():
        config.base_model_name_or_path = str(path)


def _rewrite_adapter_config(config_path: Path, *, base: Path | None) -> None:
    """Name the base's final path, and sort target_modules: PEFT keeps them as a set and writes
    them in hash order, which changes from one process to the next; sorted, the saved folder is
    the same bytes on every run (DVC hashes it)."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if base is not None:
        config["base_model_name_or_path"] = str(base)
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")


def load_adapter_model(directory: Path, *, role: str):
    """(model, tokenizer) of a saved adapter folder, ready to evaluate: its base (as
    adapter_config.json names it) with the adapter merged into the weights.

    Merged, the model is a plain transformers model: the same function up to float rounding, but
    each adapted layer does one matmul instead of three and PEFT's wrappers are gone
    (bench/bench_lora_eval.py times both)."""
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    if not (Path(directory) / "adapter_config.json").is_file():
        raise UserError(f"{role}: {directory} has no adapter_config.json; rerun its stage")
    try:
        model = AutoPeftModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(directory))
    except (OSError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{role}: cannot load the adapter in {directory}: {reason}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.merge_and_unload().eval(), tokenizer
