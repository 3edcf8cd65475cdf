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
* (A holder, an issuing clerk, an applicant lying in their input, a rule set's author) a zero-width joiner or
  non-joiner between two letters of a script that joins none (Greek, Cyrillic, Hebrew, Thai, Latin, Armenian,
  Georgian): it displays as nothing, and round 71 refused it only beside a wide letter.
* (A department publishing a rule set past the library) a rule set's item code or title holding a character that
  displays as nothing or reorders the text: round 71 made the library's loader refuse it, so the library's bundle
  verifier fails the re-run, but the court's verifier re-ran the decision to "as recorded" (found here).

Looked at and left (docs/threat-model.md, round 72's row): a supersession a node leaves out of the direct lookup's
logs. The contract records a supersession only under the superseded certificate, so nothing in its state tells the
direct lookup that a certificate replaced another.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from ledger.client import Ledger
from ledger.errors import ChainError, InputError
from ledger.formats import rules as rules_module
from ledger.formats.displayed import _first_hidden, hidden_character
from ledger.formats.rules import load_rule_set
from ledger.onchain.chain import Chain, connect
from ledger.services import decisions, evidence, issuance, logchain
from ledger.services.verify import ChainView
from ledger.storage.models import Certificate

from .conftest import make_records, write_jsonl
from .evidence_support import SCRIPT_MODULE, both, failed_names, made_up_reinstatement, rpc_url, suspended_again
from .permit_support import SERVICE_ITEM, application, fresh_licence
from .rpc_proxy import RpcProxy

ROOT = Path(__file__).resolve().parent.parent
PERMIT_RULES = ROOT / "rules" / "food-business-permit.yaml"


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
        {
            "fields": {"name": "certificate.business-licence.subject.name", "item": "service_item", "case": "case_id"},
            "types": {"item": "text"},  # the shipped set's types and one_per name fields this one does not copy
            "one_per": ["name"],
        },
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

    made_up = made_up_reinstatement(digest)

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


# A joiner (ZWJ U+200D, ZWNJ U+200C) between two letters of a script that joins none, in real words: it displays as
# nothing, so the word displays as the one without it while stating other text.
JOINED_FOR_NOTHING = [
    "\u0391\u03b8\u200d\u03ae\u03bd\u03b1",  # Greek: Αθήνα
    "\u0395\u03bb\u03bb\u200c\u03ac\u03b4\u03b1",  # Greek: Ελλάδα
    "\u041c\u043e\u0441\u200c\u043a\u0432\u0430",  # Cyrillic: Москва
    "\u041a\u0438\u0435\u200d\u0432",  # Cyrillic: Киев
    "\u05d9\u05e8\u05d5\u200d\u05e9\u05dc\u05d9\u05dd",  # Hebrew: ירושלים
    "\u05ea\u05dc\u200c \u05d0\u05d1\u05d9\u05d1",  # Hebrew: תל אביב (a joiner before the space: nothing to join)
    "\u0e01\u0e23\u0e38\u0e07\u200c\u0e40\u0e17\u0e1e",  # Thai: กรุงเทพ
    "\u0e20\u0e39\u200d\u0e40\u0e01\u0e47\u0e15",  # Thai: ภูเก็ต
    "\u0141\u200d\u00f3d\u017a",  # Latin: Łódź
    "Z\u00fc\u200d\u00dfe",  # Latin: Züße
    "\u0540\u0561\u200d\u0575\u0561\u057d\u057f\u0561\u0576",  # Armenian: Հայաստան
    "\u10e1\u10d0\u200c\u10e5\u10d0\u10e0\u10d7\u10d5\u10d4\u10da\u10dd",  # Georgian: საქართველო
    "\u0627\u200c\u0628",  # Arabic alef (joins on its right only) then a non-joiner: it joined nothing to break
    "\u0915\u200d\u0937",  # Devanagari: a joiner between two consonants with no virama before it
    "\U0001f468\u200c\U0001f373",  # a non-joiner inside an emoji sequence: it has no use there
    "\U0001f468\u200d\u0915",  # a joiner between an emoji and a letter
    "\u0394\u200d\U0001f525",  # and between a Greek letter and an emoji
]
# The joiners real words need: Persian, Syriac, N'Ko and Mongolian cursive joining (a non-joiner breaking it, a joiner
# asking for it: RFC 5892 A.1's joining context), Indic conjuncts after a virama (A.1, A.2), emoji ZWJ sequences.
JOINED_FOR_A_REASON = [
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: میخواهم (mi-khaham)
    "\u062e\u0627\u0646\u0647\u200c\u0647\u0627",  # Persian: خانهها (khane-ha)
    "\u0643\u062a\u0627\u0628\u064e\u200c\u0647\u0627",  # Persian, a vowel mark before the non-joiner (transparent)
    "\u072b\u200c\u0720\u0721\u0710",  # Syriac: ܫܠܡܐ
    "\u07d2\u200c\u07de\u07cf",  # N'Ko: ߒߞߏ
    "\u182e\u1823\u200d\u1829\u182d\u1823\u182f",  # Mongolian: ᠮᠣᠩᠭᠣᠯ
    "\u0915\u094d\u200d\u0937",  # Devanagari: क्ष, half form
    "\u0915\u094d\u200c\u0937",  # and without the conjunct
    "\u0d05\u0d35\u0d28\u0d4d\u200d\u0d31\u0d46",  # Malayalam: അവന്റെ (a chillu)
    "\u0dc1\u0dca\u200d\u0dbb\u0dd3",  # Sinhala: ශ්රී
    "\U0001f469\u200d\U0001f4bb",  # emoji: woman technologist
    "\U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # family
    "\U0001f9d1\U0001f3fd\u200d\U0001f9b0",  # a skin tone, then red hair
    "\u2764\ufe0f\u200d\U0001f525",  # heart on fire
]


@pytest.mark.parametrize("word", JOINED_FOR_NOTHING)
@pytest.mark.parametrize("assigned", [True, False])
def test_a_joiner_where_no_script_joins_is_refused(word: str, assigned: bool) -> None:
    """Adversary: an applicant lying in their input, a holder or an issuing clerk, or a rule set's author, putting a
    zero-width joiner or non-joiner between two letters of Greek, Cyrillic, Hebrew, Thai, Latin, Armenian or
    Georgian, where it displays as nothing: round 71 refused it only beside a wide letter (Han, kana, Hangul), so
    the text displayed as the word without it. A joiner is taken only where it has a use (``JOINED_FOR_A_REASON``)."""
    found = hidden_character(word, assigned=assigned)
    assert found is not None and found in "\u200c\u200d", (word, found)
    assert _first_hidden(word, assigned) == found


@pytest.mark.parametrize("word", JOINED_FOR_A_REASON)
@pytest.mark.parametrize("assigned", [True, False])
def test_a_joiner_a_word_needs_is_taken(word: str, assigned: bool) -> None:
    """The other side: the joiners real words of the joining scripts, the Indic conjuncts and emoji sequences need
    are taken, beside other text too."""
    assert hidden_character(word, assigned=assigned) is None, word
    assert hidden_character(f"\u79d1\u82d1 {word} Caf\u00e9", assigned=assigned) is None, word


def test_issuance_refuses_a_greek_name_joined_for_nothing(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a holder handing the department their details (or an issuing clerk), a Greek name with a
    zero-width joiner inside it: the certificate was signed and anchored as given, displaying as the name without
    it. The file is refused naming the line, the field and U+200D, nothing stored; the same records with names of
    the joining scripts are issued as given."""
    dept = fresh_department
    records = make_records(2, prefix="RT73-J")
    records[1]["subject"]["name"] = JOINED_FOR_NOTHING[0]
    with pytest.raises(InputError, match=r"U\+200D") as refused:
        issuance.issue_file(ledger, write_jsonl(tmp_path / "joined.jsonl", records), dept, out=io.StringIO())
    assert "line 2, field 'subject.name'" in str(refused.value), refused
    with ledger.engine.connect() as conn:
        stored = conn.execute(select(col(Certificate.certificate_id)).where(Certificate.department_id == dept))
        assert list(stored) == []
    honest = make_records(2, prefix="RT73-K")
    honest[0]["subject"]["name"] = JOINED_FOR_A_REASON[0]
    honest[1]["subject"]["name"] = " ".join(JOINED_FOR_A_REASON[3:])
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp_path / "honest.jsonl", honest), dept, out=out)
    documents = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [d["fields"]["subject.name"] for d in documents] == [h["subject"]["name"] for h in honest]


def test_the_joining_types_are_unicodes() -> None:
    """The joining types the display check reads (its own table of ArabicShaping.txt's D, R, L and C ranges, and
    the marks as transparent) are those of the ``idna`` package's table generated from Unicode's
    DerivedJoiningType.txt, for every character this interpreter's Unicode knows but the format characters (which
    the check refuses whatever their type). A newer Unicode in either fails this test: update the table from it."""
    import sys
    import unicodedata

    from idna import idnadata

    from ledger.formats.displayed import joining_type

    theirs: dict[int, str] = {}
    for kind, spans in idnadata.joining_types.items():
        for span in spans:
            theirs.update((code, kind) for code in range(span >> 32, span & 0xFFFFFFFF))
    differ = [
        (hex(code), joining_type(chr(code)), theirs.get(code, "U"))
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) not in ("Cn", "Cf", "Cs")
        and joining_type(chr(code)) != theirs.get(code, "U")
    ]
    assert differ == []
    assert [joining_type(c) for c in "\u0628\u0627\ua872\u0640\u064e\u0394a"] == ["D", "R", "L", "C", "T", "U", "U"]


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("title", "Food business \u202epermit"),  # a right-to-left override
        ("title", "Food business permit\u2067"),  # an isolate
        ("service_item", "440300-SCJG-0107\u200b"),  # a zero-width space: another item's code on screen
        ("service_item", "440300-SCJG-\u00ad0107"),  # a soft hyphen
        ("service_item", "440300-SCJG-0107\ufe0f"),  # a selector varying an ASCII digit
        ("title", "\u0391\u03b8\u200d\u03ae\u03bd\u03b1 food permit"),  # a joiner between Greek letters
        ("title", "\u79d1\u200d\u82d1 food permit"),  # and between Han characters
        ("title", "Food\u3164permit"),  # a Hangul filler
        ("title", "Food permit \ue000"),  # private use
    ],
)
def test_the_court_refuses_a_rule_set_that_displays_as_another_as_the_library_does(key: str, text: str) -> None:
    """Adversary: a department publishing a rule set past the library, its item code or title holding a character
    that displays as nothing or reorders the text (so one item's code reads as another's). Round 71 made the library's
    loader refuse it, so the library's bundle verifier fails the re-run of every decision under it; the court's
    verifier held the two to being non-empty text and re-ran the decision to "as recorded". Both refuse it now."""
    document = _permit_rules() | {key: text}
    with pytest.raises(InputError, match=key):
        load_rule_set(document)
    with pytest.raises(SCRIPT_MODULE.Failure, match=key):
        SCRIPT_MODULE.rule_set_problem(json.loads(json.dumps(document)))


@pytest.mark.parametrize("word", [*JOINED_FOR_A_REASON, "\u79d1\u82d1\u8def\u3000\u845b\U000e0100\u98fe", "Caf\u00e9"])
def test_the_court_takes_a_rule_set_title_the_library_takes(word: str) -> None:
    """The other side: a title in the joining scripts, an Indic conjunct, an emoji sequence or CJK with an
    ideographic variant loads in the library and passes the court."""
    document = _permit_rules() | {"title": f"Food business permit {word}"}
    load_rule_set(document)
    SCRIPT_MODULE.rule_set_problem(json.loads(json.dumps(document)))


_TRICKY = [
    *"\u200d\u200c\ufe0f\u034f\u3164\u202e\u200b\x00\u2028\u3000\u00a0\ue000\u79d1\ud55c\u0915\u094d\u0645\u06cc",
    *"\u0627\u0640\u064e\u072b\u182e\u180b\u0394\u0416\u05d0\u0e01\u00e9\u2764\U0001f468\U0001f3fd\U000e0100a -",
]


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from(_TRICKY) | st.characters(), max_size=10))
def test_the_courts_display_check_agrees_with_the_librarys(text: str) -> None:
    """Adversary: a rule set's author crafting an item code or title one display check takes and the other refuses
    (the court's verifier keeps its own copy of the library's): both name the same first hidden character, or none."""
    assert SCRIPT_MODULE.display_hidden(text) == hidden_character(text)


def test_the_courts_joining_types_are_the_librarys() -> None:
    """The court's copies of Unicode's joining types and of the display check's tables are the library's."""
    from ledger.formats import displayed

    assert SCRIPT_MODULE.DISPLAY_JOINING_TYPE_RANGES == displayed._JOINING_TYPE_RANGES
    assert SCRIPT_MODULE.DISPLAY_SELECTORS == displayed._SELECTOR_RANGES
    assert SCRIPT_MODULE.DISPLAY_IGNORABLES == displayed._IGNORABLE_RANGES
    assert (
        set(SCRIPT_MODULE.DISPLAY_HIDDEN_CATEGORIES) == displayed._HIDDEN_CATEGORIES | displayed._UNASSIGNED_CATEGORIES
    )
    assert set(SCRIPT_MODULE.DISPLAY_JOINERS) == displayed._JOINERS
    assert [SCRIPT_MODULE.joining_type(c) for c in "\u0628\u0627\ua872\u0640\u064e\U0001e94b\U0001171e\u0394"] == [
        displayed.joining_type(c) for c in "\u0628\u0627\ua872\u0640\u064e\U0001e94b\U0001171e\u0394"
    ]


_PRODUCES_VALUES = {
    "type": st.sampled_from(["food-business-permit", "tax-clearance", "id-card", "residence-note", "Permit", "", 7]),
    "valid_days": st.sampled_from([1, 1826, 36_600, 0, 36_601, True, "1826", 1.5]),
    "holder": st.sampled_from(["credit_code", "id_number", "holder_id", "name", None]),
    "fields": st.dictionaries(
        st.sampled_from(["premises", "name", "credit_code", "produced_by", "Name", "x" * 65]),
        st.sampled_from(
            [
                "application.premises",
                "service_item",
                "case_id",
                "certificate.business-licence.subject.name",
                "applicant",
                "certificate.business-licence",
                "issuer.key",
                "item.onsite_reason",
                3,
            ]
        ),
        max_size=3,
    ),
    "id_prefix": st.sampled_from(["FBP", "F-1", "fbp", "FOOD-BUSINESS-PERMIT", "", 1]),
}


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional=_PRODUCES_VALUES))
def test_the_court_and_the_library_agree_on_any_produces(produces: dict[str, Any]) -> None:
    """Adversary: a department publishing a rule set past the library, looking for a ``produces`` one verifier takes
    and the other refuses: for any mix of well-formed and malformed members, both take it or both refuse it."""
    document = _permit_rules() | {"produces": produces}
    try:
        load_rule_set(document)
        library = True
    except InputError:
        library = False
    try:
        SCRIPT_MODULE.rule_set_problem(json.loads(json.dumps(document)))
        court = True
    except SCRIPT_MODULE.Failure:
        court = False
    assert library == court, (produces, library, court)
