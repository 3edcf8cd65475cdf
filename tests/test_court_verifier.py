"""Issue 16: the court's standalone verifier runs on a bare Python standard library.

Its Keccak-256, secp256k1 public-key recovery and ABI coding are written from their specifications inside
scripts/verify_evidence.py; here they are checked against the libraries the ledger itself uses (eth-hash over
pycryptodome, eth-keys, eth-abi) with known-answer and many random vectors, and the script is run with
``python -I -S`` (no site-packages at all) against real bundles on the real chain."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode as eth_abi_decode
from eth_abi import encode as eth_abi_encode
from eth_keys import keys
from eth_utils import keccak as eth_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.client import Ledger
from ledger.services import evidence

from .conftest import TEST_ITEMS, TEST_TYPES, make_records
from .evidence_support import SCRIPT, bare, decided, failed_names, issue, load_script

V = load_script()
N = V.SECP256K1_N


# -- Keccak-256 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
        (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
        (
            b"The quick brown fox jumps over the lazy dog",
            "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15",
        ),
        (b"Transfer(address,address,uint256)", "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"),
    ],
)
def test_keccak_known_answers(message: bytes, expected: str) -> None:
    assert V.keccak(message).hex() == expected
    assert V.keccak(text=message.decode()).hex() == expected


def test_keccak_is_not_sha3() -> None:
    import hashlib

    assert V.keccak(b"").hex() != hashlib.sha3_256(b"").hexdigest()  # FIPS 202 pads 0x06, Ethereum's Keccak 0x01


def test_keccak_agrees_with_the_library_at_every_length_around_the_rate() -> None:
    rng = random.Random(16)
    for length in [*range(0, 300), 543, 544, 545, 1000, 4096]:  # the rate is 136 bytes: 135/136/137, 271/272/273
        data = rng.randbytes(length)
        assert V.keccak(data) == eth_keccak(data), length


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700))
def test_keccak_agrees_with_the_library(data: bytes) -> None:
    assert V.keccak(data) == eth_keccak(data)


# -- secp256k1 recovery ----------------------------------------------------------------------------------------------


def _signature(digest: bytes, key: keys.PrivateKey) -> bytes:
    sig = key.sign_msg_hash(digest)
    return sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v + 27])


def _library_recovery(digest: bytes, signature: bytes) -> str | None:
    """What eth-keys answers for a 65-byte signature (v 27/28 or 0/1), or None when it refuses it."""
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    try:
        return (
            keys.Signature(vrs=(v - 27 if v >= 27 else v, r, s))
            .recover_public_key_from_msg_hash(digest)
            .to_address()
            .lower()
        )
    except Exception:  # noqa: BLE001 - eth-keys raises several types for bad signatures
        return None


def _standalone_recovery(digest: bytes, signature: bytes) -> str | None:
    try:
        return V.recover(digest, signature)
    except V.Failure:
        return None


def test_recovery_agrees_with_eth_keys_on_many_random_signatures() -> None:
    rng = random.Random(1616)
    started = time.perf_counter()
    for _ in range(300):
        key = keys.PrivateKey(rng.randbytes(32))
        digest = rng.randbytes(32)
        signature = _signature(digest, key)
        assert V.recover(digest, signature) == key.public_key.to_address().lower()
        assert V.recover(digest, signature[:64] + bytes([signature[64] - 27])) == key.public_key.to_address().lower()
        assert (
            V.recover_public_key(
                digest,
                signature[64] - 27,
                int.from_bytes(signature[:32], "big"),
                int.from_bytes(signature[32:64], "big"),
            )
            == key.public_key.to_bytes()
        )
    assert (time.perf_counter() - started) / 600 < 0.05  # pure Python, but a few milliseconds per recovery


def test_recovery_agrees_with_eth_keys_on_random_and_edge_signatures() -> None:
    """Signatures nobody made: random (r, s), both recovery ids, the edges of the scalar range, high s, bad v.
    The two implementations accept and refuse the same ones and recover the same address when they accept."""
    rng = random.Random(8)
    digest = rng.randbytes(32)
    scalars = [0, 1, 2, N // 2, N // 2 + 1, N - 1, N, N + 1, 2**256 - 1]
    cases = [(r, s, v) for r in scalars for s in scalars for v in (27, 28)]
    cases += [(rng.getrandbits(256), rng.getrandbits(256), rng.choice((0, 1, 27, 28))) for _ in range(200)]
    cases += [(rng.randrange(1, N), rng.randrange(1, N), v) for v in (2, 3, 26, 29, 35, 255)]
    for r, s, v in cases:
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
        assert _standalone_recovery(digest, signature) == _library_recovery(digest, signature), (r, s, v)


def test_high_s_twin_recovers_the_same_key_as_the_library_does() -> None:
    """(r, n - s) with the other recovery id is the same signature's malleable twin: eth-keys recovers the same
    key from it, and so does the standalone verifier (the chain's EIP-712 checks, not s, bind a batch)."""
    rng = random.Random(3)
    for _ in range(20):
        key, digest = keys.PrivateKey(rng.randbytes(32)), rng.randbytes(32)
        sig = key.sign_msg_hash(digest)
        twin = sig.r.to_bytes(32, "big") + (N - sig.s).to_bytes(32, "big") + bytes([27 + (1 - sig.v)])
        assert _standalone_recovery(digest, twin) == _library_recovery(digest, twin)


def test_a_wrong_length_signature_is_refused() -> None:
    with pytest.raises(V.Failure, match="65 bytes"):
        V.recover(bytes(32), bytes(64))


# -- ABI coding ------------------------------------------------------------------------------------------------------

_address = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
_b32 = st.binary(min_size=32, max_size=32)
_u = {bits: st.integers(0, 2**bits - 1) for bits in (8, 32, 64, 256)}
SHAPES: dict[str, Any] = {
    "(address,uint64,uint64)[]": st.lists(st.tuples(_address, _u[64], _u[64]), max_size=6),
    "(bool,uint8,uint64)[]": st.lists(st.tuples(st.booleans(), _u[8], _u[64]), max_size=6),
    "(uint8,uint32,uint32,bytes32)[]": st.lists(st.tuples(_u[8], _u[32], _u[32], _b32), max_size=6),
    "(bytes32,string,address,uint8,bool,uint64)": st.tuples(
        _b32, st.text(max_size=40), _address, _u[8], st.booleans(), _u[64]
    ),
}


def _normal(value: Any) -> Any:
    """eth-abi's answer in the standalone verifier's shapes: lists as tuples, addresses in lower case."""
    if isinstance(value, (list, tuple)):
        return tuple(_normal(v) for v in value)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    return value


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(SHAPES)).flatmap(lambda kind: st.tuples(st.just(kind), SHAPES[kind])),
    st.tuples(_u[32], _b32, _address, st.booleans(), _u[256]),
)
def test_abi_decoding_agrees_with_eth_abi(shaped: tuple[str, Any], statics: tuple[Any, ...]) -> None:
    kind, value = shaped
    types = ["uint32", kind, "bytes32", "address", "bool", "uint256"]
    values = [statics[0], value, *statics[1:]]
    data = eth_abi_encode(types, values)
    assert V.abi_decode(types, data) == _normal(eth_abi_decode(types, data))


