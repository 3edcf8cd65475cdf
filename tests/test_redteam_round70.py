"""Red team round 70: against this session's merges (rounds 67 to 69 and the lead's).

Found and fixed here:

* (An applicant lying in their input) type the premises a food business permit copies with a character that
  displays as nothing but is no control or format character: a combining grapheme joiner (U+034F), a variation
  selector over an ASCII letter (U+FE0F, U+E0100), a Hangul filler (U+3164, U+115F, U+FFA0), a Khmer inherent vowel
  (U+17B4), a Mongolian free variation selector (U+180B), or a zero-width joiner between two ASCII characters: round
  69's check read only the control, format and separator categories (and skipped every string ``isprintable``
  passes), so the signed permit held an address that displays as another permit's address but is not equal to it.
* (A department acting outside its authority, through the library) refer a new case as an officer for one item and
  applicant, then decide it by the rules for another item and applicant: round 69 bound an override to the item it
  replaces, not the rules' decision to the officer's, so a permit was issued that replay called ``item_changed``.
* (The chain's operator, with an anonymous client's help) a long-lived view (the gateway's) asked about a department
  code before it was registered kept the deployment's block as that department's registration for good, so once
  the department registered, a suspension the node moved to a block before the registration was taken (round 68's
  refusal read the kept block): the gateway said valid where the court's verifier said NOT VERIFIED.

Held, tried without a test of its own: an applicant's identity (``applicant_ref``) ending in a combining grapheme
joiner or a variation selector (an ID-number-shaped identity holding any non-ASCII character is refused already;
an identity wholly in another script is compared as sent); ``canonical.integer_spelt_double``'s native skip against
its walk (bools, dict and list subclasses, tuples, non-text keys, ``limit`` nested lists, more containers than ``limit``
side by side: the same answer with and without the native check). Read, not run: ``Chain.call_many`` given a batch
answered out of order (web3 sorts by id), with a duplicated or missing id, with string ids or a single error object
(each read again one by one); the status list's kept leaves after the row's blob was cut or padded (its SQL length
differs: read again and refused) or retyped to text of its length (the kept leaves, which the anchored root fixes,
still answer), or asked under another department's row with the same root (kept per department).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.onchain.chain import ROLE_ISSUER, Chain, connect
from ledger.onchain.ids import department_id_bytes
from ledger.services import decisions, evidence, logchain, status
from ledger.services.departments import Council
from ledger.services.replay import replay
from ledger.services.verify import ChainView, verify_certificate

from .conftest import TEST_TYPES, make_records
from .evidence_support import issue, rpc_url, standalone
from .permit_support import SERVICE_ITEM, application, fresh_licence, published_permit_rules
from .rpc_proxy import RpcProxy

SUSPENDED_TOPIC = "0x" + keccak(text="CertificateSuspended(bytes32,bytes32,bytes32,uint8)").hex()


def test_a_permit_copies_no_character_that_displays_as_nothing(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant lying in their input, typing the premises the permit copies with an invisible
    character that round 69's check let through (a default-ignorable code point of another category than control or
    format: a combining grapheme joiner, variation selectors, Hangul fillers, a Khmer inherent vowel, a Mongolian
    variation selector; or a zero-width joiner between ASCII characters, which no script spells a word with). The
    permit was issued, signed and anchored, displaying as ``Shop 3, 1 Keyuan Road`` while stating other text. Now
    the decision is refused naming the field and nothing is recorded; an honest address that needs a joiner (a
    Devanagari or Persian word), a decomposed accent, emoji sequences with their presentation selector and an
    ideographic variation sequence (a name's character) are still approved."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt70-blank")
    licence, holder = fresh_licence(ledger, tmp_path, "rt70-blank")
    app = application("FBP-RT70-BLANK", licence)
    tricks = (
        "Shop 3, 1 Keyuan\u034f Road",
        "Shop 3, 1 Keyuan Road\ufe0f",
        "Shop 3, 1 Keyuan Road\U000e0100",
        "Shop 3, 1 Keyuan Road\u3164",
        "Shop 3, 1 Keyuan\u115f Road",
        "Shop 3, 1 Keyuan Road\uffa0",
        "Shop 3, 1 Keyuan\u17b4 Road",
        "Shop 3, 1 Keyuan\u180b Road",
        "Shop 3, 1 Keyu\u200dan Road",
        "Shop 3, 1 Keyuan Road\u200c",
        "\u79d1\u82d1\u8def\ufe0f\ufe0f",  # a second selector selects nothing
        "\u79d1\u200d\u200d\u82d1",  # nor does a second joiner
        "\ufe0fShop 3",
    )
    for trick in tricks:
        lying = {**app, "application": {**app["application"], "premises": trick}}
        with pytest.raises(InputError, match="premises"):
            decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, lying, rules, applicant_ref=holder)
    assert list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)) == []
    honest = (
        "\u0915\u094d\u200d\u0937 Market, Cafe\u0301 \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \U0001f468\u200d\U0001f373 "
        "\u2615\ufe0f \u2764\ufe0f\u200d\U0001f525 \u845b\U000e0100\u98fe\u533a"  # emoji presentation, an ideographic variant
    )
    ok = {**app, "application": {**app["application"], "premises": honest}}
    approved = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, ok, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve" and approved.body.get("issued"), approved.body


def test_the_rules_do_not_decide_a_case_an_officer_opened_for_another_item_or_applicant(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department acting outside its authority, through the library with its own key. An officer
    refers a new case for one service item and applicant (or refuses it); the rules may then decide the case once
    (round 69 bound an officer's override to the item it replaces, not the rules' decision to the officer's), so
    ``decide`` of the same case under the permit rules for another item and another applicant approved and issued
    a permit, and the library's own replay then called it ``item_changed`` and ``applicant_changed``. The rules'
    decision of a case an officer decided first names that case's item and applicant: refused, nothing recorded or
    issued; the same case decided for its own item and applicant is approved with replay silent."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt70-opened")
    licence, holder = fresh_licence(ledger, tmp_path, "rt70-opened")
    app = application("FBP-RT70-OPENED", licence)
    decisions.record_human_decision(
        ledger, dept, app["case_id"], "OTHER-ITEM-70", officer="officer-70", outcome="refer",
        reasons=["OFFICER_NEEDS_DOCUMENTS"], applicant_ref=holder,
    )  # fmt: skip
    head = len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))
    with pytest.raises(InputError, match="service item") as moved:
        decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, app, rules, applicant_ref=holder)
    assert "OTHER-ITEM-70" in str(moved.value)
    with pytest.raises(InputError, match="service item"):
        decisions.decide_many(ledger, dept, [{**app, "applicant_ref": holder}], {"*": rules})
    assert len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept))) == head
    # another applicant: a case an officer opened for one applicant is not decided by the rules for another
    case2 = application("FBP-RT70-OPENED2", licence)
    decisions.record_human_decision(
        ledger, dept, case2["case_id"], SERVICE_ITEM, officer="officer-70", outcome="refer",
        reasons=["OFFICER_NEEDS_DOCUMENTS"], applicant_ref="applicant-rt70-someone-else",
    )  # fmt: skip
    with pytest.raises(InputError, match="applicant"):
        decisions.decide(ledger, dept, case2["case_id"], SERVICE_ITEM, case2, rules, applicant_ref=holder)
    with pytest.raises(InputError, match="applicant"):
        decisions.decide_many(ledger, dept, [{**case2, "applicant_ref": holder}], {"*": rules})
    # the honest case: an officer's referral, then the rules for the same item and applicant
    case3 = application("FBP-RT70-OPENED3", licence)
    decisions.record_human_decision(
        ledger, dept, case3["case_id"], SERVICE_ITEM, officer="officer-70", outcome="refer",
        reasons=["OFFICER_NEEDS_DOCUMENTS"], applicant_ref=holder,
    )  # fmt: skip
    approved = decisions.decide(ledger, dept, case3["case_id"], SERVICE_ITEM, case3, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve" and approved.body.get("issued"), approved.body
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).to_json()["discrepancies"] == []


def _mine(ledger: Ledger, blocks: int) -> None:
    for _ in range(blocks):
        ledger.chain.w3.provider.make_request("evm_mine", [])


def test_a_view_asked_about_a_department_before_its_registration_still_refuses_events_before_it(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Adversary: the chain's operator, with an anonymous client. The client asks a long-lived view (the gateway's)
    about a department code not registered yet (a verification of a document naming it): ``registered_from`` kept
    the deployment's block for it, for the life of the view. The department registers and issues; the node then
    answers its certificate's last suspension (suspended, reinstated, suspended again) in a block before the
    registration, and the view took it - chain order put it first, the certificate read valid - while the court's
    verifier, reading from the registration, said NOT VERIFIED. A department the registry does not know is not
    remembered as registered at the deployment: asked again, its registration is read when it exists."""
    code = f"RT70-{os.getpid() % 1000}-LATE"
    upstream: dict[str, Any] = {"moved_from": None, "to": None}

    def moved(method: str, _params: Any, answer: Any) -> Any:
        if method == "eth_getLogs" and isinstance(answer.get("result"), list) and upstream["moved_from"] is not None:
            for log in answer["result"]:
                if (
                    log["topics"][0].lower() == SUSPENDED_TOPIC
                    and int(log["blockNumber"], 16) == upstream["moved_from"]
                ):
                    log["blockNumber"] = hex(upstream["to"])
        return answer

    with RpcProxy(rpc_url(ledger), rewrite=moved) as node:
        chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        view = ChainView(chain)
        view.department_stream(code, view.head())  # an anonymous client's question, before the registration
        _mine(ledger, 8)
        Council(ledger).register(code, f"Red team round 70 {code}", ROLE_ISSUER, types=TEST_TYPES)
        periods = ledger.chain.call(ledger.chain.registry.functions.statusHistory(department_id_bytes(code)))
        registered = min(int(period[2]) for period in periods)
        target, _ = issue(ledger, tmp_path, code, make_records(2))
        status.suspend(ledger, target["digest"], "under-investigation")
        _mine(ledger, 2)
        status.reinstate(ledger, target["digest"], "grounds-resolved")
        _mine(ledger, 2)
        valid_since_reinstated = evidence.certificate_bundle(ledger, target)["status"]
        status.suspend(ledger, target["digest"], "under-investigation")
        _mine(ledger, 2)
        forged = evidence.certificate_bundle(ledger, target)
        assert forged["status"]["status"] == "suspended", forged["status"]
        upstream["moved_from"], upstream["to"] = forged["status"]["changed_in_block"], registered - 1
        forged["status"] = valid_since_reinstated
        path = tmp_path / "restated-valid.json"
        path.write_text(json.dumps(forged), encoding="utf-8")
        code_, result, stderr = standalone(ledger, path, rpc=node.url)
        assert result is not None, stderr
        assert code_ == 1, result
        assert not verify_certificate(target, ChainView(chain)).ok  # a fresh view
        assert not verify_certificate(target, view).ok  # the long-lived one
