#!/usr/bin/env bash
# The test command: lint, unit tests, then an end-to-end `dvc repro` of the demo profile in a
# temporary copy of the project (tests/test_pipeline.py). Offline: no hub access is attempted.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ruff check .
ruff format --check .
python -m pytest -q "$@"
