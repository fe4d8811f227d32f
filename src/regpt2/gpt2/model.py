"""GPT-2 written by hand (nanoGPT-like), with Hugging Face weight import and export.

Its shape, `GPT2Config`, lives in `regpt2.gpt2.config`.

The module tree mirrors Hugging Face's `GPT2LMHeadModel` names (`transformer.wte`,
`transformer.h.{i}.attn.c_attn`, ...), so converting weights is a matter of transposing the
four projection matrices per block: HF stores them in `Conv1D` layers as (in, out), this model
uses `nn.Linear` with the usual (out, in) layout.

Calling convention (see docs/ARCHITECTURE.md): `model(input_ids, attention_mask=None,
output_hidden_states=False, output_attentions=False, labels=None, position_ids=None,
logits_to_keep=0)` returns a `CausalLMOutput` with `.logits` (B, T, V), `.hidden_states` (L + 1
tensors: embeddings, the outputs of blocks 0..L-2, and the output of the last block after the
final LayerNorm, exactly as HF does), `.attentions` (L tensors (B, H, T, T)) and `.loss` when
labels are given.

Positions are `0..T-1` unless `position_ids` are given (a left-padded batch passes ids that
count real tokens only). With an attention mask the causal mask is combined with the key
padding mask; a query row with no visible key at all (a padding position before the first
real token, i.e. left padding) attends uniformly to every key, as HF's eager attention does,
so no NaN ever appears; real positions never see padding either way.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from regpt2.core.errors import UserError
from regpt2.core.io import atomic_path
from regpt2.gpt2.config import GPT2Config

if TYPE_CHECKING:  # pragma: no cover
    import transformers

# Weights HF keeps in Conv1D layers, stored transposed relative to nn.Linear.
_CONV1D_SUFFIXES = (
    "attn.c_attn.weight",
    "attn.c_proj.weight",
    "mlp.c_fc.weight",
    "mlp.c_proj.weight",
)


def hf_no_init() -> contextlib.AbstractContextManager:
    """Transformers' context that skips random weight init (for models about to be overwritten);
    its module moved between versions, so fall back to a no-op context."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:
        try:
            from transformers.modeling_utils import no_init_weights
        except ImportError:  # pragma: no cover
            return contextlib.nullcontext()
    return no_init_weights()


@dataclass
class CausalLMOutput:
    """What `GPT2LMHead.forward` returns (the attributes of HF's causal-LM output)."""

    logits: torch.Tensor | None
    loss: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    # The final layer-normed hidden state (B, T, C), the LM head's input.
    last_hidden_state: torch.Tensor | None = None


def _next_token_loss(
    logits: torch.Tensor, labels: torch.Tensor, shape: tuple[int, int], logits_to_keep: int
) -> torch.Tensor:
    """Mean next-token cross-entropy of `labels` (B, T) against every position's logits; -100
    is ignored. The labels are shifted inside, as HF does."""
    if labels.shape != shape:
        raise UserError(f"labels has shape {tuple(labels.shape)}, expected {shape}")
    if logits_to_keep:
        raise UserError("labels need the logits of every position: drop logits_to_keep")
    # Shift the labels, not the logits: no (B, T-1, V) copy of the logits.
    labels = labels.to(logits.device)
    targets = torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], -100)], dim=1)
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(), targets.reshape(-1), ignore_index=-100
    )


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with one fused QKV projection."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.attn_dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, need_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`mask` is None (plain causal) or a boolean (B, 1, T, T) mask, True = may attend."""
        batch, seq, dim = x.shape
        q, k, v = self.c_attn(x).split(dim, dim=2)
        # (B, T, D) -> (B, H, T, hd)
        q = q.view(batch, seq, self.n_head, -1).transpose(1, 2)
        k = k.view(batch, seq, self.n_head, -1).transpose(1, 2)
        v = v.view(batch, seq, self.n_head, -1).transpose(1, 2)
        probs = None
        if need_weights:
            # Explicit attention: SDPA does not return the probabilities.
            if mask is None:
                mask = torch.ones(seq, seq, dtype=torch.bool, device=x.device).tril()
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            probs = torch.softmax(scores, dim=-1)
            y = self.attn_dropout(probs) @ v
        else:
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask,
                dropout_p=self.dropout if self.training else 0.0,
                is_causal=mask is None,
            )
        y = y.transpose(1, 2).reshape(batch, seq, dim)
        return self.resid_dropout(self.c_proj(y)), probs