@settings(max_examples=150, deadline=None)
@given(_u[256], _address, _b32, _u[32], _u[64], _u[8], st.booleans())
def test_abi_encoding_agrees_with_eth_abi(
    u256: int, address: str, b32: bytes, u32: int, u64: int, u8: int, flag: bool
) -> None:
    types = ["uint256", "address", "bytes32", "uint32", "uint64", "uint8", "bool"]
    values = [u256, address, b32, u32, u64, u8, flag]
    assert V.abi_encode(types, values) == eth_abi_encode(types, values)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(SHAPES)), st.data())
def test_hostile_abi_data_is_refused_where_eth_abi_refuses_it(kind: str, data: st.DataObject) -> None:
    """A node may answer anything: truncated, re-pointed or bit-flipped return data never crashes the decoder
    and never decodes where eth-abi refuses it."""
    raw = bytearray(eth_abi_encode([kind], [data.draw(SHAPES[kind])]))
    action = data.draw(st.sampled_from(["truncate", "flip", "offset"]))
    if action == "truncate":
        raw = raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))]
    elif action == "flip" and raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= 1 << data.draw(st.integers(0, 7))
    else:
        raw[:32] = data.draw(st.integers(0, 2**256 - 1)).to_bytes(32, "big")
    try:
        expected = _normal(eth_abi_decode([kind], bytes(raw)))
    except Exception:  # noqa: BLE001 - eth-abi refuses: the standalone decoder must too
        with pytest.raises(ValueError):
            V.abi_decode([kind], bytes(raw))
        return
    try:
        assert V.abi_decode([kind], bytes(raw)) == expected
    except ValueError:
        # stricter than eth-abi is allowed (e.g. non-zero padding after a string); looser is not
        pass


# -- the script on a bare standard library ----------------------------------------------------------------------------


