"""A request-body size limit, enforced before any handler parses the body (413 problem when exceeded)."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .problems import problem


class BodyTooLarge(Exception):
    """The message of a 413 answer."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the request body exceeds {limit} bytes; split the request (e.g. fewer records per "
                         "POST /certificates)")


class BodyLimit:
    """Refuse bodies larger than ``limit`` bytes: at once from Content-Length, else while the body streams in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            response = problem("payload-too-large", str(BodyTooLarge(self.limit)))
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        if declared is not None or scope.get("method") in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)  # the server stops at Content-Length, which is within the limit
            return
        # A streamed (chunked) body: read it here, at most ``limit`` bytes, then hand it on.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message), send)
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                response = problem("payload-too-large", str(BodyTooLarge(self.limit)))
                response.headers["Connection"] = "close"
                await response(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None), send)


def _replay(chunks: list[bytes], final: Message | None) -> Receive:
    body = b"".join(chunks)
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if final is not None:
            return final
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def install(app: Any, limit: int) -> None:
    app.add_middleware(BodyLimit, limit=limit)
