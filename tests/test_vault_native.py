"""The native sealing of certificate bodies (``_hashcore.seal_bodies``) against the Python reference
(``vault._seal_certificates_py``).

Adversary: anything that would make the native code write other bytes than the reference (a body that then opens
differently, or a data key wrapped under the wrong binding), read past what it was given, or seal items it did not
check: bodies and digests of every length (empty, one byte, block boundaries, large), departments of every
allowed length, and arguments that are not plain bytes, lists and pairs. Every sealed body must be the reference's
byte for byte from the same randomness, and open with :meth:`Vault.open` to the body it sealed and nothing else.
"""

from __future__ import annotations

import gc
import os
import random
import sys
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.errors import ConfigError, LedgerError
from ledger.storage import vault as vault_module
from ledger.storage.vault import PER_CERTIFICATE, Vault, _seal_certificates_py

NATIVE = vault_module.NATIVE
needs_native = pytest.mark.skipif(NATIVE is None, reason="the native core is not built here")
STEP = 44  # data key (32) + wrapping nonce (12) per certificate


class _Bytes(bytes):
    pass


def _parts(vault: Vault, department: str) -> tuple[bytes, AESGCM, bytes, bytes]:
    dept = department.encode("ascii")
    kek_bytes, kek = vault._kek_pair(dept)
    return kek_bytes, kek, PER_CERTIFICATE + bytes([len(dept)]) + dept, b"pl-dk\x00" + dept + b"\x00"


def _items(seed: int, count: int) -> list[tuple[bytes, bytes]]:
    rng = random.Random(seed)
    lengths = [0, 1, 15, 16, 17, 31, 32, 33, 480, 4096, 70_001]
    digest_lengths = [32, 32, 32, 0, 1, 33, 64]
    return [(rng.randbytes(rng.choice(lengths)), rng.randbytes(rng.choice(digest_lengths))) for _ in range(count)]


@needs_native
@pytest.mark.parametrize("department", ["L", "MKT", "D" * 255, "a-b_c.9"])
@pytest.mark.parametrize("seed", range(4))
def test_native_sealing_writes_the_reference_bytes_and_they_open(department: str, seed: int) -> None:
    vault = Vault(random.Random(seed).randbytes(32))
    kek_bytes, kek, header, prefix = _parts(vault, department)
    items = _items(seed, 40)
    randomness = random.Random(seed + 100).randbytes(STEP * len(items))
    native = NATIVE.seal_bodies(kek_bytes, header, prefix, items, randomness)
    assert native == _seal_certificates_py(kek, header, prefix, items, randomness)
    for sealed, (body, digest) in zip(native, items, strict=True):
        assert vault.open(sealed, digest) == body
        with pytest.raises(LedgerError):  # bound to its digest: another digest does not open it
            vault.open(sealed, digest + b"x")
        flipped = bytearray(sealed)
        flipped[-1] ^= 1
        with pytest.raises(LedgerError):
            vault.open(bytes(flipped), digest)


@needs_native
def test_no_items_seal_to_nothing() -> None:
    vault = Vault(bytes(32))
    kek_bytes, _kek, header, prefix = _parts(vault, "L")
    assert NATIVE.seal_bodies(kek_bytes, header, prefix, [], b"") == []