def test_the_bare_interpreter_really_has_no_site_packages(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-I", "-S", "-c", "import eth_abi"], capture_output=True, text=True)
    assert run.returncode != 0 and "ModuleNotFoundError" in run.stderr


def test_bare_python_verifies_a_real_bundle_with_the_same_verdicts(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    from ledger.services import status

    issued = issue(ledger, tmp_path, fresh_department, make_records(3))
    good = evidence.certificate_bundle(ledger, issued[0])
    path = tmp_path / "good.json"
    path.write_text(json.dumps(good), encoding="utf-8")
    started = time.perf_counter()
    code, result, stderr = bare(ledger, path, "--anchor", good["chain"]["anchor_contract"])
    assert code == 0 and result and result["verified"], stderr or result
    assert time.perf_counter() - started < 30
    assert {c["name"] for c in result["checks"] if c["result"] == "PASS"} >= {"signature", "anchor_event", "status"}

    forged = json.loads(json.dumps(good))
    forged["anchor"]["signature"] = forged["anchor"]["signature"][:-2] + (
        "1b" if good["anchor"]["signature"][-2:] == "1c" else "1c"
    )  # the other recovery id: another key
    path.write_text(json.dumps(forged), encoding="utf-8")
    code, result, stderr = bare(ledger, path)
    report = evidence.verify_bundle(path, ledger.chain)
    assert code == 1 and result is not None, stderr
    assert failed_names(result) == {c.name for c in report.failed} == {"signature"}

    status.revoke(ledger, issued[1]["digest"], "fraud")
    revoked = evidence.certificate_bundle(ledger, issued[1])
    path.write_text(json.dumps(revoked), encoding="utf-8")
    code, result, stderr = bare(ledger, path)
    report = evidence.verify_bundle(path, ledger.chain)
    assert code == 1 and result is not None, stderr
    assert failed_names(result) == {c.name for c in report.failed} == {"status"}
    assert "(reason: fraud)" in next(c["detail"] for c in result["checks"] if c["name"] == "status")


@pytest.fixture(scope="module")
def decision(ledger: Ledger) -> dict[str, Any]:
    from ledger.onchain.chain import ROLE_APPROVER, ROLE_ISSUER
    from ledger.services.departments import Council

    code = f"CV{os.getpid() % 1000}"
    Council(ledger).register(
        code, "Court verifier test approvals", ROLE_ISSUER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    _, apps = decided(ledger, code)
    return evidence.decision_bundle(ledger, code, apps[2]["case_id"])


def test_bare_python_verifies_a_decision_bundle(ledger: Ledger, decision: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(decision), encoding="utf-8")
    code, result, stderr = bare(ledger, path)
    assert code == 0 and result and result["verified"], stderr or result
    decision = json.loads(json.dumps(decision))
    decision["decision"]["seq"] += 1  # another entry than the one anchored: the same failures as the library's
    path.write_text(json.dumps(decision), encoding="utf-8")
    code, result, stderr = bare(ledger, path)
    report = evidence.verify_bundle(path, ledger.chain)
    assert code == 1 and result is not None, stderr
    assert failed_names(result) == {c.name for c in report.failed} and failed_names(result)


# -- Ed25519 (witness cosignatures) ------------------------------------------------------------------------------------


def test_ed25519_rfc8032_test_vector_1() -> None:
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
        "b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert V.ed25519_verify(public, signature, b"")
    assert not V.ed25519_verify(public, signature, b"\x00")


def test_ed25519_agrees_with_the_cryptography_package() -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    rng = random.Random(25519)
    for i in range(60):
        key = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        message = rng.randbytes(rng.randrange(0, 200))
        signature = bytearray(key.sign(message))
        if i % 3 == 1:  # a flipped bit anywhere in the signature
            bit = rng.randrange(512)
            signature[bit // 8] ^= 1 << (bit % 8)
        elif i % 3 == 2:  # S + L: the same point, a non-canonical scalar
            s = int.from_bytes(signature[32:], "little") + V._ED_L
            signature[32:] = s.to_bytes(32, "little") if s < 2**256 else signature[32:]
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(bytes(signature), message)
            expected = True
        except InvalidSignature:
            expected = False
        assert V.ed25519_verify(public, bytes(signature), message) is expected, i


@pytest.mark.parametrize("review_texts", [{"en": "ask", "zh-CN": "申请复核"}, {"fr": "demandez"}, {"en": ""}, ["en"]])
def test_the_court_verifier_reads_review_texts_as_the_library_does(review_texts: Any) -> None:
    """A rule set's review in each language (`review_texts`) is no part of the outcome: the standalone verifier
    accepts what the library accepts and refuses what it refuses, so a court re-runs a decision under the shipped
    rule sets."""
    import yaml

    from ledger.errors import InputError
    from ledger.formats.rules import load_rule_set

    script = load_script()
    document = yaml.safe_load((SCRIPT.parent.parent / "rules" / "ss-eligibility.yaml").read_text(encoding="utf-8"))
    document["review_texts"] = review_texts
    try:
        load_rule_set(document)
        library_ok = True
    except InputError:
        library_ok = False
    try:
        script.rule_set_problem(json.loads(json.dumps(document)))
        script_ok = True
    except script.Failure:
        script_ok = False
    assert library_ok == script_ok == (review_texts == {"en": "ask", "zh-CN": "申请复核"})
