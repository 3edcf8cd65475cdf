#!/usr/bin/env bash
# Start the HTTP gateway (FastAPI under uvicorn) on the embedded default: the ledger of $LEDGER_DATA_DIR
# (default ./.ledger), its own anvil node and SQLite. Verification page: http://127.0.0.1:${PORT:-8000}/
# API docs: /docs. Installs what it needs first. Extra arguments go to uvicorn, e.g. `--workers 2` (docs/api.md:
# keep one worker per data directory with the embedded chain; the public rate limit is per worker).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
if [ -z "${LEDGER_PASSPHRASE:-}" ]; then
  echo "gateway: set LEDGER_PASSPHRASE (it unlocks the department keys that sign access-log anchors)" >&2
  exit 2
fi
exec uvicorn api.main:app --no-proxy-headers --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" "$@"