class MLP(nn.Module):
    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, config.inner_dim)
        self.c_proj = nn.Linear(config.inner_dim, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # HF GPT-2's gelu_new is exactly the tanh approximation of GELU.
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, need_weights: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attn_out, probs = self.attn(self.ln_1(x), mask, need_weights)
        x = x + attn_out
        x = x + self.mlp(self.ln_2(x))
        return x, probs


class GPT2LMHead(nn.Module):
    """GPT-2 language model: embeddings, pre-LN blocks, final LayerNorm, tied LM head."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        if not isinstance(config, GPT2Config):
            raise UserError(f"GPT2LMHead needs a regpt2.gpt2.config.GPT2Config, got {type(config)}")
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.n_positions, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(Block(config) for _ in range(config.n_layer)),
                ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied
        self.reset_parameters()

    # ------------------------------------------------------------------ init / info
    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2 init: N(0, 0.02) for embeddings and linear weights, residual projections
        N(0, 0.02 / sqrt(2 * n_layer)), zero biases, unit LayerNorms. Uses torch's global RNG."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                if module is self.lm_head:
                    continue  # tied to wte
                std = residual_std if name.endswith("c_proj") else 0.02
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of distinct parameters (the tied LM head counts once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    @property
    def device(self) -> torch.device:
        return self.transformer.wte.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.wte.weight.dtype

    def get_input_embeddings(self) -> nn.Embedding:
        return self.transformer.wte

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    # ------------------------------------------------------------------ forward
    def _attention_mask(self, attention_mask: torch.Tensor, batch: int, seq: int) -> torch.Tensor:
        """Boolean (B, 1, T, T) mask from a (B, T) 1/0 key padding mask, combined with causality.
        Rows with nothing visible (padding before any real token) attend to every key."""
        keys = attention_mask.to(device=self.device, dtype=torch.bool)
        causal = torch.ones(seq, seq, dtype=torch.bool, device=keys.device).tril()
        mask = causal & keys[:, None, :]  # (B, T, T)
        mask = mask | ~mask.any(dim=-1, keepdim=True)
        return mask.unsqueeze(1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        labels: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        logits_to_keep: int = 0,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        output_logits: bool = True,
    ) -> CausalLMOutput:
        """Logits for every position (or the last `logits_to_keep`). `labels` (B, T), -100 =
        ignored, gives the mean next-token cross-entropy in `.loss` (shifted inside, as HF
        does). `position_ids` (B, T) or (T,) default to 0..T-1. `output_logits=False` skips
        the LM head (`.logits` is None) for callers that apply it themselves from
        `.last_hidden_state`, as pretraining's chunked loss does. `use_cache` and `return_dict`
        are accepted for HF compatibility and ignored (no KV cache; always an object).
        """
        del use_cache, return_dict
        mask = self._checked_mask(input_ids, attention_mask)
        tr = self.transformer
        # Left-padded batches pass position ids that count real tokens only.
        positions = (
            torch.arange(input_ids.shape[1], device=input_ids.device)
            if position_ids is None
            else position_ids
        )
        x = tr.drop(tr.wte(input_ids) + tr.wpe(positions))
        hidden: list[torch.Tensor] = []
        attentions: list[torch.Tensor] = []
        for block in tr.h:
            if output_hidden_states:
                hidden.append(x)
            x, probs = block(x, mask, output_attentions)
            if output_attentions:
                attentions.append(probs)
        x = tr.ln_f(x)
        if output_hidden_states:
            hidden.append(x)
        states = {
            "hidden_states": tuple(hidden) if output_hidden_states else None,
            "attentions": tuple(attentions) if output_attentions else None,
            "last_hidden_state": x,
        }
        if not output_logits:
            if labels is not None:
                raise UserError("labels need the logits: drop output_logits=False")
            return CausalLMOutput(logits=None, **states)
        # As in HF: logits for the last `logits_to_keep` positions only (0 = all). Scoring reads
        # one position per example, which spares the (B, T, vocab) logits tensor.
        logits = self.lm_head(x[:, -logits_to_keep:] if logits_to_keep else x)
        loss = None
        if labels is not None:
            loss = _next_token_loss(logits, labels, tuple(input_ids.shape), logits_to_keep)
        return CausalLMOutput(logits=logits, loss=loss, **states)

    def _checked_mask(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Check the inputs' shapes; the (B, 1, T, T) attention mask, or None for plain causal
        attention (no mask, or one without padding)."""
        if input_ids.dim() != 2:
            raise UserError(f"input_ids must be (batch, seq), got shape {tuple(input_ids.shape)}")
        batch, seq = input_ids.shape
        if seq > self.config.n_positions:
            raise UserError(
                f"sequence length {seq} exceeds the model's context n_positions="
                f"{self.config.n_positions}; truncate the inputs"
            )
        if attention_mask is None:
            return None
        if attention_mask.shape != (batch, seq):
            raise UserError(
                f"attention_mask has shape {tuple(attention_mask.shape)}, expected "
                f"{(batch, seq)} like input_ids"
            )
        if bool(attention_mask.all()):
            return None  # no padding: the fast is_causal path
        return self._attention_mask(attention_mask, batch, seq)

    # ------------------------------------------------------------------ HF import / export
    def hf_state_dict(self) -> dict[str, torch.Tensor]:
        """A copy of the weights under HF GPT2LMHeadModel names and layouts (Conv1D transposed)."""
        out = {}
        for key, tensor in self.state_dict().items():
            if key.endswith(_CONV1D_SUFFIXES):
                tensor = tensor.t()
            out[key] = tensor.detach().clone(memory_format=torch.contiguous_format)
        return out

    @classmethod
    def from_hf_model(
        cls, hf_model: transformers.GPT2LMHeadModel, dropout: float | None = None
    ) -> GPT2LMHead:
        """Copy a `transformers.GPT2LMHeadModel` (same dtype and device, eval/train mode kept)."""
        config = GPT2Config.from_hf(hf_model.config, dropout=dropout)
        source = hf_model.state_dict()
        reference = next(iter(source.values()))
        with torch.device("meta"):
            model = cls(config)
        state = {}
        for key in model.state_dict():
            if key == "lm_head.weight":
                continue
            if key not in source:
                raise UserError(f"from_hf_model: the HF model has no weight {key!r}")
            tensor = source[key]
            state[key] = tensor.t() if key.endswith(_CONV1D_SUFFIXES) else tensor
        model.load_state_dict(
            {k: v.detach().clone(memory_format=torch.contiguous_format) for k, v in state.items()},
            strict=False,
            assign=True,
        )
        model.lm_head.weight = model.transformer.wte.weight  # re-tie after assign
        model.to(device=reference.device)
        model.train(hf_model.training)
        return model

    @classmethod
    def from_pretrained(
        cls, path_or_hub_id: str | os.PathLike, dropout: float | None = None
    ) -> GPT2LMHead:
        """Load HF GPT-2 weights (a local directory or a hub id, safetensors preferred)."""
        source = str(path_or_hub_id)
        local = Path(source)
        # A folder in exactly the layout `save_pretrained` writes loads without transformers'
        # GPT-2 module, whose import alone takes seconds in every stage that reads a model.
        if (model := cls._from_own_folder(local, dropout)) is not None:
            return model
        import transformers

        kwargs: dict[str, Any] = {}
        if local.is_dir() and any(local.glob("*.safetensors")):
            kwargs["use_safetensors"] = True
        from safetensors import SafetensorError

        try:
            hf_model = transformers.GPT2LMHeadModel.from_pretrained(source, **kwargs)
        except SafetensorError as error:
            raise UserError(
                f"cannot load GPT-2 weights from {source!r}: its model.safetensors is damaged or "
                f"truncated ({str(error).strip() or 'SafetensorError'}); download or re-create "
                "the model folder"
            ) from None
        except (OSError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise UserError(
                f"cannot load GPT-2 weights from {source!r}: {first} (give a directory with "
                "config.json + model.safetensors, or a hub id available offline)"
            ) from None
        return cls.from_hf_model(hf_model.eval(), dropout=dropout)

    @classmethod
    def _from_own_folder(cls, folder: Path, dropout: float | None) -> GPT2LMHead | None:
        """The model of a folder `save_pretrained` wrote (config.json + one fp32
        model.safetensors holding exactly this model's weights under HF names), read directly;
        None for any other folder, which transformers loads (tests/test_model.py checks both
        ways give the same model)."""
        config_path, weights_path = folder / "config.json", folder / "model.safetensors"
        if not (config_path.is_file() and weights_path.is_file()):
            return None
        try:
            hf_config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # transformers reports the bad file
        declared_dtype = hf_config.get("dtype", hf_config.get("torch_dtype", "float32"))
        shape_keys = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")
        if (
            hf_config.get("model_type") != "gpt2"
            or declared_dtype != "float32"
            or not all(key in hf_config for key in shape_keys)
        ):
            return None
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            source = load_file(weights_path)
        except (SafetensorError, OSError):
            return None
        config = GPT2Config.from_hf(SimpleNamespace(**hf_config), dropout=dropout)
        # Built on the CPU: a random init on the meta device imports torch's compiler (over a
        # second), more than initialising the weights costs. The global RNG is left as it was,
        # so loading a model never shifts a later seeded draw.
        with torch.random.fork_rng(devices=[]):
            model = cls(config)
        expected = {key for key in model.state_dict() if key != "lm_head.weight"}
        if set(source) != expected or any(t.dtype != torch.float32 for t in source.values()):
            return None
        state = {
            key: (tensor.t() if key.endswith(_CONV1D_SUFFIXES) else tensor).contiguous()
            for key, tensor in source.items()
        }
        model.load_state_dict(state, strict=False, assign=True)
        model.lm_head.weight = model.transformer.wte.weight  # re-tie after assign
        return model.eval()

    def to_hf_model(self) -> transformers.GPT2LMHeadModel:
        """A `transformers.GPT2LMHeadModel` with identical weights (same dtype and device)."""
        import transformers

        with hf_no_init():  # every weight is overwritten below
            hf_model = transformers.GPT2LMHeadModel(self.config.to_hf())
        hf_model.tie_weights()  # no_init_weights skips the tying as well
        state = self.hf_state_dict()
        missing, unexpected = hf_model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith(("attn.bias", "attn.masked_bias"))]
        if missing or unexpected:  # pragma: no cover - guards against HF renames
            raise RuntimeError(f"to_hf_model: missing {missing}, unexpected {unexpected}")
        hf_model.tie_weights()
        hf_model.to(device=self.device, dtype=self.dtype)
        hf_model.train(self.training)
        return hf_model

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write the HF format (config.json + model.safetensors) atomically, loadable with
        `transformers.GPT2LMHeadModel.from_pretrained(directory)` or `GPT2LMHead.from_pretrained`.
        """
        directory = Path(directory)
        hf_model = self.to_hf_model()
        with atomic_path(directory) as tmp:
            hf_model.save_pretrained(tmp)
        return directory
