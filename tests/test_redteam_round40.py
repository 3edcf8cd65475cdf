"""Red team round 40: a gateway relaying another's messages, and a holder editing their credential.

Each test is one attack, named in its docstring with the adversary and what it tries. Real anvil, real database
(SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL), the gateway in process and the CLI; no mocks. One batch and
the shared departments (MKT issues, INS verifies) serve the whole module.

1. A credential's envelope was compared with the issuer's by Python's ``==``, which takes ``31337.0`` (and ``true``)
   for ``31337`` (and ``1``) and a member missing for one that is ``null``. A holder could add ``"@type": null`` at
   the top (JSON-LD expands it to a ``null`` type beside the credential's own: another graph, which other processors
   refuse as colliding keywords) or any other ``@``-name, or write ``chainId`` as ``31337.0`` (JSON-LD reads a
   double): ``ledger verify``, ``POST /verify`` and ``POST /public/verify`` said verified for a credential that is not
   the issuer's export. The envelope is now compared as JSON text compares: the same members, the same types.
2. A query parameter named twice (``?department=MKT&department=INS``) was read by its last value, where a proxy in
   front of the gateway, a log reader or a person reads the first: the duplicate JSON key of round 12b, in the
   query. The gateway's guard now refuses a parameter named twice (also when one is percent-escaped), on every
   route, before any handler.
3. A credential cited in an application with its ``credentialSubject`` (or ``proof``) as a one-element array, as
   VC 2.0 lets a wallet write it, or with its claims and salts named by their IRIs, was refused by verification and
   sealed all the same, claims and salts included, but labelled with no certificate's digest (``vc.carried`` read
   them only from objects, by their terms): ``ledger erase`` left the person's name and ID number in the store.
   They are now found there too.
4. The same credential in JSON-LD expanded form (no ``@context``), cited bare, was no citation the ledger knew and
   stayed in the stored decision input as sent, in the clear (round 14c's attack in another form); cited as
   ``{"document": ...}`` it was sealed and unlabelled. It is now sealed as a cited copy and labelled.

Held, and kept as guards: a holder's other edits of the credential (context, type, issuer, validity, a subject
array, status entries of another batch, a claim renamed to its NFKC form, a key named twice) get one refusal from
the three verifiers, and a decision citing an edited credential one verdict from both bundle verifiers. Checked by
hand and not kept (docs/threat-model.md): request smuggling through Content-Length and Transfer-Encoding (uvicorn
refuses it), a duplicate key under any Content-Type, a body with both a document and a digest, and the relayed
consent assertions, challenges, tokens and grants of the earlier rounds' tests.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats import vc
from ledger.services import decisions, erasure, evidence, issuance, logchain, statuslist
from ledger.storage.models import DecisionInput

from .api_support import Clock, bearer, login, make_client
from .cli_support import cli_in_process
from .conftest import make_records, write_jsonl
from .decision_support import application, erase_with_its_cited_copy, unique_rule_set
from .evidence_support import both

VERIFIER = "INS"  # a shared department with the verifier role: no department registered per test
DECIDER = "INS"  # and the approver role: it decides on applications citing MKT's certificates


@pytest.fixture(scope="module")
def batch(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("rt40") / "rt40.jsonl", make_records(4))
    issuance.issue_file(ledger, path, "MKT", batch_size=4, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.fixture(scope="module")
def gateway(ledger: Ledger) -> Iterator[tuple[TestClient, Clock]]:
    clock = Clock()
    with make_client(ledger, clock) as client:
        yield client, clock


def _verdicts(
    ledger: Ledger, client: TestClient, credential: dict[str, Any] | str, tmp_path: Path, monkeypatch: Any, capsys: Any
) -> dict[str, Any]:
    """What `ledger verify`, `POST /verify` and `POST /public/verify` say of one credential (an object, or the text
    of one): (exit code or status, what they answered)."""
    text = credential if isinstance(credential, str) else json.dumps(credential)
    path = tmp_path / "credential.json"
    path.write_text(text, encoding="utf-8")
    code, out, err = cli_in_process(ledger, monkeypatch, capsys, "verify", str(path), "--json")
    found: dict[str, Any] = {"ledger verify": (code, (out + err)[-400:])}
    token = login(client, ledger, VERIFIER)
    for route, headers in (("/verify", bearer(token)), ("/public/verify", {})):
        answer = client.post(
            route,
            content=f'{{"document": {text}}}'.encode(),
            headers={**headers, "Content-Type": "application/json"},
        )
        found[route] = (answer.status_code, answer.json() if answer.status_code == 200 else answer.text[:400])
    return found


def _verified(verdicts: dict[str, Any]) -> set[str]:
    """Which of the three verifiers said verified."""
    said = set()
    if verdicts["ledger verify"][0] == 0:
        said.add("ledger verify")
    for route in ("/verify", "/public/verify"):
        status, body = verdicts[route]
        if status == 200 and body.get("verified") is True:
            said.add(route)
    return said


_ENVELOPE_EDITS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "a null @type beside the credential's type": lambda c: c.update({"@type": None}),
    "a null @vocab": lambda c: c.update({"@vocab": None}),
    "a null member of another @-name": lambda c: c.update({"@evidence": None}),
    "chainId as a double": lambda c: c["credentialStatus"][0].update(
        {"chainId": float(c["credentialStatus"][0]["chainId"])}
    ),
}


@pytest.mark.parametrize("edit", sorted(_ENVELOPE_EDITS))
def test_a_credential_envelope_equal_only_to_pythons_eyes_is_not_verified(
    ledger: Ledger,
    batch: list[dict[str, Any]],
    gateway: tuple[TestClient, Clock],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    edit: str,
) -> None:
    """Adversary: a holder hands a relying party their credential with one edit to its envelope that Python's `==`
    does not see: a top-level `"@type": null` (JSON-LD expands it to a null type beside VerifiableCredential and
    PlCertCredential; jsonld.js refuses it as colliding keywords), another `@`-name set to null, or `chainId` written
    as `31337.0` (an xsd:double to JSON-LD). The envelope check compared the credential with the issuer's export by
    `==`, so all three verifiers said verified for a credential the issuer never exported. Now each refuses it,
    naming the member, and the honest credential still verifies."""
    client, _ = gateway
    base = client.app.state.settings.public_url  # type: ignore[attr-defined]
    index = statuslist.leaf_index(ledger, batch[0]["digest"])
    genuine = vc.to_credential(batch[0], status_list=(base, index))
    edited = copy.deepcopy(genuine)
    _ENVELOPE_EDITS[edit](edited)
    verdicts = _verdicts(ledger, client, edited, tmp_path, monkeypatch, capsys)
    assert not _verified(verdicts), verdicts
    with pytest.raises(InputError, match="envelope was edited"):
        vc.to_document(edited)
    honest = _verdicts(ledger, client, genuine, tmp_path, monkeypatch, capsys)
    assert _verified(honest) == {"ledger verify", "/verify", "/public/verify"}, honest


def _swap_status_root(credential: dict[str, Any]) -> None:
    """Point the BitstringStatusListEntry entries at another batch's lists (a root not this certificate's)."""
    for entry in credential["credentialStatus"][1:]:
        for key in ("id", "statusListCredential"):
            root = credential["proof"]["anchor"]["root"]
            entry[key] = entry[key].replace(root, "0x" + "ab" * 32)


def _rename_claim(credential: dict[str, Any]) -> None:
    """A claim's name in a compatibility form (a fullwidth letter) NFKC folds into the certified one."""
    claims = credential["credentialSubject"]["claims"]
    claims["subject.\uff4eame"] = claims.pop("subject.name")


