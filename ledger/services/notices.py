"""Decision notices: what the applicant is handed, verifiable like any certificate.

Approve-in-seconds ends with something in the applicant's hands. A notice is a certificate of type
``decision-notice`` issued by the deciding department (which therefore needs the issuer role too) and anchored like
any other: ``ledger verify notice.json`` checks it without calling the department. It states the outcome, each
reason as its code, in words (the rule set's display text in the applicant's language) and with its legal basis,
how to ask for a review (the rule set's words in that language), and the
decision it reports (department, sequence number, entry hash: ``ledger evidence --decision`` proves that entry).
It names the applicant only by the salted applicant reference the decision recorded.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from ..errors import InputError, NotFoundError, StateError
from ..formats.certificate import validate_record
from ..formats.i18n import LANGUAGES, text
from . import decisions, issuance

if TYPE_CHECKING:
    from ..client import Ledger

__all__ = ["NOTICE_TYPE", "issue_notice", "notice_record", "withdraw_replaced"]

NOTICE_TYPE = issuance.NOTICE_TYPE  # issuance refuses it from any other writer than this module


def _language(language: str) -> str:
    if language not in LANGUAGES:
        raise InputError(f"notice language {language!r} is not one of {list(LANGUAGES)}", field="language")
    return language


def _notice_id(department: str, seq: int, language: str) -> str:
    # one notice per decision and language; the English one keeps the id notices had before languages
    return f"NOTICE-{department}-{seq}" + ("" if language == "en" else f"-{language}")


def notice_record(
    department: str, decision: decisions.Decision, rule_set: Any | None, language: str = "en"
) -> dict[str, Any]:
    """The input record of the notice of ``decision`` in ``language`` ("en" or "zh-CN"; ``rule_set``: the rule set
    it applied, if any). Each reason's text and the review are the rule set's words in that language (its
    ``reason_texts``, ``review_texts``), else its English words, else the library's."""
    language = _language(language)
    body = decision.body
    listed = body.get("reasons")
    if not isinstance(listed, list) or not all(isinstance(r, str) for r in listed):
        raise StateError(
            f"decision {decision.seq} of {department} records no list of reason codes ({listed!r:.80}), which the "
            f"ledger never writes: its entry was edited in the database (`ledger replay --department {department}` "
            "names it); no notice is issued for it"
        )
    basis = legal if isinstance(legal := body.get("legal_basis"), dict) else {}

    def words(reason: str) -> str | None:
        if rule_set is None:
            return None
        return rule_set.reason_text(reason, language) or rule_set.reason_text(reason, "en")

    reasons = [{"code": reason, "text": words(reason), "legal_basis": basis.get(reason)} for reason in listed]
    review = None
    if rule_set is not None:
        review = rule_set.review_text(language) or rule_set.review_text("en")
    decided_by = by if isinstance(by := body.get("decided_by"), dict) else {}
    return {
        "id": _notice_id(department, decision.seq, language),
        "type": NOTICE_TYPE,
        "subject": {
            "case_id": body.get("case_id"),
            "service_item": body.get("service_item"),
            "outcome": body.get("outcome"),
            "reasons": reasons,
            "decided_at": body.get("decided_at"),
            "decided_by": decided_by.get("kind"),
            "applicant_ref": body.get("applicant_ref"),
            "decision": {"department": department, "seq": decision.seq, "entry_hash": decision.entry_hash},
            "rule_set": body.get("rule_set"),
            "language": language,
            "review": review or text(language, "notice.review_default"),
        },
    }


# The checks of the decision's evidence bundle that say its record is the one the department anchored: the body
# hashes to its entry hash, the entry is in a batch whose root the department signed and anchored on the chain.
_RECORD_CHECKS = ("entry_hash", "merkle_proof", "anchor_event", "transaction", "block", "department_key", "signature")


