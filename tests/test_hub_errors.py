"""What a hub source's error line says when the Hub answered: the answer, classified from the
clients' own exceptions (huggingface_hub raises them from the HTTP response), not the client's
long message. tests/test_paper_hub.py sees the same lines from a real local Hub server; a gated
repo (which that server cannot play) is checked here."""

from __future__ import annotations

import pytest
from huggingface_hub.utils import hf_raise_for_status

from regpt2.sources.resolve import hub_error, parse_source

try:  # the HTTP client huggingface_hub >= 2 speaks (a fork of httpx), else httpx
    import httpx2 as http
except ImportError:  # pragma: no cover - older huggingface_hub
    import httpx as http

SOURCE = parse_source("hub:some-org/some-model")


def _client_error(status: int, code: str) -> Exception:
    """What transformers raises: an OSError from huggingface_hub's error for this answer."""
    request = http.Request("GET", "http://127.0.0.1:9/some-org/some-model/resolve/main/x")
    response = http.Response(status, headers={"x-error-code": code}, request=request)
    try:
        try:
            hf_raise_for_status(response)
        except Exception as hub:
            raise OSError("some-org/some-model is not a local folder and is not ...") from hub
    except OSError as error:
        return error
    raise AssertionError("hf_raise_for_status accepted the answer")


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (403, "GatedRepo", "is gated: accept its conditions"),
        (401, "GatedRepo", "is gated: accept its conditions"),
        (401, "RepoNotFound", "does not exist or may not be read without a token"),
        (404, "RepoNotFound", "does not exist or may not be read without a token"),
        (404, "EntryNotFound", "lacks a file the loader needs"),
    ],
)
def test_the_hubs_answer_is_named(monkeypatch, status, code, expected):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    message = str(hub_error(SOURCE, "sources.qwen", _client_error(status, code)))
    assert message.startswith(
        f"sources.qwen: 'some-org/some-model' on the Hugging Face Hub (http://127.0.0.1:9, "
        f"HTTP {status})"
    )
    assert expected in message and "\n" not in message


def test_no_answer_keeps_the_clients_reason():
    message = str(hub_error(SOURCE, "sources.qwen", ConnectionError("connection refused")))
    assert "could not load 'some-org/some-model'" in message and "connection refused" in message
