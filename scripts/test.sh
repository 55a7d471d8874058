#!/usr/bin/env bash
# Install with dev extras, then lint, type-check and run the whole test suite (offline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh dev 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
.venv/bin/python -m pytest "$@"
