#!/usr/bin/env bash
# Run every check: ruff, ruff format, forge fmt and lint-imports first; then pytest against the real anvil with SQLite
# and, side by side, against a real PostgreSQL server, with mypy and forge (unit, fuzz and invariant tests with the gas
# snapshot check, in one run) beside them at the lowest CPU priority; their output follows the passes'.
# Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --system
export PATH="$PWD/.venv/bin:$PATH"
forge=node_modules/@foundry-rs/forge-linux-amd64/bin/forge

# Habits a tool checks, first: lint, format, types (configured in pyproject.toml), Solidity format.
echo "== ruff check"
ruff check ledger api scripts tests bench
echo "== ruff format --check"
ruff format --check ledger api scripts tests bench
echo "== forge fmt --check"
$forge fmt --check
echo "== lint-imports (the layers of ledger/: import-linter contracts in pyproject.toml, docs/architecture.md)"
lint-imports

# The contract tests (unit, fuzz, invariant) run once: `forge snapshot --check` runs every test `forge test` runs,
# fails when one fails, and then compares the gas with .gas-snapshot (a separate `forge test` ran them all twice).
# mypy and forge run beside the pytest passes, at nice 19: each pass keeps its core busy but waits on its nodes,
# servers and commands for part of its time (bench/analysis.md, ci4), and at the lowest priority the two checks take
# that time rather than the passes' (before, the passes waited for them: ~60 s of both cores). Their output is
# printed after the passes'; any of the four failing fails the run.
checks=$(mktemp -d /tmp/pl-checks.XXXXXX)
pgdir=$(mktemp -d /tmp/pl-pg.XXXXXX)
runs=$(mktemp -d /tmp/pl-pytest.XXXXXX)
mypy_pid="" forge_pid=""
# the checks still running stopped, the server stopped and its data and the tests' scratch removed: a run leaves
# nothing behind (repeated runs filled the disk)
trap 'for pid in $mypy_pid $forge_pid; do kill "$pid" 2>/dev/null; done
      bash scripts/pg.sh stop "$pgdir"; rm -rf "$pgdir" "$runs" "$checks"' EXIT
nice -n 19 mypy >"$checks/mypy.log" 2>&1 &
mypy_pid=$!
nice -n 19 $forge snapshot --offline --check >"$checks/forge.log" 2>&1 &
forge_pid=$!

# The two database passes run side by side (one per core); LEDGER_TEST_SEQUENTIAL=1 runs them one after the other.
# The PostgreSQL pass leaves out the database-agnostic modules (tests/conftest.py DATABASE_AGNOSTIC).
# the server the suite throws away writes no more than the tests need (scripts/pg.sh lean)
pg_url=$(bash scripts/pg.sh start "$pgdir" lean)
# Both passes run: the PostgreSQL pass takes a few database-agnostic modules off the SQLite pass, which is the longer
# (tests/conftest.py AGNOSTIC_IN_PG_PASS); each still runs once.
export LEDGER_TEST_BOTH_PASSES=1
# Each pass ends with its slowest tests: where CI's time goes is in every log (the aim is under 15 minutes).
export PYTEST_ADDOPTS="${PYTEST_ADDOPTS:-} --durations=25"
# Each pass gives each test module a fresh ledger (tests/conftest.py LEDGER_SCOPE): on one session chain every block
# grows dearer as the pass goes on (LEDGER_TEST_LEDGER_SCOPE=session gives the one chain back).
export LEDGER_TEST_LEDGER_SCOPE=${LEDGER_TEST_LEDGER_SCOPE:-module}
pg_pass() { LEDGER_TEST_DATABASE_URL=$pg_url python -m pytest -q -p no:cacheprovider --basetemp "$runs/pg" "$@"; }
sqlite_pass() { python -m pytest -q -p no:cacheprovider --basetemp "$runs/sqlite" "$@"; }
set +e
if [ -n "${LEDGER_TEST_SEQUENTIAL:-}" ]; then
  echo "== pytest (SQLite)"
  sqlite_pass "$@"; sqlite_rc=$?
  echo "== pytest (PostgreSQL)"
  pg_pass "$@"; pg_rc=$?
else
  echo "== pytest (SQLite, with the PostgreSQL pass running beside it; its output follows)"
  # With no arguments the PostgreSQL pass takes the modules in reverse order, so the two passes do not run the same
  # heavy module (gateway floods, browser, restarts) at the same moment.
  if [ $# -eq 0 ]; then
    pg_pass $(ls tests/test_*.py | sort -r) >"$runs/pg.log" 2>&1 &
  else
    pg_pass "$@" >"$runs/pg.log" 2>&1 &
  fi
  pg_pid=$!
  sqlite_pass "$@"; sqlite_rc=$?
  wait "$pg_pid"; pg_rc=$?
  echo "== pytest (PostgreSQL)"
  cat "$runs/pg.log"
fi
wait "$mypy_pid"; mypy_rc=$?
wait "$forge_pid"; forge_rc=$?
mypy_pid="" forge_pid=""  # reaped: nothing for the trap to stop
set -e
echo "== mypy (strict on the format, crypto and verification modules)"
cat "$checks/mypy.log"
echo "== forge snapshot --check (the contract tests, then their gas against .gas-snapshot)"
cat "$checks/forge.log"
echo "== mypy exit $mypy_rc, forge snapshot exit $forge_rc"
echo "== pytest: SQLite exit $sqlite_rc, PostgreSQL exit $pg_rc"
[ "$sqlite_rc" = 0 ] && [ "$pg_rc" = 0 ] && [ "$mypy_rc" = 0 ] && [ "$forge_rc" = 0 ]
