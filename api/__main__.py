"""``python -m api``: the gateway under uvicorn as it should face a network.

    LEDGER_PASSPHRASE=... python -m api --host 127.0.0.1 --port 8000 [--workers N]

Compared with a bare ``uvicorn api.main:app`` this turns uvicorn's own proxy-header handling off: uvicorn trusts
``X-Forwarded-For`` from 127.0.0.1 by default (``FORWARDED_ALLOW_IPS``), so any local client, or a reverse proxy
that passes the header through, could pick the address the rate limits are keyed on. The gateway reads forwarded
headers itself, only from the proxies named in ``LEDGER_API_TRUSTED_PROXIES`` (default: none). It also caps an
incomplete request head for the h11 parser at the gateway's header limit (the gateway checks the size of every
request's headers itself as well, for either parser).
"""

from __future__ import annotations

import argparse

import uvicorn

from .config import get_settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    uvicorn.run(
        "api.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        proxy_headers=False,
        h11_max_incomplete_event_size=get_settings().max_header_bytes,
    )


if __name__ == "__main__":
    main()