def _attested(ledger: Ledger, department: str, decision: decisions.Decision) -> decisions.Decision:
    """``decision`` once its record is checked against the chain as a court would check its evidence bundle: the
    decisions log anchored first (a notice names the decision by entry hash; the applicant can check that name only
    once the chain holds it), then the bundle verified. StateError when the record in the database is not the one
    anchored (an insider's edit): no notice certifies it."""
    from . import evidence, logchain

    logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, department)
    bundle = evidence.decision_bundle(ledger, department, str(decision.body.get("case_id")), seq=decision.seq)
    report = evidence.verify_bundle(bundle, ledger.chain)
    failed = [c for c in report.checks if c.name in _RECORD_CHECKS and not c.ok]
    if failed:
        raise StateError(
            f"decision {decision.seq} of {department!r} does not match its anchored record "
            f"({'; '.join(f'{c.name}: {c.detail}' for c in failed)}); no notice is issued. "
            f"Run `ledger replay --department {department}` to see what was changed"
        )
    return decisions.Decision(department, decision.seq, bundle["decision"]["entry_hash"], bundle["decision"]["body"])


def _refuse_hidden_later(ledger: Ledger, department: str, case_id: str, indexed: decisions.Decision) -> None:
    """StateError when an entry after ``indexed`` (the case's latest decision its index finds) names the case with
    another index key than the case's. The key (``LogEntry.lookup``) is the database's word, outside the entry hash:
    an insider who cleared a refusal's had the approval it withdrew taken for the decision in force, and its
    "approve" notice issued (red team round 34a). The entries after ``indexed`` are read by their text (the case id
    as the canonical body writes it; usually a few rows: a notice is asked for soon after its decision) and parsed
    to be sure; one that names the case but cannot be read fails the request, as :func:`decisions.find_decisions`
    does."""
    from sqlalchemy import select
    from sqlmodel import col

    from ..formats.canonical import canonical_json
    from .logchain import LOG_DECISIONS, LogEntry, read_body

    named = '"case_id":' + canonical_json(case_id).decode("utf-8")
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(col(LogEntry.seq), col(LogEntry.body))
            .where(
                col(LogEntry.log) == LOG_DECISIONS,
                col(LogEntry.department_id) == department,
                col(LogEntry.seq) > indexed.seq,
                col(LogEntry.body).contains(named, autoescape=True),
            )
            .order_by(col(LogEntry.seq))
        ).all()
    for seq, stored in rows:
        if read_body(stored, LOG_DECISIONS, department, seq).get("case_id") == case_id:
            raise StateError(
                f"entry {seq} of {department}'s decisions log is a later decision of case {case_id!r} than decision "
                f"{indexed.seq}, which the case's index leads to: the database's index of cases was edited (`ledger "
                f"replay --department {department}` reports index_altered); no notice of the case is issued until "
                "the index is restored"
            )


