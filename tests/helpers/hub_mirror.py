"""A local Hugging Face Hub for tests: olah (a Hub mirror server from PyPI) serving git repos
built here from small parts, and a plain HTTP server for `url:` sources. Both listen on
127.0.0.1 only, and olah runs offline, so nothing leaves the machine.

The repos have the layout of the real ones: `gpt2` (a tiny GPT2LMHeadModel with the real GPT-2
BPE files, or a small BPE when ../shared is absent), `Qwen/Qwen2.5-0.5B` (a tiny
Qwen2ForCausalLM with tied embeddings, bf16 weights, and a Qwen2 tokenizer) and `facebook/xnli`
(one config per language, train/validation/test parquet files with ClassLabel labels).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import torch

from regpt2.core.languages import XNLI_LANGUAGES
from regpt2.sources.data import DemoSizes, NliExample, load_xnli

# The Hub's XNLI label ids (datasets' ClassLabel of facebook/xnli).
HUB_LABELS = ["entailment", "neutral", "contradiction"]
# Rows per language of the served XNLI splits: enough for every stage, small enough for CI.
XNLI_ROWS = {"train": 16, "validation": 4, "test": 8}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def commit_repo(folder: Path) -> str:
    """Make `folder` a git repository with one commit of all its files on `main`; its sha."""
    env = dict(
        os.environ, GIT_AUTHOR_DATE="2024-01-01T00:00:00", GIT_COMMITTER_DATE="2024-01-01T00:00:00"
    )

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=folder, env=env, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("-c", "user.name=hub", "-c", "user.email=hub@localhost", "commit", "-qm", "upload")
    return git("rev-parse", "HEAD")


# ------------------------------------------------------------------------------ repositories


def gpt2_tokenizer(shared: Path | None):
    """The real GPT-2 BPE from ../shared, else a small byte-level BPE the project trains."""
    from regpt2.demo.corpus import demo_pretrain_documents
    from regpt2.sources.tokenizers import gpt2_tokenizer_from_files, train_demo_bpe

    if shared is not None:
        return gpt2_tokenizer_from_files(shared / "data" / "tokenizers" / "gpt2")
    return train_demo_bpe(demo_pretrain_documents(1200), 2000)  # the demo profile's BPE


def qwen_tokenizer(shared: Path | None):
    """The real Qwen2.5 BPE from ../shared, else a small multilingual byte-level BPE."""
    from regpt2.sources.demo_models import demo_qwen_tokenizer
    from regpt2.sources.tokenizers import qwen2_tokenizer_from_files

    if shared is not None:
        return qwen2_tokenizer_from_files(shared / "data" / "tokenizers" / "qwen2.5")
    return demo_qwen_tokenizer(100, 1500)


def build_gpt2_repo(folder: Path, shared: Path | None) -> None:
    """Like huggingface.co/gpt2: config, fp32 safetensors, tokenizer.json + vocab/merges and a
    tokenizer_config.json that names no class (AutoTokenizer goes by the model type)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = gpt2_tokenizer(shared)
    torch.manual_seed(0)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(
        vocab_size=len(tokenizer), n_positions=1024, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=eos, eos_token_id=eos,
    )  # fmt: skip
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    _write_json(folder / "tokenizer_config.json", {"model_max_length": 1024})
    if shared is not None:
        for name in ("vocab.json", "merges.txt"):
            (folder / name).write_bytes(
                (shared / "data" / "tokenizers" / "gpt2" / name).read_bytes()
            )


