"""Stages `source_links`, `sources@NAME` and `gpt2_source`: make each source of params.yaml
visible to DVC, then fingerprint it into data/sources/NAME.json (regpt2.sources.fingerprint
says why).

A source can be a local path anywhere (the offline profile reads ../shared), which dvc.yaml
cannot name because the same param can also be `demo` or `hub:ID`. `source_links` (rerun when a
source param changes) makes data/sources/links/NAME a symbolic link to a local source, or a
small file holding the param's text otherwise; DVC hashes what a link points to, so
`sources@NAME` depends on it and reruns when the source's files change, and only then. What
reads the source reruns only when the fingerprint changes.

`gpt2` is a stage of its own because its demo value is the pretrain stage's output: it must
run after `pretrain`, while `tokenize`, upstream of `pretrain`, needs the other fingerprints. It
also writes data/sources/gpt2_tokenizer.json, the fingerprint of that model's tokenizer alone,
for `fertility`, which reads nothing else of the model."""

import os
from functools import partial
from pathlib import Path

from regpt2.config.params import load_params
from regpt2.core.errors import UserError, run_stage
from regpt2.core.io import write_json, write_text
from regpt2.sources.fingerprint import fingerprint
from regpt2.sources.resolve import parse_source
from stages import command

NAMES = ("pretrain_text", "tokenizer", "xnli", "gpt2", "qwen", "qwen_tokenizer")
LINKS = Path("data/sources/links")


def write_links() -> None:
    """data/sources/links/NAME for every source and, as the stage's output,
    data/sources/links/NAME.txt (the param's text). Every source is checked before anything is
    written."""
    sources = load_params().sources
    targets = {name: _link_target(name, getattr(sources, name)) for name in NAMES}
    for name, target in targets.items():
        text = getattr(sources, name)
        _make_link(name, target, text)
        write_text(LINKS / f"{name}.txt", text + "\n")


def _link_target(name: str, text: str) -> Path | None:
    """The absolute path a local source's link points to; None where the link is a file with
    the param's text: a source that is not a local path, or a path under data/ that does not
    exist yet (a stage output still to come, like the demo's GPT-2, pretrain's model). DVC stops
    with a traceback at a link that points nowhere, so none is made."""
    source = parse_source(text, role=f"sources.{name}")
    if source.kind != "path":
        return None
    target = source.path.resolve()
    if target.exists():
        return target
    if target.is_relative_to(Path.cwd().resolve() / "data"):
        return None
    raise UserError(f"sources.{name}: local path {text!r} does not exist")


def _make_link(name: str, target: Path | None, text: str) -> None:
    LINKS.mkdir(parents=True, exist_ok=True)
    temporary = LINKS / f".{name}.new"
    temporary.unlink(missing_ok=True)
    if target is None:
        temporary.write_text(text + "\n", encoding="utf-8")
    else:
        temporary.symlink_to(target)
    os.replace(temporary, LINKS / name)


def write_fingerprint(name: str) -> None:
    """data/sources/NAME.json. The link is made again first: a stage output that was still to
    come when `source_links` ran (the demo's GPT-2) exists now, and DVC records the link as this
    stage leaves it, so every later `source_links` run finds it unchanged."""
    text = getattr(load_params().sources, name)
    record = fingerprint(text, role=f"sources.{name}")  # a missing local path stops here
    _make_link(name, _link_target(name, text), text)
    write_json(f"data/sources/{name}.json", record)
    if name == "gpt2":
        tokenizer = fingerprint(text, role="sources.gpt2", tokenizer_only=True)
        write_json("data/sources/gpt2_tokenizer.json", tokenizer)


if __name__ == "__main__":
    commands = {"links": write_links} | {name: partial(write_fingerprint, name) for name in NAMES}
    usage = f"python -m stages.sources {{links|{'|'.join(NAMES)}}}"
    run_stage(command(commands, usage))
