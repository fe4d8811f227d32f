#!/usr/bin/env bash
# Install regpt2 with pip into the active Python environment.
# torch is pinned in pyproject.toml so that pip takes the CPU build on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet -e ".[dev]"
