"""The gateway as the bench runs it: ``api.main.create_app(ledger)`` under uvicorn on 127.0.0.1 only.

The public verify endpoint's per-address rate limit is raised (LEDGER_API_PUBLIC_BURST / _PER_SECOND) because
all the load comes from one loopback address; the access-log anchoring task is off so it does not compete.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--head-age", type=float, default=0.0,
                        help="serve verifications from a head read at most this many seconds ago (0: as shipped)")
    args = parser.parse_args()
    os.environ["LEDGER_API_PUBLIC_BURST"] = "100000000"
    os.environ["LEDGER_API_PUBLIC_PER_SECOND"] = "100000000"
    os.environ["LEDGER_API_ANCHOR_INTERVAL_SECONDS"] = "0"

    import uvicorn

    from api.config import ApiSettings
    from api.main import create_app
    from bench._common import PASSPHRASE
    from ledger.client import Ledger
    from ledger.config import Settings

    ledger = Ledger.open(Settings(data_dir=args.data_dir, keystore_kdf_n=1024), passphrase=PASSPHRASE)
    try:
        app = create_app(ledger, settings=ApiSettings())
        if args.head_age > 0:  # what ChainView(max_head_age=...) in api/main.py would give
            from ledger.verify import ChainView

            app.state.view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=args.head_age)
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    finally:
        ledger.close()


if __name__ == "__main__":
    main()
