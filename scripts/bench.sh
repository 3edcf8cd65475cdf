#!/usr/bin/env bash
# Run every benchmark and write bench/RESULTS.md (machine, date, figures, targets met or missed).
#   scripts/bench.sh            full run, about 10-15 minutes on 2 cores
#   scripts/bench.sh --quick    smaller sizes and shorter load runs (bench/out/RESULTS.md: a full run's stays)
#   scripts/bench.sh --scale    10,000,000 certificates into one store, a million at a time (growth table)
# Installs what it needs first (scripts/setup.sh, and Debian's wrk for the gateway load when root may install it).
# All load stays on 127.0.0.1 and is bounded in count and time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
    else
        echo "wrk is not installed (apt-get install -y wrk): the gateway benchmark will be reported as not available" >&2
    fi
fi
exec .venv/bin/python -m bench "$@"
