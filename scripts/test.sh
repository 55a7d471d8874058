#!/usr/bin/env bash
# Install with dev extras, then lint, type-check and run the whole test suite (offline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh dev 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
# headless Chromium for the console test (Debian package); skipped where it cannot be installed
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }) \
    >/dev/null 2>&1 || echo "warning: could not install chromium" >&2
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .
# two pytest-xdist workers (addopts in pyproject.toml: -n 2 --dist loadfile); `-n 0` for one process
.venv/bin/python -m pytest "$@"