_HELD_EDITS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "@context in another order": lambda c: c.update({"@context": c["@context"][::-1]}),
    "type in another order": lambda c: c.update({"type": c["type"][::-1]}),
    "issuer as an object with another id": lambda c: c["issuer"].update({"id": c["issuer"]["id"] + "x"}),
    "validUntil extended": lambda c: c.update({"validUntil": "2099-12-31T23:59:59Z"}),
    "validFrom moved earlier": lambda c: c.update({"validFrom": "2000-01-01T00:00:00Z"}),
    "credentialSubject as an array": lambda c: c.update({"credentialSubject": [c["credentialSubject"]]}),
    "status entries naming another batch's lists": _swap_status_root,
    "a claim renamed to its NFKC-equivalent": _rename_claim,
    "a claim only in a second credentialSubject": lambda c: c.update(
        {"credentialSubject": [c["credentialSubject"], {"type": "PlCertSubject", "claims": {"subject.name": "X"}}]}
    ),
}


def test_a_holders_other_edits_of_the_credential_are_refused_alike_by_the_three_verifiers(
    ledger: Ledger,
    batch: list[dict[str, Any]],
    gateway: tuple[TestClient, Clock],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Held (kept as a guard): a holder edits their credential the ways a W3C wallet or a forger might - @context
    or type reordered, the issuer object given another id, validUntil extended, validFrom moved, the subject as an
    array or beside a second subject claiming another name, the status entries pointed at another batch's lists,
    a claim renamed to a form NFKC folds into the certified name, and `validUntil` named twice (the lie first, the
    genuine value last, for a reader taking the first). `ledger verify`, `POST /verify` and `POST /public/verify`
    refuse each: the envelope is rebuilt from the certified fields and compared, the digest is recomputed from the
    claims, and a key named twice is refused before anything is read."""
    client, _ = gateway
    base = client.app.state.settings.public_url  # type: ignore[attr-defined]
    index = statuslist.leaf_index(ledger, batch[0]["digest"])
    genuine = vc.to_credential(batch[0], status_list=(base, index))
    edits: dict[str, dict[str, Any] | str] = {}
    for name, edit in _HELD_EDITS.items():
        edited = copy.deepcopy(genuine)
        edit(edited)
        edits[name] = edited
    text = json.dumps(genuine)
    edits["validUntil named twice"] = text.replace(
        '"validUntil": ', '"validUntil": "2099-12-31T23:59:59Z", "validUntil": ', 1
    )
    verified = {
        name: said
        for name, edited in edits.items()
        if (said := _verified(_verdicts(ledger, client, edited, tmp_path, monkeypatch, capsys)))
    }
    assert verified == {}, verified


def _query_routes(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, path, query parameter) of every route of the gateway that reads a query parameter."""
    found = []
    for path, item in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    found.append((method.upper(), path, parameter["name"]))
    return found


def test_a_query_parameter_named_twice_is_refused_on_every_route(
    ledger: Ledger, gateway: tuple[TestClient, Clock]
) -> None:
    """Adversary: a proxy or a department's own gateway in front of the public gateway, or a client behind one,
    sends `GET /access-log?department=MKT&department=INS` (or `limit`, `after`, `from`/`to` twice): the proxy,
    its access log and whoever reads the link see the first value, the gateway read the last (Starlette's
    QueryParams), the duplicate JSON key of round 12b moved into the query. Every route now refuses a query naming
    a parameter twice (422 naming it), also when one of the two is percent-escaped, before any handler; the honest
    query still works."""
    client, _ = gateway
    token = login(client, ledger, "MKT")
    routes = _query_routes(client)
    assert len(routes) >= 10, routes
    accepted = []
    for method, route, name in routes:
        path = (
            route.replace("{digest}", "0x" + "00" * 32)
            .replace("{consent_id}", "c" * 24)
            .replace("{department}", "MKT")
            .replace("{root}", "0x" + "00" * 32)
            .replace("{purpose}", "revocation")
        )
        answer = client.request(method, f"{path}?{name}=a&{name}=b", headers=bearer(token))
        if answer.status_code != 422 or f"'{name}'" not in answer.text or "more than once" not in answer.text:
            accepted.append(f"{method} {route} ?{name}: {answer.status_code} {answer.text[:160]}")
    assert not accepted, "\n".join(accepted)
    escaped = client.get("/access-log?department=MKT&depart%6Dent=INS", headers=bearer(token))
    assert escaped.status_code == 422 and "'department'" in escaped.text, escaped.text
    honest = client.get("/access-log?department=MKT&limit=5", headers=bearer(token))
    assert honest.status_code == 200, honest.text


@pytest.fixture(scope="module")
def rules(ledger: Ledger) -> Any:
    rule_set = unique_rule_set("rt40")
    decisions.publish_rule_set(ledger, rule_set, DECIDER)
    return rule_set


def _by_iri(credential: dict[str, Any]) -> None:
    """The claims and salts named by their IRIs as `@json` value objects: the credential compacted by a wallet with
    the VC 2.0 context alone."""
    pl = "https://ns.provenance-ledger.org/pl-cert#"
    claims = credential["credentialSubject"].pop("claims")
    credential["credentialSubject"][pl + "claims"] = {"@type": "@json", "@value": claims}
    salts = credential["proof"].pop("salts")
    credential["proof"][pl + "salts"] = {"@type": "@json", "@value": salts}


_WRAPPED: dict[str, tuple[int, Callable[[dict[str, Any]], Any]]] = {
    "credentialSubject as an array": (1, lambda c: c.update({"credentialSubject": [c["credentialSubject"]]})),
    "proof as an array": (2, lambda c: c.update({"proof": [c["proof"]]})),
    "claims and salts named by their IRIs": (3, _by_iri),
}


@pytest.mark.parametrize("wrapped", sorted(_WRAPPED))
def test_a_cited_credential_with_its_subject_or_proof_in_an_array_is_still_reached_by_the_erasure(
    ledger: Ledger, batch: list[dict[str, Any]], rules: Any, wrapped: str
) -> None:
    """Adversary: an insider holding the vault key, after the person's erasure (and a holder's wallet that writes
    VC 2.0 as it may: `credentialSubject` and `proof` can each be an array, and a wallet compacting with the VC 2.0
    context alone names the claims and salts by their IRIs). An application cites the person's credential with its
    subject (or its proof) as a one-element array, or its claims and salts named by IRI: verification refuses it
    (this ledger exports one subject and one proof), and the copy is sealed all the same, with every claim and salt
    of the certificate.
    It was labelled from `vc.carried`, which read `credentialSubject.claims` and `proof.salts` only from objects, so
    it got no certificate's digest and `ledger erase` left it, name and ID number, in the store for ever. Now the
    claims and salts are found inside such arrays too, the copy is labelled and the erasure destroys it."""
    which, edit = _WRAPPED[wrapped]
    licence = batch[which]
    credential = vc.to_credential(licence)
    edit(credential)
    case = f"C-RT40-{which}"
    decided = decisions.decide(
        ledger,
        DECIDER,
        case,
        "ITEM-1",
        application(case, {"document": credential}),
        rules,
        applicant_ref=licence["fields"]["subject.credit_code"],
    )
    (fact,) = decided.body["certificates"]
    assert fact["verified"] is False  # refused, as by every verifier: not the ledger's export
    erase_with_its_cited_copy(ledger, licence["digest"], "officer-rt40")


def test_a_decision_citing_a_credential_with_a_null_type_gets_one_verdict_from_both_bundle_verifiers(
    ledger: Ledger, batch: list[dict[str, Any]], rules: Any, tmp_path: Path
) -> None:
    """Adversary: an applicant citing their licence as a credential with a top-level `"@type": null` (attack 1),
    hoping the decision records it verified while a court's re-check does not, or the reverse. Deciding now refuses
    the credential as every verifier does (not verified, kept as given), and the decision bundle carrying it gets
    one verdict from `verify_bundle` and the court's standalone verifier: the recorded facts hold."""
    licence = batch[0]
    credential = {**vc.to_credential(licence), "@type": None}
    case = "C-RT40-NULLTYPE"
    holder = licence["fields"]["subject.credit_code"]
    decided = decisions.decide(
        ledger, DECIDER, case, "ITEM-1", application(case, {"document": credential}), rules, applicant_ref=holder
    )
    (fact,) = decided.body["certificates"]
    assert fact["verified"] is False, fact
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, DECIDER)
    bundle = evidence.decision_bundle(ledger, DECIDER, case, applicant=holder)
    report, code, _ = both(ledger, bundle, tmp_path, "null-type.json")  # asserts the two agree
    assert code == 0 and report.ok, report.to_json()


