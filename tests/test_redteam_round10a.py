"""Red team, round 10a: a holder or forger editing a bundle or a document, the court's expert comparing the two
bundle verifiers, and the gateway's anonymous client.

Each hole found was written first as a failing test; all are closed now (no xfail marker is left). One finding was
not taken as a hole: a credential whose stated anchoring block and time (`proof.created`) are moved still verifies,
because those numbers are hints that must survive a re-anchoring after the chain's operator dropped a batch from
history (tests/test_chain_faults.py); the tests below hold that a verifier states only the chain's block and time.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import evidence, issuance
from ledger.services.verify import ChainView, verify_certificate

from .conftest import make_records, write_jsonl
from .evidence_support import both, failed_names, standalone
from .rerun_support import approved_fixture, world_fixture  # noqa: F401 - the approved decision's bundle


def _issue(ledger: Ledger, tmp: Path, department: str, n: int = 1) -> list[dict[str, Any]]:
    out = io.StringIO()
    path = write_jsonl(tmp / f"{department}-{n}.jsonl", make_records(n))
    issuance.issue_file(ledger, path, department, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def _view(ledger: Ledger) -> ChainView:
    return ChainView(ledger.chain, ledger.settings.confirmations)


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


# A validity date-time whose UTC instant lies outside the calendar (before year 1 / after year 9999): the shape is
# a well-formed date-time with a zone, so both parsers take it to the instant conversion.
OUT_OF_CALENDAR = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize(("member", "value"), [("valid_from", OUT_OF_CALENDAR[0]), ("valid_until", OUT_OF_CALENDAR[1])])
def test_a_bundle_whose_validity_date_is_outside_the_calendar_fails_validity_in_both(
    ledger: Ledger, fresh_department: str, tmp_path: Path, member: str, value: str
) -> None:
    """A forger writes a validity date-time whose UTC instant is before year 1 (or after 9999) into a genuine
    bundle. The court's verifier fails the `validity` check (and `fields`); the library's verify_bundle, which
    "never raises on bad input", raised OverflowError out of its validity check instead (the bundle check
    caught only LedgerError / ValueError / TypeError / KeyError), so `ledger evidence verify` had no verdict."""
    dept = fresh_department
    (document,) = _issue(ledger, tmp_path, dept)
    forged = _copy(evidence.certificate_bundle(ledger, document))
    forged["certificate"]["fields"][member] = value
    library, code, _ = both(ledger, forged, tmp_path, "calendar.json")
    assert code != 0 and not library.ok
    assert {"fields", "validity"} <= {c.name for c in library.failed}
    # the holder's document edited the same way fails closed too, with a verdict
    edited = _copy(document)
    edited["fields"][member] = value
    assert not verify_certificate(edited, _view(ledger)).ok


def _hostile_credentials(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The holder's credential export edited so that turning it back into a document reaches a moment outside the
    calendar: a validity date-time before year 1 in UTC, an anchoring block time some 10^22 years on."""
    from ledger.formats import vc

    credential = vc.to_credential(document)
    before_year_one = _copy(credential)
    before_year_one["credentialSubject"]["claims"]["valid_from"] = OUT_OF_CALENDAR[0]
    after_the_calendar = _copy(credential)
    after_the_calendar["proof"]["anchor"]["block_time"] = 10**30
    return {"valid_from": before_year_one, "block_time": after_the_calendar}


