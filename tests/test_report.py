"""The report stage: built from hand-written metrics (all stages, none, some), self-contained
HTML with no network reference, a Markdown twin, computed findings, and an offline render in
headless Chromium (skipped when no Chromium is installed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from regpt2.analysis import published as study
from regpt2.analysis.comparisons import (
    accuracy_changes,
    chance_tests,
    near_chance_tests,
    paired_tests,
    probe_tests,
    tier_contrast,
)
from regpt2.core.errors import UserError
from regpt2.nli.metrics import read_evaluation, summary, write_evaluation
from regpt2.nli.predictions import write_predictions as write_row_predictions
from regpt2.report import (
    Report,
    assemble_report,
    build_report,
    experiments_from_dvc,
    experiments_markdown,
    parse_exp_show,
)
from regpt2.report import experiments as experiments_module
from regpt2.report.document import Finding
from regpt2.report.sections.probe import probe_table

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_SOURCES = {
    "pretrain_text": "demo",
    "pretrain_text_sha256": "",
    "tokenizer": "demo",
    "xnli": "demo",
    "gpt2": "data/models/pretrain",
    "qwen": "demo",
    "qwen_tokenizer": "demo",
}
PAPER_SOURCES = {
    **DEMO_SOURCES,
    "pretrain_text": "url:https://example.org/t.txt",
    "tokenizer": "hub:gpt2",
    "xnli": "hub:facebook/xnli",
    "gpt2": "hub:gpt2",
    "qwen": "hub:Qwen/Qwen2.5-0.5B",
    "qwen_tokenizer": "hub:Qwen/Qwen2.5-0.5B",
}
STAGE_SECTIONS = (
    "pretraining",
    "finetune_en",
    "zeroshot",
    "fertility",
    "finetuning",
    "translation",
    "probe",
    "qwen_lora",
)

# ---------------------------------------------------------------- hand-written metrics

ZEROSHOT = {"en": 70.0, "fr": 43.0, "es": 45.0, "de": 41.0, "el": 34.0, "ru": 36.0, "th": 33.5}
FERTILITY = {"en": 1.1, "fr": 1.8, "es": 1.9, "de": 2.2, "el": 6.0, "ru": 5.5, "th": 9.0}
ROWS = 300  # per language and evaluation, 100 premises of 3 rows


def write_predictions(root: Path, evaluation: str, accuracy: dict[str, float]) -> None:
    """Per-row predictions with these strict accuracies: a model is right on the first rows of
    one fixed order per language, so a better model is right wherever a worse one is (paired
    tests see every difference)."""
    for lang, value in accuracy.items():
        order = np.random.default_rng(sorted(FERTILITY).index(lang)).permutation(ROWS)
        correct = np.zeros(ROWS, dtype=bool)
        correct[order[: round(value * ROWS / 100)]] = True
        gold = np.arange(ROWS) % 3
        strict = np.where(correct, gold, (gold + 1) % 3)
        write_row_predictions(
            root / "data" / "predictions" / evaluation / f"{lang}.csv",
            gold=gold,
            strict=strict,
            restricted=strict,
            label_logits=np.zeros((ROWS, 3), dtype=np.float32),
            premises=np.arange(ROWS) // 3,
        )


def write_analysis(root: Path) -> None:
    """What the analyze stage computes from the files write_metrics wrote."""
    options = {"resamples": 2000, "seed": 0}
    predictions = root / "data" / "predictions"
    tiers = json.loads((root / "metrics/analysis/tiers.json").read_text())
    probe = json.loads((root / "data/probe/results.json").read_text())
    tests = {
        **paired_tests(predictions, **options),
        "vs_chance": chance_tests(predictions, **options),
        "near_chance": near_chance_tests(predictions, **options),
        "tier_contrast": tier_contrast(predictions, tiers, **options),
        "probe": probe_tests(probe, **options),
    }
    _write(root, "data/analysis/tests.json", tests)


def _evaluation(value: float, n: int = 600, half_width: float = 3.7) -> dict:
    """One language's full metrics at this strict accuracy, as `evaluate_rows` returns them."""
    return {
        "n": n,
        "strict_accuracy": value,
        "strict_ci95": [value - half_width, value + half_width],
        "restricted_accuracy": value + 0.5,
        "restricted_ci95": [value - half_width + 0.5, value + half_width + 0.5],
        "non_label_outputs": 2,
        "labels": ["entailment", "neutral", "contradiction"],
        "confusion_strict": [[150, 25, 25, 0], [30, 140, 30, 0], [40, 30, 130, 0]],
        "truncated": 0,
        "bf16": False,
    }


