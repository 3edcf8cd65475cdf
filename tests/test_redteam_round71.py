"""Red team round 71: the small open rows of rounds 69 and 70.

Found and fixed here:

* (An officer of the deciding department, an insider, through the library: the CLI and the gateway state no moment)
  record a manual decision stating a ``decided_at`` before it was recorded: the library bounded an officer's moment
  only against the future, so an approval stated ten days back judged a licence that expired last week unexpired
  (its status read now) and issued a permit valid from then, and a refusal or a withdrawal stated minutes back
  (within the anchoring deadline, so replay said nothing) sat in a time window it does not belong to.
* (A department publishing a rule set, or a rule set written into the store past the library) a rule set's
  ``service_item`` (or title) holding ``\\x00``, a bidirectional override or a zero-width space: the item code is
  shown to people and compared as text, so one item's code displayed as another's.
* (A holder or an issuing clerk preparing a department's records) ordinary issuance took bidirectional controls and
  other invisible format characters in a certificate's fields: the signed certificate displayed as other text than
  it states.
* (An applicant lying in their input) a zero-width joiner between two Han characters (or Hangul, kana): round 70 let
  a joiner stand between any two characters of another script than ASCII, and these scripts join nothing.
"""

from __future__ import annotations

import io
import json
import sys
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlmodel import col, select

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.canonical import canonical_json, document_digest, hex32
from ledger.formats.displayed import _SPACES, _first_hidden, hidden_character
from ledger.formats.rules import load_rule_set
from ledger.services import decisions, issuance, logchain
from ledger.services.replay import replay
from ledger.storage.models import Batch, Certificate, RuleSetRecord

from .api_support import Clock, login, make_client
from .conftest import make_records, write_jsonl
from .permit_support import (
    SERVICE_ITEM,
    application,
    fresh_licence,
    inspected,
    officer_decision,
    permit_rules,
    published_permit_rules,
    withdrawn,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _decisions(ledger: Ledger, dept: str) -> int:
    return len(list(logchain.entries(ledger, logchain.LOG_DECISIONS, dept)))


def _stored(ledger: Ledger, dept: str) -> tuple[list[str], int]:
    """(the certificate ids ``dept`` stored, its batches)."""
    with ledger.engine.connect() as conn:
        ids = [
            r[0] for r in conn.execute(select(col(Certificate.certificate_id)).where(Certificate.department_id == dept))
        ]
        batches = len(list(conn.execute(select(col(Batch.root)).where(Batch.department_id == dept))))
    return ids, batches


def test_an_officers_decision_may_not_state_a_moment_before_it_is_recorded(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an officer of the deciding department (an insider, through the library; the CLI and the gateway
    record now) backdating a manual decision. An approval with the application stated ten days back judged the
    applicant's licence, expired two days ago, unexpired at that moment while its status was read now, and issued a
    permit valid from ten days ago; a refusal stated ten minutes back, and an inspection's withdrawal six (within the
    anchoring deadline, so replay said nothing) were listed in a window they do not belong to. An officer's decision
    is recorded when the officer takes it: a stated moment more than 30 s before now is refused, nothing recorded or
    issued; a moment a few seconds back, and now, are taken and replay is silent."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt71-officer")
    expired_on = (_now() - timedelta(days=2)).date().isoformat()
    licence, holder = fresh_licence(ledger, tmp_path, "rt71-expired", valid_until=expired_on)
    app = application("FBP-RT71-BACKDATED", licence)
    before = _stored(ledger, dept)
    with pytest.raises(InputError, match="decided_at") as refused:
        officer_decision(
            ledger, dept, app["case_id"], holder, "approve", "OFFICER_CHECKED_ON_SITE", decision_input=app,
            rule_set=rules, decided_at=_now() - timedelta(days=10),
        )  # fmt: skip
    assert "before" in str(refused.value)
    with pytest.raises(InputError, match="decided_at"):
        officer_decision(
            ledger, dept, "C-RT71-PAST", "applicant-rt71", "reject", "OFFICER_FOUND_FRAUD",
            decided_at=_now() - timedelta(minutes=10),
        )  # fmt: skip
    assert _decisions(ledger, dept) == 0 and _stored(ledger, dept) == before
    # an inspection's withdrawal is an officer's decision too: an approval (written twelve minutes back), then its
    # withdrawal stated six minutes back
    model = officer_decision(ledger, dept, "C-RT71-W-MODEL", "applicant-rt71w", "approve", "OFFICER_CHECKED_ON_SITE")
    approved_at = (_now() - timedelta(minutes=12)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    logchain.append(ledger, logchain.LOG_DECISIONS, dept, dict(model.body, case_id="C-RT71-W", decided_at=approved_at))
    finding = inspected(ledger, dept, _now() - timedelta(hours=1), "C-RT71-W")
    head = _decisions(ledger, dept)
    with pytest.raises(InputError, match="decided_at"):
        withdrawn(ledger, dept, finding, decided_at=_now() - timedelta(minutes=6))
    assert _decisions(ledger, dept) == head
    # the honest ones: a few seconds back, and now
    officer_decision(
        ledger, dept, "C-RT71-PAST", "applicant-rt71", "reject", "OFFICER_FOUND_FRAUD",
        decided_at=_now() - timedelta(seconds=5),
    )  # fmt: skip
    referred = officer_decision(
        ledger, dept, app["case_id"], holder, "refer", "OFFICER_NEEDS_DOCUMENTS", decision_input=app, rule_set=rules,
        decided_at=_now() - timedelta(seconds=5),
    )  # fmt: skip
    (fact,) = referred.body["certificates"]
    assert fact["expired"] is True
    done = withdrawn(ledger, dept, finding)
    assert done["case_id"] == "C-RT71-W"
    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, dept)
    assert replay(ledger, department=dept).to_json()["discrepancies"] == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("service_item", "440300-SCJG-0107\x00"),
        ("service_item", "440300-\u202e7010-GJCS"),
        ("service_item", "440300-SCJG\u200b-0107"),
        ("service_item", "440300-SCJG-0107\n"),
        ("title", "Food business permit\u2066 (approved)\u2069"),
    ],
)
def test_a_rule_sets_item_code_displays_as_it_is_stated(
    ledger: Ledger, fresh_department: str, key: str, value: str
) -> None:
    """Adversary: a department publishing a rule set (or a rule set written into the store past the library, loaded
    again) whose ``service_item`` holds a NUL, a right-to-left override, a zero-width space or a line feed (or whose
    title holds an isolate): the item code is shown to people and compared as text, so the rule set displayed as
    the food business permit's while serving another item. Refused where a rule set is read (published or loaded),
    naming the key and the character; nothing published."""
    document = dict(permit_rules(f"rt71-item-{fresh_department}").document, **{key: value})
    with pytest.raises(InputError, match=r"U\+") as refused:
        load_rule_set(document)
    assert refused.value.field == key
    with pytest.raises(InputError, match=r"U\+"):
        decisions.publish_rule_set(ledger, document, fresh_department)
    # written into the store past the library, it does not load again: no decision can use it
    digest = hex32(document_digest(document))
    with ledger.engine.begin() as conn:
        conn.execute(
            insert(RuleSetRecord).values(
                digest=digest, rule_set_id=document["rule_set_id"], version=document["version"],
                service_item=SERVICE_ITEM, document=canonical_json(document).decode(), department_id=fresh_department,
                published_at=_now(),
            )
        )  # fmt: skip
    loaded, why = decisions.load_recorded_rule_set(ledger, digest)
    assert loaded is None and why is not None and "U+" in why, why
    assert load_rule_set(dict(document, **{key: SERVICE_ITEM if key == "service_item" else "Food business permit"}))


