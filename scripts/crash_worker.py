"""Bulk issuance in a process the crash tests kill with SIGKILL at random points.

    python scripts/crash_worker.py FILE DEPARTMENT BATCH_SIZE

Settings come from the environment like the CLI (LEDGER_DATA_DIR, LEDGER_DATABASE_URL, LEDGER_PASSPHRASE); the
embedded node is the one already running for the data directory (chain/node.json). It does what
`ledger continue` does (complete pending batches, then issue what is not stored yet) and prints a line after
each confirmed batch, so a test can kill it at a chosen stage.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ledger.client import Ledger
from ledger.services import issuance


def main(argv: list[str]) -> int:
    path, department, batch_size = Path(argv[1]), argv[2], int(argv[3])
    with Ledger.open() as ledger:
        print("ready", flush=True)
        issuance.resume(ledger)
        print("resumed", flush=True)
        issuance.issue_file(
            ledger,
            path,
            department,
            batch_size=batch_size,
            skip_issued=True,
            progress=lambda done, total: print(f"batch {done}/{total}", flush=True),
        )
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
