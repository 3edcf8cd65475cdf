from collections.abc import Callable
from typing import Any

def field_hashes(
    fields: object, salts: object, prefix: bytes, least: int, canonical: Callable[[Any], bytes], /
) -> dict[str, bytes] | None: ...
def tagged_digest(prefix: bytes, hashes: object, fmt: object, /) -> bytes | None: ...
def sealed_digest(
    fields: object,
    randomness: bytes,
    offset: int,
    salt_bytes: int,
    field_prefix: bytes,
    cert_prefix: bytes,
    fmt: str,
    canonical: Callable[[Any], bytes],
    /,
) -> bytes | None: ...
def proof_walk(
    digest: bytes, elements: list[str], text: str, root: bytes, nodes: dict[bytes, tuple[bytes, str, int]], /
) -> tuple[bytes, list[bytes]] | None: ...
def input_hashes(
    fields: object,
    secret: object,
    message: object,
    salt_bytes: int,
    prefix: object,
    canonical: Callable[[Any], bytes],
    /,
) -> dict[str, bytes] | None: ...
def json_plain(value: object, budget: int, /) -> bool: ...
def json_fast(text: object, limit: int, /) -> bool: ...
def seal_bodies(
    kek: bytes, header: bytes, aad_prefix: bytes, items: list[tuple[bytes, bytes]], randomness: bytes, /
) -> list[bytes] | None: ...
def flatten(value: object, escape: object, /) -> dict[str, object] | None: ...
def public_report(doc: object, view: object, head: int, ctx: tuple[Any, ...], /) -> bytes | None: ...
def clock_us() -> int: ...
