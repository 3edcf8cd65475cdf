"""The gateway as the bench runs it: ``api.main.create_app(ledger)`` under uvicorn on 127.0.0.1 only.

The public verify endpoint's per-address rate limit is raised (LEDGER_API_PUBLIC_BURST / _PER_SECOND) because
all the load comes from one loopback address; the access-log anchoring task is off so it does not compete.
Everything else is as shipped: the head is reused for at most ``head_max_age_seconds`` (0.25 s) unless
``--head-age`` says otherwise, uvicorn picks uvloop and httptools when they are installed (they are
dependencies). With ``--workers N`` uvicorn runs N worker processes, each opening the ledger (the embedded node
is shared) and keeping its own warm view; the per-address rate limit is then per worker.
"""

from __future__ import annotations

import argparse
import atexit
import os
from pathlib import Path
from typing import Any


def app_factory() -> Any:
    """One worker's app: the ledger of $BENCH_GATEWAY_DATA_DIR, closed when the worker exits."""
    from api.config import ApiSettings
    from api.main import create_app
    from bench._common import PASSPHRASE
    from ledger.client import Ledger
    from ledger.config import Settings

    ledger = Ledger.open(
        Settings(data_dir=Path(os.environ["BENCH_GATEWAY_DATA_DIR"]), keystore_kdf_n=1024), passphrase=PASSPHRASE
    )
    atexit.register(ledger.close)
    return create_app(ledger, settings=ApiSettings())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--head-age",
        type=float,
        default=None,
        help="reuse a head read at most this many seconds ago (default: as shipped, 0.25; 0: read it per request)",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args()
    os.environ["LEDGER_API_PUBLIC_BURST"] = "100000000"
    os.environ["LEDGER_API_PUBLIC_PER_SECOND"] = "100000000"
    os.environ["LEDGER_API_ANCHOR_INTERVAL_SECONDS"] = "0"
    if args.head_age is not None:
        os.environ["LEDGER_API_HEAD_MAX_AGE_SECONDS"] = str(args.head_age)
    os.environ["BENCH_GATEWAY_DATA_DIR"] = str(args.data_dir)

    import uvicorn

    options: dict[str, Any] = {"host": "127.0.0.1", "port": args.port, "log_level": "warning", "access_log": False}
    if args.workers > 1:  # workers need an import string; each one builds its app with app_factory
        uvicorn.run("bench.gateway_server:app_factory", factory=True, workers=args.workers, **options)
    else:
        uvicorn.run(app_factory(), **options)


if __name__ == "__main__":
    main()
