"""Gateway glue over the library: shaping issuance and public verification for HTTP. No rules live here."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from ledger.client import Ledger
from ledger.errors import ChainError, ErasedError, InputError, NotAnchoredError, NotFoundError
from ledger.formats import checks as checks_core
from ledger.formats.canonical import (
    CERT_FORMAT,
    CERT_PREFIX,
    CERT_TAG,
    FIELD_PREFIX,
    NATIVE,
    SALT_BYTES,
    canonical_json,
    hex32,
    parse_hex32,
)
from ledger.formats.certificate import ALWAYS_DISCLOSED, REQUIRED_DISCLOSED, validate_record
from ledger.formats.reasons import REASON_NAMES
from ledger.onchain.deadline import chain_limit
from ledger.services import erasure, logchain, statuslist
from ledger.services.departments import get_department
from ledger.services.issuance import check_can_issue, export_document, issue_records, stored_anchor
from ledger.services.verify import GENESIS_RECHECK, STATUS_NAMES, ChainView, Report, verify_certificate, verify_digest
from ledger.storage.store import Certificate

from .models import CheckPublic, DecisionCreate, DecisionPublic, IssuedCertificate, IssuePublic

try:
    import orjson
except ImportError:  # pragma: no cover - a dependency; the standard library gives the same JSON, slower
    orjson = None  # type: ignore[assignment]


def issue(ledger: Ledger, department: str, raw_records: list[dict[str, Any]], *, limit: int) -> IssuePublic:
    """Validate every record first (nothing is issued if one is wrong), then issue them in one or more batches."""
    if len(raw_records) > limit:
        raise InputError(
            f"{len(raw_records)} records in one request; at most {limit} (split the request)", field="records"
        )
    check_can_issue(ledger, department)
    limit_bytes = ledger.settings.max_record_bytes
    for i, raw in enumerate(raw_records):
        # a lone surrogate ("\ud800", valid JSON) has no UTF-8: measured as written, so the record's own check
        # below refuses it naming its field (a strict encode raised here, a 500: red team round 74)
        size = len(json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass"))
        if size > limit_bytes:
            raise InputError(f"record is {size} bytes; the limit is {limit_bytes}", line=i + 1, field="records")
    records = [validate_record(raw, i + 1, department=department) for i, raw in enumerate(raw_records)]
    ids = [r.certificate_id for r in records]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise InputError(f"certificate ids repeat within the request: {repeated[:10]}", field="records")
    with ledger.engine.connect() as conn:
        existing = sorted(
            r[0]
            for r in conn.execute(
                select(col(Certificate.certificate_id)).where(
                    col(Certificate.department_id) == department, col(Certificate.certificate_id).in_(ids)
                )
            )
        )
    if existing:
        raise InputError(f"certificate ids already issued by {department}: {existing[:10]}", field="records")
    out = io.StringIO()
    result = issue_records(ledger, records, department, out=out)
    issued = [json.loads(line) for line in out.getvalue().splitlines() if line]
    return IssuePublic(
        department=department,
        batches=result.batches,
        transactions=result.transactions,
        certificates=[IssuedCertificate(id=d["fields"]["id"], digest=d["digest"]) for d in issued],
    )


# The hash-chained logs the ledger keeps: an auditor names one of them, or nothing at all is there to check.
LEDGER_LOGS = (logchain.LOG_DECISIONS, logchain.LOG_ACCESS, logchain.LOG_ERASURES)


def kept_log(log: str) -> str:
    """``log`` when the ledger keeps a log of that name; else NotFoundError naming the logs it keeps."""
    if log not in LEDGER_LOGS:
        raise NotFoundError(f"the ledger keeps no log named {log!r}; its logs are {', '.join(LEDGER_LOGS)}")
    return log


def checkable_log(ledger: Ledger, log: str, department: str) -> None:
    """Refuse a log check that could only answer "intact" because nothing is there: a log the ledger does not keep,
    or a department the registry does not know holding no entry in it (NotFoundError, as the auditors' report
    refuses an unregistered department). Any name and code was checked as written, so a link one letter off
    (``decision``, ``mkt``) called a log that does not exist intact (red team round 74). Entries stored under a
    code nobody registered (written past the ledger) are checked, so the check reports them (round 42)."""
    kept_log(log)
    if next(iter(logchain.entries(ledger, log, department, limit=1)), None) is not None:
        return
    get_department(ledger.chain, department)  # NotFoundError: not registered; InputError: no department's code


def decide(ledger: Ledger, department: str, body: DecisionCreate) -> DecisionPublic:
    """One automatic decision (decisions.decide_once), its permit's document when it issued one, and the decision
    log anchored at once when asked."""
    from ledger.services import decisions, logchain, permits

    decision = decisions.decide_once(
        ledger, department, body.case_id, body.service_item, body.input, body.rule_set, applicant_ref=body.applicant_ref
    )
    issued = decision.body.get("issued")
    documents = permits.documents(ledger, [issued["certificate"]]) if isinstance(issued, dict) else []
    anchored = logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, department) if body.anchor else []
    b = decision.body
    return DecisionPublic(
        department=department,
        seq=decision.seq,
        entry_hash=decision.entry_hash,
        case_id=b["case_id"],
        service_item=b["service_item"],
        outcome=b["outcome"],
        reasons=list(b["reasons"]),
        legal_basis=b.get("legal_basis"),
        decided_at=b["decided_at"],
        rule_set=b["rule_set"],
        as_of_block=b["as_of_block"],
        certificates=list(b["certificates"]),
        issued=issued,
        documents=documents,
        anchored=list(anchored),
    )


def anchor_decisions(ledger: Ledger) -> dict[str, list[str] | str]:
    """Anchor every department's pending decision-log entries (the periodic round, like the access logs): the
    roots per department, or the error that kept one department's entries pending for the next round."""
    from ledger.errors import LedgerError
    from ledger.services import logchain

    done: dict[str, list[str] | str] = {}
    for pending in logchain.unanchored(ledger, logchain.LOG_DECISIONS):
        try:
            roots = logchain.anchor_pending(ledger, logchain.LOG_DECISIONS, pending.department)
        except LedgerError as exc:
            done[pending.department] = exc.local_message()  # for the gateway's log, never an answer
            continue
        if roots:
            done[pending.department] = roots
    return done