@needs_native
@pytest.mark.parametrize(
    "change",
    [
        "kek short",
        "kek long",
        "kek str",
        "header bytearray",
        "prefix subclass",
        "items tuple",
        "item list",
        "item triple",
        "item single",
        "body bytearray",
        "body str",
        "digest memoryview",
        "digest subclass",
        "randomness short",
        "randomness long",
        "randomness bytearray",
    ],
)
def test_it_declines_what_is_not_plain_bytes_and_python_seals_it(change: str, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = Vault(bytes(range(32)))
    kek_bytes, kek, header, prefix = _parts(vault, "MKT")
    items: Any = [(b"body %d" % i, bytes([i]) * 32) for i in range(3)]
    randomness: Any = os.urandom(STEP * 3)
    args: dict[str, Any] = {"kek": kek_bytes, "header": header, "prefix": prefix}
    what, how = change.split(" ", 1)
    if what == "kek":
        args["kek"] = {"short": kek_bytes[:31], "long": kek_bytes + b"\x00", "str": kek_bytes.hex()}[how]
    elif what == "header":
        args["header"] = bytearray(header)
    elif what == "prefix":
        args["prefix"] = _Bytes(prefix)
    elif what == "items":
        items = tuple(items)
    elif what == "item":
        items[1] = {"list": list(items[1]), "triple": (*items[1], b""), "single": (items[1][0],)}[how]
    elif what == "body":
        items[2] = (bytearray(items[2][0]) if how == "bytearray" else "body", items[2][1])
    elif what == "digest":
        items[0] = (items[0][0], memoryview(items[0][1]) if how == "memoryview" else _Bytes(items[0][1]))
    elif what == "randomness":
        randomness = {"short": randomness[:-1], "long": randomness + b"\x00", "bytearray": bytearray(randomness)}[how]
    assert NATIVE.seal_bodies(args["kek"], args["header"], args["prefix"], items, randomness) is None
    if what in ("body", "digest") and how != "str":
        # what the native code declines, the vault still seals (in Python), and it opens to the same body
        monkeypatch.setattr(vault_module.os, "urandom", lambda n: bytes(n))
        sealed = vault.seal_certificates("MKT", items)
        assert sealed == _seal_certificates_py(kek, header, prefix, items, bytes(STEP * 3))
        assert [vault.open(s, bytes(d)) for s, (_b, d) in zip(sealed, items, strict=True)] == [
            bytes(b) for b, _d in items
        ]


@pytest.mark.parametrize("native", [True, False])
def test_the_vault_seals_the_same_bytes_with_or_without_the_native_core(
    native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if native and NATIVE is None:
        pytest.skip("the native core is not built here")
    if not native:
        monkeypatch.setattr(vault_module, "NATIVE", None)
    monkeypatch.setattr(vault_module.os, "urandom", lambda n: random.Random(n).randbytes(n))
    vault = Vault(bytes(range(32)))
    items = _items(7, 25)
    _kek_bytes, kek, header, prefix = _parts(vault, "MKT")
    expected = _seal_certificates_py(kek, header, prefix, items, random.Random(STEP * 25).randbytes(STEP * 25))
    assert vault.seal_certificates("MKT", items) == expected


def test_a_department_that_cannot_name_a_data_key_is_refused_before_sealing() -> None:
    vault = Vault(bytes(32))
    for department in ("", "D" * 256, "caf\u00e9"):
        with pytest.raises((ConfigError, UnicodeEncodeError)):
            vault.seal_certificates(department, [(b"x", bytes(32))])


# -- red team, round 18: a finalizer that changes the items while the native core allocates ---------------------


class _Finalizer:
    """Garbage in a reference cycle whose finalizer runs ``action`` when the collector meets it."""

    def __init__(self, action: Any) -> None:
        self.action = action
        self.cycle = self

    def __del__(self) -> None:
        self.action()


def _collect_during(call: Any, action: Any) -> tuple[Any, bool]:
    """``call()`` with a finalizer doing ``action`` due at the collector's next generation-0 pass (the first
    allocation of a tracked object inside ``call``, such as a list); whether it ran inside ``call``.

    CPython runs one collection at a time: while another thread's collection runs a finalizer that lets go of the
    interpreter lock, this thread's passes are skipped, and the finalizer may run later, in either thread (seen once
    in CI, the PostgreSQL pass, whose background threads collect too). So the finalizer acts only when it runs
    inside ``call`` (``call``'s frame is on its stack), and ``call`` is tried again, the items untouched, until it
    does.
    """
    thresholds = gc.get_threshold()
    fired: list[bool] = []
    armed = [False]

    def on_collect() -> None:
        frame = sys._getframe()
        while frame is not None and frame.f_code is not call.__code__:
            frame = frame.f_back
        if armed[0] and frame is not None:
            fired.append(True)
            action()

    result: Any = None
    give_up = time.monotonic() + 60
    try:
        while not fired and time.monotonic() < give_up:
            gc.collect()
            gc.disable()
            _Finalizer(on_collect)
            gc.set_threshold(1)
            armed[0] = True
            gc.enable()
            result = call()
            gc.disable()
            armed[0] = False
        return result, bool(fired)
    finally:
        armed[0] = False
        gc.set_threshold(*thresholds)
        gc.enable()
        gc.collect()


@needs_native
@pytest.mark.parametrize("change", ["clear", "append", "replace_type", "replace_same"])
def test_sealing_seals_the_items_it_checked_when_a_finalizer_changes_the_list(change: str) -> None:
    assert NATIVE is not None
    kek_bytes = b"\x07" * 32
    header, prefix = b"PLK1\x03MKT", b"pl-dk\x00MKT\x00"
    items: list[Any] = [(b"body %d" % i * 50, b"\x02" * 32) for i in range(8)]
    randomness = os.urandom(44 * len(items))

    def act() -> None:
        if change == "clear":
            items.clear()
        elif change == "append":
            items.append((b"late", b"\x00" * 32))
        elif change == "replace_type":
            items[3] = (bytearray(b"mutable"), b"\x00" * 32)
        else:
            items[3] = (b"other body", b"\x01" * 32)

    seal = NATIVE.seal_bodies
    sealed, fired = _collect_during(lambda: seal(kek_bytes, header, prefix, items, randomness), act)
    assert fired  # the finalizer ran inside the call (allocating the output list)
    if sealed is not None:  # what it sealed is the items as the finalizer left them, byte for byte
        assert change == "replace_same"
        assert sealed == _seal_certificates_py(AESGCM(kek_bytes), header, prefix, items, randomness)
    else:
        assert change in ("clear", "append", "replace_type")
