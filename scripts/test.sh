#!/usr/bin/env bash
# The test command: lint, unit tests, and an end-to-end `dvc repro` of the demo profile in a
# temporary copy of the project (tests/test_pipeline.py). Offline: no hub access is attempted.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not e2e"` for the fast tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ruff check .
ruff format --check .
python -m pytest "$@"
