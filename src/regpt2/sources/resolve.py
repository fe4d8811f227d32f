"""Resolve a source string from params.yaml into something local.

A source is one of:
- `demo`: built by the project itself, offline (synthetic data, tiny models);
- `hub:ID`: a Hugging Face Hub model or dataset id;
- `url:URL`: a file downloaded once into the cache and checked against a sha256;
- anything else: a local path (file or folder), relative to the project root.

Every failure names the source, says what was tried and how to point it at a local copy.
"""

from __future__ import annotations

import hashlib
import os
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from regpt2.core.errors import UserError

SourceKind = Literal["demo", "hub", "url", "path"]


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    value: str
    text: str  # as written in params.yaml, for messages

    @property
    def path(self) -> Path:
        if self.kind != "path":
            raise UserError(f"source {self.text!r} is not a local path")
        return Path(self.value).expanduser()


def parse_source(text: str, *, role: str = "source") -> Source:
    """Parse a source string; `role` names the param in error messages."""
    text = str(text).strip()
    if not text:
        raise UserError(f"{role}: empty source; use `demo`, `hub:ID`, `url:URL` or a local path")
    if text == "demo":
        return Source("demo", "", text)
    for prefix in ("hub", "url"):
        if text.startswith(prefix + ":"):
            value = text[len(prefix) + 1 :].strip()
            if not value:
                raise UserError(f"{role}: {text!r} names no {prefix} location")
            return Source(prefix, value, text)  # type: ignore[arg-type]
    return Source("path", text, text)


def existing_path(source: Source, *, role: str) -> Path:
    """The local path of a path source, failing clearly when it does not exist."""
    path = source.path
    if not path.exists():
        raise UserError(f"{role}: local path {str(path)!r} does not exist")
    return path


def cache_dir() -> Path:
    root = os.environ.get("REGPT2_CACHE") or Path.home() / ".cache" / "regpt2"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_url(url: str, sha256: str, *, role: str, timeout: float = 60) -> Path:
    """Download `url` into the cache once and check it against `sha256` (also a cached copy).

    An empty `sha256` is refused once the file is downloaded, with the file's sha256 to paste
    into the param `{role}_sha256`. The pin is what makes the file part of params.yaml: the file
    is downloaded only once, so nothing else would notice it change upstream.
    """
    name = hashlib.sha256(url.encode()).hexdigest()[:16] + "-" + Path(url).name
    target = cache_dir() / "downloads" / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".part")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                partial.write_bytes(response.read())
        except (OSError, ValueError) as error:
            partial.unlink(missing_ok=True)
            raise UserError(
                f"{role}: could not download {url} ({error}); download it by hand and set "
                f"{role} to the local file path"
            ) from None
        os.replace(partial, target)
    actual = sha256_of(target)
    if not sha256:
        raise UserError(
            f"{role}: {url} is not pinned; set {role}_sha256: {actual} (the sha256 of the file "
            "just downloaded), so that a change of the file upstream cannot go unnoticed"
        )
    if actual != sha256.lower():
        target.unlink()
        raise UserError(f"{role}: {url} has sha256 {actual}, expected {sha256}; file removed")
    return target


