"""`bf16: auto | true | false`: which paths run under bf16 autocast on which hardware."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ruamel.yaml import YAML

from regpt2.config.params import load_params, validate_params
from regpt2.core import precision
from regpt2.core.errors import UserError

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
CPU = torch.device("cpu")
CUDA = torch.device("cuda")


@pytest.fixture
def hardware(monkeypatch):
    """Pretend the CPU / the GPU has (or lacks) native bf16."""

    def set_native(cpu: bool, cuda: bool = False) -> None:
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: cpu)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: cuda)

    return set_native


@pytest.mark.parametrize(
    ("cpu_native", "path", "expected"),
    [
        (False, "training", False),  # AVX2: bf16 is emulated, slower
        (False, "inference", False),
        (True, "training", False),  # AVX512_BF16 / AMX: training measured no faster
        (True, "inference", True),  # scoring measured 2-2.5x faster
    ],
)
def test_auto_on_a_cpu(hardware, cpu_native, path, expected):
    hardware(cpu=cpu_native)
    assert precision.use_bf16("auto", CPU, path) is expected


@pytest.mark.parametrize("path", ["training", "inference"])
def test_auto_on_cuda_follows_the_gpu(hardware, path):
    hardware(cpu=False, cuda=True)
    assert precision.use_bf16("auto", CUDA, path) is True
    hardware(cpu=True, cuda=False)
    assert precision.use_bf16("auto", CUDA, path) is False


@pytest.mark.parametrize("path", ["training", "inference"])
def test_true_and_false_force_it(hardware, path):
    hardware(cpu=False)
    assert precision.use_bf16(True, CPU, path) is True
    assert precision.use_bf16(False, CPU, path) is False
    hardware(cpu=True, cuda=True)
    assert precision.use_bf16(False, CUDA, path) is False


def test_cpu_detection_reads_the_hardware():
    # Whatever this machine is, the answer is a bool and agrees with torch's own probe.
    has = precision.cpu_has_native_bf16()
    assert isinstance(has, bool)
    if torch.cpu._is_avx512_bf16_supported():
        assert has


def _raw() -> dict:
    return YAML(typ="safe").load(PARAMS.read_text(encoding="utf-8"))


@pytest.mark.parametrize("where", ["pretrain.training", "finetune_en.training", "nli", "probe"])
def test_every_bf16_param_takes_auto_true_false_only(where):
    def with_bf16(value):
        raw = _raw()
        section = raw
        for key in where.split("."):
            section = section[key]
        section["bf16"] = value
        return raw

    for value in ("auto", True, False):
        params = validate_params(with_bf16(value))
        section = params
        for key in where.split("."):
            section = getattr(section, key)
        assert section.bf16 == value
    with pytest.raises(UserError, match="bf16"):
        validate_params(with_bf16("yes"))


def test_the_defaults_are_auto():
    params = load_params(PARAMS)
    blocks = [params.pretrain.training, params.nli, params.translate, params.probe]
    blocks += [params.finetune_en.training, params.finetune_per_lang.training]
    blocks += [params.finetune_all.training, params.qwen_lora.training]
    assert all(block.bf16 == "auto" for block in blocks)
