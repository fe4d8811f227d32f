"""The shape of the hand-written GPT-2 (`GPT2Config`), validated, and its conversion to and from
`transformers.GPT2Config`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from regpt2.core.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    import transformers

# HF GPT-2's default special token id (<|endoftext|>).
_GPT2_EOS = 50256
# Activations equal to HF GPT-2's `gelu_new` (the tanh approximation).
_TANH_GELU = ("gelu_new", "gelu_pytorch_tanh", "gelu_fast")


@dataclass
class GPT2Config:
    """Shape of a GPT-2 model. `n_inner` defaults to 4 * n_embd; one dropout rate is used for
    the embeddings, the attention probabilities and both residual branches.

    `bos_token_id` / `eos_token_id` / `pad_token_id` only travel to the exported HF config; when
    left None, bos/eos take GPT-2's 50256 if the vocabulary has that id.
    """

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    layer_norm_epsilon: float = 1e-5
    dropout: float = 0.0
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    pad_token_id: int | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            _check_positive_int(name, getattr(self, name))
        if self.n_inner is not None:
            _check_positive_int("n_inner", self.n_inner)
        if self.n_embd % self.n_head:
            raise UserError(
                f"GPT2Config: n_embd={self.n_embd} is not divisible by n_head={self.n_head}; "
                "choose n_embd as a multiple of n_head"
            )
        eps = self.layer_norm_epsilon
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps < 1:
            raise UserError(f"GPT2Config: layer_norm_epsilon={eps!r} must be a number in (0, 1)")
        p = self.dropout
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p < 1:
            raise UserError(f"GPT2Config: dropout={p!r} must be a number in [0, 1)")
        for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UserError(f"GPT2Config: {name}={value!r} must be a non-negative int or null")

    @property
    def inner_dim(self) -> int:
        """Hidden size of the MLP."""
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GPT2Config:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"GPT2Config: unknown keys {unknown}; known keys are {sorted(known)}")
        return cls(**data)

    def to_hf(self) -> transformers.GPT2Config:
        """The equivalent `transformers.GPT2Config` (activation gelu_new, tied embeddings)."""
        import transformers

        default_special = _GPT2_EOS if self.vocab_size > _GPT2_EOS else None
        return transformers.GPT2Config(
            vocab_size=self.vocab_size,
            n_positions=self.n_positions,
            n_embd=self.n_embd,
            n_layer=self.n_layer,
            n_head=self.n_head,
            n_inner=self.n_inner,
            activation_function="gelu_new",
            resid_pdrop=self.dropout,
            embd_pdrop=self.dropout,
            attn_pdrop=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            initializer_range=0.02,
            bos_token_id=self.bos_token_id if self.bos_token_id is not None else default_special,
            eos_token_id=self.eos_token_id if self.eos_token_id is not None else default_special,
            pad_token_id=self.pad_token_id,
            tie_word_embeddings=True,
            architectures=["GPT2LMHeadModel"],
        )

    @classmethod
    def from_hf(cls, hf_config: Any, dropout: float | None = None) -> GPT2Config:
        """Read a `transformers.GPT2Config`. Variants this model does not implement raise
        UserError. HF has three dropout rates; they must agree unless `dropout` is given."""

        def get(name: str, default: Any = None) -> Any:
            return getattr(hf_config, name, default)

        model_type = getattr(hf_config, "model_type", "gpt2")
        if model_type != "gpt2":
            raise UserError(f"GPT2Config.from_hf: model_type {model_type!r} is not 'gpt2'")
        unsupported = []
        if get("activation_function", "gelu_new") not in _TANH_GELU:
            unsupported.append(f"activation_function={get('activation_function')!r}")
        if get("scale_attn_weights", True) is not True:
            unsupported.append("scale_attn_weights=False")
        if get("scale_attn_by_inverse_layer_idx", False):
            unsupported.append("scale_attn_by_inverse_layer_idx=True")
        if get("add_cross_attention", False):
            unsupported.append("add_cross_attention=True")
        if not getattr(hf_config, "tie_word_embeddings", True):
            unsupported.append("tie_word_embeddings=False")
        if unsupported:
            raise UserError(
                "GPT2Config.from_hf: the hand-written GPT-2 does not implement "
                + ", ".join(unsupported)
                + "; use the HF model directly"
            )
        if dropout is None:
            rates = {
                float(get("resid_pdrop", 0.1)),
                float(get("embd_pdrop", 0.1)),
                float(get("attn_pdrop", 0.1)),
            }
            if len(rates) != 1:
                raise UserError(
                    f"GPT2Config.from_hf: HF dropout rates differ ({sorted(rates)}); "
                    "pass dropout= to choose the single rate this model uses"
                )
            dropout = rates.pop()
        eos = get("eos_token_id")
        if isinstance(eos, list):
            eos = eos[0] if eos else None
        return cls(
            vocab_size=hf_config.vocab_size,
            n_positions=hf_config.n_positions,
            n_embd=hf_config.n_embd,
            n_layer=hf_config.n_layer,
            n_head=hf_config.n_head,
            n_inner=get("n_inner"),
            layer_norm_epsilon=float(get("layer_norm_epsilon", 1e-5)),
            dropout=dropout,
            bos_token_id=get("bos_token_id"),
            eos_token_id=eos,
            pad_token_id=get("pad_token_id"),
        )


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UserError(f"GPT2Config: {name}={value!r} must be a positive integer")