def test_a_credential_reaching_outside_the_calendar_is_refused_not_a_500(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """An anonymous client sends the public verify endpoint a W3C credential export edited to name a moment outside
    the calendar (a validity date-time before year 1 in UTC, or a block time of 10^30 seconds). Converting the
    credential back (vc.to_document -> to_credential) raised OverflowError, which neither load_document's caller
    (verify.py catches only InputError there) nor the gateway turned into a verdict: a 500 for the gateway, a
    traceback for `ledger verify`. Now: the credential is refused as malformed (verification fails closed)."""
    from .api_support import Clock, make_client

    (document,) = _issue(ledger, tmp_path, fresh_department)
    view = _view(ledger)
    assert verify_certificate(_copy(document), view).ok
    hostile = _hostile_credentials(document)
    for what, credential in hostile.items():
        report = verify_certificate(_copy(credential), view)  # the library: a verdict, not an exception
        assert not report.ok, what
    with make_client(ledger, Clock()) as client:
        for what, credential in hostile.items():
            answer = client.post("/public/verify", json={"document": credential})
            assert answer.status_code in (200, 422), (what, answer.status_code, answer.text)
            if answer.status_code == 200:
                assert answer.json()["verified"] is False, (what, answer.text)


def _cosigned(bundle: dict[str, Any]) -> tuple[str, str]:
    """(a cosigned checkpoint of the bundle's as_of block as a C2SP signed note, the witness's verifier key): a
    witness of the court's own, signing in-process, so no witness server is needed."""
    from ledger.services.witness.checkpoint import Checkpoint, origin_for
    from ledger.services.witness.note import COSIGNATURE_V1, SignerKey

    c = bundle["chain"]
    origin = origin_for(c["chain_id"], c["genesis_hash"], c["registry_contract"])
    checkpoint = Checkpoint(
        origin, bundle["as_of"]["block_number"] + 1, bytes.fromhex(bundle["as_of"]["block_hash"][2:])
    )
    witness = SignerKey.generate("court-witness-r10a", COSIGNATURE_V1)
    text = checkpoint.text()
    return text + "\n" + witness.cosign(text, 1_767_225_600).line(), str(witness.verifier)


def _witnessed_both(ledger: Ledger, bundle: dict[str, Any], tmp: Path, name: str, key: str) -> tuple[bool, bool]:
    """Whether the `witnessed` check passes in (the library, the court's verifier) with the court's witness key."""
    path = tmp / name
    path.write_text(json.dumps(bundle), encoding="utf-8")
    library = evidence.verify_bundle(path, ledger.chain, witness_keys=[key])
    _, result, stderr = standalone(ledger, path, "--witness-key", key)
    assert result is not None, stderr
    court = {c["name"]: c["result"] for c in result["checks"]}
    return library.check("witnessed").ok, court["witnessed"] == "PASS"


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda note: note + "appended by the holder\n", id="a-line-that-is-no-signature"),
        pytest.param(lambda note: note[:-1] + "\r\n", id="a-carriage-return"),
        pytest.param(lambda note: note + "\u2014 court-witness-r10a !!!!\n", id="a-signature-line-not-base64"),
    ],
)
def test_a_witness_note_with_an_edited_signature_block_gets_one_verdict_from_both(
    ledger: Ledger, fresh_department: str, tmp_path: Path, edit: Any
) -> None:
    """The holder adds a stray line (or a carriage return, or a signature line that is not base64) to the signature
    block of a genuinely cosigned checkpoint. The library reads the note as C2SP signed-note does (and Go's
    note.Open): a malformed signature line or a carriage return makes the note invalid, so `witnessed` fails. The
    court's verifier skipped lines it could not read and passed: the two verifiers disagreed on `witnessed`, and
    the verdict on a bundle depended on which one the court ran."""
    (document,) = _issue(ledger, tmp_path, fresh_department)
    bundle = _copy(evidence.certificate_bundle(ledger, document))
    note, key = _cosigned(bundle)
    bundle["witness"] = {"checkpoint": note}
    assert _witnessed_both(ledger, bundle, tmp_path, "cosigned.json", key) == (True, True)
    bundle["witness"] = {"checkpoint": edit(note)}
    library, court = _witnessed_both(ledger, bundle, tmp_path, "edited.json", key)
    assert library == court, f"library witnessed={library}, court's verifier witnessed={court}"


