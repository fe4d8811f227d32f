"""LoRA adapters through peft, with a clear error for target modules the model does not have."""

from __future__ import annotations

from pathlib import Path

import torch

from regpt2.errors import UserError


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


def save_adapter(model, tokenizer, directory: Path, *, merge: bool) -> None:
    """The adapter as a PEFT folder (adapter_config.json + safetensors); with `merge`, also the
    base model with the adapter merged in, under `merged/`, loadable with AutoModelForCausalLM.
    Merging folds the adapter into `model`'s own weights: call it last."""
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    if merge:
        merged = model.merge_and_unload()
        merged.save_pretrained(directory / "merged")
        tokenizer.save_pretrained(directory / "merged")
