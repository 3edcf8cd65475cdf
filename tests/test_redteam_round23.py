"""Red team, round 23: attacks on what round 22 and the scale work landed.

1. (An insider of a department, with a court's expert handed the bundle) Round 22 made both bundle verifiers fail
   ``input`` when the disclosed input's ``case_id`` or ``service_item`` is not the record's: a record for case X
   carrying case Y's input commitments (an approval copied under another case id). The comparison ran only on a
   *disclosed* key: the same copied record, bundled with ``case_id`` (and ``service_item``) hidden, verified in both
   - a department decides which fields it hides. The ledger stores every input with both keys and the record names
   them in clear, so hiding them conceals nothing: both verifiers now fail ``input`` when either is hidden or absent,
   and the ledger refuses to hide them when it builds a bundle.
2. (An anonymous client of the gateway) The guard walks a JSON body orjson parsed for its string lengths (and NULs);
   a body orjson refuses but the handler's parser reads (one lone surrogate ``\ud800``, ``NaN`` or ``1e999``
   anywhere in it) went to the handler unwalked: any string or member name up to the body limit passed
   ``LEDGER_API_MAX_JSON_STRING_CHARS`` on ``POST /public/verify`` (and was echoed back). Round 22 closed this for
   other encodings; such a UTF-8 body is now parsed as the handler will parse it and walked the same way.
3. (A damaged file) Round 22 made a department keystore file that is no JSON object a clear KeystoreError; one that
   is an object with a field missing or of another type (no address, a work factor in text, a number for the
   ciphertext or salt, an unknown version) still crashed ``address`` or ``unlock`` with KeyError, TypeError or
   ValueError from deep in eth-keyfile. Each is now the same "damaged; restore it from a backup" error.
4. (A damaged file; an insider who can edit a witness's directory) Round 22 stopped a witness whose state.json is not
   ``{"origins": {...}}``, but each origin's entry was read as it came: ``null`` read as "never cosigned", so the
   witness would cosign a rolled-back chain of that origin as new to it, and any other damage crashed each request
   for that origin. A state whose entries are not what the witness records stops it with the same clear error.
5. (A damaged file) The deployment record (which contracts the ledger trusts) with the right names but a value of
   another type loaded, to fail wherever it was used; it is now the same ConfigError as an unreadable one.
6. (A holder presenting an altered certificate to a relying party that asks the gateway) orjson, the guard's parser,
   reads an integer beyond 64 bits as the nearest float and the handler took that value; the ledger's parser keeps
   it exact. A signed ``1e+20`` retyped as ``100000000000000000001`` kept the certificate's digest at the gateway
   alone: ``POST /public/verify`` answered verified for a document stating a number the issuer never signed, which
   the library refuses. A body with a run of 19 digits is now handed on as the ledger's parser reads it.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import ConfigError, InputError, KeystoreError
from ledger.formats.canonical import field_hashes, json_loads
from ledger.formats.certificate import validate_record
from ledger.onchain.chain import Deployment
from ledger.services import logchain, replay, verify
from ledger.services.issuance import issue_records
from ledger.services.verify import ChainView
from ledger.services.witness.server import WitnessStore
from ledger.storage.keys import Keystore

from .api_support import Clock, make_client, problem_body, register
from .conftest import make_records
from .evidence_support import both, failed_names
from .rerun_support import World, world_fixture  # noqa: F401 - the decisions' world


@pytest.mark.parametrize("hidden", [("case_id",), ("case_id", "service_item")])
def test_a_copied_decision_record_with_its_case_id_hidden_fails_input_in_both_verifiers(
    ledger: Ledger, world: World, tmp_path: Path, hidden: tuple[str, ...]
) -> None:
    suffix = len(hidden)
    honest = world.decide(f"RR23-ORIGINAL-{suffix}", 1)
    assert honest.body["outcome"] == "approve"
    body = copy.deepcopy(honest.body)  # an insider copies the approval, commitments and all, under another case
    body["case_id"] = f"RR23-COPIED-{suffix}"
    logchain.append(ledger, logchain.LOG_DECISIONS, world.dept, body)
    found = {d.check for d in replay.replay(ledger, department=world.dept, case_id=body["case_id"]).discrepancies}
    assert found == {"rerun_failed"}, found
    # the ledger no longer hides them when it builds a bundle
    with pytest.raises(InputError, match="case_id"):
        world.bundle(body["case_id"], 1, hide=hidden)
    # a bundle hiding them (built before, or by hand from the department's opening) fails in both verifiers
    bundle = world.bundle(body["case_id"], 1)
    section = bundle["input"]
    for key in hidden:
        salt = bytes.fromhex(section["salts"][key])
        section["hidden"][key] = field_hashes({key: section["fields"][key]}, {key: salt})[key].hex()
        del section["fields"][key], section["salts"][key]
    report, code, result = both(ledger, bundle, tmp_path, "copied-hidden.json")
    assert code == 1 and not report.ok
    assert result is not None and "input" in failed_names(result), result


_JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("spoiler", ['"\\ud800"', "1e999", "NaN"])  # json reads them, orjson does not
def test_a_utf8_body_orjson_cannot_read_keeps_the_guards_string_limit(ledger: Ledger, spoiler: str) -> None:
    client = make_client(ledger, Clock())
    long = "x" * 200_000  # past LEDGER_API_MAX_JSON_STRING_CHARS (128 Ki), within the anonymous body limit
    for body in (
        '{"document": {"fields": {"a": "' + long + '"}}, "x": ' + spoiler + "}",
        '{"document": {"fields": {"' + long + '": 1}}, "x": ' + spoiler + "}",
    ):
        answer = client.post("/public/verify", content=body.encode(), headers=_JSON)
        assert "longer than" in problem_body(answer, 422)["detail"], answer.text[:300]


def _crypto(good: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**good, "crypto": {**good["crypto"], **changes}}


def _kdf(good: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return _crypto(good, kdfparams={**good["crypto"]["kdfparams"], **changes})


DAMAGED_KEYSTORES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "no address": lambda g: {k: v for k, v in g.items() if k != "address"},
    "address not text": lambda g: {**g, "address": []},
    "work factor not a number": lambda g: _kdf(g, n="x"),
    "work factor a list": lambda g: _kdf(g, n=[1]),
    "no cipher parameters": lambda g: {**g, "crypto": {k: v for k, v in g["crypto"].items() if k != "cipherparams"}},
    "ciphertext a number": lambda g: _crypto(g, ciphertext=5),
    "salt a number": lambda g: _kdf(g, salt=5),
    "key length text": lambda g: _kdf(g, dklen="x"),
    "unknown version": lambda g: {**g, "version": "x"},
}


@pytest.mark.parametrize("damage", sorted(DAMAGED_KEYSTORES))
def test_a_damaged_department_keystore_file_of_the_right_shape_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    """Round 22 checked that a keystore file is an object; one whose fields are missing or of another type still
    crashed reading its address or unlocking it (KeyError, TypeError, ValueError from deep in eth-keyfile)."""
    keystore = Keystore(tmp_path, kdf_n=2**4, kdf_floor=2**4)
    keystore.create("dept-X", "a passphrase")
    path = tmp_path / "dept-X.json"
    path.write_text(json.dumps(DAMAGED_KEYSTORES[damage](json.loads(path.read_text()))))
    for read in (lambda: keystore.address("dept-X"), lambda: keystore.unlock("dept-X", "a passphrase")):
        try:
            read()
        except KeystoreError as exc:
            assert "dept-X" in str(exc), exc


ORIGIN = "ledger.example/31337/0x" + "ab" * 20


@pytest.mark.parametrize(
    "entry",
    [
        None,  # an origin it cosigned, read as one it never did
        {},
        {"size": "12", "hash": "0x" + "00" * 32, "note": "n"},
        {"size": True, "hash": "0x" + "00" * 32, "note": "n"},
        {"size": 12, "hash": None, "note": "n"},
        {"size": 12, "hash": "0x" + "00" * 32},
        [12],
    ],
)
def test_a_witness_state_with_a_damaged_origin_entry_stops_the_witness(tmp_path: Path, entry: Any) -> None:
    """Round 22 stopped a witness whose state.json is not {"origins": {...}}; an origin's own entry was read as it
    came: null read as "never cosigned" (the witness would cosign a rolled-back chain as if new to it), any other
    damage crashed the request (TypeError, KeyError) on the first checkpoint of that origin."""
    (tmp_path / "state.json").write_text(json.dumps({"origins": {ORIGIN: entry}}))
    with pytest.raises(ConfigError, match=r"state\.json is not a witness state file"):
        WitnessStore(tmp_path).load()
    good = {"size": 12, "hash": "0x" + "00" * 32, "note": "n", "cosigned_at": 1}
    (tmp_path / "state.json").write_text(json.dumps({"origins": {ORIGIN: good}}))
    assert WitnessStore(tmp_path).load()["origins"][ORIGIN] == good


GOOD_DEPLOYMENT = {
    "chain_id": 31337,
    "registry": "0x" + "11" * 20,
    "anchor": "0x" + "22" * 20,
    "log": "0x" + "33" * 20,
    "deployed_block": 1,
    "genesis_hash": "0x" + "44" * 32,
}


@pytest.mark.parametrize(
    "damage",
    [
        {"chain_id": "31337"},
        {"chain_id": True},
        {"registry": 5},
        {"anchor": None},
        {"log": ["0x"]},
        {"deployed_block": -1},
        {"deployed_block": 1.5},
        {"genesis_hash": {}},
    ],
)
def test_a_deployment_record_with_a_field_of_another_type_is_a_clear_error(
    tmp_path: Path, damage: dict[str, Any]
) -> None:
    """Round 22 made a deployment file that is no object of these six names a ConfigError; one of the right names
    with a value of another type loaded, to fail later wherever the value was used (an address that is a number,
    a chain id in text compared with the node's)."""
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(GOOD_DEPLOYMENT))
    assert Deployment.load(path) == Deployment(**GOOD_DEPLOYMENT)  # type: ignore[arg-type]
    path.write_text(json.dumps({**GOOD_DEPLOYMENT, **damage}))
    with pytest.raises(ConfigError, match="deployment file"):
        Deployment.load(path)


