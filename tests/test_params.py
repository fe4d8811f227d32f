"""params.yaml validation: every bad value is a one-line UserError that names its key."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from regpt2.config.params import load_params, validate_params
from regpt2.core.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw() -> dict:
    return YAML(typ="safe").load((PROJECT_ROOT / "params.yaml").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _in_project_root(monkeypatch):
    # Known profiles are the files in ./profiles, as when a stage runs from the project root.
    monkeypatch.chdir(PROJECT_ROOT)


def _with(raw: dict, dotted: str, value) -> dict:
    changed = copy.deepcopy(raw)
    *parents, last = dotted.split(".")
    section = changed
    for key in parents:
        section = section[key]
    section[last] = value
    return changed


def _error(raw: dict) -> str:
    with pytest.raises(UserError) as caught:
        validate_params(raw)
    message = str(caught.value)
    assert "\n" not in message, message
    return message


def test_the_repository_params_validate():
    params = load_params(PROJECT_ROOT / "params.yaml")
    assert params.profile in ("demo", "paper")
    assert params.finetune_en.language == "en"
    assert "en" in params.probe.languages


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("finetune_en.training.lr", "abc", "valid number"),
        ("finetune_en.training.batch_size", 2.5, "valid integer"),
        ("finetune_en.training.batch_size", True, "valid integer"),
        ("finetune_en.training.batch_size", "8", "valid integer"),
        ("pretrain.loss_on_padding", "yes", "valid boolean"),
        ("finetune_en.training.lr", 0, "greater than 0"),
        ("finetune_en.training.batch_size", -4, "greater than 0"),
        ("finetune_en.training.weight_decay", -0.1, "greater than or equal to 0"),
        ("tokenize.validation_fraction", 1.0, "less than 1"),
        ("finetune_per_lang.languages.es.fraction", 1.5, "less than or equal to 1"),
        ("finetune_per_lang.languages.es.mode", "tail", "'head' or 'random'"),
        ("zeroshot.split", "validation", "'train', 'dev' or 'test'"),
        ("nli.bf16", "maybe", "must be auto, true or false"),
        ("finetune_en.training.bf16", 1, "must be auto, true or false"),
        ("probe.early_layers", [1], "expected two layer indices, [first, last]"),
        ("probe.late_layers", [1, 2, 3], "expected two layer indices, [first, last]"),
        ("probe.first_hidden_state", 2, "Input should be 0 or 1"),
        ("probe.depth_policy", "stretch", "'scale', 'clip' or 'error'"),
    ],
)
def test_wrong_type_or_range_names_the_key(raw, key, value, expected):
    message = _error(_with(raw, key, value))
    assert f": {key}: " in message
    assert expected in message
    assert repr(value) in message


def test_unknown_key_is_refused(raw):
    changed = copy.deepcopy(raw)
    changed["finetune_en"]["training"]["btach_size"] = 8
    message = _error(changed)
    assert "finetune_en.training.btach_size" in message
    assert "Extra inputs are not permitted" in message


def test_unknown_top_level_section_is_refused(raw):
    changed = copy.deepcopy(raw)
    changed["finetune_eng"] = {"lr": 0.1}
    assert "finetune_eng" in _error(changed)


def test_missing_key_is_reported(raw):
    changed = copy.deepcopy(raw)
    del changed["nli"]["max_length"]
    message = _error(changed)
    assert "nli.max_length" in message and "required" in message.lower()


@pytest.mark.parametrize("section", ["zeroshot", "fertility", "translate", "probe", "qwen_lora"])
def test_unknown_language_lists_the_valid_ones(raw, section):
    message = _error(_with(raw, f"{section}.languages", ["en", "xx"]))
    assert f"{section}.languages" in message
    assert "'xx'" in message and "en, fr, es" in message


def test_unknown_language_in_per_language_entries(raw):
    changed = copy.deepcopy(raw)
    changed["finetune_per_lang"]["languages"]["xx"] = {"fraction": 0.1, "mode": "head"}
    message = _error(changed)
    assert "finetune_per_lang.languages" in message and "'xx'" in message


def test_unknown_single_language(raw):
    message = _error(_with(raw, "finetune_en.language", "english"))
    assert "finetune_en.language" in message and "'english'" in message


def test_empty_language_list(raw):
    message = _error(_with(raw, "zeroshot.languages", []))
    assert "zeroshot.languages" in message and "empty" in message


def test_template_without_premise(raw):
    message = _error(_with(raw, "nli.template", "Hypothesis: {hypothesis}\nLabel:"))
    assert "nli.template" in message and "{premise}" in message


@pytest.mark.parametrize(
    "template",
    [
        "Premise: {premise}\nHypothesis: {hypothesis}\nGenre: {genre}\nLabel:",
        "Premise: {premise}\nHypothesis: {hypothesis}\nLabel: {",
        "Premise: {premise}\nHypothesis: {hypothesis}\nLabel: {0}",
    ],
)
def test_template_that_cannot_be_rendered(raw, template):
    message = _error(_with(raw, "nli.template", template))
    assert "nli.template" in message


def test_label_digits_duplicates(raw):
    digits = {"entailment": "0", "neutral": "0", "contradiction": "1"}
    message = _error(_with(raw, "nli.label_digits", digits))
    assert "nli.label_digits" in message and "distinct" in message


def test_label_digits_missing_label(raw):
    message = _error(_with(raw, "nli.label_digits", {"entailment": "0", "neutral": "1"}))
    assert "nli.label_digits" in message and "contradiction" in message


def test_probe_needs_english(raw):
    message = _error(_with(raw, "probe.languages", ["fr", "de"]))
    assert "probe.languages" in message and "include en" in message


def test_heads_must_divide_width(raw):
    message = _error(_with(raw, "pretrain.n_head", 3))
    assert "pretrain" in message and "divisible" in message


def test_unknown_profile_lists_known_ones(raw):
    message = _error(_with(raw, "profile", "fast"))
    known = sorted(path.stem for path in (PROJECT_ROOT / "profiles").glob("*.yaml"))
    assert "profile: unknown profile 'fast'" in message
    assert f"known profiles: {', '.join(known)}" in message


def test_several_problems_are_counted_on_one_line(raw):
    changed = _with(_with(raw, "finetune_en.training.lr", "abc"), "pretrain.training.epochs", 0)
    assert "1 more problem" in _error(changed)


def test_yaml_exponent_is_a_float(tmp_path: Path):
    text = (PROJECT_ROOT / "params.yaml").read_text(encoding="utf-8")
    assert "  lr: 0.001\n" in text
    (tmp_path / "params.yaml").write_text(text.replace("  lr: 0.001\n", "  lr: 1e-5\n", 1))
    params = load_params(tmp_path / "params.yaml")
    lrs = [params.finetune_en.training.lr, params.pretrain.training.lr]
    assert 1e-5 in lrs and all(isinstance(lr, float) for lr in lrs)


def test_load_params_file_errors(tmp_path: Path):
    with pytest.raises(UserError, match="not found"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("nli: [unclosed\n  - x: :\n")
    with pytest.raises(UserError, match="not valid YAML") as caught:
        load_params(tmp_path / "params.yaml")
    assert "\n" not in str(caught.value)
    (tmp_path / "params.yaml").write_text("- just\n- a list\n")
    with pytest.raises(UserError, match="mapping"):
        load_params(tmp_path / "params.yaml")


# ---------------------------------------------------------------- rules across fields

LANGUAGE_LISTS = [
    "zeroshot.languages",
    "fertility.languages",
    "finetune_all.languages",
    "finetune_all.eval_languages",
    "translate.languages",
    "probe.languages",
    "qwen_lora.languages",
]


@pytest.mark.parametrize("key", LANGUAGE_LISTS)
def test_a_language_listed_twice_is_refused(raw, key):
    message = _error(_with(raw, key, ["en", "fr", "en"]))
    assert f": {key}: language 'en' is listed twice" in message


@pytest.mark.parametrize("key", ["probe.early_layers", "probe.late_layers"])
def test_a_reversed_layer_range_is_refused(raw, key):
    message = _error(_with(raw, key, [11, 8]))
    assert f": {key}: the first layer comes after the last" in message
    validate_params(_with(raw, key, [8, 8]))  # a range of one layer


def test_min_words_above_max_words_is_refused(raw):
    changed = _with(_with(raw, "translate.min_words", 30), "translate.max_words", 20)
    message = _error(changed)
    assert ": translate.max_words: must not be below translate.min_words (30)" in message
    validate_params(_with(changed, "translate.max_words", 30))


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("zeroshot.languages", ["en", "en"], "zeroshot.languages"),
        ("probe.late_layers", [11, 8], "probe.late_layers"),
        ("translate.min_words", 60, "translate.min_words (60)"),
    ],
)
def test_regpt2_check_refuses_cross_field_params(tmp_path: Path, raw, key, value, named):
    """As a user meets it: `regpt2 check` on the edited params.yaml, one line, exit 2."""
    shutil.copytree(PROJECT_ROOT / "profiles", tmp_path / "profiles")
    with (tmp_path / "params.yaml").open("w", encoding="utf-8") as handle:
        YAML().dump(_with(raw, key, value), handle)
    completed = subprocess.run(
        [sys.executable, "-m", "regpt2.cli", "check"],
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2, completed.stderr
    (line,) = completed.stderr.splitlines()
    assert line.startswith("error: params.yaml: ") and named in line