def issue_notice(
    ledger: Ledger, department: str, case_id: str, *, seq: int | None = None, language: str = "en"
) -> dict[str, Any]:
    """The notice (a certificate document) of ``department``'s decision on ``case_id`` (its latest, or number
    ``seq``) in ``language``: issued and anchored now, or the one issued before for the same decision and
    language. StateError for a decision a later decision of the case replaced."""
    language = _language(language)
    found = decisions.find_decisions(ledger, department, case_id)  # read once: the decision and the latest
    decision = decisions.find_decision(ledger, department, case_id, seq, among=found)
    latest = decisions.find_decision(ledger, department, case_id, among=found)
    _refuse_hidden_later(ledger, department, case_id, latest)
    if latest.seq != decision.seq:
        # a notice certifies its decision with nothing saying it was replaced: issued now for a withdrawn approval,
        # every verifier would call an "approve" valid after the refusal that overrode it
        raise StateError(
            f"decision {decision.seq} of case {case_id!r} was replaced by decision {latest.seq} "
            f"({latest.body.get('outcome')}); a notice is issued only for the decision in force: "
            f"`ledger notice {case_id} -d {department}` (without --seq)"
        )
    notice_id = _notice_id(department, decision.seq, language)
    try:
        issued = issuance.export_document(ledger, notice_id, department)
    except (NotFoundError, InputError):
        pass  # not issued yet (or its batch still pending: issuing again resumes nothing, so fall through)
    else:
        fields = issued.get("fields")
        fields = fields if isinstance(fields, dict) else {}
        if fields.get("type") != NOTICE_TYPE or fields.get("subject.case_id") != case_id:
            # a certificate of another kind (or case) under the id this notice takes: handed over as the notice, it
            # gave the applicant another document (another person's fields), and no notice can be issued under it
            raise StateError(
                f"certificate {notice_id!r} of {department} is not a notice of case {case_id!r} (a "
                f"{fields.get('type')!r}): the id a notice of decision {decision.seq} takes is another certificate's, "
                "so no notice is issued under it; give that certificate another id (revoke it and issue it again)"
            )
        return issued
    issuance.check_can_issue(ledger, department)  # the notice is a certificate of the deciding department
    decision = _attested(ledger, department, decision)
    rule_set = None
    digest = decision.body.get("rule_set")
    if isinstance(digest, str):
        rule_set, _why = decisions.load_recorded_rule_set(ledger, digest)
    record = validate_record(notice_record(department, decision, rule_set, language), 1, department=department)
    out = io.StringIO()
    issuance.issue_records(ledger, [record], department, out=out, decision_notice=True)
    return json.loads(out.getvalue().splitlines()[0])  # type: ignore[no-any-return]


def withdraw_replaced(ledger: Ledger, department: str, case_id: str, replaced: int, outcome: str, by: int) -> list[str]:
    """Revoke the notices standing on chain of the decisions of ``case_id`` before decision ``by`` (which replaced
    decision ``replaced``) that state another ``outcome`` than it: a withdrawn approval's "approve" notice would stay
    valid for every verifier after the refusal, and so would the notice of an approval an officer had confirmed
    before the refusal replaced the confirmation (red team round 34a); a decision of the same outcome leaves them.
    Only certificates of the notice type are notices (another certificate given a notice's id is left alone).
    Returns the revocation transactions. Whether a notice still stands is the chain's word."""
    from sqlalchemy import select
    from sqlmodel import col

    from ..errors import LedgerError
    from ..storage.store import Certificate
    from . import permits, status

    earlier = {d.seq: d for d in decisions.find_decisions(ledger, department, case_id) if d.seq < by}
    if replaced not in earlier:
        earlier[replaced] = decisions.find_decision(ledger, department, case_id, replaced)
    ended = sorted(seq for seq, d in earlier.items() if d.body.get("outcome") != outcome)
    if not ended:
        return []
    ids = {_notice_id(department, seq, language): seq for seq in ended for language in LANGUAGES}
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            select(col(Certificate.digest), col(Certificate.certificate_id)).where(
                col(Certificate.department_id) == department,
                col(Certificate.certificate_id).in_(list(ids)),
                col(Certificate.cert_type) == NOTICE_TYPE,
            )
        ).all()
    digests = {digest: ids[notice] for digest, notice in rows}
    standing = permits.chain_statuses(ledger, department, digests)
    done = []
    for digest, seq in digests.items():
        # only the chain's word that it ended leaves a notice alone: one the store calls unsent ("absent": its batch
        # row not confirmed, which an insider edits, or a notice whose anchoring `ledger resume` would still finish)
        # is revoked, or the error says so (red team round 34a: it was left standing without a word)
        if standing.get(digest) in ("revoked", "superseded"):
            continue
        try:
            done.append(
                status.revoke(
                    ledger, digest, "data-changed", department, note=f"decision {seq} replaced by decision {by}"
                )
            )
        except LedgerError as exc:
            raise StateError(
                f"decision {by} replaces decision {seq} but the revocation of its notice {digest} failed "
                f"({exc}); run `ledger revoke {digest} --reason data-changed`"
            ) from exc
    return done