def checks(report: Report) -> list[CheckPublic]:
    return [CheckPublic(**c.to_json()) for c in report.checks]


# What a digest alone may learn (docs/api.md, "What a digest reveals"): the chain's facts about it - anchored, by
# which department and key, signed, confirmed, its status - never a date or value from the certificate's fields
# (validity dates may be a date of birth) nor how many fields it has. ``witnessed`` names only blocks and witnesses.
DIGEST_ONLY_CHECKS = frozenset(
    {
        "chain",
        "merkle_proof",
        "anchored",
        "confirmations",
        "issuer",
        "department_key",
        "signature",
        "type_authority",
        "status",
        "validity",
        "witnessed",
    }
)
# type_authority's detail names the certificate's type, a field: a digest-only caller gets its verdict in words
# that name none.
_DIGEST_ONLY_DETAIL = {
    "type_authority": (
        "the department was not authorized for the certificate's type at the anchoring block",
        "the department was authorized for the certificate's type at the anchoring block",
    )
}


def public_fields(report: Report, *, digest_only: bool = False, erased: bool | None = None) -> dict[str, Any]:
    """The public form of a report as plain JSON values (the ``PublicReport`` schema): verified or not, each check,
    status, issuer and the block it is as of; never a field of the certificate. For a caller who sent only a
    digest, only the chain's checks (``DIGEST_ONLY_CHECKS``), and "verified" means those passed; ``erased``: whether
    the issuer erased the certificate's contents (None: not looked up, a file is verified against the chain
    alone)."""
    facts = report.facts
    if digest_only:
        checks = [c for c in report.checks if c.name in DIGEST_ONLY_CHECKS]
        unproven = facts.get("unproven", ())  # its detail says why the fact was not established, naming none
        verified = all(c.ok for c in checks)
        listed = [
            {
                "name": c.name,
                "ok": c.ok,
                "skipped": c.skipped,
                "detail": _DIGEST_ONLY_DETAIL[c.name][c.ok]
                if c.name in _DIGEST_ONLY_DETAIL and not c.skipped and c.name not in unproven
                else checks_core.validity_words(c.detail, c.ok)
                if c.name == "validity" and not c.skipped
                else c.detail,
            }
            for c in checks
        ]
    else:
        verified = report.ok
        listed = [{"name": c.name, "ok": c.ok, "skipped": c.skipped, "detail": c.detail} for c in report.checks]
    return {
        "verified": verified,
        "digest": report.digest,
        "status": facts.get("status"),
        "issuer": facts.get("department"),
        "as_of_block": report.as_of_block,
        "erased": erased,
        "checks": listed,
    }


