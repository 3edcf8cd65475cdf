"""Checkpoints of the chain (c2sp.org/tlog-checkpoint), read as a log of blocks.

A chain whose head is block ``h`` is a log of ``h + 1`` blocks (0..h); its "root hash" is the hash of block
``h``, which commits to every earlier block through the parent-hash links. The origin line names the chain's
identity, so no two chains (or deployments) share a checkpoint:

    provenance-ledger/<chain id>/<genesis hash, 64 hex>/<registry address, lower case>
    <size = height + 1>
    <base64 of the 32-byte hash of block height>
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from ...errors import InputError

ORIGIN_PREFIX = "provenance-ledger/"
MAX_SIZE_DIGITS = 20  # a checkpoint's size is a block count, below 2**64 (uint64); int() refuses over 4,300 digits
MAX_CHAIN_ID_DIGITS = 78  # a chain id is a uint256


def decimal(text: str, most: int) -> int | None:
    """The value of ``text`` when it is a decimal of at most ``most`` ASCII digits without leading zeroes, else
    None (never the ValueError ``int()`` raises for over 4,300 digits)."""
    if not (text.isascii() and text.isdigit()) or len(text) > most or (text != "0" and text.startswith("0")):
        return None
    return int(text)


def origin_for(chain_id: int, genesis_hash: str, registry: str) -> str:
    return f"{ORIGIN_PREFIX}{int(chain_id)}/{genesis_hash.lower().removeprefix('0x')}/{registry.lower()}"


@dataclass(frozen=True)
class ChainIdentity:
    chain_id: int
    genesis_hash: str  # 0x + 64 hex
    registry: str  # 0x + 40 hex, lower case

    @classmethod
    def from_origin(cls, origin: str) -> ChainIdentity:
        parts = origin.removeprefix(ORIGIN_PREFIX).split("/")
        if (
            not origin.startswith(ORIGIN_PREFIX)
            or len(parts) != 3
            or decimal(parts[0], MAX_CHAIN_ID_DIGITS) is None
            or len(parts[1]) != 64
            or len(parts[2]) != 42
            or not parts[2].startswith("0x")
            or origin != origin.lower()  # one chain, one origin: a witness keys what it cosigned by the text
        ):
            raise InputError(
                f"origin {origin[:200]!r} is not a provenance-ledger chain origin (the chain id in decimal without "
                "leading zeroes, the genesis hash and registry address in lower-case hex)"
            )
        try:
            bytes.fromhex(parts[1]), bytes.fromhex(parts[2][2:])
        except ValueError:
            raise InputError(f"origin {origin[:200]!r} holds bad hex") from None
        return cls(int(parts[0]), "0x" + parts[1], parts[2])

    @property
    def origin(self) -> str:
        return origin_for(self.chain_id, self.genesis_hash, self.registry)


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    block_hash: bytes

    @property
    def height(self) -> int:
        return self.size - 1

    @property
    def hash_hex(self) -> str:
        return "0x" + self.block_hash.hex()

    @property
    def identity(self) -> ChainIdentity:
        return ChainIdentity.from_origin(self.origin)

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.block_hash).decode()}\n"

    @classmethod
    def at(cls, identity: ChainIdentity, height: int, block_hash: str | bytes) -> Checkpoint:
        raw = block_hash if isinstance(block_hash, bytes) else bytes.fromhex(block_hash.removeprefix("0x"))
        return cls(identity.origin, height + 1, raw)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise InputError("a checkpoint is an origin, a size and a root hash line, each ending in a newline")
        origin, size, root = lines[0], lines[1], lines[2]
        if not (size.isascii() and size.isdigit()) or (size != "0" and size.startswith("0")) or size == "0":
            raise InputError(f"checkpoint size {size[:60]!r} is not a positive decimal without leading zeroes")
        if decimal(size, MAX_SIZE_DIGITS) is None:
            raise InputError(f"checkpoint size {size[:60]}... has {len(size)} digits: no chain has that many blocks")
        try:
            block_hash = base64.b64decode(root, validate=True)
        except ValueError:
            raise InputError("checkpoint root hash is not base64") from None
        if len(block_hash) != 32:
            raise InputError("checkpoint root hash is not 32 bytes")
        ChainIdentity.from_origin(origin)
        if len(lines) > 4:
            raise InputError("checkpoints of the chain carry no extension lines")
        return cls(origin, int(size), block_hash)
