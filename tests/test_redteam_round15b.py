"""Red team, round 15b: an applicant lying in their input, a department's officer recording inconsistent decisions,
a department listing applicants with no officer or basis on record, and a holder whose bundle the two verifiers
judged by different rules.

4. The court's verifier and the library read witness key names by different rules. The library refuses a witness
   key (a C2SP vkey given with ``--witness-key``) whose name is no note key name (empty, white space, a character
   that prints as nothing) and one whose key id is not 8 hex digits; the court's verifier took any name and any
   key id spelling: a key id written with spaces passed in the library (``bytes.fromhex`` skips them) and failed
   in the court's verifier, and every other bad key failed in both for different reasons. Both now read a witness
   key by one rule, each failure with the same words.

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import evidence

from .conftest import make_records
from .evidence_support import issue, standalone

# -- 4. witness key names: one rule in the library and the court's verifier -------------------------------------


def _cosigned_bundle(ledger: Ledger, tmp: Path, department: str) -> tuple[dict[str, Any], Any]:
    """A certificate bundle with a checkpoint of its as_of block cosigned by a witness of the court's own (signing
    in-process), and that witness's signing key."""
    from ledger.services.witness.checkpoint import Checkpoint, origin_for
    from ledger.services.witness.note import COSIGNATURE_V1, SignerKey

    (document,) = issue(ledger, tmp, department, make_records(1))
    bundle = json.loads(json.dumps(evidence.certificate_bundle(ledger, document)))
    c = bundle["chain"]
    origin = origin_for(c["chain_id"], c["genesis_hash"], c["registry_contract"])
    checkpoint = Checkpoint(
        origin, bundle["as_of"]["block_number"] + 1, bytes.fromhex(bundle["as_of"]["block_hash"][2:])
    )
    witness = SignerKey.generate("court-witness-r15b", COSIGNATURE_V1)
    text = checkpoint.text()
    bundle["witness"] = {"checkpoint": text + "\n" + witness.cosign(text, 1_767_225_600).line()}
    return bundle, witness


def _vkey(name: str, kind: int, public: bytes, key_id: str | None = None) -> str:
    """A C2SP verifier key named ``name`` (its key id computed for that name unless ``key_id`` is given)."""
    from ledger.services.witness.note import key_id as computed

    stated = key_id if key_id is not None else computed(name, kind, public).hex()
    return f"{name}+{stated}+{base64.b64encode(bytes([kind]) + public).decode()}"


def _spaced(hex_id: str) -> str:
    return " ".join(hex_id[i : i + 2] for i in range(0, 8, 2))


# each: the court's witness keys, from (the witness's public key, another key's public key)
_KEYS = {
    "the-genuine-key": lambda mine, other: [_vkey("court-witness-r15b", 4, mine)],
    "a-name-with-a-space": lambda mine, other: [_vkey("court witness", 4, mine)],
    "an-empty-name": lambda mine, other: [_vkey("", 4, mine)],
    "a-name-with-a-zero-width-space": lambda mine, other: [_vkey("court\u200bwitness", 4, mine)],
    "a-name-with-a-tab": lambda mine, other: [_vkey("court\twitness", 4, mine)],
    "a-key-id-spelt-with-spaces": lambda mine, other: [
        _vkey("court-witness-r15b", 4, mine, _spaced(_vkey("court-witness-r15b", 4, mine).split("+")[1]))
    ],
    "a-key-id-in-capitals": lambda mine, other: [
        _vkey("court-witness-r15b", 4, mine, _vkey("court-witness-r15b", 4, mine).split("+")[1].upper())
    ],
    "a-key-renamed-keeping-its-id": lambda mine, other: [
        _vkey("court-witness-r15b-renamed", 4, mine, _vkey("court-witness-r15b", 4, mine).split("+")[1])
    ],
    "the-key-under-two-names": lambda mine, other: [
        _vkey("court-witness-r15b", 4, mine),
        _vkey("court-witness-alias", 4, mine),
    ],
    "the-key-under-two-names-the-other-first": lambda mine, other: [
        _vkey("court-witness-alias", 4, mine),
        _vkey("court-witness-r15b", 4, mine),
    ],
    "two-keys-under-one-name": lambda mine, other: [
        _vkey("court-witness-r15b", 4, other),
        _vkey("court-witness-r15b", 4, mine),
    ],
    "the-same-key-twice": lambda mine, other: [_vkey("court-witness-r15b", 4, mine)] * 2,
    "a-note-key-not-a-cosignature-key": lambda mine, other: [_vkey("court-witness-r15b", 1, mine)],
    "a-bad-name-beside-the-genuine-key": lambda mine, other: [
        _vkey("court-witness-r15b", 4, mine),
        _vkey("court witness", 4, other),
    ],
}


def _words(detail: str) -> str:
    """A check's detail without the name of the exception it came from (the library says InputError, the court's
    verifier, which has no error hierarchy, ValueError)."""
    return re.sub(r"^[A-Za-z]+Error: ", "", detail)


@pytest.mark.parametrize("keys", list(_KEYS.values()), ids=list(_KEYS))
def test_both_verifiers_read_witness_key_names_by_one_rule(
    ledger: Ledger, fresh_department: str, tmp_path: Path, keys: Any
) -> None:
    """Adversary: a holder (or a party in court) whose bundle is judged by whichever verifier reads the court's
    witness keys more kindly. A key with a name no signed note can carry (white space, empty, a character that prints
    as nothing), a key id spelt with spaces, a key renamed, one key under two names, two keys under one name: the
    library and the court's verifier (scripts/verify_evidence.py, standalone by design) must give one verdict on
    `witnessed`, for the same reason."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    bundle, witness = _cosigned_bundle(ledger, tmp_path, fresh_department)
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    given = keys(witness.verifier.public, other)
    path = tmp_path / "witnessed.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    library = evidence.verify_bundle(path, ledger.chain, witness_keys=given).check("witnessed")
    _, result, stderr = standalone(ledger, path, *[a for key in given for a in ("--witness-key", key)])
    assert result is not None, stderr
    court = {c["name"]: (c["result"], c["detail"]) for c in result["checks"]}["witnessed"]
    assert (library.ok, _words(library.detail)) == (court[0] == "PASS", _words(court[1])), (given, library, court)
