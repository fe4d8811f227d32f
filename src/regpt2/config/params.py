"""Typed, validated view of params.yaml.

Every stage reads its section through `load_params()`. Unknown keys, wrong types and values out
of range fail with one line naming the key, so a typo in `dvc exp run -S ...` never runs a
silently different experiment.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML, YAMLError

from regpt2.core.errors import UserError
from regpt2.core.languages import LABELS, check_language, check_languages

PARAMS_FILE = Path("params.yaml")
PROFILES_DIR = Path("profiles")

PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]
Limit = Annotated[int, Field(gt=0)] | None
Languages = Annotated[
    list[str], AfterValidator(lambda codes: _as_value_error(check_languages, codes))
]
Split = Literal["train", "dev", "test"]


def _bf16_setting(value: object) -> object:
    # Checked before the union below: pydantic would report one error per member of the union
    # ("bf16.literal['auto']: Input should be 'auto'; and 1 more problem(s)").
    if value == "auto" or isinstance(value, bool):
        return value
    raise ValueError("must be auto, true or false")


# bf16 autocast: "auto" (where the hardware has native bf16 and it is faster, per path; see
# regpt2.core.precision), true (force) or false.
Bf16 = Annotated[Literal["auto"] | bool, BeforeValidator(_bf16_setting)]


def _layer_pair(value: object) -> object:
    if isinstance(value, list) and len(value) != 2:
        raise ValueError("expected two layer indices, [first, last]")
    return value


def _layers_in_order(pair: list[int]) -> list[int]:
    if pair[0] > pair[1]:
        raise ValueError("the first layer comes after the last; write the range as [first, last]")
    return pair


LayerRange = Annotated[  # [first, last], inclusive
    list[NonNegativeInt], BeforeValidator(_layer_pair), AfterValidator(_layers_in_order)
]


class Section(BaseModel):
    """Base of every section: no unknown keys, no silent coercion of strings to numbers."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Sources(Section):
    pretrain_text: str
    pretrain_text_sha256: str = ""
    tokenizer: str
    xnli: str
    gpt2: str
    qwen: str
    qwen_tokenizer: str


class Demo(Section):
    pretrain_documents: PositiveInt
    pretrain_other_language_documents: NonNegativeInt
    train_rows: PositiveInt
    dev_rows: PositiveInt
    test_rows: PositiveInt
    tokenizer_vocab_size: Annotated[int, Field(ge=300)]
    qwen_vocab_size: Annotated[int, Field(ge=300)]


class Tokenize(Section):
    seed: int
    context_length: Annotated[int, Field(ge=8)]
    validation_fraction: Annotated[float, Field(gt=0, lt=1)]


class Loop(Section):
    """The one training loop's settings: the `training:` block of every training stage (pretrain
    and every fine-tuning stage) starts with these keys."""

    seed: int
    epochs: PositiveInt
    batch_size: PositiveInt
    grad_accum: PositiveInt
    lr: PositiveFloat
    weight_decay: NonNegativeFloat
    # regpt2 = the hand-written AdamW (the study's); torch = torch.optim.AdamW.
    optimizer: Literal["regpt2", "torch"]
    bf16: Bf16


class Pretrain(Section):
    n_embd: PositiveInt
    n_layer: PositiveInt
    n_head: PositiveInt
    n_inner: PositiveInt
    eval_batch_size: PositiveInt
    # The study's loss counted the padding positions (pad = EOS); false trains on real tokens.
    loss_on_padding: bool
    training: Loop

    @model_validator(mode="after")
    def _heads_divide_width(self) -> Pretrain:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        return self


class Nli(Section):
    template: str
    label_digits: dict[str, str]
    max_length: Annotated[int, Field(ge=16)]
    eval_batch_size: PositiveInt
    bootstrap_resamples: PositiveInt
    # Precision of every NLI evaluation (test sets, zero-shot, the dev scores inside training).
    bf16: Bf16

    @field_validator("template")
    @classmethod
    def _template_fields(cls, template: str) -> str:
        for field in ("{premise}", "{hypothesis}"):
            if field not in template:
                raise ValueError(f"the prompt template must contain {field}")
        try:  # any other placeholder or a stray brace would fail at the first prompt
            template.format(premise="", hypothesis="")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(
                f"the prompt template cannot be rendered ({type(error).__name__}: {error}); "
                "only {premise} and {hypothesis} may appear in braces (write {{ or }} for a "
                "literal brace)"
            ) from None
        return template

    @field_validator("label_digits")
    @classmethod
    def _one_distinct_token_per_label(cls, digits: dict[str, str]) -> dict[str, str]:
        if sorted(digits) != sorted(LABELS):
            raise ValueError(f"label_digits needs exactly the labels {', '.join(LABELS)}")
        if len(set(digits.values())) != len(LABELS) or not all(digits.values()):
            raise ValueError("label_digits must map the labels to distinct, non-empty strings")
        return digits