def test_a_bundle_judged_at_a_chosen_moment_gets_one_verdict_from_both(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The court's expert judges validity at the day of the disputed transaction: `--now` for the court's verifier,
    `now=` for the library's verify_bundle (docs/evidence.md). For a certificate valid from 2030, judged at a day
    in 2030, the court's verifier passes every check; the library's `validity` check passed too, but its verdict
    (`BundleReport.ok`) also requires its own verification path on the certificate inside, which judged validity
    at the machine's clock (2026: not yet valid), so the library said NOT VERIFIED on the same bundle."""
    from datetime import UTC, datetime

    records = make_records(1)
    records[0].update(valid_from="2030-01-01", valid_until="2031-12-31")
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "future.jsonl", records), fresh_department, out=out)
    document = json.loads(out.getvalue().splitlines()[0])
    path = tmp_path / "future.json"
    path.write_text(json.dumps(evidence.certificate_bundle(ledger, document)), encoding="utf-8")
    library = evidence.verify_bundle(path, ledger.chain, now=datetime(2030, 6, 1, tzinfo=UTC))
    code, result, stderr = standalone(ledger, path, "--now", "2030-06-01")
    assert result is not None, stderr
    assert code == 0 and not failed_names(result), result
    assert library.ok, library.to_json()


def test_a_credential_backdating_its_anchoring_time_gets_the_chains_time_in_the_report(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """A holder exports the credential (W3C VC), then states another anchoring time: `proof.anchor.block_time` and,
    consistently, `proof.created`, five years earlier (to show the licence existed before some deadline). The
    stated block and time are hints (docs/format.md §11): a batch the chain's operator dropped from history and
    `ledger resume` anchored again sits in a later block, and every holder's file must still verify
    (tests/test_chain_faults.py). So what a verifier states is never the envelope's: the report's facts give the
    chain's block and anchoring time, whatever the credential says."""
    from ledger.formats import vc

    (document,) = _issue(ledger, tmp_path, fresh_department)
    view = _view(ledger)
    honest = verify_certificate(_copy(document), view)
    edited = _copy(document)
    edited["anchor"]["block_time"] -= 5 * 365 * 86400
    edited["anchor"]["block_number"] = 1
    credential = vc.to_credential(edited)
    assert credential["proof"]["created"] != vc.to_credential(document)["proof"]["created"]
    for shown in (_copy(credential), _copy(edited)):
        report = verify_certificate(shown, view)
        assert report.facts["anchored_at"] == honest.facts["anchored_at"], report.facts
        assert report.facts["block_number"] == honest.facts["block_number"] != 1, report.facts
        assert str(edited["anchor"]["block_time"]) not in json.dumps(report.to_json())


@pytest.mark.parametrize("index", ["\u00b2", "\u2077", "1\u00b9"])
def test_a_credential_whose_status_index_is_a_superscript_digit_is_refused_not_a_500(
    ledger: Ledger, fresh_department: str, tmp_path: Path, index: str
) -> None:
    """An anonymous client sends the public verify endpoint an exported credential whose BitstringStatusListEntry
    says statusListIndex "²" (or "⁷", "1¹"): str.isdigit() is True for superscript digits, int() refuses them, and
    the ValueError escaped vc.to_document -> load_document -> verify_certificate (which catches only InputError
    around reading the document): a 500 from the gateway, a traceback from `ledger verify`. Now: refused as a
    malformed credential (the index must be ASCII digits)."""
    from ledger.formats import vc

    from .api_support import Clock, make_client

    (document,) = _issue(ledger, tmp_path, fresh_department)
    credential = vc.to_credential(document, status_list=("https://gateway.example.gov", 0))
    view = _view(ledger)
    assert verify_certificate(_copy(credential), view).ok
    hostile = _copy(credential)
    hostile["credentialStatus"][1]["statusListIndex"] = index
    assert not verify_certificate(_copy(hostile), view).ok
    with make_client(ledger, Clock()) as client:
        answer = client.post("/public/verify", json={"document": hostile})
    assert answer.status_code in (200, 422), (answer.status_code, answer.text)
    if answer.status_code == 200:
        assert answer.json()["verified"] is False, answer.text


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda a: a.update(block_time=a["block_time"] - 86400), id="a-day-earlier"),
        pytest.param(lambda a: a.update(block_number=a["block_number"] + 1), id="the-next-block"),
        pytest.param(lambda a: a.update(block_time=float(a["block_time"])), id="block-time-as-a-float"),
    ],
)
def test_both_verifiers_agree_on_a_cited_certificate_with_a_misdated_anchor(
    ledger: Ledger, approved: dict[str, Any], tmp_path: Path, edit: Any
) -> None:
    """The anchor section of a certificate a decision cited, misdated inside the decision bundle: the library and
    the court's verifier establish the same fact. A block or time moved is a hint (docs/format.md §11: a batch
    anchored again after the operator dropped it from history keeps its holders' numbers), so the bundle stays
    verified in both; a block time that is no integer is malformed, refused by both alike."""
    bundle = _copy(approved)
    edit(bundle["cited"][0]["anchor"])
    path = tmp_path / "cited.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    report = evidence.verify_bundle(path, ledger.chain)
    code, result, stderr = standalone(ledger, path)
    assert result is not None, stderr
    assert (code == 0) == report.ok, (report.to_json(), result)
    assert {c.name for c in report.failed} == failed_names(result)
    malformed = not isinstance(bundle["cited"][0]["anchor"]["block_time"], int)
    assert report.ok is not malformed, report.to_json()


