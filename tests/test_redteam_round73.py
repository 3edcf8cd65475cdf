"""Red team round 73: the small open rows of the last rounds (note_s6, "Left open").

Found and fixed here:

* (A department publishing a rule set past the library, with its own tool) a rule set whose ``produces`` names the
  wrong holder field for its certificate type (a food business permit carrying the applicant's identity in
  ``subject.id_number``, where the type names its holder in ``subject.credit_code``), or a malformed one: the
  library's loader refuses it, so the library's bundle verifier fails the re-run, but the court's verifier checked
  only ``produces``' keys and re-ran the decision to "as recorded".
* (The chain's operator, or a lagging node replica) a status event made up or left out, answered to a reader of the
  chain-wide status events that states its own first block (``ChainView.status_events(start=...)``): only a read from
  the deployment on was checked against the status trails. No caller used it so yet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from eth_utils import keccak

from ledger.client import Ledger
from ledger.errors import ChainError, InputError
from ledger.formats import rules as rules_module
from ledger.formats.rules import load_rule_set
from ledger.onchain.chain import Chain, connect
from ledger.services import decisions, evidence, logchain
from ledger.services.verify import ChainView

from .evidence_support import SCRIPT_MODULE, both, failed_names, rpc_url, suspended_again
from .permit_support import SERVICE_ITEM, application, fresh_licence
from .rpc_proxy import RpcProxy

ROOT = Path(__file__).resolve().parent.parent
PERMIT_RULES = ROOT / "rules" / "food-business-permit.yaml"
SUSPENDED_TOPIC = "0x" + keccak(text="CertificateSuspended(bytes32,bytes32,bytes32,uint8)").hex()
REINSTATED_TOPIC = "0x" + keccak(text="CertificateReinstated(bytes32,bytes32,bytes32,uint8)").hex()


def _permit_rules(**produces: Any) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(PERMIT_RULES.read_text(encoding="utf-8"))
    document["produces"] = {**document["produces"], **produces}
    return {key: value for key, value in document.items() if value is not None}


@pytest.mark.parametrize(
    "produces",
    [
        {"holder": "id_number"},  # a food business permit names its holder in subject.credit_code
        {"holder": "holder_id"},
        {"holder": "name"},
        {"holder": None},
        {"type": "Food Permit"},
        {"valid_days": 0},
        {"valid_days": 36_601},
        {"valid_days": True},
        {"valid_days": "1826"},
        {"fields": {"credit_code": "application.premises"}},
        {"fields": {"produced_by": "application.premises"}},
        {"fields": {"Premises": "application.premises"}},
        {"fields": {"premises": "application"}},
        {"fields": {"premises": "issuer.key"}},
        {"fields": {"premises": "certificate.business-licence"}},
        {"fields": {"premises": 7}},
        {"id_prefix": "fbp"},
        {"id_prefix": "FOOD-BUSINESS-PERMIT"},
    ],
)
def test_the_court_refuses_the_produces_the_library_refuses(produces: dict[str, Any]) -> None:
    """Adversary: a department publishing a rule set past the library (its own tool writes the publication), whose
    ``produces`` carries the applicant's identity in a field its certificate type does not name as the holder (so
    nobody can cite the permit as theirs), or is malformed: the library's loader refuses it and the library's bundle
    verifier fails the re-run of every decision under it; the court's verifier checked only ``produces``' keys and
    re-ran the decision to "as recorded". Both refuse it now, the court naming what is wrong."""
    document = _permit_rules(**produces)
    with pytest.raises(InputError, match="produces"):
        load_rule_set(document)
    with pytest.raises(SCRIPT_MODULE.Failure, match="produces"):
        SCRIPT_MODULE.rule_set_problem(json.loads(json.dumps(document)))


@pytest.mark.parametrize(
    "produces",
    [
        {},
        {"id_prefix": None},
        {"type": "tax-clearance", "holder": "credit_code"},
        {"type": "residence-note", "holder": "holder_id"},  # a type the holder table does not list names none
        {"fields": {"name": "certificate.business-licence.subject.name", "item": "service_item", "case": "case_id"}},
        {"valid_days": 36_600},
    ],
)
def test_the_court_accepts_the_produces_the_library_accepts(produces: dict[str, Any]) -> None:
    """The other side: a ``produces`` the library loads, the shipped permit rules' and variants of it, passes the
    court's check too."""
    document = _permit_rules(**produces)
    if produces.get("id_prefix", "") is None:
        document["produces"].pop("id_prefix")
    load_rule_set(document)
    SCRIPT_MODULE.rule_set_problem(json.loads(json.dumps(document)))