class Training(Loop):
    """The training block of every fine-tuning stage (English, per-language, all-language, LoRA):
    the loop's settings (`Loop`), the rows it trains on and the dev scores that pick the
    checkpoint. Everything here changes the trained model; nothing that only scores a finished
    model belongs here."""

    train_split: Split
    dev_split: Split
    train_limit: Limit = None
    dev_limit: Limit = None
    # > 0: the last N rows of the training split are held out as the dev set (dev_split is then
    # unused). For sources without a training split, e.g. training on XNLI dev.
    dev_holdout: NonNegativeInt = 0
    # Evaluate on dev every N optimizer steps and keep the best checkpoint; 0 = end of epoch.
    eval_every: NonNegativeInt
    # Batch size of those dev evaluations (it picks the checkpoint, so it is a training knob).
    dev_batch_size: PositiveInt


class TestSet(Section):
    """Where a fine-tuned model is scored: the first `test_limit` rows of `test_split`."""

    test_split: Split
    test_limit: Limit = None


class FinetuneEn(TestSet):
    language: str
    training: Training

    @field_validator("language")
    @classmethod
    def _known_language(cls, code: str) -> str:
        return _as_value_error(check_language, code)


class Evaluation(Section):
    """Which languages and split a stage reads (the first `limit` rows of each)."""

    languages: Languages
    split: Split
    limit: Limit = None


class Zeroshot(Evaluation):
    pass


class Untuned(Evaluation):
    """The pretrained models before any NLI fine-tuning, scored like every evaluation: the floor
    of the zero-shot and LoRA tables. `models` names the sources scored (`gpt2`, `qwen`)."""

    models: Annotated[list[Literal["gpt2", "qwen"]], Field(min_length=1)]


class Analysis(Section):
    """How `analyze` tests the study's claims: every comparison of two models on the same rows
    is a paired bootstrap over premises with `resamples` draws from `seed`."""

    resamples: Annotated[int, Field(ge=1000)]
    seed: int


class Fertility(Evaluation):
    pass


class Selection(Section):
    """The tier rule's thresholds (fertility, zero-shot accuracy in percent) and the rule."""

    tier1_max_fertility: PositiveFloat
    tier1_min_accuracy: Annotated[float, Field(ge=0, le=100)]
    tier3_min_fertility: PositiveFloat
    tier3_max_accuracy: Annotated[float, Field(ge=0, le=100)]

    def tier(self, fertility: float, accuracy: float) -> int:
        """Tier 1: low fertility and good transfer; tier 3: high fertility and poor transfer;
        everything between is tier 2. The one implementation of the rule (see
        `regpt2.studies.selection.assign_tier` and `regpt2.analysis.published.study_tier`)."""
        if fertility < self.tier1_max_fertility and accuracy > self.tier1_min_accuracy:
            return 1
        if fertility > self.tier3_min_fertility and accuracy < self.tier3_max_accuracy:
            return 3
        return 2


class Subset(Section):
    fraction: Fraction
    mode: Literal["head", "random"]


class FinetunePerLang(TestSet):
    languages: dict[str, Subset]
    # The model every per-language run starts from: `pretrained` (sources.gpt2, as the study
    # did) or `finetune_en` (the English fine-tuned model; a deviation the report names).
    start: Literal["pretrained", "finetune_en"]
    training: Training

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, entries: dict[str, Subset]) -> dict[str, Subset]:
        _as_value_error(check_languages, list(entries))
        return entries


class FinetuneAll(Subset, TestSet):
    languages: Languages
    eval_languages: Languages
    training: Training


def translation_template_problem(template: object) -> str | None:
    """Why `template` cannot be a translation prompt, or None: it needs {text}, may use {lang},
    nothing else, and must render. The one rule for params.yaml's check and the translate study
    (here, so that checking params.yaml never imports torch)."""
    if not isinstance(template, str) or not template.strip():
        return "is empty; it needs a {text} field"
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(template)
            if name is not None
        ]
        template.format(lang="English", text="source sentence")
    except (KeyError, IndexError, ValueError) as error:
        return (
            f"cannot be rendered ({type(error).__name__}: {error}); only {{lang}} and {{text}} may "
            "appear in braces (write {{ or }} for a literal brace)"
        )
    odd = [name for name, spec, conv in fields if name not in ("lang", "text") or spec or conv]
    if odd:
        return (
            f"has field {{{odd[0]}}}; only {{lang}} and {{text}} are allowed, without format "
            "specs or conversions"
        )
    if "text" not in {name for name, _, _ in fields}:
        return "has no {text} field for the sentence to translate"
    return None