HONEST = {
    "name": "\u0645\u062d\u0645\u062f \u0627\u0644\u0639\u0644\u064a",  # Arabic
    "trade_name": "\u05d7\u05e0\u05d5\u05ea \u05d4\u05e4\u05e8\u05d7\u05d9\u05dd",  # Hebrew
    "premises": "\u79d1\u82d1\u8def 1\u53f7\u3000\u845b\U000e0100\u98fe\u533a",  # CJK, an ideographic variant
    "owner": "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u0915\u094d\u200d\u0937 \u0dc1\u0dca\u200d\u0dbb\u0dd3",
    "motto": "\U0001f468\u200d\U0001f373 \u2764\ufe0f\u200d\U0001f525 \U0001f1e8\U0001f1f3 Caf\u00e9",  # emoji
}


def _records(tag: str, trick: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Three records of ``tag``, the honest text above in the first, ``trick`` merged into the third's subject."""
    records = make_records(3, prefix=tag)
    records[0]["subject"].update(HONEST)
    if trick is not None:
        records[2]["subject"].update(trick)
    return records


TRICKS = [
    ({"name": "Zhang Wei\u202e0000"}, "subject.name", "U+202E"),
    ({"name": "Zhang\u2067 Wei"}, "subject.name", "U+2067"),
    ({"name": "\u200fZhang Wei"}, "subject.name", "U+200F"),
    ({"name": "\u0645\u062d\u0645\u062f\u061c"}, "subject.name", "U+061C"),
    ({"name": "Zhang\u200b Wei"}, "subject.name", "U+200B"),
    ({"name": "Zhang Wei\x1b[2J"}, "subject.name", "U+001B"),
    ({"address": {"lines": ["Shop 3", "1 Keyuan\u202a Road"]}}, "subject.address.lines[1]", "U+202A"),
]


@pytest.mark.parametrize(("trick", "field", "character"), TRICKS)
def test_issuance_refuses_a_field_that_displays_as_other_text(
    ledger: Ledger, fresh_department: str, tmp_path: Path, trick: dict[str, Any], field: str, character: str
) -> None:
    """Adversary: a holder or an issuing clerk preparing the department's records, making one text display as another
    (a right-to-left override turning a name around, an isolate, a directional mark, the Arabic letter mark, a
    zero-width space, a terminal escape; in a nested field too): issuance signed and anchored the certificate as
    given. The whole file (and the gateway's request) is refused naming the line, the field and the character,
    before anything is stored or anchored; honest Arabic, Hebrew, CJK, Persian, Devanagari, Sinhala text and emoji
    sequences are issued."""
    dept = fresh_department
    before = _stored(ledger, dept)
    path = write_jsonl(tmp_path / "records.jsonl", _records("RT71-F", trick))
    with pytest.raises(InputError, match=character.replace("+", r"\+")) as refused:
        issuance.issue_file(ledger, path, dept, out=io.StringIO())
    assert f"line 3, field '{field}'" in str(refused.value) and "nothing was issued" in str(refused.value), refused
    assert _stored(ledger, dept) == before  # nothing stored, nothing anchored: not the two honest records either
    with make_client(ledger, Clock()) as client:
        token = login(client, ledger, dept)
        answer = client.post(
            "/certificates",
            json={"records": _records("RT71-G", trick)},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 422, answer.text
        assert character in answer.json()["detail"] and field in answer.json()["detail"], answer.text
        assert _stored(ledger, dept) == before
        honest = client.post(
            "/certificates", json={"records": _records("RT71-H", None)}, headers={"Authorization": f"Bearer {token}"}
        )
        assert honest.status_code == 201, honest.text
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "honest.jsonl", _records("RT71-I", None)), dept, out=out)
    documents = [json.loads(line) for line in out.getvalue().splitlines()]
    assert documents[0]["fields"]["subject.owner"] == HONEST["owner"]


