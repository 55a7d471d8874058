#!/usr/bin/env bash
# Install and run the service on its embedded default (Qdrant edge shard + SQLite) with the
# bundled demo CRM data: syncs every demo source, then serves http://127.0.0.1:8000 (docs at /docs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
exec .venv/bin/crm-rag --config config/demo.yaml --log-level INFO serve --sync-first "$@"