class Translate(Section):
    seed: int
    languages: Languages
    split: Split
    samples: PositiveInt
    min_words: NonNegativeInt
    max_words: PositiveInt
    templates: list[str]
    selection_samples: PositiveInt
    do_sample: bool
    temperature: PositiveFloat
    top_k: PositiveInt | None = None
    no_repeat_ngram_size: NonNegativeInt
    tokens_per_word: PositiveInt
    batch_size: PositiveInt
    bf16: Bf16

    @field_validator("max_words")
    @classmethod
    def _words_range(cls, max_words: int, info: ValidationInfo) -> int:
        min_words = info.data.get("min_words")  # absent when min_words itself is invalid
        if min_words is not None and min_words > max_words:
            raise ValueError(
                f"must not be below translate.min_words ({min_words}); no sentence would fit"
            )
        return max_words

    @field_validator("templates")
    @classmethod
    def _templates_render(cls, templates: list[str]) -> list[str]:
        if not templates:
            raise ValueError("give at least one translation template")
        for number, template in enumerate(templates, start=1):
            if problem := translation_template_problem(template):
                raise ValueError(f"template {number} ({template!r}) {problem}")
        return templates


class Probe(Section):
    seed: int
    languages: Languages
    split: Split
    rows: PositiveInt
    max_length: Annotated[int, Field(ge=2)]
    batch_size: PositiveInt
    # 0: layer 0 is the embeddings (the study's hidden_states[0]); 1: layer 0 is the first block.
    first_hidden_state: Literal[0, 1]
    early_layers: LayerRange
    late_layers: LayerRange
    depth_policy: Literal["scale", "clip", "error"]
    bootstrap_resamples: PositiveInt
    bf16: Bf16

    @field_validator("languages")
    @classmethod
    def _english_included(cls, codes: list[str]) -> list[str]:
        if "en" not in codes:
            raise ValueError("probe compares every language with English: include en")
        return codes


class Lora(Section):
    r: PositiveInt
    alpha: PositiveInt
    dropout: Annotated[float, Field(ge=0, lt=1)]
    target_modules: Annotated[list[str], Field(min_length=1)]
    bias: Literal["none", "all", "lora_only"]


class QwenLora(FinetuneEn):
    languages: Languages
    lora: Lora
    # Save the adapter merged into the base weights (a plain model folder) instead of PEFT's.
    merge: bool


def _as_value_error(check, value):
    """Run a regpt2 check inside a pydantic validator (pydantic reports ValueError per key)."""
    try:
        return check(value)
    except UserError as error:
        raise ValueError(str(error)) from None


class Params(Section):
    profile: str
    launcher: str
    sources: Sources
    demo: Demo
    tokenize: Tokenize
    pretrain: Pretrain
    nli: Nli
    finetune_en: FinetuneEn
    zeroshot: Zeroshot
    untuned: Untuned
    fertility: Fertility
    selection: Selection
    analysis: Analysis
    finetune_per_lang: FinetunePerLang
    finetune_all: FinetuneAll
    translate: Translate
    probe: Probe
    qwen_lora: QwenLora

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, name: str) -> str:
        known = available_profiles()
        if known and name not in known:
            raise ValueError(f"unknown profile {name!r}; known profiles: {', '.join(known)}")
        return name


def available_profiles(root: Path | None = None) -> list[str]:
    directory = (root or Path.cwd()) / PROFILES_DIR
    return sorted(path.stem for path in directory.glob("*.yaml"))


def load_params(path: str | os.PathLike = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; any problem becomes a one-line UserError."""
    path = Path(path)
    try:
        # YAML 1.2 (ruamel, as DVC writes it): `1e-5` is a float, not the string PyYAML makes.
        raw = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: not found; run from the project root") from None
    except YAMLError as error:
        raise UserError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections at the top level")
    return validate_params(raw, origin=str(path))


def validate_params(raw: dict, origin: str = "params") -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        got = first.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        message = first["msg"].removeprefix("Value error, ")
        more = f"; and {error.error_count() - 1} more problem(s)" if error.error_count() > 1 else ""
        raise UserError(f"{origin}: {key}: {message}{shown}{more}") from None