def test_a_permit_copies_no_joiner_between_two_han_characters(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: an applicant lying in their input, typing the premises the permit copies with one zero-width joiner
    (or non-joiner) between two Han characters, two Hangul syllables or two katakana: round 70 let a joiner stand
    between any two characters of another script than ASCII, and these scripts join no letters, so the permit
    displayed as ``科苑路`` while stating other text. Refused naming the field, nothing recorded; the joiners a
    Persian, Devanagari or Sinhala word or an emoji sequence needs are still copied, beside CJK text too."""
    dept = fresh_department
    rules = published_permit_rules(ledger, dept, "rt71-han")
    licence, holder = fresh_licence(ledger, tmp_path, "rt71-han")
    app = application("FBP-RT71-HAN", licence)
    for trick in (
        "\u79d1\u200d\u82d1\u8def",
        "\u79d1\u82d1\u200c\u8def",
        "\ud55c\u200d\uad6d",
        "\u30ab\u200c\u30bf",
        "\uff76\u200d\uff80",
    ):
        lying = {**app, "application": {**app["application"], "premises": trick}}
        with pytest.raises(InputError, match="premises"):
            decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, lying, rules, applicant_ref=holder)
    assert _decisions(ledger, dept) == 0
    honest = "\u79d1\u82d1\u8def " + HONEST["owner"] + " \U0001f468\u200d\U0001f373\u79d1"
    ok = {**app, "application": {**app["application"], "premises": honest}}
    approved = decisions.decide(ledger, dept, app["case_id"], SERVICE_ITEM, ok, rules, applicant_ref=holder)
    assert approved.body["outcome"] == "approve" and approved.body.get("issued"), approved.body


_TRICKY = [
    "\u200d", "\u200c", "\ufe0f", "\U000e0100", "\u034f", "\u3164", "\u202e", "\u200b", "\x00", "\x1b", "\u2028",
    "\u3000", "\u00a0", "\u202f", "\ue000", "\U00050000", "\u79d1", "\ud55c", "\u0915", "\u094d", "\u0645",
    "\U0001f468", "\U0001f3fd", "a", " ",
]  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from(_TRICKY) | st.characters(), max_size=8), st.booleans())
def test_the_display_checks_fast_paths_agree_with_its_walk(text: str, assigned: bool) -> None:
    """Adversary: anyone whose text the check reads (an applicant, a clerk, a rule set's author), crafting one that
    takes the check's fast paths (printable as a whole; unprintable only for spaces of another width) while holding
    a character the walk refuses: the fast paths answer as the character-by-character walk does."""
    assert hidden_character(text, assigned=assigned) == _first_hidden(text, assigned)


def test_the_display_checks_spaces_are_the_space_separators() -> None:
    """The spaces the check's second fast path reads as spaces are exactly this interpreter's space separators (Zs)
    other than U+0020: a list that held another character would pass text a character at a time it refuses."""
    separators = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Zs"} - {" "}
    assert {chr(c) for c in range(sys.maxunicode + 1) if _SPACES.fullmatch(chr(c))} == separators
