"""Profiles: named sets of param values written into params.yaml.

params.yaml always holds the active values (that is what DVC tracks). A profile file in
`profiles/NAME.yaml` lists the values that differ between profiles; applying it rewrites only
those keys, keeping every comment and every other key of params.yaml as the user left it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from regpt2.config.params import PARAMS_FILE, PROFILES_DIR, available_profiles, validate_params
from regpt2.core.errors import UserError
from regpt2.core.io import atomic_path


def _round_trip() -> YAML:
    yaml = YAML()  # round-trip mode keeps comments and key order
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold long values such as URLs
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", "null")
    )
    return yaml


def _merge(target, overlay, where: str = "") -> None:
    for key, value in overlay.items():
        path = f"{where}{key}"
        if key not in target:
            raise UserError(f"profile sets {path}, which params.yaml does not have")
        if isinstance(value, dict):
            if not isinstance(target[key], dict):
                raise UserError(f"profile sets {path} as a section, params.yaml has a value")
            _merge(target[key], value, path + ".")
        else:
            target[key] = value


def apply_profile(name: str, root: Path = Path(".")) -> Path:
    """Write profile `name` into params.yaml (validated before anything is written)."""
    known = available_profiles(root)
    if name not in known:
        raise UserError(f"unknown profile {name!r}; known profiles: {', '.join(known)}")
    yaml = _round_trip()
    params_path = root / PARAMS_FILE
    document = yaml.load(params_path.read_text(encoding="utf-8"))
    overlay = yaml.load((root / PROFILES_DIR / f"{name}.yaml").read_text(encoding="utf-8")) or {}
    _merge(document, overlay)
    document["profile"] = name
    plain = YAML(typ="safe").load(_dump(yaml, document))
    validate_params(plain, origin=f"profiles/{name}.yaml applied to params.yaml")
    with atomic_path(params_path) as tmp:
        tmp.write_text(_dump(yaml, document), encoding="utf-8")
    return params_path


def read_profile(name: str, root: Path = Path(".")) -> dict:
    """The values profile `name` sets (`profiles/NAME.yaml`), as plain data."""
    path = root / PROFILES_DIR / f"{name}.yaml"
    try:
        return YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        known = ", ".join(available_profiles(root)) or "none"
        raise UserError(f"{path}: not found (known profiles: {known})") from None


NOT_SET = object()  # a profile key that the params do not have


def profile_mismatches(
    params: Mapping[str, Any], profile: Mapping[str, Any], where: str = ""
) -> list[tuple[str, Any, Any]]:
    """(dotted key, value in params, value in profile) for each key the profile sets and the
    params hold differently (NOT_SET where the params lack it): empty when they hold it."""
    found: list[tuple[str, Any, Any]] = []
    for key, value in profile.items():
        path = f"{where}{key}"
        held = params.get(key, NOT_SET)
        if isinstance(value, Mapping) and isinstance(held, Mapping):
            found += profile_mismatches(held, value, path + ".")
        elif held != value:
            found.append((path, held, value))
    return found


def _dump(yaml: YAML, document) -> str:
    from io import StringIO

    buffer = StringIO()
    yaml.dump(document, buffer)
    return buffer.getvalue()