@pytest.mark.parametrize("issuer", [7, ["MKT"], {"id": "MKT"}, None])
def test_a_credential_whose_issuer_claim_is_not_text_is_refused_not_a_500(
    ledger: Ledger, fresh_department: str, tmp_path: Path, issuer: Any
) -> None:
    """An anonymous client sends the public verify endpoint an exported credential whose certified `issuer` claim
    (credentialSubject.claims.issuer) is a number, a list, an object or null. Rebuilding the envelope to compare
    (vc.to_credential) quoted it into the issuer id outside its guarded block: urllib's quote raised TypeError,
    which escaped verify_certificate (a 500 from the gateway, a traceback from `ledger verify`). Now: refused as
    a malformed credential."""
    from ledger.formats import vc

    from .api_support import Clock, make_client

    (document,) = _issue(ledger, tmp_path, fresh_department)
    hostile = vc.to_credential(document)
    hostile["credentialSubject"]["claims"]["issuer"] = issuer
    assert not verify_certificate(_copy(hostile), _view(ledger)).ok
    with make_client(ledger, Clock()) as client:
        answer = client.post("/public/verify", json={"document": hostile})
    assert answer.status_code in (200, 422), (answer.status_code, answer.text)
    if answer.status_code == 200:
        assert answer.json()["verified"] is False, answer.text


@pytest.mark.parametrize("claim", ["id", "type", "valid_until=[]", "valid_until={}"])
def test_a_credential_without_its_id_or_type_claim_is_refused_not_a_500(
    ledger: Ledger, fresh_department: str, tmp_path: Path, claim: str
) -> None:
    """An anonymous client sends the public verify endpoint an exported credential from which the `id` (or `type`)
    claim and its salt were removed, or whose `valid_until` claim is an empty list or object. Rebuilding the
    envelope (vc.to_credential) read fields["id"] outside its guarded block (KeyError) and called .replace on the
    list (AttributeError): either escaped verify_certificate, a 500 from the gateway. Now: refused as malformed."""
    from ledger.formats import vc

    from .api_support import Clock, make_client

    (document,) = _issue(ledger, tmp_path, fresh_department)
    hostile = vc.to_credential(document)
    if "=" in claim:
        name, value = claim.split("=")
        hostile["credentialSubject"]["claims"][name] = json.loads(value)
    else:
        del hostile["credentialSubject"]["claims"][claim]
        del hostile["proof"]["salts"][claim]
    assert not verify_certificate(_copy(hostile), _view(ledger)).ok
    with make_client(ledger, Clock()) as client:
        answer = client.post("/public/verify", json={"document": hostile})
    assert answer.status_code in (200, 422), (answer.status_code, answer.text)
    if answer.status_code == 200:
        assert answer.json()["verified"] is False, answer.text