def public_report(
    ledger: Ledger,
    view: ChainView,
    *,
    document: dict[str, Any] | None,
    digest: str | None,
    refresh: bool = True,
    base: str | None = None,
) -> dict[str, Any]:
    """Verify a certificate file, or the stored certificate with this digest; reveal status, never fields.

    Reads the chain: with ``refresh`` the head is read afresh (and the status index brought up to it) before
    verifying, as for a certificate the gateway has not verified before. ``fast_public_report`` is the
    from-memory form. ``base``: the gateway's public URL, where the status lists a credential names are its own
    (default: ``LEDGER_API_PUBLIC_URL`` as the ledger's settings read it). Every read of the chain, the head's and
    the status lists' too, within the chain's time limit (``LEDGER_VERIFY_SECONDS``: a slow node holds no worker
    thread longer, red team round 66)."""
    with chain_limit(view.chain):
        return _public_report(ledger, view, document=document, digest=digest, refresh=refresh, base=base)


def _public_report(
    ledger: Ledger,
    view: ChainView,
    *,
    document: dict[str, Any] | None,
    digest: str | None,
    refresh: bool,
    base: str | None,
) -> dict[str, Any]:
    if document is not None and digest is None:
        if refresh:
            fresh_head(view)
        # a credential's status list entries are checked as `ledger verify` checks them (statuslist.checked_report)
        report = statuslist.checked_report(
            ledger,
            verify_certificate(document, view),
            document,
            view,
            base=base if base is not None else statuslist.default_base(ledger.settings),
        )
        return public_fields(report)
    if document is not None or digest is None:
        raise InputError("send either the certificate document or its digest", field="document")
    key = hex32(parse_hex32(digest))
    try:
        document = export_document(ledger, key)
    except (NotFoundError, NotAnchoredError):
        # a certificate stored but not anchored yet is nothing a client can verify, and nobody outside the ledger was
        # given it: answered as a digest the ledger never issued, naming no batch state and no operator's command
        # (noticed by red team round 80)
        raise NotFoundError(f"no certificate with digest {key} is anchored through this ledger") from None
    except ErasedError:  # its contents are gone, not its anchor: the chain's facts from where it was anchored
        anchored = stored_anchor(ledger, key)
        # the store's issuer and type columns are not bound to the digest any more: only the issuer's anchored
        # erasure entry is believed (a retyped or moved row fails closed)
        attributed = erasure.attribution(ledger, key, anchored.issuer)
        if refresh:
            fresh_head(view)
        report = verify_digest(
            key,
            anchored.anchor,
            view,
            issuer=attributed.issuer,
            certificate_type=attributed.certificate_type,
            unproven=attributed.unproven,
        )
        return public_fields(report, digest_only=True, erased=True)
    if refresh:
        fresh_head(view)
    return public_fields(verify_certificate(document, view, rebuilt=True), digest_only=True, erased=False)


def fresh_head(view: ChainView) -> None:
    """Read the head now (a request that reads the chain sees the latest block, as with no head reuse); if the
    chain cannot be read, verification itself reports that."""
    try:
        view.refresh()
    except ChainError:
        pass


def batch_root(document: Any) -> bytes | None:
    """The batch root a certificate file names, or None when it names none readable."""
    anchor = document.get("anchor") if isinstance(document, dict) else None
    root = anchor.get("root") if isinstance(anchor, dict) else None
    if not isinstance(root, str):
        return None
    try:
        return parse_hex32(root, "anchor.root")
    except InputError:
        return None


SMALL_DOCUMENT_FIELDS = 64


def small_document(document: dict[str, Any]) -> bool:
    """Whether verifying ``document`` is cheap enough for the event loop: at most ``SMALL_DOCUMENT_FIELDS``
    disclosed plus hidden fields and a proof of at most 64 hashes (a real certificate has tens)."""
    fields, hidden = document.get("fields"), document.get("hidden")
    count = (len(fields) if isinstance(fields, dict) else 0) + (len(hidden) if isinstance(hidden, dict) else 0)
    return count <= SMALL_DOCUMENT_FIELDS


