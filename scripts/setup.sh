#!/usr/bin/env bash
# Create .venv (if missing) and install regpt2 with pip. torch is pinned in pyproject.toml, so a
# machine without a GPU gets the CPU build. Safe to run again: it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.regpt2-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    touch "$stamp"
fi
# DVC needs a git repository with a commit; a downloaded archive gets one here.
if [ ! -d .git ]; then
    git init -q && git add -A && git -c user.name=regpt2 -c user.email=regpt2@localhost commit -qm "initial"
fi
