"""The study's published numbers, as data, for the report's side-by-side columns.

Provenance: transcribed by hand from the study's write-up (kept outside the repository; where a
copy sits at ../shared/STUDY.md, tests/test_report.py checks every number against it), which
quotes the course study "Reconstructing GPT-2: Pretraining, Fine-Tuning, and
Cross-Lingual Generalization in Transformer Models" and its notebook. Section numbers below are
the study's. Accuracies are test-set percentages unless named otherwise; nothing here is computed.
When the write-up and the notebook disagree, both are kept under separate names.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from regpt2.config.params import Selection

#: Chance accuracy on XNLI (three balanced labels), in percent.
CHANCE: Final = 100.0 / 3.0


def _frozen(values: dict) -> MappingProxyType:
    return MappingProxyType(values)


# ---------------------------------------------------------------- 1. toy pretraining
#: "Global Avg Train Loss": cumulative mean per-step loss over 3 epochs, padding included.
PRETRAIN_GLOBAL_AVG_TRAIN_LOSS: Final = 2.8317

# ---------------------------------------------------------------- 2. English NLI
#: Baseline English fine-tuning (lr 5e-5, batch 4): dev / test accuracy and train loss.
FINETUNE_EN_BASELINE: Final = _frozen({"dev": 79.52, "test": 78.82, "train_loss": 0.6160})

#: Hyperparameter variants of the English fine-tuning, keyed by the change from the baseline.
FINETUNE_EN_VARIANTS: Final = _frozen(
    {
        "baseline (lr 5e-5, batch 4)": FINETUNE_EN_BASELINE,
        "lr 1e-4": _frozen({"dev": 75.46, "test": 74.01, "train_loss": 0.6930}),
        "lr 1e-5": _frozen({"dev": 81.16, "test": 81.08, "train_loss": 0.5881}),
        "batch 8": _frozen({"dev": 80.92, "test": 80.20, "train_loss": 0.5952}),
    }
)

# ---------------------------------------------------------------- 3. multilingual NLI
#: Zero-shot test accuracy of the English fine-tuned GPT-2 on every XNLI language.
ZEROSHOT: Final = _frozen(
    {
        "en": 78.82, "de": 40.76, "es": 46.17, "fr": 42.18, "ar": 35.89,
        "bg": 37.23, "el": 35.09, "hi": 34.77, "ru": 37.64, "sw": 36.51,
        "th": 34.71, "tr": 38.00, "ur": 34.89, "vi": 36.97, "zh": 37.62,
    }
)  # fmt: skip

#: GPT-2 tokens per whitespace word on the first 1% of XNLI-MT training rows.
FERTILITY: Final = _frozen(
    {
        "en": 1.11, "es": 1.83, "fr": 1.75, "de": 2.10, "sw": 2.08,
        "tr": 2.73, "vi": 3.62, "zh": 3.77, "ar": 4.70, "hi": 5.12,
        "ur": 5.16, "bg": 5.53, "ru": 5.90, "el": 6.16, "th": 9.48,
    }
)  # fmt: skip

#: The tier rule's thresholds (Tier 1: fertility < 2.5 and zero-shot > 40%; Tier 3:
#: fertility > 3.5 and zero-shot < 30%; everything else Tier 2).
TIER1_MAX_FERTILITY: Final = 2.5
TIER1_MIN_ACCURACY: Final = 40.0
TIER3_MIN_FERTILITY: Final = 3.5
TIER3_MAX_ACCURACY: Final = 30.0

#: The languages the study chose for per-language fine-tuning.
SELECTED_LANGUAGES: Final = ("es", "fr", "de", "bg", "ar", "el", "hi")

#: Per-language fine-tuning (first 1% of rows) as the write-up reported it.
PER_LANGUAGE_REPORTED: Final = _frozen(
    {"de": 45.11, "es": 53.11, "fr": 49.40, "ar": 38.38, "bg": 33.41, "el": 35.43, "hi": 33.37}
)

#: Per-language fine-tuning as the study's own notebook printed it (differs from the write-up).
PER_LANGUAGE_NOTEBOOK: Final = _frozen(
    {"de": 47.45, "es": 50.46, "fr": 50.78, "ar": 37.17, "bg": 33.33, "el": 33.29, "hi": 33.79}
)

#: All-language fine-tuning (English + the 7 languages), notebook only: never in the write-up.
ALL_LANGUAGE_NOTEBOOK: Final = _frozen(
    {
        "en": 65.39, "de": 50.58, "es": 53.47, "fr": 52.79,
        "ar": 43.65, "bg": 41.22, "el": 41.94, "hi": 40.12,
    }
)  # fmt: skip

# ---------------------------------------------------------------- 4. extensions
#: Zero-shot translation heuristics on a 1-5 scale: (grammar, meaning).
TRANSLATION: Final = _frozen(
    {
        "es": _frozen({"grammar": 4.34, "meaning": 1.27}),
        "fr": _frozen({"grammar": 4.26, "meaning": 1.28}),
        "de": _frozen({"grammar": 4.25, "meaning": 1.26}),
        "el": _frozen({"grammar": 4.13, "meaning": 1.25}),
        "ar": _frozen({"grammar": 4.11, "meaning": 1.22}),
        "bg": _frozen({"grammar": 4.05, "meaning": 1.19}),
        "hi": _frozen({"grammar": 3.98, "meaning": 1.16}),
    }
)

#: Reported Pearson r between translation grammar and NLI accuracy.
TRANSLATION_GRAMMAR_NLI_PEARSON: Final = 0.895

#: Layer similarity to English (pretrained GPT-2, 4 parallel sentences): early = layers 0-3,
#: late = layers 8-11, gain = late - early.
PROBE: Final = _frozen(
    {
        "es": _frozen({"early": 0.9486, "late": 0.9654, "gain": 0.0168}),
        "de": _frozen({"early": 0.9452, "late": 0.9532, "gain": 0.0080}),
        "el": _frozen({"early": 0.6959, "late": 0.7973, "gain": 0.1014}),
    }
)

#: LoRA-tuned Qwen2.5-0.5B test accuracy (the GPT-2 side is ZEROSHOT), 5 languages only.
QWEN_LORA: Final = _frozen({"en": 84.21, "th": 63.39, "ar": 67.66, "de": 71.14, "zh": 71.50})

# ---------------------------------------------------------------- reference points
#: mBERT zero-shot XNLI test accuracy (from elsewhere; context only).
MBERT_ZEROSHOT: Final = _frozen(
    {"en": 81.4, "es": 74.3, "de": 70.5, "zh": 63.8, "ar": 62.1, "ur": 58.3}
)

#: GPT-2 token counts relative to English on FLORES (Petrov et al. 2023).
FLORES_TOKENS_VS_EN: Final = _frozen(
    {
        "es": 1.99, "fr": 2.00, "de": 2.14, "sw": 2.13, "tr": 2.43, "zh": 3.21, "ar": 4.40,
        "vi": 4.54, "bg": 5.51, "ru": 5.74, "ur": 6.30, "el": 6.54, "hi": 7.46, "th": 9.05,
    }
)  # fmt: skip


#: The study's tier rule: the project's rule (`regpt2.config.params.Selection.tier`) at its
#: thresholds.
STUDY_TIER_RULE: Final = Selection(
    tier1_max_fertility=TIER1_MAX_FERTILITY,
    tier1_min_accuracy=TIER1_MIN_ACCURACY,
    tier3_min_fertility=TIER3_MIN_FERTILITY,
    tier3_max_accuracy=TIER3_MAX_ACCURACY,
)


def study_tier(fertility: float, accuracy: float) -> int:
    """The study's tier rule (1, 2 or 3) for one language."""
    return STUDY_TIER_RULE.tier(fertility, accuracy)


#: The study's tier of every language it has both numbers for (computed from its own tables).
TIERS: Final = _frozen(
    {lang: study_tier(FERTILITY[lang], ZEROSHOT[lang]) for lang in FERTILITY if lang in ZEROSHOT}
)