def fast_public_report(view: ChainView, document: dict[str, Any]) -> dict[str, Any] | None:
    """The public report of a certificate file verified from memory (no chain read, no I/O), or None when that
    needs the chain: its batch has not been verified here before, the head is older than the view's
    ``max_head_age`` or the status index is not synced to it. The report is the one ``public_report`` gives
    as of the same block."""
    root = batch_root(document)
    fields = document.get("fields")
    issuer = fields.get("issuer") if isinstance(fields, dict) else None
    if root is None or not isinstance(issuer, str) or view.warm_head(issuer, root) is None:
        return None
    return public_fields(verify_certificate(document, view))


_NATIVE_REPORT = getattr(NATIVE, "public_report", None)  # None: not built, or a build older than it
_NATIVE_ANSWER = getattr(NATIVE, "public_answer", None)


def fast_public_bytes(view: ChainView, document: dict[str, Any], *, now: datetime | None = None) -> bytes | None:
    """``json_bytes(fast_public_report(view, document))`` in one native call (``_hashcore.public_answer``), or
    None when that call does not handle the document, the document is not small (:func:`small_document`: the
    route verifies it in a worker thread) or the view is not warm: the caller then runs
    :func:`fast_public_report`, the reference. It answers only the usual case (the published shape, every check
    but status and validity passing, every fact in the view's memory) and reads each fact from the view at the
    call, as the reference does: the status index as of the last sync, which the head it reports is synced to
    (``ChainView.warm``'s condition, read natively); nothing is kept between calls. tests/test_public_verify_native.py
    compares the two. Validity is judged at ``now`` (a test's moment) or, by default, at the system clock's
    microsecond, read by the native call itself (``datetime.now(UTC)``'s instant)."""
    if _NATIVE_REPORT is None or view.witness is not None:  # a witness's check is the reference's to make
        return None
    if now is None:
        context = view.public_report_context
        if context is None:
            context = view.public_report_context = _native_context(view)
        if _NATIVE_ANSWER is not None:  # warm, small and answered in the one call
            return _NATIVE_ANSWER(document, view, context)  # type: ignore[no-any-return]
    else:
        context = _native_context(view, now)
    if not small_document(document):
        return None
    head = view.warm()
    if head is None:
        return None
    answer: bytes | None = _NATIVE_REPORT(document, view, head, context)
    return answer


def _native_context(view: ChainView, now: datetime | None = None) -> tuple[Any, ...]:
    """The constants ``_hashcore.public_report`` reads (its CTX_* order): the document format and hashing
    parameters, the one text of a passing "chain" check, the recorded genesis, the disclosure lists, the reason
    vocabulary by its 32-byte on-chain word, the clock validity is judged by (as a datetime, for the view's own
    code; as microseconds since 1970, None for the system clock read natively), the status names, the type of the
    validity windows the view keeps (``ChainView.validity_window``: read natively when it holds the verdict), the
    most fields a document answered on the event loop has, and ``ChainView.warm``'s genesis recheck interval."""
    chain = view.chain
    deployment = chain.deployment
    chain_check = {
        "name": "chain",
        "ok": True,
        "skipped": False,
        "detail": f"chain {chain.chain_id}, anchor contract {deployment.anchor}",
    }
    return (
        CERT_FORMAT,
        2 * SALT_BYTES,
        FIELD_PREFIX,
        SALT_BYTES,
        canonical_json,
        CERT_PREFIX,
        chain.chain_id,
        deployment.anchor.lower(),
        deployment.registry.lower(),
        json_bytes(chain_check),
        deployment.genesis_hash.lower(),
        ALWAYS_DISCLOSED,
        REQUIRED_DISCLOSED,
        {code.to_bytes(32, "big"): name for code, name in REASON_NAMES.items()},
        partial(datetime.now, UTC) if now is None else (lambda: now),
        STATUS_NAMES,
        None if now is None else (lambda: checks_core.instant_us(now)),
        checks_core.ValidityWindow,
        SMALL_DOCUMENT_FIELDS,
        GENESIS_RECHECK,
        CERT_TAG,
    )


def _default(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_bytes(data: Any) -> bytes:
    """Compact UTF-8 JSON: orjson when it can encode ``data``, else the standard library with every non-ASCII
    character escaped (e.g. a lone surrogate echoed from a tampered document, which UTF-8 cannot carry)."""
    if orjson is not None:
        try:
            return orjson.dumps(data)
        except TypeError:
            pass
    return json.dumps(data, ensure_ascii=True, separators=(",", ":"), default=_default).encode()