def _write_evaluation(root: Path, name: str, accuracy: dict[str, float], **context) -> None:
    """metrics/NAME.json, data/eval/NAME.json and the predictions, as an evaluation stage writes
    them (finetune_per_lang/LANG's predictions go to data/predictions/finetune_per_lang/)."""
    evaluations = {lang: _evaluation(value) for lang, value in accuracy.items()}
    if name == "zeroshot":  # Thai from a constant predictor: "entailment" whatever the input
        evaluations["th"]["confusion_strict"] = [[200, 0, 0, 0], [200, 0, 0, 0], [199, 0, 0, 1]]
    write_evaluation(
        root / f"metrics/{name}.json", root / f"data/eval/{name}.json", evaluations, **context
    )
    write_predictions(root, name.split("/")[0], accuracy)


def _write(root: Path, relative: str, data) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(data, indent=1)
    path.write_text(text, encoding="utf-8")


def write_metrics(
    root: Path, zeroshot: dict[str, float] = ZEROSHOT, fertility: dict[str, float] = FERTILITY
) -> None:
    """Every file the report reads, for a handful of languages."""
    langs = list(zeroshot)
    _write(root, "metrics/tokenize.json", {"vocab_size": 796, "mean_padding_fraction": 0.16})
    _write(
        root,
        "metrics/pretrain.json",
        {
            "study_global_avg_train_loss": 1.55,
            "train_loss_real_tokens": 1.83,
            "last_epoch_train_loss_real_tokens": 1.40,
            "validation_loss": 1.38,
            "validation_perplexity": 3.98,
            "validation_loss_with_padding": 1.16,
            "steps": 10,
            "parameters": 449280,
        },
    )
    _write(root, "data/timings/pretrain.json", {"seconds": 2.0, "train_tokens_per_second": 2846.6})
    curve = ["step,loss,loss_with_padding,loss_real_tokens"]
    curve += [f"{s},{6 / s:.4f},{6 / s:.4f},{6.5 / s:.4f}" for s in range(1, 11)]
    _write(root, "data/plots/pretrain_loss.csv", "\n".join(curve) + "\n")
    _write(
        root,
        "data/plots/finetune_en_loss.csv",
        "step,loss\n" + "".join(f"{s},{3 / s:.4f}\n" for s in range(1, 11)),
    )
    _write(
        root,
        "metrics/training/finetune_en.json",
        {"steps": 10, "train_loss": 0.61, "best_dev_strict_accuracy": 71.0},
    )
    _write_evaluation(root, "finetune_en", {"en": zeroshot["en"]})
    _write_evaluation(root, "zeroshot", zeroshot, split="test")
    _write(
        root,
        "metrics/fertility.json",
        {
            "gpt2": {
                k: {
                    "tokens_per_word": v,
                    "tokens_per_segmented_word": v * 0.5 if k == "th" else v,
                    "tokens_per_char": v / 4,
                    "tokens_vs_en": v / fertility["en"],
                }
                for k, v in fertility.items()
            },
            "nli_model": {
                k: {
                    "tokens_per_word": v,
                    "tokens_per_segmented_word": v * 0.5 if k == "th" else v,
                    "tokens_per_char": v / 4,
                    "tokens_vs_en": v / fertility["en"],
                }
                for k, v in fertility.items()
            },
            "qwen2.5": {
                k: {
                    "tokens_per_word": 1 + v / 10,
                    "tokens_per_segmented_word": 1 + v / 10,
                    "tokens_per_char": 0.3,
                    "tokens_vs_en": 1.0,
                }
                for k in fertility
                for v in [fertility[k]]
            },
        },
    )
    tiers = {k: study.study_tier(fertility[k], zeroshot[k]) for k in langs}
    _write(root, "metrics/analysis/tiers.json", tiers)
    _write(
        root,
        "data/analysis/selection.json",
        {
            "languages": {k: {"tier": t, "reason": "hand-written"} for k, t in tiers.items()},
            "proposed_by_rule": [k for k in langs if k != "en" and tiers[k] < 3],
            "finetune_list": ["es", "de", "el"],
            "in_list_but_tier_3": [],
            "proposed_but_not_in_list": ["th"],
            "in_list_without_numbers": [],
        },
    )
    per_language = {"es": 57.0, "de": 52.0, "el": 40.0}
    for lang, value in per_language.items():
        _write_evaluation(root, f"finetune_per_lang/{lang}", {lang: value})
        _write(
            root,
            f"metrics/training/finetune_per_lang/{lang}.json",
            {"train_examples": 3927, "train_loss": 1.0, "best_dev_strict_accuracy": value},
        )
    all_language = {"en": 66.0, "es": 53.0, "de": 50.0, "el": 41.0, "th": 33.0}
    _write(
        root,
        "metrics/training/finetune_all.json",
        {"steps": 10, "train_loss": 1.1, "train_examples": 15708, "train_truncated": 3},
    )
    _write_evaluation(root, "finetune_all", all_language, trained_on=["en", "es", "de", "el"])
    translate = {
        "fr": (4.25, 1.28, 28.0, 4.0),
        "es": (4.3, 1.3, 30.0, 5.0),
        "de": (4.2, 1.25, 25.0, 3.0),
        "el": (4.0, 1.1, 12.0, 0.5),
        "ru": (4.05, 1.2, 15.0, 1.0),
    }
    _write(
        root,
        "metrics/translate.json",
        {
            "languages": {
                k: {"n": 30, "grammar": g, "meaning": m, "chrf": c, "bleu": b}
                for k, (g, m, c, b) in translate.items()
            }
        },
    )
    _write(
        root,
        "data/translate/signatures.json",
        {"bleu": "nrefs:1|bleu-sig", "chrf": "nrefs:1|chrf-sig"},
    )
    correlation = {
        "languages": ["es", "de", "el"],
        "n": 3,
        "pearson_r": 0.99,
        "pearson_p": 0.07,
        "spearman_r": 1.0,
        "spearman_p": 0.0,
    }
    translate_correlations = {
        s: {"nli_zeroshot": correlation} for s in ("grammar", "meaning", "chrf", "bleu")
    }
    _write(
        root,
        "data/translate/examples.json",
        {
            "es": {
                "template": "{lang}: '{text}'\nEnglish:",
                "examples": [
                    {
                        "source": "El gato duerme | en casa.",
                        "reference": "The cat sleeps.",
                        "output": "The cat is sleeping <b>.",
                        "grammar": 5.0,
                        "meaning": 3.0,
                    }
                ],
            },
        },
    )
    probe_summary, probe_details = {}, {}
    for model, scale in (("pretrained", 1.0), ("finetuned_en", 0.9)):
        rows = {
            k: {
                "attention_entropy": 2.0 + i / 10,
                "early": 0.9 - i / 20,
                "late": 0.92 - i / 40,
                "gain": 0.02 + i / 40,
            }
            for i, k in enumerate(langs)
        }
        rows["en"] = {"attention_entropy": 2.0, "early": 1.0, "late": 1.0, "gain": 0.0}
        probe_summary[model] = rows
        probe_details[model] = {
            "n_layers": 2,
            "early_layers": [0, 3],
            "late_layers": [8, 11],
            "early_hidden_states": [0, 1],
            "late_hidden_states": [2, 2],
            "notes": [],
            "languages": {
                k: {
                    "n_sentences": 100,
                    "attention_entropy_interval": [
                        r["attention_entropy"] - 0.05,
                        r["attention_entropy"] + 0.05,
                    ],
                    "gain_interval": [r["gain"] - 0.01, r["gain"] + 0.01],
                    # Distant scripts (el, ru, th) gain more excess similarity than Latin ones.
                    "early_excess_per_sentence": [0.01 + (j % 5) / 1000 for j in range(100)],
                    "late_excess_per_sentence": [
                        0.02 + (0.01 if k in ("el", "ru", "th") else 0) + (j % 7) / 1000
                        for j in range(100)
                    ],
                    "similarity_per_layer": [
                        r["early"] * scale,
                        (r["early"] + r["late"]) / 2,
                        r["late"] * scale,
                    ],
                }
                for k, r in rows.items()
            },
        }
    _write(root, "metrics/probe.json", probe_summary)
    _write(root, "data/probe/results.json", probe_details)
    _write(
        root,
        "data/analysis/correlations.json",
        {
            "translate": translate_correlations,
            "probe": {m: {"gain": correlation} for m in probe_summary},
        },
    )
    lora = {"en": 80.0, "es": 70.0, "de": 68.0, "el": 60.0, "th": 55.0}
    _write(
        root,
        "metrics/training/qwen_lora.json",
        {
            "steps": 10,
            "train_loss": 0.5,
            "bf16": True,
            "trainable_parameters": 1081344,
            "total_parameters": 495114112,
        },
    )
    _write(root, "data/timings/qwen_lora.json", {"seconds": 12.0})
    _write_evaluation(root, "qwen_lora", lora)
    # What the analyze stage computes from the files above.
    _write(
        root,
        "metrics/analysis/changes.json",
        accuracy_changes(zeroshot, per_language, all_language, lora),
    )
    write_analysis(root)


