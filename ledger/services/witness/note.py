"""C2SP signed notes (c2sp.org/signed-note), Ed25519 note keys and cosignature/v1 (c2sp.org/tlog-cosignature).

A note is UTF-8 text ending in a newline, a blank line, then signature lines ``— <name> base64(keyid || sig)``.
Two signature types are used:

* ``0x01`` Ed25519 over the note text: the ledger's own checkpoint key (the "log key");
* ``0x04`` cosignature/v1: a witness's timestamped Ed25519 signature over
  ``"cosignature/v1\\ntime <t>\\n" || note text``; the signature bytes are ``u64 big-endian t || sig``.

Verifier keys travel as C2SP vkeys: ``<name>+<8 hex key id>+base64(type || 32-byte public key)``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ...errors import InputError

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
DASH = "\u2014"
MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURES = 64


def key_id(name: str, kind: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]


_KEY_ID = re.compile(r"[0-9a-fA-F]{8}\Z")
_ED_P = 2**255 - 19
# The y coordinates of Ed25519's eight points of small order (x of either sign): for such a key A, [k]A vanishes,
# so R = [S]B with any S is a signature of every message (red team round 50). The court's verifier holds the same.
_SMALL_ORDER_Y = frozenset(
    {
        0,
        1,
        _ED_P - 1,
        0x7A03AC9277FDC74EC6CC392CFA53202A0F67100D760B3CBA4FD84D3D706A17C7,
        0x05FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826,
    }
)


def weak_key_problem(text: str, public: bytes) -> str | None:
    """Why the Ed25519 public key ``public`` (of verifier key ``text``) verifies no signer, or None: a point of small
    order, whose signatures anyone makes, or a y spelt past the field (y >= p), which OpenSSL reduces and RFC 8032's
    decoding (the court's verifier) refuses: one key, two readings."""
    y = int.from_bytes(public, "little") & ((1 << 255) - 1)
    if y >= _ED_P or y in _SMALL_ORDER_Y:
        return (
            f"{text!r} is not a witness key: its Ed25519 point is of small order, or its y is spelt past the field "
            "(y >= p), so anyone can make a signature that verifies under it; ask the witness for its real key"
        )
    return None


def _valid_name(name: str) -> bool:
    return bool(name) and name.isprintable() and not any(c.isspace() for c in name) and "+" not in name


@dataclass(frozen=True)
class VerifierKey:
    """A public note key: who (name), which algorithm (kind) and the Ed25519 key."""

    name: str
    kind: int
    public: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.kind, self.public)

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)
        if len(parts) != 3 or not _valid_name(parts[0]):
            raise InputError(f"{text!r} is not a verifier key (<name>+<hex key id>+<base64 key>)")
        # the key id is exactly 8 hex digits (bytes.fromhex alone would skip spaces between them); the court's
        # verifier (scripts/verify_evidence.py, parse_vkeys) reads a key by these same rules, in these same words
        if not _KEY_ID.fullmatch(parts[1]):
            raise InputError(f"{text!r} is not a verifier key: bad hex or base64")
        try:
            raw = base64.b64decode(parts[2], validate=True)
            stated = bytes.fromhex(parts[1])
        except ValueError:
            raise InputError(f"{text!r} is not a verifier key: bad hex or base64") from None
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1) or len(stated) != 4:
            raise InputError(f"{text!r} is not an Ed25519 note or cosignature/v1 key")
        weak = weak_key_problem(text, raw[1:])
        if weak is not None:
            raise InputError(weak)
        key = cls(parts[0], raw[0], raw[1:])
        if key.id != stated:
            raise InputError(f"verifier key {text!r}: the key id does not match its name and key")
        return key

    def __str__(self) -> str:
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(bytes([self.kind]) + self.public).decode()}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class SignerKey:
    """An Ed25519 private note key (seed kept by its owner only)."""

    def __init__(self, name: str, kind: int, private: Ed25519PrivateKey) -> None:
        if not _valid_name(name):
            raise InputError(f"key name {name!r} must be printable, without spaces or '+'")
        self.name, self.kind, self._private = name, kind, private
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = VerifierKey(name, kind, public)

    @classmethod
    def generate(cls, name: str, kind: int) -> SignerKey:
        return cls(name, kind, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, kind: int, seed: bytes) -> SignerKey:
        return cls(name, kind, Ed25519PrivateKey.from_private_bytes(seed))

    def seed(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def sign_note(self, text: str) -> Signature:
        """An Ed25519 (0x01) note signature of ``text``."""
        return Signature(self.name, self.verifier.id, self._private.sign(text.encode()))

    def sign_record(self, message: bytes) -> bytes:
        """An Ed25519 signature of a witness's own record (``message``: ``pl-witness-record/1`` NUL and its canonical
        JSON), which is never a note's text nor a cosigned message."""
        if not message.startswith(RECORD_TAG):
            raise InputError("a witness signs with sign_record only its own record")
        return self._private.sign(message)

    def cosign(self, text: str, timestamp: int) -> Signature:
        """A cosignature/v1 (0x04) of the checkpoint ``text`` at POSIX time ``timestamp``."""
        sig = self._private.sign(cosigned_message(text, timestamp))
        return Signature(self.name, self.verifier.id, struct.pack(">Q", timestamp) + sig)


RECORD_TAG = b"pl-witness-record/1\x00"  # what a witness's signature of its own record signs first


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{DASH} {self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"

    @property
    def timestamp(self) -> int | None:
        """The cosignature time (cosignature/v1 only)."""
        return struct.unpack(">Q", self.signature[:8])[0] if len(self.signature) == 72 else None

    def verified_by(self, key: VerifierKey, text: str) -> bool:
        if key.name != self.name or key.id != self.key_id:
            return False
        if key.kind == COSIGNATURE_V1:
            if len(self.signature) != 72:
                return False
            return key.verify(cosigned_message(text, struct.unpack(">Q", self.signature[:8])[0]), self.signature[8:])
        return len(self.signature) == 64 and key.verify(text.encode(), self.signature)


def distinct_keys(keys: list[VerifierKey]) -> list[VerifierKey]:
    """``keys`` with one key per Ed25519 public key (the first named): a witness publishing its key under two names,
    or a key given twice, is one witness, never two toward a quorum."""
    seen: dict[bytes, VerifierKey] = {}
    for key in keys:
        seen.setdefault(key.public, key)
    return list(seen.values())


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[Signature, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, extra: list[Signature]) -> Note:
        seen = {(s.name, s.key_id) for s in self.signatures}
        added = [s for s in extra if (s.name, s.key_id) not in seen]
        return Note(self.text, self.signatures + tuple(added))

    def verified(self, keys: list[VerifierKey]) -> list[tuple[VerifierKey, Signature]]:
        """(key, signature) for every signature that one of ``keys`` verifies (unknown signers are ignored)."""
        found = []
        for key in keys:
            for sig in self.signatures:
                if sig.verified_by(key, self.text):
                    found.append((key, sig))
                    break
        return found


_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


def _control_character(text: str) -> str | None:
    """The first character below U+0020 other than a newline in ``text`` (Go's note.Open refuses a note holding
    one), or None."""
    found = _CONTROL.search(text)
    return found.group() if found else None


def parse_signature_lines(block: str) -> list[Signature]:
    """The signature lines of a note (or of a witness's answer): lines split at "\n" only, as c2sp.org/signed-note
    and Go's note package split them, never at the other line breaks of str.splitlines() (\x0b, \x0c, \x1c-\x1e,
    \x85, \u2028, \u2029); a control character other than a newline is refused."""
    if (control := _control_character(block)) is not None:
        raise InputError(f"a note holds no control character but newlines; this one holds {control!r}")
    out = []
    for line in block.split("\n"):
        if not line:
            continue
        if not line.startswith(DASH + " "):
            raise InputError(f"note signature line {line[:60]!r} does not start with '\u2014 '")
        parts = line[2:].split(" ")
        if len(parts) != 2 or not _valid_name(parts[0]):
            raise InputError(f"malformed note signature line {line[:60]!r}")
        try:
            raw = base64.b64decode(parts[1], validate=True)
        except ValueError:
            raise InputError(f"note signature of {parts[0]} is not base64") from None
        if len(raw) < 5:
            raise InputError(f"note signature of {parts[0]} is too short")
        out.append(Signature(parts[0], raw[:4], raw[4:]))
        if len(out) > MAX_SIGNATURES:
            raise InputError(f"a note carries at most {MAX_SIGNATURES} signatures")
    return out


def parse_note(data: str | bytes) -> Note:
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_NOTE_BYTES:
        raise InputError(f"a note is at most {MAX_NOTE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("a note is UTF-8 text") from None
    split = text.rfind("\n\n")
    if split < 0 or not text.endswith("\n"):
        raise InputError("a signed note is text, a blank line, then signature lines")
    body, sigs = text[: split + 1], text[split + 2 :]
    if "\r" in text:
        raise InputError("a note has no carriage returns")
    if (control := _control_character(text)) is not None:  # as Go's note.Open: none below U+0020 but newlines
        raise InputError(f"a note holds no control character but newlines; this one holds {control!r}")
    signatures = parse_signature_lines(sigs)
    if not signatures:
        raise InputError("a signed note carries at least one signature")
    return Note(body, tuple(signatures))
