#!/usr/bin/env bash
# Run every test: forge (unit, fuzz, invariant, gas snapshot check), then pytest against the real anvil with
# SQLite, then the whole pytest suite again against a real PostgreSQL server. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system
export PATH="$PWD/.venv/bin:$PATH"
forge=node_modules/@foundry-rs/forge-linux-amd64/bin/forge

echo "== ruff (undefined names, unused imports, syntax)"
ruff check --select F,E9 ledger api scripts tests bench

echo "== forge test (contracts)"
$forge test --offline
echo "== forge snapshot --check (gas)"
$forge snapshot --offline --check

echo "== pytest (SQLite)"
python -m pytest -q -p no:cacheprovider "$@"

echo "== pytest (PostgreSQL)"
pgdir=$(mktemp -d /tmp/pl-pg.XXXXXX)
trap 'bash scripts/pg.sh stop "$pgdir"' EXIT
LEDGER_TEST_DATABASE_URL=$(bash scripts/pg.sh start "$pgdir") python -m pytest -q -p no:cacheprovider "$@"
