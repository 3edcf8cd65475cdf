"""The gateway as the bench runs it: ``api.main.create_app(ledger)`` under uvicorn on 127.0.0.1 only.

The public verify endpoint's per-address rate limit is raised (LEDGER_API_PUBLIC_BURST / _PER_SECOND) because
all the load comes from one loopback address; the access-log anchoring task is off so it does not compete.
Everything else is as shipped: the head is reused for at most ``head_max_age_seconds`` (0.25 s) unless
``--head-age`` says otherwise, uvicorn picks uvloop and httptools when they are installed (they are
dependencies). With ``--workers N`` uvicorn runs N worker processes, each opening the ledger (the embedded node
is shared) and keeping its own warm view; the per-address rate limit is then per worker.

The bench adds one route, ``POST /public/bench-constant`` (:data:`CONSTANT_PATH`): the trivial endpoint the public
verification is compared with, measured against the same server in the same run. It is a route of the same app, so
it meets the same middleware stack (security headers, the request guard that parses and bounds every JSON body,
the exception handlers) and the same route class; it is ``async def`` like ``public_verify`` and declares the same
body model (``PublicVerifyCreate``: FastAPI reads and validates the same certificate document), and answers a
constant. It has no dependencies: the per-address rate limit and the duplicate-key check are part of what
public verification costs. It is matched first, and made a route of the app itself as the verification routes
are (``api.main.routes_first``).
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
    app = create_app(ledger, settings=ApiSettings())
    _add_constant_route(app)
    return app


CONSTANT_PATH = "/public/bench-constant"
CONSTANT_BODY = b'{"verified":true}'


def _add_constant_route(app: Any) -> None:
    """The trivial endpoint (see the module's docstring), put first in the routing table."""
    from fastapi import APIRouter, Response

    from api.limits import GuardedRoute
    from api.main import routes_first
    from api.models import PublicVerifyCreate

    router = APIRouter(route_class=GuardedRoute)

    async def constant(body: PublicVerifyCreate) -> Response:
        return Response(CONSTANT_BODY, media_type="application/json")

    # this module's annotations are strings (``from __future__``) naming local imports FastAPI cannot resolve
    constant.__annotations__ = {"body": PublicVerifyCreate, "return": Response}
    router.post(CONSTANT_PATH, include_in_schema=False)(constant)
    routes_first(app, router)  # a route of the app itself, as the app adds its verification routes


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