def test_a_bundle_under_a_permit_carrying_its_holder_elsewhere_fails_both_verifiers(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: a department publishing a rule set past the library (its own tool: here the library's ``produces``
    check switched off while it publishes and decides), whose food business permit carries the applicant's credit
    code in ``subject.id_number``, a field that type does not name as its holder. An approval issues the permit;
    its evidence bundle failed the library's re-run (the loader refuses the rule set) and passed the court's. Both
    fail the re-run now."""
    dept = fresh_department
    document = _permit_rules(holder="id_number") | {"version": f"test-rt73-holder-{dept}"}
    checked = rules_module._check_produces
    with monkeypatch.context() as patch:
        patch.setattr(
            rules_module, "_check_produces", lambda spec: None if spec is None else {**spec, "id_prefix": "FBP"}
        )
        rules = load_rule_set(document)
        decisions.publish_rule_set(ledger, rules, dept)
        licence, holder = fresh_licence(ledger, tmp_path, "rt73-holder")
        app = application("FBP-RT73-HOLDER", licence)
        approved = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=holder)
        assert approved.body["outcome"] == "approve" and approved.body.get("issued"), approved.body
        logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
        bundle = evidence.decision_bundle(ledger, dept, app["case_id"], applicant=holder)
    assert rules_module._check_produces is checked
    report, code, result = both(ledger, bundle, tmp_path)
    assert code == 1 and "rerun" in failed_names(result), result
    assert "produces" in json.dumps(result), result
    assert "produces" in next(c.detail for c in report.failed if c.name == "rerun"), report.to_json()


def test_the_courts_copy_of_the_produces_grammar_is_the_librarys() -> None:
    """The court's verifier keeps its own copy of what a ``produces`` may say (it imports nothing of the ledger):
    the holder fields and the grammar of paths, types and id prefixes are the library's, so neither accepts a rule
    set the other refuses."""
    assert SCRIPT_MODULE.PRODUCES_HOLDERS == rules_module._HOLDER_FIELDS
    assert SCRIPT_MODULE.PRODUCES_INPUT_PATH.pattern == rules_module._INPUT_PATH.pattern
    assert SCRIPT_MODULE.PRODUCES_CERTIFICATE_PATH.pattern == rules_module.CERTIFICATE_PATH.pattern
    assert SCRIPT_MODULE.PRODUCES_PREFIX.pattern == rules_module._PREFIX.pattern


def test_status_events_from_a_stated_block_are_checked_against_the_trail(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: the chain's operator (or a node replica whose log index lags its blocks) adding to its
    ``eth_getLogs`` answers a reinstatement of a suspended certificate after its last suspension. Every reader from
    the deployment on refuses it (the status trail); ``ChainView.status_events(start=...)``, with a start of its
    caller's, read only that range and returned its events unchecked, so a future caller reading from a block of its
    own (an incremental replay, say) would have read the certificate valid. The trail is now read for every call and
    the events checked from the deployment on: a ChainError naming the trail; from an honest node the answer is the
    whole read's events from ``start`` on."""
    target, _path, suspended_in = suspended_again(ledger, tmp_path, fresh_department)
    digest = str(target["digest"]).lower()

    def made_up(method: str, _params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list):
            found = [log for log in answer["result"] if log["topics"][0].lower() == SUSPENDED_TOPIC]
            found = [log for log in found if str(log["topics"][1]).lower() == digest]
            if found:
                last = found[-1]
                answer["result"].append(
                    {
                        **last,
                        "topics": [REINSTATED_TOPIC, *last["topics"][1:]],
                        "logIndex": hex(int(last["logIndex"], 16) + 1),
                    }
                )
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=made_up) as node:
        chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        with pytest.raises(ChainError, match="status trail"):
            ChainView(chain).status_events(start=suspended_in)
        with pytest.raises(ChainError, match="status trail"):
            ChainView(chain).status_events(start=suspended_in, end=suspended_in)
    honest = ChainView(ledger.chain).status_events()
    assert ChainView(ledger.chain).status_events(start=suspended_in) == [e for e in honest if e[2] >= suspended_in]
    head = ledger.chain.w3.eth.block_number
    assert ChainView(ledger.chain).status_events(start=suspended_in, end=head) == [
        e for e in honest if suspended_in <= e[2] <= head
    ]
    ours = [e for e in honest if e[0][2].hex() == digest.removeprefix("0x")]
    assert [e[2] for e in ours][-1] == suspended_in, ours