def build_qwen_repo(folder: Path, shared: Path | None) -> None:
    """Like huggingface.co/Qwen/Qwen2.5-0.5B: a Qwen2ForCausalLM with tied embeddings, bf16
    weights, a vocabulary padded past the tokenizer's, and a Qwen2Tokenizer config."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = qwen_tokenizer(shared)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=151936 if shared is not None else len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        rope_theta=1000000.0,
        tie_word_embeddings=True,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    _write_json(
        folder / "tokenizer_config.json",
        {
            "tokenizer_class": "Qwen2Tokenizer",
            "bos_token": None,
            "eos_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>",
            "unk_token": None,
            "model_max_length": 131072,
            "clean_up_tokenization_spaces": False,
        },
    )


def xnli_rows(shared: Path | None) -> dict[str, dict[str, list[NliExample]]]:
    """Parallel rows per language and Hub split: real XNLI from ../shared (whose dev set stands
    in for train and validation: it has no train split), else the demo corpus."""
    wanted = XNLI_ROWS
    rows: dict[str, dict[str, list[NliExample]]] = {}
    for lang in XNLI_LANGUAGES:
        if shared is not None:
            folder = str(shared / "data" / "xnli")
            dev = load_xnli(folder, lang, "dev", limit=wanted["train"] + wanted["validation"])
            test = load_xnli(folder, lang, "test", limit=wanted["test"])
            train, validation = dev[: wanted["train"]], dev[wanted["train"] :]
        else:
            sizes = DemoSizes(wanted["train"], wanted["validation"], wanted["test"])
            train, validation, test = (
                load_xnli("demo", lang, split, demo_sizes=sizes)
                for split in ("train", "dev", "test")
            )
        rows[lang] = {"train": train, "validation": validation, "test": test}
    return rows


def build_xnli_repo(folder: Path, rows: dict[str, dict[str, list[NliExample]]]) -> None:
    """Like huggingface.co/datasets/facebook/xnli: `{lang}/{split}-00000-of-00001.parquet` and a
    README whose card declares one config per language and the ClassLabel feature."""
    import datasets
    import yaml

    features = datasets.Features(
        {
            "premise": datasets.Value("string"),
            "hypothesis": datasets.Value("string"),
            "label": datasets.ClassLabel(names=HUB_LABELS),
        }
    )
    card_infos, card_configs = [], []
    for lang, splits in rows.items():
        nbytes = {}
        for split, examples in splits.items():
            table = datasets.Dataset.from_dict(
                {
                    "premise": [row.premise for row in examples],
                    "hypothesis": [row.hypothesis for row in examples],
                    "label": [HUB_LABELS.index(row.label) for row in examples],
                },
                features=features,
            )
            path = folder / lang / f"{split}-00000-of-00001.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            table.to_parquet(str(path))
            nbytes[split] = table.data.nbytes
        card_infos.append(
            {
                "config_name": lang,
                "features": [
                    {"name": "premise", "dtype": "string"},
                    {"name": "hypothesis", "dtype": "string"},
                    {
                        "name": "label",
                        "dtype": {
                            "class_label": {"names": {str(i): n for i, n in enumerate(HUB_LABELS)}}
                        },
                    },
                ],
                "splits": [
                    {"name": split, "num_bytes": nbytes[split], "num_examples": len(examples)}
                    for split, examples in splits.items()
                ],
            }
        )
        card_configs.append(
            {
                "config_name": lang,
                "data_files": [{"split": split, "path": f"{lang}/{split}-*"} for split in splits],
            }
        )
    card = yaml.safe_dump({"dataset_info": card_infos, "configs": card_configs}, sort_keys=False)
    (folder / "README.md").write_text(f"---\n{card}---\n\n# XNLI (test copy)\n", encoding="utf-8")


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


# Repos that exist only to be refused: one that olah denies (as the Hub answers a private or
# gated repo to a caller without access), and an XNLI copy with the English config alone.
DENIED_MODEL = "regpt2-test/private-model"
ENGLISH_ONLY_XNLI = "regpt2-test/xnli-en"


def build_hub(root: Path, shared: Path | None) -> Path:
    """Every repo under `root/mirrors/{models,datasets}/ID`, one commit each; the mirrors
    folder that `olah_server` serves."""
    mirrors = root / "mirrors"
    rows = xnli_rows(shared)
    builders = {
        "models/gpt2": lambda folder: build_gpt2_repo(folder, shared),
        "models/Qwen/Qwen2.5-0.5B": lambda folder: build_qwen_repo(folder, shared),
        "datasets/facebook/xnli": lambda folder: build_xnli_repo(folder, rows),
        f"datasets/{ENGLISH_ONLY_XNLI}": lambda folder: build_xnli_repo(folder, {"en": rows["en"]}),
        f"models/{DENIED_MODEL}": lambda folder: _write_json(
            folder / "config.json", {"model_type": "gpt2"}
        ),
    }
    for name, build in builders.items():
        folder = mirrors / name
        folder.mkdir(parents=True)
        build(folder)
        commit_repo(folder)
    return mirrors


# ------------------------------------------------------------------------------ the server


def index_revisions(repos_path: Path, mirrors: Path) -> None:
    """Tell offline olah where each local repo's `main` points.

    Offline, olah resolves a branch name only from its cache (filled while it was online), so
    a request by `main` for a file the repo lacks would answer 401 "repository not found"
    instead of the Hub's 404 "entry not found" (and transformers treats a missing optional
    file such as generation_config.json as a missing model). Recording `main` -> commit in
    olah's own cache format, for every local repo, gives the Hub's answers.
    """
    from olah.mirror.repos import LocalMirrorRepo
    from olah.utils.cache_utils import write_cache_request
    from olah.utils.repo_utils import get_meta_save_dir, get_resolved_commit_save_path

    for kind in ("models", "datasets"):
        for git_dir in sorted((mirrors / kind).glob("**/.git")):
            folder = git_dir.parent
            parts = folder.relative_to(mirrors / kind).parts
            org, repo = (None, parts[0]) if len(parts) == 1 else parts
            meta = LocalMirrorRepo(str(folder), kind, org, repo).get_meta("main")
            revision_dir = Path(get_meta_save_dir(str(repos_path), kind, org, repo)) / "main"
            revision_dir.mkdir(parents=True, exist_ok=True)
            # The newest revision of a repo (`/api/models/ID` without a revision).
            _write_json(revision_dir / "meta_head.json", meta)
            # The branch -> commit record of a file download.
            resolved = get_resolved_commit_save_path(str(repos_path), kind, org, repo, "main")
            asyncio.run(write_cache_request(resolved, 200, {}, meta["sha"].encode("ascii")))


@contextmanager
def olah_server(root: Path, *, denied: tuple[str, ...] = ()):
    """olah serving the git repos under `root/mirrors/{models,datasets}/ID`, offline, on a
    free 127.0.0.1 port; yields its endpoint (the value of HF_ENDPOINT). `denied` repos are
    refused as the Hub refuses a repo the caller may not read (401)."""
    port = free_port()
    mirrors, repos_path = root / "mirrors", root / "olah-cache"
    index_revisions(repos_path, mirrors)
    rules = "".join(
        f'[[accessibility.proxy]]\nrepo = "{pattern}"\nallow = {str(allow).lower()}\n'
        for pattern, allow in [("*", True), ("*/*", True), *((name, False) for name in denied)]
    )
    config = root / "olah.toml"
    config.write_text(
        f"""[basic]
host = "127.0.0.1"
port = {port}
repos-path = "{repos_path}"
mirrors-path = ["{mirrors}"]
mirror-netloc = "127.0.0.1:{port}"
mirror-lfs-netloc = "127.0.0.1:{port}"
# Offline: olah never asks an upstream; these name a closed local port all the same.
hf-scheme = "http"
hf-netloc = "127.0.0.1:9"
hf-lfs-netloc = "127.0.0.1:9"

[accessibility]
offline = true
{rules}""",
        encoding="utf-8",
    )
    log = (root / "olah.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "olah.server", "-c", str(config), "--log-path", str(root / "logs")],
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(endpoint, server, root / "olah.log")
        yield endpoint
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _wait_until_up(endpoint: str, server: subprocess.Popen, log: Path, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"olah exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(endpoint + "/", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"olah did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextmanager
def file_server(files: dict[str, bytes]):
    """A plain HTTP server on 127.0.0.1 answering GET PATH with `files[PATH]` (else 404);
    yields its base url."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
