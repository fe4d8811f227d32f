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

Minutes: one `dvc repro` per session (module fixture), then the Hub's failure modes, one stage
run each, on the same server.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
from helpers import hub_mirror
from helpers.demo_project import project_files, run
from ruamel.yaml import YAML

from regpt2.nli.metrics import read_evaluation

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PAPER = YAML(typ="safe").load((PROJECT_ROOT / "profiles" / "paper.yaml").read_text())

# What the test changes in the paper profile: sizes only (the served XNLI repo is small too:
# hub_mirror.XNLI_ROWS rows per language and split).
SIZES = {
    "pretrain.training.epochs": 1,
    "pretrain.n_embd": 32,
    "pretrain.n_head": 2,
    "pretrain.n_inner": 64,
    "translate.samples": 2,
    "probe.rows": 4,
}
# Lines of the study's pretraining text that are served (the profile pins all 5,778 by sha256;
# the test pins the lines it serves the same way).
PRETRAIN_LINES = 24
# The Hugging Face clients' switches to the local cache only (CI sets them), and credentials or
# proxies that the runner's environment may hold: none of them applies to the local Hub.
DROPPED_ENV = (
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
)


def _shared_or_none() -> Path | None:
    root = Path(os.environ.get("REGPT2_SHARED", PROJECT_ROOT.parent / "shared"))
    return root if (root / "data").is_dir() else None


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """The local Hub (olah) and the url server, running; yields the environment of a user
    whose HF_ENDPOINT is that Hub."""
    pytest.importorskip("olah", reason="olah (a Hugging Face Hub mirror server) is not installed")
    import datasets

    datasets.disable_progress_bars()
    root = tmp_path_factory.mktemp("hub")
    shared = _shared_or_none()
    hub_mirror.build_hub(root, shared)
    if shared is not None:
        lines = (shared / "data" / "pretrain" / "pretrain.txt").read_bytes().split(b"\n")
    else:
        from regpt2.demo.corpus import demo_pretrain_documents

        lines = [line.encode() for line in demo_pretrain_documents(PRETRAIN_LINES)]
    text = b"\n".join(lines[:PRETRAIN_LINES]) + b"\n"
    url_path = urlparse(PAPER["sources"]["pretrain_text"].removeprefix("url:")).path
    with (
        hub_mirror.olah_server(root, denied=(hub_mirror.DENIED_MODEL,)) as endpoint,
        hub_mirror.file_server({url_path: text}) as files,
    ):
        env = {name: value for name, value in os.environ.items() if name not in DROPPED_ENV}
        env.update(
            HF_ENDPOINT=endpoint,
            HF_HOME=str(root / "hf-home"),  # a fresh Hugging Face cache
            REGPT2_CACHE=str(root / "regpt2-cache"),  # and a fresh cache of url: downloads
            NO_PROXY="127.0.0.1,localhost",
            no_proxy="127.0.0.1,localhost",
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_DATASETS_DISABLE_PROGRESS_BARS="1",
            PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
        )
        yield {
            "env": env,
            "root": root,
            "pretrain_url": f"url:{files}{url_path}",
            "pretrain_sha256": hashlib.sha256(text).hexdigest(),
        }


def flat(tree: dict, where: str = "") -> dict:
    """{dotted key: value} of a params tree."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{where}{key}."))
        else:
            out[f"{where}{key}"] = value
    return out


def set_params(project: Path, values: dict) -> None:
    yaml = YAML()  # round trip: comments stay
    path = project / "params.yaml"
    document = yaml.load(path.read_text(encoding="utf-8"))
    for dotted, value in values.items():
        *parents, last = dotted.split(".")
        section = document
        for key in parents:
            section = section[key]
        section[last] = value
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(document, handle)


@pytest.fixture(scope="module")
def paper_run(hub, tmp_path_factory) -> Path:
    """A committed copy of the project under the paper profile, sizes shrunk, `dvc repro`ed."""
    env = hub["env"]
    project = tmp_path_factory.mktemp("paper") / "project"
    for name in project_files():
        if name.startswith(("metrics/", "report/", "results/")) or name == "dvc.lock":
            continue  # the run must produce them itself
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, project / name)
    run(["regpt2", "profile", "paper"], project, env=env)
    paper = flat(YAML(typ="safe").load((project / "params.yaml").read_text()))
    local_url = {
        "sources.pretrain_text": hub["pretrain_url"],
        "sources.pretrain_text_sha256": hub["pretrain_sha256"],
    }
    set_params(project, {**SIZES, **local_url})
    params = flat(YAML(typ="safe").load((project / "params.yaml").read_text()))
    changed = {key for key in params if params[key] != paper[key]}
    assert changed <= set(SIZES) | set(local_url), changed  # the paper profile, but for sizes
    for name in [key for key in params if key.startswith("sources.") and "sha256" not in key]:
        assert params[name].startswith(("hub:", "url:")), (name, params[name])
    for git in (["init", "-q"], ["add", "-A"]):
        run(["git", *git], project, env=env)
    run(["git", "-c", "user.name=CI", "-c", "user.email=ci@localhost", "commit", "-qm", "paper"],
        project, env=env)  # fmt: skip
    run(["dvc", "repro"], project, env=env)
    return project


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
    if _shared_or_none() is not None:
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
