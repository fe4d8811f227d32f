"""Stages `sources@NAME` and `gpt2_source`: fingerprint one source of params.yaml into
data/sources/NAME.json (regpt2.sources.fingerprint says why). Both run at every `dvc repro`
and take a second; what reads the source reruns only when the fingerprint changes.

`gpt2` is a stage of its own because its demo value is the pretrain stage's output: it must
run after `pretrain`, while `tokenize`, upstream of `pretrain`, needs the other fingerprints. It
also writes data/sources/gpt2_tokenizer.json, the fingerprint of that model's tokenizer alone,
for `fertility`, which reads nothing else of the model."""

from functools import partial

from regpt2.config.params import load_params
from regpt2.core.errors import run_stage
from regpt2.core.io import write_json
from regpt2.sources.fingerprint import fingerprint
from stages import command

NAMES = ("pretrain_text", "tokenizer", "xnli", "gpt2", "qwen", "qwen_tokenizer")


def write_fingerprint(name: str) -> None:
    text = getattr(load_params().sources, name)
    write_json(f"data/sources/{name}.json", fingerprint(text, role=f"sources.{name}"))
    if name == "gpt2":
        tokenizer = fingerprint(text, role="sources.gpt2", tokenizer_only=True)
        write_json("data/sources/gpt2_tokenizer.json", tokenizer)


if __name__ == "__main__":
    commands = {name: partial(write_fingerprint, name) for name in NAMES}
    run_stage(command(commands, f"python -m stages.sources {{{'|'.join(NAMES)}}}"))