_EXPANDED = {"cited bare": 0, "cited as {'document': ...}": 1}


@pytest.mark.parametrize("cited", sorted(_EXPANDED))
def test_a_credential_cited_in_json_ld_expanded_form_is_sealed_and_reached_by_the_erasure(
    ledger: Ledger,
    batch: list[dict[str, Any]],
    rules: Any,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    cited: str,
) -> None:
    """Adversary: an insider reading the database (no vault key needed), and, with the vault key, after the person's
    erasure. An application cites the person's licence as the credential in JSON-LD expanded form (what a wallet
    working in RDF keeps: every term an IRI, `credentialSubject` under `https://www.w3.org/2018/credentials#...`,
    the claims an `@json` literal). Cited bare, it was no citation the ledger knew (`citation_invalid`) and stayed
    in the stored decision input as sent: name, credit code and ID number in the clear, where no erasure reaches
    (round 14c's attack, in the expanded form); cited as `{"document": ...}` it was sealed, but labelled with no
    certificate's digest, and the erasure left it. Now both are sealed as cited copies, labelled from the claims and
    salts the expanded form carries, and the erasure destroys them; verification refuses them as before, and the
    decision's bundle gets one verdict from both bundle verifiers."""
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("rt40x") / f"x{_EXPANDED[cited]}.jsonl", make_records(1))
    issuance.issue_file(ledger, path, "MKT", out=out)
    licence = json.loads(out.getvalue())
    (expanded,) = vc.expand(vc.to_credential(licence))
    citation = expanded if _EXPANDED[cited] == 0 else {"document": expanded}
    case = f"C-RT40-EXPANDED-{_EXPANDED[cited]}"
    holder = licence["fields"]["subject.credit_code"]
    decided = decisions.decide(
        ledger, DECIDER, case, "ITEM-1", application(case, citation), rules, applicant_ref=holder
    )
    (fact,) = decided.body["certificates"]
    assert fact["verified"] is False, fact
    personal = [str(v) for k, v in licence["fields"].items() if k.startswith("subject.")]
    with ledger.engine.connect() as conn:
        stored = conn.execute(
            select(DecisionInput.document).where(DecisionInput.digest == decided.body["input_digest"])  # type: ignore[arg-type]
        ).scalar_one()
    assert [p for p in personal if p in stored] == [], "the stored input holds the credential's claims in the clear"
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, DECIDER)
    bundle = evidence.decision_bundle(ledger, DECIDER, case, applicant=holder)
    report, code, _ = both(ledger, bundle, tmp_path, "expanded.json")  # the two bundle verifiers agree
    assert code == 0 and report.ok, report.to_json()
    done = erasure.erase(ledger, licence["digest"], basis="objection", by="officer-rt40")
    assert done["cited_copies_erased"] == 1, "the sealed copy of the credential survives the erasure"
