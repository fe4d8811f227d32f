"""End to end: the paper profile's Hub path, `regpt2 profile paper && dvc repro`, as a user with
a network runs it, against a local Hugging Face Hub.

The Hub is olah (a Hub mirror server from PyPI) serving git repos that tests/helpers/hub_mirror.py
builds: `gpt2`, `Qwen/Qwen2.5-0.5B` and `facebook/xnli` in the Hub's layouts, with tiny models of
the real architectures and the real tokenizers (from ../shared; small BPEs without it). The
real clients (huggingface_hub, transformers, datasets) reach it over HTTP through
`HF_ENDPOINT`, with no offline flag. The pretraining text, a pinned `url:` source, is served by
a plain HTTP server at the path the profile names. Only sizes are shrunk (served rows, epochs,
the toy GPT-2's width); every source stays a `hub:` or `url:` source. Everything listens on
127.0.0.1.

Minutes: one `dvc repro` per session (conftest's `paper_run`, started in the background with the
session; helpers/paper_project.py prepares it), then the Hub's failure modes, one stage run
each, on the same server.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from helpers import hub_mirror
from helpers.demo_project import run, set_params
from helpers.paper_project import PAPER, PRETRAIN_LINES, shared_or_none
from ruamel.yaml import YAML

from regpt2.nli.metrics import read_evaluation


@pytest.mark.e2e
def test_paper_repro_writes_every_stage_output(paper_run: Path, hub):
    lock = YAML(typ="safe").load((paper_run / "dvc.lock").read_text())["stages"]
    expected = YAML(typ="safe").load((paper_run / "dvc.yaml").read_text())["stages"]
    ran = {name.split("@")[0] for name in lock}
    assert ran == set(expected), set(expected) - ran
    for stage, entry in lock.items():
        for out in entry.get("outs", []):
            assert (paper_run / out["path"]).exists(), (stage, out["path"])
    status = json.loads(run(["dvc", "status", "--json"], paper_run, env=hub["env"]).stdout)
    assert status == {}

    # Every source came through the Hub or the url server, none from a local path or `demo`.
    for name in ("pretrain_text", "tokenizer", "xnli", "gpt2", "qwen", "qwen_tokenizer"):
        record = json.loads((paper_run / "data" / "sources" / f"{name}.json").read_text())
        assert record["kind"] in ("hub", "url"), record
    cache = Path(hub["env"]["HF_HOME"]) / "hub"
    downloaded = {path.name for path in cache.iterdir()}
    assert {"models--gpt2", "models--Qwen--Qwen2.5-0.5B", "datasets--facebook--xnli"} <= downloaded

    metrics = paper_run / "metrics"
    tokenize = json.loads((metrics / "tokenize.json").read_text())
    assert tokenize["documents"] == PRETRAIN_LINES
    if shared_or_none() is not None:
        assert tokenize["vocab_size"] == 50257  # the real GPT-2 BPE, from the Hub repo
    test = read_evaluation(metrics / "finetune_en.json")["en"]
    assert test["strict_ci95_low"] <= test["strict_accuracy"] <= test["strict_ci95_high"]
    for name in ("zeroshot.json", "qwen_lora.json", "finetune_all.json"):
        languages = json.loads((metrics / name).read_text())["languages"]
        assert len(languages) == 15, name
    fertility = json.loads((metrics / "fertility.json").read_text())
    # GPT-2's and Qwen2.5's tokenizers, and the evaluated model's own (here gpt2 from the Hub)
    assert set(fertility) == {"gpt2", "qwen2.5", "nli_model"}
    assert all(len(fertility[name]) == 15 for name in fertility)
    adapter = json.loads((paper_run / "data/models/qwen_lora/adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "Qwen/Qwen2.5-0.5B"  # named by its hub id


@pytest.mark.e2e
def test_saved_models_load_in_a_fresh_process_with_stock_classes(paper_run: Path, hub):
    """Each saved model folder loads with the stock auto classes; the LoRA adapter fetches its
    base, named by its hub id, from the Hub."""
    script = """
import sys
from peft import AutoPeftModelForCausalLM
from transformers import AutoModelForCausalLM, AutoTokenizer
for folder in sys.argv[1:]:
    auto = AutoPeftModelForCausalLM if folder.endswith("qwen_lora") else AutoModelForCausalLM
    model = auto.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("Premise: a\\nHypothesis: b\\nLabel:", return_tensors="pt").input_ids
    assert model(input_ids=ids).logits.shape[-1] >= len(tokenizer), folder
    print("loaded", folder, type(model).__name__)
"""
    folders = ["data/models/pretrain", "data/models/finetune_en", "data/models/finetune_all"]
    folders += ["data/models/finetune_per_lang/es", "data/models/qwen_lora"]
    output = run([sys.executable, "-c", script, *folders], paper_run, env=hub["env"]).stdout
    assert output.count("loaded") == len(folders), output


# The Hub's failure modes: a source set to something the Hub refuses, one stage run each. Each
# must end in one `error:` line naming the param and the source (and no traceback).
FAILURES = [
    (
        "missing-repo",
        {"sources.tokenizer": "hub:regpt2-test/no-such-model"},
        ["tokenize"],
        ["sources.tokenizer", "'regpt2-test/no-such-model'", "does not exist", "HF_TOKEN"],
    ),
    (
        "unauthorised-repo",
        {"sources.tokenizer": f"hub:{hub_mirror.DENIED_MODEL}"},
        ["tokenize"],
        ["sources.tokenizer", f"'{hub_mirror.DENIED_MODEL}'", "HTTP 401", "HF_TOKEN"],
    ),
    (
        "missing-config",
        {"sources.xnli": f"hub:{hub_mirror.ENGLISH_ONLY_XNLI}"},
        ["fertility"],
        ["sources.xnli", f"'{hub_mirror.ENGLISH_ONLY_XNLI}'", "no config 'fr'", "it has en"],
    ),
    (
        "url-sha256-differs",
        {"sources.pretrain_text_sha256": "0" * 64},
        ["tokenize"],
        ["sources.pretrain_text", "pretrain.txt has sha256", "expected " + "0" * 64],
    ),
]


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("values", "stage", "expected"),
    [case[1:] for case in FAILURES],
    ids=[case[0] for case in FAILURES],
)
def test_hub_failure_is_one_error_line(paper_run: Path, hub, values, stage, expected):
    params = paper_run / "params.yaml"
    original = params.read_text(encoding="utf-8")
    set_params(paper_run, values)
    try:
        result = run(
            [sys.executable, "-m", f"stages.{stage[0]}", *stage[1:]],
            paper_run,
            env=hub["env"],
            timeout=120,
            check=False,
        )
    finally:
        params.write_text(original, encoding="utf-8")
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    for part in expected:
        assert part in errors[0], errors[0]


@pytest.mark.shared
def test_paper_profile_pins_the_study_pretraining_text(shared):
    """The sha256 the profile pins is that of the study's text (../shared holds a copy)."""
    text = (shared / "data" / "pretrain" / "pretrain.txt").read_bytes()
    assert hashlib.sha256(text).hexdigest() == PAPER["sources"]["pretrain_text_sha256"]