def hub_endpoint() -> str:
    """The Hub the Hugging Face clients talk to ($HF_ENDPOINT, e.g. a mirror)."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or "https://huggingface.co"


def hub_error(source: Source, role: str, error: Exception) -> UserError:
    """The one-line error for a hub source that could not be loaded.

    When the Hub answered (the clients' exception chain holds its HTTP error), the line says
    what it answered: no such repo (or no access to it: the Hub answers both with 401 to a
    caller without a token), a gated repo, a missing file. Anything else (no network, a cache
    miss offline) keeps the client's reason and the advice to use a local copy.
    """
    answer = _hub_answer(error)
    if answer is not None:
        kind, status = answer
        code = f", HTTP {status}" if status else ""
        where = f"{role}: {source.value!r} on the Hugging Face Hub ({hub_endpoint()}{code})"
        local = f"or set {role} to a local folder"
        if kind == "gated":
            return UserError(
                f"{where} is gated: accept its conditions on its Hub page and set HF_TOKEN "
                f"(or run `hf auth login`), {local}"
            )
        if kind == "repo":
            return UserError(
                f"{where} does not exist or may not be read without a token: check the id, "
                f"set HF_TOKEN for a private or gated repo, {local}"
            )
        reason = " ".join(str(error).split())[:200]
        return UserError(f"{where} lacks a file the loader needs ({reason}); {local}")
    reason = " ".join(str(error).split())[:200]
    offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") == "1" else ""
    return UserError(
        f"{role}: could not load {source.value!r} from the Hugging Face Hub{offline}: {reason}; "
        f"download it where there is a network and set {role} to the local folder"
    )


def _hub_answer(error: BaseException) -> tuple[str, int | None] | None:
    """("gated" | "repo" | "file", HTTP status) when the Hub's answer is behind `error`.

    transformers and datasets wrap huggingface_hub's errors (OSError, DatasetNotFoundError), so
    the whole chain of causes is searched; a gated repo is also a "repository not found"."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
    )

    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    statuses = [
        getattr(link.response, "status_code", None)
        for link in chain
        if isinstance(link, HfHubHTTPError) and getattr(link, "response", None) is not None
    ]
    status = statuses[0] if statuses else None
    names = {type(link).__name__ for link in chain}
    if any(isinstance(link, GatedRepoError) for link in chain):
        return "gated", status
    if any(isinstance(link, RepositoryNotFoundError) for link in chain):
        return "repo", status
    # datasets' own "not found", sometimes with no HTTP error behind it; by name, since
    # importing datasets here would cost a second on every model error.
    if "DatasetNotFoundError" in names:
        return "repo", status
    if any(isinstance(link, RemoteEntryNotFoundError) for link in chain):
        return "file", status
    return None


_TRUE = {"1", "on", "yes", "true"}
#: Endpoints already found reachable in this process (the check costs one HTTP request).
_REACHABLE: set[str] = set()


def hub_offline() -> bool:
    """Whether the user asked the Hugging Face libraries to stay offline (cache only)."""
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def ensure_hub_reachable(source: Source, role: str, *, timeout: float = 3.0) -> None:
    """Fail within a few seconds when the Hub cannot be reached, instead of the Hugging Face
    clients' minute of retries. Offline mode (cache only) is left to the clients.

    One HEAD request to the Hub endpoint ($HF_ENDPOINT; proxies as urllib finds them) tells
    whether the Hub answers; the real loading code then runs as usual.
    """
    if hub_offline():
        return
    endpoint = hub_endpoint()
    if endpoint in _REACHABLE:
        return
    problem = _hub_problem(endpoint, timeout)
    if problem is not None:
        raise UserError(
            f"{role}: could not load {source.value!r} from the Hugging Face Hub: {endpoint} does "
            f"not answer ({problem}); download it where there is a network and set {role} to "
            "the local folder, or set HF_HUB_OFFLINE=1 to use the local Hugging Face cache"
        )
    _REACHABLE.add(endpoint)


def _hub_problem(endpoint: str, timeout: float) -> str | None:
    """Why `endpoint` does not answer an HTTP request within `timeout` seconds (None: it does).

    A 4xx answer counts as an answer; a 5xx one (a proxy refusing the way out) does not. The
    request runs in a daemon thread so that name resolution, which ignores socket timeouts,
    cannot block longer either.
    """
    outcome: list[str | None] = []

    def attempt() -> None:
        request = urllib.request.Request(endpoint + "/", method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                outcome.append(None)
        except urllib.error.HTTPError as error:
            outcome.append(None if error.code < 500 else f"HTTP {error.code}")
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            if isinstance(reason, OSError) and reason.strerror:
                reason = reason.strerror
            outcome.append(" ".join(str(reason).split()) or type(error).__name__)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"