def test_a_certificate_number_retyped_past_64_bits_is_not_verified_by_the_gateway(ledger: Ledger) -> None:
    """orjson, the guard's parser, reads an integer beyond 64 bits as the nearest float, where the ledger's parser
    keeps it exact (canonical.json_loads sends such text to json). A holder retyping a certificate's signed number
    1e+20 as 100000000000000000001 kept its digest at the gateway, which verified a document whose text states a
    number the issuer never signed; the library (and the court's verifier) read the exact integer and refuse it."""
    department = register(ledger, "RR23N", "issuer")
    (record,) = make_records(1)
    record["subject"]["registered_capital"] = 1e20
    out = io.StringIO()
    issue_records(ledger, [validate_record(record, 1, department=department)], department, out=out)
    text = out.getvalue().strip()
    assert '"subject.registered_capital":1e+20' in text.replace(" ", ""), text
    client = make_client(ledger, Clock())
    honest = client.post("/public/verify", content=b'{"document": ' + text.encode() + b"}", headers=_JSON).json()
    assert honest["verified"] is True, honest
    retyped = re.sub(r'("subject\.registered_capital":\s*)1e\+20', r"\g<1>100000000000000000001", text)
    assert retyped != text
    view = ChainView(ledger.chain)
    honest_report = verify.verify_certificate(json_loads(text), view)
    assert honest_report.ok, honest_report.to_json()
    assert not verify.verify_certificate(json_loads(retyped), view).ok  # the library reads the exact integer
    answer = client.post("/public/verify", content=b'{"document": ' + retyped.encode() + b"}", headers=_JSON)
    assert answer.status_code != 200 or answer.json()["verified"] is False, answer.text[:400]