def _build(root: Path, **kwargs) -> Path:
    options = {"profile": "demo", "sources": DEMO_SOURCES, **kwargs}
    paths = build_report(root, root / "report", **options)
    return paths.html


# ---------------------------------------------------------------- HTML inspection


class _References(HTMLParser):
    """Every src/href of the page, with its tag."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[tuple[str, str, str]] = []
        self.images: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.references.append((tag, name, value))
                if tag == "img":
                    self.images.append(value)


def _references(html_path: Path) -> _References:
    parser = _References()
    parser.feed(html_path.read_text(encoding="utf-8"))
    return parser


def _assert_offline(html_path: Path) -> None:
    text = html_path.read_text(encoding="utf-8")
    parser = _references(html_path)
    for tag, name, value in parser.references:
        assert not re.match(r"(?i)\s*(https?:)?//", value), f"<{tag} {name}={value[:60]}>"
    for value in parser.images:
        if value.startswith("data:"):
            assert value.startswith("data:image/png;base64,")
        else:
            assert (html_path.parent / value).is_file(), value
    assert "<link" not in text.lower()
    assert not re.search(r"(?i)@import|url\(\s*['\"]?(https?:)?//", text)
    assert not re.search(r"(?i)<script[^>]+src=", text)


# ---------------------------------------------------------------- tests


def test_full_report_has_every_section_and_figure(tmp_path):
    write_metrics(tmp_path)
    html_path = _build(tmp_path)
    result = assemble_report(tmp_path, profile="demo", sources=DEMO_SOURCES)
    statuses = {section.id: section.status for section in result.sections}
    assert all(statuses[name] == "ok" for name in STAGE_SECTIONS), statuses
    assert all(f.verdict != "not run" for f in result.findings)
    names = {plot.name for plot in result.plots()}
    assert names >= {
        "pretrain_loss",
        "finetune_loss",
        "zeroshot_accuracy",
        "fertility",
        "fertility_vs_zeroshot",
        "finetuning_comparison",
        "translation_vs_nli",
        "probe_similarity",
        "attention_entropy",
        "gpt2_vs_lora",
    }
    html_text = html_path.read_text(encoding="utf-8")
    markdown = (tmp_path / "report" / "index.md").read_text(encoding="utf-8")
    assert len(_references(html_path).images) == len(names)
    for name in names:
        assert (tmp_path / "report" / "figures" / f"{name}.png").is_file()
        assert f"](figures/{name}.png)" in markdown
    # The study's numbers sit beside ours: a few published values, in both renderings.
    for published in ("2.8317", "78.82", "46.17", "53.11", "50.58", "4.34", "0.9654", "71.14"):
        assert published in html_text and published in markdown, published
    # Intervals and correlation statistics are shown.
    assert "70.00 [66.30, 73.70]" in markdown
    assert "Spearman r =" in markdown and "Pearson r =" in markdown
    # A constant predictor is visible; table cells are escaped and stay in one cell.
    assert "entailment 100%" in markdown
    assert "&lt;b&gt;" in html_text and "<b>." not in html_text
    assert "El gato duerme \\| en casa." in markdown
    assert "sleeping &lt;b&gt;." in markdown
    _assert_offline(html_path)


def test_empty_metrics_every_section_not_run(tmp_path):
    html_path = _build(tmp_path)
    result = assemble_report(tmp_path, profile="demo", sources=DEMO_SOURCES)
    statuses = {section.id: section.status for section in result.sections}
    assert all(statuses[name] == "not run" for name in STAGE_SECTIONS), statuses
    assert {f.verdict for f in result.findings} == {"not run"}
    assert not result.plots()
    html_text = html_path.read_text(encoding="utf-8")
    markdown = (tmp_path / "report" / "index.md").read_text(encoding="utf-8")
    assert html_text.count('class="notrun"') >= len(STAGE_SECTIONS)
    assert markdown.count("**NOT RUN**") >= len(STAGE_SECTIONS)
    assert "<img" not in html_text
    assert (tmp_path / "report" / "figures").is_dir()
    _assert_offline(html_path)


def test_partial_metrics_mark_only_missing_stages(tmp_path):
    write_metrics(tmp_path)
    for name in ("translate.json", "qwen_lora.json"):
        (tmp_path / "metrics" / name).unlink()
    shutil.rmtree(tmp_path / "metrics" / "finetune_per_lang")
    for evaluation in ("finetune_per_lang", "qwen_lora"):
        shutil.rmtree(tmp_path / "data" / "predictions" / evaluation)
    # analyze, rerun on what is left, has no translation correlations
    correlations = tmp_path / "data" / "analysis" / "correlations.json"
    correlations.write_text(json.dumps({**json.loads(correlations.read_text()), "translate": {}}))
    write_analysis(tmp_path)
    result = assemble_report(tmp_path, profile="demo", sources=DEMO_SOURCES)
    statuses = {section.id: section.status for section in result.sections}
    assert statuses["translation"] == statuses["qwen_lora"] == "not run"
    assert statuses["finetuning"] == "partial"
    assert statuses["probe"] == statuses["zeroshot"] == "ok"
    verdicts = {f.claim.split(" ")[0]: f.verdict for f in result.findings}
    assert verdicts["3."] == verdicts["5."] == verdicts["7."] == "not run"
    assert verdicts["1."] != "not run" and verdicts["6a."] != "not run"


def test_markdown_twin_and_figures_are_deterministic(tmp_path):
    write_metrics(tmp_path)
    _build(tmp_path)
    first = {p.name: p.read_bytes() for p in (tmp_path / "report").rglob("*") if p.is_file()}
    _build(tmp_path)
    second = {p.name: p.read_bytes() for p in (tmp_path / "report").rglob("*") if p.is_file()}
    assert first == second
    assert "index.md" in first and "index.html" in first


def test_banner_marks_demo_and_mixed_profiles(tmp_path):
    demo = assemble_report(tmp_path, profile="demo", sources=DEMO_SOURCES)
    assert demo.banner() == ("demo", Report.banner(demo)[1])
    assert "DEMO PROFILE" in demo.banner()[1] and "not the study's numbers" in demo.banner()[1]
    assert assemble_report(tmp_path, profile="paper", sources=PAPER_SOURCES).banner() is None
    mixed = assemble_report(tmp_path, profile="paper", sources={**PAPER_SOURCES, "xnli": "demo"})
    assert mixed.banner()[0] == "mixed" and "xnli" in mixed.banner()[1]
    gguf = "../shared/models/smollm2-135m-instruct-q4_1.gguf"
    offline = assemble_report(
        tmp_path, profile="offline", sources={**PAPER_SOURCES, "gpt2": gguf, "qwen": gguf}
    )
    kind, text = offline.banner()
    assert kind == "standin"
    assert "smollm2-135m-instruct-q4_1.gguf stands in for GPT-2 124M" in text
    assert "stands in for Qwen2.5-0.5B" in text
    html_path = _build(tmp_path)
    assert 'class="banner demo"' in html_path.read_text(encoding="utf-8")
    markdown = (tmp_path / "report" / "index.md").read_text(encoding="utf-8")
    assert markdown.splitlines()[2].startswith("> **DEMO PROFILE")
    _build(tmp_path, profile="paper", sources=PAPER_SOURCES)
    assert (
        "banner"
        not in html_path.read_text(encoding="utf-8").split("<main>")[0].split("</style>")[1]
    )


def _findings(root: Path, **sources) -> dict[str, Finding]:
    report = assemble_report(root, profile="demo", sources={**DEMO_SOURCES, **sources})
    return {f.claim.split(" ")[0]: f for f in report.findings}


def test_findings_follow_the_numbers(tmp_path):
    """Flip the fertility/accuracy relation and the verdict flips: nothing is hard-coded."""
    negative, positive = tmp_path / "negative", tmp_path / "positive"
    write_metrics(negative)
    # Fertility rising with zero-shot accuracy, language by language.
    rising = {"en": 1.1, "fr": 5.5, "es": 6.0, "de": 2.2, "el": 1.2, "ru": 1.9, "th": 1.15}
    write_metrics(positive, fertility=rising)
    claims = {"negative": _findings(negative), "positive": _findings(positive)}
    assert claims["negative"]["2."].verdict == "supported"
    assert "English left out" in claims["negative"]["2."].ours
    assert claims["positive"]["2."].verdict == "contradicted"
    # Claim 3: es and de (Tier 1) gain 12 and 11 points on the same rows, el (Tier 2) 6.
    assert claims["negative"]["3."].verdict == "supported"
    assert "p = 0.029" in claims["negative"]["3."].study  # the study's 3 vs 4 separate fully
    # Claim 4: es, de and el gain, but English (66 vs 70 zero-shot) loses significantly.
    assert claims["negative"]["4."].verdict == "contradicted"
    assert "worse: en -4.00" in claims["negative"]["4."].ours
    # Claim 6: every language's excess similarity gains; distant scripts gain more.
    assert claims["negative"]["6a."].verdict == "supported"
    assert claims["negative"]["6b."].verdict == "supported"
    # Claim 7: the LoRA model wins everywhere.
    assert claims["negative"]["7."].verdict == "supported"
    # The study's own evidence is recomputed from study.py.
    assert "r = 0.91" in claims["negative"]["5."].study
    # Every tested claim went through the correction across claims.
    for finding in claims["negative"].values():
        assert (finding.p_corrected is None) == (finding.verdict in ("not testable", "not run"))
        if finding.p_corrected is not None:
            assert finding.p_corrected >= finding.p


def test_english_at_chance_makes_transfer_claim_not_testable(tmp_path):
    write_metrics(tmp_path, zeroshot={**ZEROSHOT, "en": 34.0})
    finding = _findings(tmp_path)["1."]
    assert finding.verdict == "not testable"
    assert "nothing to transfer" in finding.ours


def test_the_same_model_on_both_sides_makes_claim_7_not_testable(tmp_path):
    write_metrics(tmp_path)
    gguf = "../shared/models/smollm2-135m-instruct-q4_1.gguf"
    report = assemble_report(
        tmp_path, profile="offline", sources={**PAPER_SOURCES, "gpt2": gguf, "qwen": gguf}
    )
    claim = next(f for f in report.findings if f.claim.startswith("7."))
    assert claim.verdict == "not testable" and "the same model" in claim.ours
    assert "smollm2-135m-instruct-q4_1.gguf (for Qwen2.5-0.5B) with LoRA" in claim.models
    findings = next(s for s in report.sections if s.id == "findings")
    own = [b for b in findings.blocks if "This run's own comparison" in getattr(b, "text", "")]
    assert own and "LoRA lower in none; higher in en, es, de, el, th" in own[0].text


def test_models_at_chance_make_claims_3_and_4_not_testable(tmp_path):
    write_metrics(tmp_path)
    write_predictions(tmp_path, "finetune_per_lang", {"es": 33.0, "de": 52.0, "el": 35.0})
    chance = {lang: 33.0 for lang in ("en", "es", "de", "el", "th")}
    write_predictions(tmp_path, "finetune_all", chance)
    write_analysis(tmp_path)
    claims = _findings(tmp_path)
    assert claims["3."].verdict == "not testable"
    assert "not above chance in es, el" in claims["3."].ours
    assert claims["4."].verdict == "not testable"


def test_a_probe_measure_that_fails_its_control_is_not_testable(tmp_path):
    write_metrics(tmp_path)
    results = tmp_path / "data" / "probe" / "results.json"
    probe = json.loads(results.read_text())
    for model in probe.values():
        for language in model["languages"].values():
            zero = [(-1) ** j * 0.001 for j in range(100)]  # no more similar than unrelated
            language["early_excess_per_sentence"] = language["late_excess_per_sentence"] = zero
    results.write_text(json.dumps(probe))
    write_analysis(tmp_path)
    claims = _findings(tmp_path)
    for claim in ("6a.", "6b."):
        assert claims[claim].verdict == "not testable"
        assert "does not see translations" in claims[claim].ours


def test_failed_translations_make_claim_5_not_testable(tmp_path):
    write_metrics(tmp_path)
    metrics = tmp_path / "metrics" / "translate.json"
    data = json.loads(metrics.read_text())
    for language in data["languages"].values():
        language["chrf"], language["bleu"] = 8.0, 0.4
    metrics.write_text(json.dumps(data))
    claim = _findings(tmp_path)["5."]
    assert claim.verdict == "not testable" and "the translations failed" in claim.ours


def test_the_correction_across_claims_can_turn_a_verdict(tmp_path):
    """A claim significant on its own (raw p < 0.05) but not after Holm across the tested
    claims is inconclusive."""
    from regpt2.report.claims import settle

    findings = [
        Finding(f"{n}.", "", "", "pending", p=p, direction=1)
        for n, p in enumerate((0.001, 0.02, 0.04), start=1)
    ]
    settled = settle(findings)
    assert [f.verdict for f in settled] == ["supported", "supported", "supported"]
    settled = settle([*findings, Finding("4.", "", "", "pending", p=0.6, direction=1)])
    assert [f.verdict for f in settled] == [
        "supported",
        "inconclusive",
        "inconclusive",
        "inconclusive",
    ]
    assert settled[1].p_corrected == pytest.approx(0.06)


def test_experiments_table_from_exp_show(tmp_path):
    def run(name, rev, lr, test):
        return {
            "rev": rev,
            "name": name,
            "data": {
                "params": {
                    "params.yaml": {
                        "data": {"finetune_en": {"training": {"lr": lr, "batch_size": 4}}}
                    }
                },
                "metrics": {
                    "metrics/training/finetune_en.json": {
                        "data": {"train_loss": 0.6, "best_dev_strict_accuracy": test}
                    },
                    "metrics/finetune_en.json": {
                        "data": {"languages": {"en": summary(_evaluation(test))}}
                    },
                },
            },
        }

    shown = [
        {**run(None, "workspace", 5e-5, 78.0), "experiments": None},
        {
            **run("main", "a" * 40, 5e-5, 78.0),
            "experiments": [{"name": "exp-lr", "revs": [run("exp-lr", "b" * 40, 1e-4, 74.0)]}],
        },
    ]
    experiments = parse_exp_show(shown)
    assert [e.name for e in experiments] == ["workspace", "main", "exp-lr"]
    assert experiments[2].params["lr"] == 1e-4 and experiments[2].metrics["train_loss"] == 0.6
    markdown = experiments_markdown(experiments)
    assert "| `exp-lr` | 0.000100 |" in markdown and "lr=0.0001" in markdown
    assert "74.00 [70.30, 77.70]" in markdown
    assert parse_exp_show({"not": "a list"}) == []


def test_experiments_from_dvc_failure_is_none(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("no dvc")

    monkeypatch.setattr(experiments_module.subprocess, "run", broken)
    assert experiments_from_dvc(tmp_path) is None
    monkeypatch.setattr(
        experiments_module.subprocess,
        "run",
        lambda *a, **k: subprocess.CompletedProcess(a, 0, "not json", ""),
    )
    assert experiments_from_dvc(tmp_path) is None
    assert "`dvc exp show` did not run" in experiments_markdown(None)


def test_invalid_json_is_a_user_error(tmp_path):
    _write(tmp_path, "metrics/zeroshot.json", "{not json")
    with pytest.raises(UserError, match="metrics/zeroshot.json: not valid JSON"):
        _build(tmp_path)


def test_unexpected_shape_reports_the_section_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.delenv("REGPT2_STRICT_REPORT", raising=False)
    write_metrics(tmp_path)
    _write(tmp_path, "metrics/probe.json", {"pretrained": {"en": {"n": 3}}})
    result = assemble_report(tmp_path, profile="demo", sources=DEMO_SOURCES)
    statuses = {section.id: section.status for section in result.sections}
    assert statuses["probe"] == "error"
    assert statuses["zeroshot"] == "ok"


@pytest.mark.parametrize(
    ("relative", "data", "message"),
    [
        (
            "metrics/finetune_en.json",
            {"test": summary(_evaluation(70.0))},
            'metrics/finetune_en.json: metrics format 1 ({"test": ...}); this code reads format 2',
        ),
        (
            "metrics/qwen_lora.json",
            {"languages": {"en": {"n": 3}}},
            "metrics/qwen_lora.json: languages.en lacks strict_accuracy, strict_ci95_low, ",
        ),
        (
            "metrics/finetune_per_lang/es.json",
            [70.0],
            "metrics/finetune_per_lang/es.json: not an evaluation's results",
        ),
    ],
    ids=["format 1", "a summary short of keys", "no languages"],
)
def test_an_evaluation_in_another_shape_is_a_user_error(tmp_path, relative, data, message):
    """A metrics file of another format (an old snapshot, an older stage) stops the report with
    one line naming the file, whichever section or claim reads it first."""
    write_metrics(tmp_path)
    _write(tmp_path, relative, data)
    with pytest.raises(UserError) as caught:
        _build(tmp_path)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_the_metrics_schema_imports_no_torch():
    """The report and every scoring stage import `nli.metrics`: it stays free of torch."""
    code = "import sys, regpt2.nli.metrics; print({'torch', 'transformers'} & set(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "set()"


@pytest.mark.parametrize(
    "modules",
    [
        "stages.report",
        # analyze, with the correlation helpers it imports where it uses them
        "stages.analyze, regpt2.studies.translate, regpt2.studies.probe_results",
    ],
)
def test_the_report_and_analyze_stages_start_without_torch(modules):
    """The report and analyze read JSON, compute and draw: they pull in no torch (1-2 s of
    every run's start-up, issue 34)."""
    code = f"import sys, {modules}; print({{'torch', 'transformers'}} & set(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    assert done.stdout.strip() == "set()"


def test_write_evaluation_keeps_every_number(tmp_path):
    """Summaries under "languages", rounded as before; the details keep the full metrics."""
    full = {"en": {**_evaluation(70.123456), "strict_ci95": [66.00004, 73.99996]}}
    write_evaluation(tmp_path / "m.json", tmp_path / "d.json", full, split="test")
    assert read_evaluation(tmp_path / "m.json") == {
        "en": {
            "n": 600,
            "strict_accuracy": 70.1235,
            "strict_ci95_low": 66.0,
            "strict_ci95_high": 74.0,
            "restricted_accuracy": 70.6235,
            "bf16": False,
        }
    }
    assert json.loads((tmp_path / "d.json").read_text()) == {"split": "test", "languages": full}
    assert read_evaluation(tmp_path / "missing.json") is None


def test_stage_script_writes_the_report(tmp_path, monkeypatch):
    from stages import report as stage

    shutil.copy(PROJECT_ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(PROJECT_ROOT / "profiles", tmp_path / "profiles")
    write_metrics(tmp_path)
    monkeypatch.chdir(tmp_path)
    stage.main()
    assert (tmp_path / "report" / "index.html").is_file()
    assert (tmp_path / "report" / "index.md").is_file()


def test_study_numbers_match_study_md():
    """analysis/published.py is a transcription: every published per-language number appears in
    the study (../shared/STUDY.md beside the project; skipped where it is absent)."""
    shared = Path(os.environ.get("REGPT2_SHARED", PROJECT_ROOT.parent / "shared"))
    path = shared / "STUDY.md"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    text = " ".join(path.read_text(encoding="utf-8").split())
    for table in (
        study.ZEROSHOT,
        study.FERTILITY,
        study.PER_LANGUAGE_REPORTED,
        study.PER_LANGUAGE_NOTEBOOK,
        study.ALL_LANGUAGE_NOTEBOOK,
        study.QWEN_LORA,
    ):
        for lang, value in table.items():
            assert f"{lang} {value:.2f}" in text or f"-> {value:.2f}" in text, (lang, value)
    for lang, scores in study.TRANSLATION.items():
        assert f"{lang} {scores['grammar']:.2f}/{scores['meaning']:.2f}" in text
    for lang, probe in study.PROBE.items():
        assert f"{lang} {probe['early']:.4f} -> {probe['late']:.4f} (+{probe['gain']:.4f})" in text
    for variant in (
        "lr 1e-4: dev 75.46 / test 74.01 / loss 0.6930",
        "lr 1e-5: 81.16 / 81.08 / 0.5881",
        "batch 8: 80.92 / 80.20 / 0.5952",
        "dev 79.52%, test 78.82%, train loss 0.6160",
        "2.8317",
        "r 0.895",
    ):
        assert variant in text, variant
    tier1 = {
        k for k in study.FERTILITY if study.study_tier(study.FERTILITY[k], study.ZEROSHOT[k]) == 1
    }
    assert tier1 == {"en", "es", "fr", "de"}


# ---------------------------------------------------------------- headless Chromium


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium_command(binary: str, profile: Path) -> list[str]:
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={profile}",
        # Offline: every host fails to resolve and any proxy use fails to connect.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
    ]


def test_chromium_renders_report_offline(tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium / chromium-browser on PATH (Debian package `chromium`)")
    write_metrics(tmp_path)
    html_path = _build(tmp_path)
    url = html_path.resolve().as_uri()
    screenshot = tmp_path / "shot.png"
    base = _chromium_command(binary, tmp_path / "profile")
    subprocess.run(
        [*base, "--window-size=1280,4000", f"--screenshot={screenshot}", url],
        capture_output=True,
        timeout=180,
        check=True,
    )
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 50_000
    from PIL import Image

    with Image.open(screenshot) as image:
        assert image.size == (1280, 4000)
        low, high = image.convert("L").getextrema()
        assert high - low > 100  # text and figures, not a blank page

    dom = subprocess.run(
        [*base, "--virtual-time-budget=10000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    ).stdout
    images = len(_references(html_path).images)
    match = re.search(r'<html[^>]*data-images="(\d+)/(\d+)"', dom)
    assert match, dom[:500]
    assert (int(match.group(1)), int(match.group(2))) == (images, images)
    assert images >= 10


def test_probe_table_shows_cut_sentences():
    summary = {"th": {"attention_entropy": 6.3, "early": 0.6, "late": 0.9, "gain": 0.3}}
    summary["en"] = {"attention_entropy": 4.3, "early": 1.0, "late": 1.0, "gain": 0.0}
    details = {"languages": {"th": {"n_sentences": 200, "n_truncated": 90}}}
    details["languages"]["en"] = {"n_sentences": 200, "n_truncated": 0}
    table = probe_table("pretrained", summary, details)
    cells = {row[1] for row in table.rows}
    assert cells == {"200 (90 cut)", "200"}


def test_build_lists_the_settings_that_differ_from_the_study(tmp_path):
    """The offline profile against the paper profile: every cut is a row (per-language cuts
    once), sources stay in their own table, and the paper profile itself has no such table."""
    from regpt2.config.params import load_params
    from regpt2.config.profiles import profile_mismatches, read_profile

    params = load_params(PROJECT_ROOT / "params.yaml").model_dump()
    offline = read_profile("offline", PROJECT_ROOT)
    for section, values in offline.items():  # params.yaml as `regpt2 profile offline` leaves it
        for key, value in values.items():
            target = params[section]
            target[key] = {**target[key], **value} if isinstance(value, dict) else value
    settings = profile_mismatches(params, read_profile("paper", PROJECT_ROOT))
    report = assemble_report(
        tmp_path, profile="offline", sources=DEMO_SOURCES, settings_vs_study=settings
    )
    tables = [block for block in report.sections[0].blocks if hasattr(block, "caption")]
    table = next(t for t in tables if t.caption.startswith("Settings that differ"))
    rows = {row[0]: row[1:] for row in table.rows}
    assert rows["`zeroshot.limit`"] == ("500", "all")
    assert rows["`pretrain.training.epochs`"] == ("1", "3")
    assert rows["`finetune_per_lang.start`"] == ("finetune_en", "pretrained")  # a deviation
    assert rows["`qwen_lora.training.lr`"] == ("0.001", "0.0002")
    assert rows["`finetune_per_lang.languages.*.fraction` (es, fr, de, bg, ar, el, hi)"] == (
        "0.1",
        "0.01",
    )
    assert not any(key.startswith("`sources.") for key in rows)
    same = assemble_report(tmp_path, profile="paper", sources=PAPER_SOURCES)
    assert not any(
        getattr(block, "caption", "").startswith("Settings that differ")
        for block in same.sections[0].blocks
    )
