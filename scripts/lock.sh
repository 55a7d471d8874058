#!/usr/bin/env bash
# Refresh the lock files that scripts/install.sh installs from (every file sha256-checked):
#   requirements.lock      the service: [project] dependencies + the postgres extra (also the Docker image)
#   requirements-dev.lock  the dev extra: tests, lint, type checks, benchmarks
# for CPython 3.11 on Linux x86_64, the only target (run it there). pip-tools resolves in a throwaway
# venv, with pip's own configuration (its find-links must reach the torch CPU wheel, see lock.in).
# Plain: keep the current pins, add or drop only what pyproject.toml / scripts/lock.in changed.
#   bash scripts/lock.sh --upgrade                       # every package to its newest allowed release
#   bash scripts/lock.sh --upgrade-package fastapi       # one package (repeatable)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
target=$("$PY" -c 'import platform, sys; print(f"{sys.platform}-{platform.machine()}-{sys.version_info[0]}.{sys.version_info[1]}")')
[ "$target" = linux-x86_64-3.11 ] || { echo "lock.sh: the locks are for linux-x86_64-3.11, this is $target" >&2; exit 2; }
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$PY" -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install -q "pip==26.3" "pip-tools==7.6.2" 2>"$tools/log" || { cat "$tools/log" >&2; exit 1; }
export CUSTOM_COMPILE_COMMAND="bash scripts/lock.sh"
compile() {  # quiet unless it fails: building the sdists' metadata prints setuptools' deprecation notes
  "$tools/venv/bin/pip-compile" -q --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-find-links --no-emit-index-url "$@" pyproject.toml scripts/lock.in 2>"$tools/log" \
    || { cat "$tools/log" >&2; return 1; }
}
drop_self() {  # dev's "crm-rag-refresh[bench]" names the project: install.sh installs it, not the lock
  "$PY" - "$1" <<'PY'
import re
import sys
from pathlib import Path

path = Path(sys.argv[1])
blocks = re.split(r"\n(?=\S)", path.read_text())
drop = ("crm-rag-refresh @ ", "# WARNING: pip install will require the following package to be hashed")
path.write_text("\n".join(b for b in blocks if not b.startswith(drop)))
PY
}
compile --extra dev -o requirements-dev.lock "$@"
drop_self requirements-dev.lock
# the service's lock starts from the dev pins, so both hold the same versions (pip-compile keeps the
# pins it finds in its output file); only the packages differ
cp requirements-dev.lock requirements.lock
compile --extra postgres -o requirements.lock
echo "locked: $(grep -c '^[a-z0-9]' requirements.lock) packages in requirements.lock," \
  "$(grep -c '^[a-z0-9]' requirements-dev.lock) in requirements-dev.lock"
