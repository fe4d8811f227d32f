#!/usr/bin/env bash
# The whole study on the active profile (demo by default: offline, CPU, minutes), then the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
dvc repro "$@"
echo "Done. Open report/index.html, or run: dvc metrics show; dvc plots show"
