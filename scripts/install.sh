#!/usr/bin/env bash
# Install crm-rag-refresh into ./.venv. Usage: bash scripts/install.sh [postgres | dev | other extras]
# On Linux x86_64 with Python 3.11 the dependencies come from a lock file, each file checked
# against its sha256: requirements.lock (the service, postgres extra included) or
# requirements-dev.lock (dev). Its torch is the CPU build 2.13.0+cpu, which pip must find (this kind
# of machine has it on pip's find-links; elsewhere PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu).
# The project itself goes in last, editable, with --no-deps. scripts/lock.sh refreshes the locks.
# Anywhere else, for another extra, or with UNLOCKED=1: the old unpinned way, torch first and pinned
# (TORCH_SPEC, default torch==2.13.0) so sentence-transformers does not pull a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
extra="${1:-}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip=(.venv/bin/python -m pip install -q)
case "$extra" in
  "" | postgres) lock=requirements.lock ;;
  dev) lock=requirements-dev.lock ;;
  *) lock="" ;;
esac
target=$(.venv/bin/python -c 'import platform, sys; print(f"{sys.platform}-{platform.machine()}-{sys.version_info[0]}.{sys.version_info[1]}")')
if [ -n "$lock" ] && [ "$target" = linux-x86_64-3.11 ] && [ -z "${UNLOCKED:-}" ]; then
  # pip, setuptools and wheel first (from the lock too), so nothing is built with unchecked tools
  boot=$(mktemp)
  trap 'rm -f "$boot"' EXIT
  awk '/^[^ #]/ { split($1, p, "=="); keep = (p[1] == "pip" || p[1] == "setuptools" || p[1] == "wheel") } keep' \
    "$lock" >"$boot"
  "${pip[@]}" --require-hashes --no-deps -r "$boot"
  "${pip[@]}" --require-hashes --no-deps --no-build-isolation -r "$lock"
  "${pip[@]}" --no-deps --no-build-isolation -e .
  .venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check >&2; exit 1; }
else
  [ -z "$lock" ] || [ -n "${UNLOCKED:-}" ] || echo "install.sh: the locks are for linux-x86_64-3.11, not $target: installing unpinned" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  "${pip[@]}" "${TORCH_SPEC:-torch==2.13.0}"
  "${pip[@]}" -e ".${extra:+[$extra]}"
fi
