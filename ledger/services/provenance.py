"""The provenance of one certificate as a timeline: issuance, anchoring, signature, sharing, accesses, decisions
that used it, and status changes (suspension, revocation, supersession) - each with where the fact comes from.

Chain facts (anchoring, signature, status changes) are read from the contracts' events, not from the database, so
the timeline shows what a verifier would see. ``private=False`` gives the public view (for citizens and courts):
chain facts and the certificate's type and issuer only - no certificate id, no grants, no accesses, no decisions.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from eth_utils.crypto import keccak
from sqlalchemy import func, select
from sqlmodel import col

from ..client import Ledger
from ..errors import ChainError, InputError, LedgerError, NotFoundError, StateError
from ..formats import checks as checks_core
from ..formats.canonical import certificate_digest, field_hashes, hex32, parse_hex32
from ..formats.i18n import LANGUAGES, says, status_word
from ..formats.reasons import reason_name
from ..onchain import chainread
from ..onchain.deadline import chain_limit
from ..onchain.ids import ROLE_ISSUER, department_id_bytes
from ..storage import generations
from ..storage.models import given_time
from ..storage.store import BATCH_HEAD, RUN_BYTES, Batch, BatchState, Certificate, StatusChange, run_proof, run_start
from ..storage.vault import ERASED
from .issuance import check_custodian
from .verify import could_act_in


def _iso(value: datetime | int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        value = datetime.fromtimestamp(value, UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _stored_iso(text: object) -> str | None:
    """A time the store's row holds as text (``Certificate.issued_at``), or None when an edit left no time there
    (the event is still shown, its time unknown: a row's edit must not fail the whole timeline)."""
    try:
        return _iso(datetime.fromisoformat(str(text).replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        return None


class _Blocks:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._times: dict[int, int] = {}

    def time(self, number: int) -> int:
        if number not in self._times:
            self._times[number] = int(self.ledger.chain.w3.eth.get_block(number)["timestamp"])
        return self._times[number]


# Reads of a certificate its full timeline lists (a page of GET /certificates/{digest}/accesses): past them, an
# ``accesses_more`` event says where the listing goes on.
TIMELINE_READS = 1_000


def _event(kind: str, at: str | None, summary: dict[str, str], source: str, **details: Any) -> dict[str, Any]:
    """An event; ``summary`` in every language (``i18n.says``): ``summary`` is the English, ``summaries`` all."""
    return {
        "kind": kind,
        "at": at,
        "summary": summary["en"],
        "summaries": summary,
        "source": source,
        **{k: v for k, v in details.items() if v is not None},
    }


def _outcome(outcome: Any) -> dict[str, str]:
    """An outcome in each language; the English keeps the recorded code (``approve``), as the summary always had."""
    return {
        language: str(outcome) if language == "en" else status_word(language, str(outcome)) for language in LANGUAGES
    }


def _status_history(ledger: Ledger, department: str, root: bytes, digest: bytes) -> list[Any]:
    """The anchor contract's status history of (department, root, digest), oldest first: (status, block, time,
    detail) per change. Its last entry is what ``statusOf`` answers (the contract reads it there)."""
    chain = ledger.chain
    return list(chain.call(chain.anchor.functions.statusHistory(department_id_bytes(department), root, digest)))


def _elsewhere(
    ledger: Ledger, department: str, root: bytes, digest: bytes, history: list[Any]
) -> tuple[tuple[bytes, Any] | None, tuple[bytes, list[Any]] | None]:
    """What ``department`` made of certificate ``digest`` under another of its roots than ``root`` (the same digest
    anchored again is the same certificate): (that root and its revocation or supersession, while its own
    ``history`` there is not ended; that root and its suspensions and reinstatements), each None when there is
    none. ``endedUnder`` and ``heldUnder`` are read in one JSON-RPC batch (as ``ChainView.elsewhere`` reads them),
    then the status history of a root they name (CertificateAnchor 2.1.0 and 2.2.0, red team rounds 42 and 47)."""
    chain, dept = ledger.chain, department_id_bytes(department)
    fns = chain.anchor.functions
    ended_root, held_root = (
        bytes(r) for r in chain.call_many([fns.endedUnder(dept, digest), fns.heldUnder(dept, digest)])
    )
    ended = None
    if ended_root not in (bytes(32), root) and not (history and int(history[-1][0]) in (2, 3)):
        terminal = [c for c in _status_history(ledger, department, ended_root, digest) if int(c[0]) in (2, 3)]
        ended = (ended_root, terminal[0]) if terminal else None
    held = None
    if held_root not in (bytes(32), root):
        changes = [c for c in _status_history(ledger, department, held_root, digest) if int(c[0]) in (0, 1)]
        held = (held_root, changes) if changes else None
    return ended, held


def _change_blocks(history: list[Any]) -> list[int]:
    """The blocks a status history records a change in, oldest first: the only blocks whose status events can name
    that certificate."""
    return sorted({int(change[1]) for change in history})


# a status change's code in the contract's status history, and the kind of event a timeline lists for it
_CHANGE_KINDS = {0: "reinstated", 1: "suspended", 2: "revoked", 3: "superseded"}
_ALL_KINDS = frozenset(_CHANGE_KINDS.values())


def _status_events(
    ledger: Ledger,
    department: str,
    root: bytes,
    digest: bytes,
    blocks: _Blocks,
    history: list[Any],
    kinds: frozenset[str] = _ALL_KINDS,
) -> list[dict[str, Any]]:
    """The certificate's status events of ``kinds``: only those of its issuer's batch (department, root, digest),
    so a copy of the digest in another department's batch never shows here. Only the blocks the contract's status
    history of the certificate names are read, and for the certificate it supersedes, the block its own history
    names: the cost of a timeline is its certificate's changes, not the chain's age (the whole chain was scanned
    six times).

    The events listed are the changes of ``history`` of those kinds, one for one (kind, block, reason or
    successor) and in their order, or a ChainError: a node made one up, left one out or reordered them in its
    ``eth_getLogs`` answers, and the page would list a reinstatement under a status of suspended, or no revocation
    under revoked (red team round 72)."""
    chain = ledger.chain
    events = chain.anchor.events
    where = {"digest": digest, "root": root, "departmentId": department_id_bytes(department)}
    changed = _change_blocks(history)

    def logs(event: Any, what: str, filters: dict[str, Any], at: list[int]) -> list[Any]:
        found = []
        for block in at:
            found += chainread.scan(chain, event, what=what, argument_filters=filters, start=block, end=block)
        return found

    out = []
    listed: list[tuple[int, int, str, bytes]] = []  # (block, log index, kind, reason word or successor)
    for name, kind in (
        ("CertificateSuspended", "suspended"),
        ("CertificateReinstated", "reinstated"),
        ("CertificateRevoked", "revoked"),
    ):
        if kind not in kinds:
            continue
        for log in logs(getattr(events, name), f"the {name} events", where, changed):
            word = int(log["args"]["reason"]).to_bytes(32, "big")
            listed.append((int(log["blockNumber"]), int(log["logIndex"]), kind, word))
            reason = reason_name(int(log["args"]["reason"]))
            out.append(
                _event(
                    kind,
                    _iso(blocks.time(int(log["blockNumber"]))),
                    says((f"event_summary.{kind}", {"department": department, "reason": reason})),
                    "chain",
                    reason=reason,
                    department=department,
                    tx_hash="0x" + bytes(log["transactionHash"]).hex(),
                    block_number=int(log["blockNumber"]),
                    log_index=int(log["logIndex"]),
                )
            )
    for log in logs(events.CertificateSuperseded, "the supersessions", where, changed if "superseded" in kinds else []):
        listed.append((int(log["blockNumber"]), int(log["logIndex"]), "superseded", bytes(log["args"]["successor"])))
        successor = hex32(bytes(log["args"]["successor"]))
        out.append(
            _event(
                "superseded",
                _iso(blocks.time(int(log["blockNumber"]))),
                says(("event_summary.superseded", {"successor": successor})),
                "chain",
                successor=successor,
                tx_hash="0x" + bytes(log["transactionHash"]).hex(),
                block_number=int(log["blockNumber"]),
                log_index=int(log["logIndex"]),
            )
        )
    _require_history(department, digest, listed, history, kinds)
    if kinds != _ALL_KINDS:  # another root's changes (held or ended there): what it superseded is this root's
        return out
    for old_root, old_digest in _superseded_by(ledger, hex32(digest)):
        # the certificate the issuer's store says this one superseded, believed only as the chain records it: its
        # own status history names the supersession (block, successor), and its event must be that one
        old_history = _status_history(ledger, department, old_root, old_digest)
        found = logs(
            events.CertificateSuperseded,
            f"the supersession of {hex32(old_digest)}",
            {"digest": old_digest, "root": old_root, "departmentId": department_id_bytes(department)},
            _change_blocks(old_history),
        )
        found = [log for log in found if bytes(log["args"]["successor"]) == digest]
        _require_history(
            department,
            old_digest,
            [(int(log["blockNumber"]), int(log["logIndex"]), "superseded", digest) for log in found],
            [c for c in old_history if bytes(c[3]) == digest],
            frozenset({"superseded"}),
        )
        # the history names the successor's digest only: one anchored again under another root is listed there
        for log in (log for log in found if bytes(log["args"]["successorRoot"]) == root):
            predecessor = hex32(bytes(log["args"]["digest"]))
            out.append(
                _event(
                    "supersedes",
                    _iso(blocks.time(int(log["blockNumber"]))),
                    says(("event_summary.supersedes", {"predecessor": predecessor})),
                    "chain",
                    predecessor=predecessor,
                    tx_hash="0x" + bytes(log["transactionHash"]).hex(),
                    block_number=int(log["blockNumber"]),
                    log_index=int(log["logIndex"]),
                )
            )
    return out


def _require_history(
    department: str,
    digest: bytes,
    listed: list[tuple[int, int, str, bytes]],
    history: list[Any],
    kinds: frozenset[str],
) -> None:
    """Refuse the status events ``listed`` (block, log index, kind, reason word or successor) unless, in chain
    order, they are the changes of ``history`` of ``kinds`` (the contract's ``statusHistory``, read at the latest
    block, in the order they were made): one for one, and within a block in the order made (a node swapping the log
    indexes of a reinstatement and the suspension after it ended the listing with "reinstated")."""
    expected = [
        (int(block), _CHANGE_KINDS[int(status)], bytes(detail))
        for status, block, _ts, detail in history
        if _CHANGE_KINDS[int(status)] in kinds
    ]
    if [(block, kind, detail) for block, _index, kind, detail in sorted(listed)] == expected:
        return
    raise ChainError(
        f"the node's status events of department {department}'s certificate {hex32(digest)} are not the changes its "
        f"status history on the contract records ({len(listed)} events given, {len(expected)} changes recorded): the "
        "node left out, made up, reordered or altered status events (or the chain changed while it was read: try "
        "again); do not trust this node's event logs"
    )


def _superseded_by(ledger: Ledger, digest: str) -> list[tuple[bytes, bytes]]:
    """(batch root, digest) of the certificates the issuer's store records as superseded by ``digest``. The chain
    has no index from a successor to what it superseded; the store's word only says where to look (each is shown
    only as its own status history and the chain's event record it), so an insider deleting the row leaves the
    note out, never puts a false one in, and the predecessor's own timeline still names its successor."""
    with ledger.engine.connect() as conn:
        olds = set(
            conn.execute(
                select(StatusChange.digest).where(  # type: ignore[call-overload]
                    col(StatusChange.action) == "supersede", col(StatusChange.detail) == digest
                )
            ).scalars()
        )
        rows = [
            conn.execute(select(col(Certificate.batch_root)).where(generations.digest_in(conn, [old]))).scalar()
            for old in sorted(olds)
        ]
    return [(parse_hex32(root), parse_hex32(old)) for old, root in zip(sorted(olds), rows, strict=True) if root]


class _Stated:
    """What certificate ``cert`` states in its own content, as ``ledger verify`` judges it: its sealed body (bound
    to the digest by the vault) or, once erased, the issuer's erasure entry the chain attests
    (:func:`erasure.attribution`). The store row's ``cert_type`` and ``issued_at`` columns are never believed over
    it: nothing binds them to the digest (an insider retyped one, red team round 9, and re-dated the other, 61)."""

    def __init__(self, ledger: Ledger, cert: Any, now: datetime) -> None:
        from ._issue_worker import read_body
        from .erasure import attribution

        self.type: str | None = None  # None: nothing establishes one (an altered body, an old erasure entry)
        self.issued_at: str | None = None  # None: the moment is unknown (an altered body)
        # the validity verdict at ``now`` of the dates the body states, once its fields hash to the digest; None: no
        # date is established (an altered body; erased, its dates went with it)
        self.validity: tuple[bool, str] | None = None
        self.erased = bytes(cert.sealed) == ERASED
        if self.erased:
            self.type = attribution(ledger, cert.digest, cert.department_id).certificate_type
            # nothing the erasure left states the moment (its entry records the type, not the issuance time): the
            # row's column is the only word left, shown as the store's
            self.issued_at = _stored_iso(cert.issued_at)
            return
        try:
            fields, salts = read_body(ledger.vault.open(bytes(cert.sealed), parse_hex32(cert.digest)))
        except (LedgerError, ValueError, KeyError, TypeError):
            return
        if not isinstance(fields, dict):
            return
        stated = fields.get("type")
        self.type = stated if isinstance(stated, str) else None
        moment = fields.get("issued_at")
        self.issued_at = _stored_iso(moment) if isinstance(moment, str) else None
        # The standing's dates: the body's, held to the digest as the digest-only verification holds the document it
        # rebuilds (its fields must hash to it), never the row's `valid_until`, which nothing binds to the digest
        try:
            bound = certificate_digest(field_hashes(fields, salts), stated) == parse_hex32(cert.digest)
        except (LedgerError, ValueError, KeyError, TypeError):
            bound = False
        if bound:
            start, end = fields.get("valid_from"), fields.get("valid_until")
            self.validity = checks_core.ValidityWindow(start, end).at(now)


def _standing(validity: tuple[bool, str] | None) -> str:
    """The timeline's status of a certificate in force on chain, from the validity verdict of its sealed dates:
    valid, expired, not_yet_valid, or unknown when the dates are not established (an altered body)."""
    if validity is None:
        return "unknown"
    ok, detail = validity
    if ok:
        return "valid"
    words = checks_core.validity_words(detail, ok)
    return "expired" if words.startswith("expired") else "not_yet_valid" if words.startswith("not yet") else "unknown"


def _validity_words(validity: tuple[bool, str] | None) -> str:
    return checks_core.VALIDITY_UNREAD if validity is None else checks_core.validity_words(validity[1], validity[0])


def _anchor_events(ledger: Ledger, cert: Any, batch: Any, cert_type: str | None) -> list[dict[str, Any]]:
    chain = ledger.chain
    root = parse_hex32(batch.root)
    department = department_id_bytes(cert.department_id)
    # the block the contract says the batch was anchored in: the one block to read (not the chain from its start),
    # and only an event with the record's key, size and type taken for the anchoring (red team round 78: a node
    # adding a made-up one after it, of another type, had a genuine certificate read as signed outside authority)
    signer_of, anchored_in, _time, count_of, schema_of = chain.call(chain.anchor.functions.batch(department, root))
    anchored_in = int(anchored_in)
    logs = [
        log
        for log in (
            chainread.scan(
                chain,
                chain.anchor.events.BatchAnchored,
                what=f"the anchoring of batch {batch.root}",
                argument_filters={"root": root, "departmentId": department},
                start=anchored_in,
                end=anchored_in,
            )
            if anchored_in
            else []
        )
        if (str(log["args"]["signer"]).lower(), int(log["args"]["count"]), bytes(log["args"]["schema"]))
        == (str(signer_of).lower(), int(count_of), bytes(schema_of))
    ]
    if not logs and batch.state == BatchState.CONFIRMED:
        # the store says the batch was anchored, the chain has no anchoring of it by the row's department: the row
        # or the batch names another department than the one that anchored it (an erased certificate has no sealed
        # fields left to compare), and its status history read under that department would say valid
        raise StateError(
            f"the store records batch {batch.root} as anchored but the chain has no anchoring of it by "
            f"{cert.department_id}, the department certificate {hex32(parse_hex32(cert.digest))}'s row names: the row "
            "or its batch was altered (ledger reconcile names it), so no status of it is read"
        )
    if not logs:
        return [
            _event(
                "anchoring",
                None,
                says(("event_summary.anchoring", {"root": batch.root, "state": batch.state})),
                "store",
                root=batch.root,
            )
        ]
    log = logs[-1]
    block = chain.w3.eth.get_block(log["blockNumber"])
    signer = str(log["args"]["signer"])
    at = _iso(int(block["timestamp"]))
    # the blocks on top of the anchoring, as verify's ``confirmations`` check counts them: an anchoring shallower
    # than the configured confirmations is one the chain's operator may still reorganise away (red team round 61)
    depth = max(0, chain.block_number() - int(log["blockNumber"]))
    anchored = _event(
        "anchored",
        at,
        says(
            (
                "event_summary.anchored",
                {
                    "count": int(log["args"]["count"]),
                    "department": cert.department_id,
                    "block": int(log["blockNumber"]),
                },
            )
        ),
        "chain",
        root=batch.root,
        tx_hash="0x" + bytes(log["transactionHash"]).hex(),
        block_number=int(log["blockNumber"]),
        block_hash="0x" + bytes(log["blockHash"]).hex(),
        signer=signer,
        leaf_index=cert.leaf_index,
        # a yes/no, not the count: the count grows with every block, and two reads of one timeline must agree
        confirmed=depth >= ledger.settings.confirmations,
        confirmations_required=ledger.settings.confirmations,
    )
    signed_by: str | InputError
    try:
        signed_by = checks_core.batch_signer(
            chain.chain_id,
            chain.deployment.anchor,
            root,
            int(log["args"]["count"]),
            bytes(log["args"]["schema"]),
            department_id_bytes(cert.department_id),
            bytes.fromhex(batch.signature.removeprefix("0x")),
        )
    except (InputError, ValueError) as exc:
        signed_by = InputError(str(exc))
    except (TypeError, AttributeError):  # a blob or a number where the row keeps hex (SQLite keeps any type): an edit
        signed_by = InputError(f"the batch row holds no signature ({type(batch.signature).__name__}): it was altered")
    ok, signature_detail = checks_core.batch_signature(signed_by, signer)
    block_number = int(log["blockNumber"])
    key_ok, _ = checks_core.department_key(
        signer,
        cert.department_id,
        block_number,
        could_act_in(chain, signer, ROLE_ISSUER, block_number),
    )
    # the council's schedule at the anchoring block, as verify.py's type_authority check reads it, for the type the
    # certificate itself states (never the store's column, which nothing binds to the digest), which must be its
    # batch's type as the anchoring recorded it (CertificateAnchor 3.0.0)
    type_ok = (
        cert_type is not None
        and keccak(text=cert_type) == bytes(log["args"]["schema"])
        and bool(
            chain.call(
                chain.registry.functions.wasAuthorizedForTypeAt(
                    department_id_bytes(cert.department_id), keccak(text=cert_type), block_number
                )
            )
        )
    )
    summary = says(
        (
            ("event_summary.signed" if key_ok else "event_summary.signed_inactive"),
            {"signer": signer, "department": cert.department_id},
        )
    )
    if cert_type is None:
        summary = says(("event_summary.signed_type_unknown", {"signer": signer, "department": cert.department_id}))
    elif not type_ok:
        summary = says(
            (
                "event_summary.signed_outside_authority",
                {"signer": signer, "department": cert.department_id, "type": cert_type},
            )
        )
    signed = _event(
        "signed",
        at,
        summary if ok else says(("event_summary.signed_invalid", {"problem": signature_detail})),
        "chain",
        signer=signer,
        signature_valid=ok,
        key_was_active_issuer=key_ok,
        type_was_authorized=type_ok,
    )
    return [anchored, signed]


def _unreadable_event(
    department: str, seq: int, at: str | None, entry_hash: str | None, *, log: str = "decision"
) -> dict[str, Any]:
    """A decision (``log="decision"``) or access-log (``"access"``) entry about the certificate whose body was edited
    into something the ledger never wrote: named, so the rest of the timeline still shows and the edited entry is
    not silently left out (replay reports a decision as body_invalid, the access log's check an entry as altered)."""
    return _event(
        f"{log}_unreadable",
        at,
        says(
            (
                "event_summary.unreadable_entry" if log == "decision" else "event_summary.unreadable_access",
                {"department": department, "seq": seq},
            )
        ),
        f"{log}-log",
        department=department,
        seq=seq,
        entry_hash=entry_hash,
    )


def _decision_events(ledger: Ledger, digest: str) -> list[dict[str, Any]]:
    """Decisions whose body lists this certificate (only when the decisions module is installed)."""
    if importlib.util.find_spec("ledger.services.decisions") is None:
        return []
    from . import logchain

    out = []
    attested: dict[str, Any] = {}  # department -> its attested erasures (erasure.proven_record), read once a call
    # the entries naming it, found by their mention rows: a certificate's few decisions, not every decision logged
    for entry in logchain.mentioning(ledger, logchain.LOG_DECISIONS, digest):
        if digest not in entry.body:  # cheap text test before parsing
            continue
        try:
            body = logchain.read_body(entry.body, logchain.LOG_DECISIONS, entry.department_id, entry.seq)
        except logchain.UnreadableEntry:  # an insider's edit: the rest of the timeline stands, this entry is named
            out.append(_unreadable_event(entry.department_id, entry.seq, _iso(entry.created_at), entry.entry_hash))
            continue
        used: Any = body.get("certificates")
        used = used if isinstance(used, list) else []
        if not any(isinstance(c, dict) and c.get("digest") == digest for c in used):
            continue
        at = body.get("decided_at") or _iso(entry.created_at)
        typed = _typed_erasure(ledger, entry.department_id, body, attested)
        out.append(
            _event(
                "decision",
                at,
                says(
                    (
                        "event_summary.decision",
                        {
                            "case": body.get("case_id"),
                            "department": entry.department_id,
                            "outcome": _outcome(body.get("outcome", "decided")),
                        },
                    ),
                    *((("event_summary.decision_input_erased", {}),) if typed is True else ()),
                    *((("event_summary.decision_input_destroyed", {}),) if typed is False else ()),
                ),
                "decision-log",
                department=entry.department_id,
                case_id=body.get("case_id"),
                outcome=body.get("outcome"),
                seq=entry.seq,
                entry_hash=entry.entry_hash,
                anchored=logchain.attested(ledger, entry),  # the chain's word, not the row's state
                input_erased=typed is True,
            )
        )
    return out


def _typed_erasure(ledger: Ledger, department: str, body: Mapping[str, Any], attested: dict[str, Any]) -> bool | None:
    """For a decision that issued no certificate (a refusal, a referral, a withdrawal) whose typed fields kept
    sealed apart are destroyed: True when lawfully (an erasure of its own case by ``department``, or of a certificate
    a decision of the case issued, naming its input, anchored and checking out against the chain: replay's test),
    False when not (the erasure marker alone is a database write); None when nothing of it is destroyed, or it
    issued a certificate (the ``produced`` event of that certificate's timeline says it). ``attested``: the
    departments' attested erasures read so far in this timeline."""
    typed, case = body.get("input_digest"), body.get("case_id")
    if not isinstance(typed, str) or isinstance(body.get("issued"), dict):
        return None
    from .decisions import load_sealed_inputs
    from .erasure import issuing_case, proven_record

    opened = load_sealed_inputs(ledger, [typed])
    if typed not in opened or opened[typed] is not None:
        return None
    if department not in attested:
        attested[department] = proven_record(ledger, department)
    bodies, cases = attested[department]
    named = cases.get((department, case)) if isinstance(case, str) else None
    if named is not None and typed in named.get("inputs", ()) and body.get("outcome") != "approve":
        return True  # a case erasure excuses no approval (replay and both verifiers agree)
    return isinstance(case, str) and any(
        isinstance(e := by.get(department), dict)
        and typed in (e.get("inputs") or ())
        and case in issuing_case(ledger, department, digest)
        for digest, by in bodies.items()
    )


def _produced_events(ledger: Ledger, digest: str, private: bool) -> list[dict[str, Any]]:
    """The decision that issued this certificate (an approval's product, permits.py), read from the decision log.
    Public view: department, decision number and hash, rule set; the case id only in the full view."""
    from . import logchain
    from .permits import produced_by

    try:
        found = produced_by(ledger, digest)
    except logchain.UnreadableEntry as exc:  # the full view names it among the decisions (_decision_events)
        return [] if private else [_unreadable_event(exc.department, exc.seq, None, None)]
    if found is None:
        return []
    # the fields of the application the certificate copied, kept sealed apart: destroyed with it by its erasure
    typed = found.get("input_digest")
    erased = destroyed = False
    if isinstance(typed, str):
        from .decisions import load_sealed_inputs
        from .erasure import proven_entries

        opened = load_sealed_inputs(ledger, [typed])
        destroyed = typed in opened and opened[typed] is None
        # lawfully erased only with this certificate's erasure as its department's anchored log attests it: the
        # erasure marker alone is a database write anyone with the database can make (red team, round 41a)
        erased = destroyed and digest in proven_entries(ledger, found["department"])
        destroyed = destroyed and not erased
    return [
        _event(
            "produced",
            found.get("decided_at"),
            says(
                (
                    "event_summary.produced",
                    {
                        "seq": found["seq"],
                        "department": found["department"],
                        "outcome": _outcome(found["outcome"]),
                        "rule_set": found["rule_set"],
                    },
                ),
                *(() if found["anchored"] else (("event_summary.produced_unanchored", {}),)),
                *((("event_summary.produced_input_erased", {}),) if erased else ()),
                *((("event_summary.produced_input_destroyed", {}),) if destroyed else ()),
            ),
            "decision-log",
            department=found["department"],
            seq=found["seq"],
            entry_hash=found["entry_hash"],
            rule_set=found["rule_set"],
            outcome=found["outcome"],
            anchored=found["anchored"],
            case_id=found["case_id"] if private else None,
            index_row_ok=found["index_row"],
            input_erased=erased,
        )
    ]


def _private_events(ledger: Ledger, digest: str, issuer: str, now: datetime) -> list[dict[str, Any]]:
    from . import accesslog, sharing

    out = []
    # each row judged against the grant the issuer's anchored access log records: a row an insider revived, rewrote
    # or deleted is shown as such, never as the issuer's sharing
    problems = {p.grant: p for p in sharing.grant_problems(ledger, issuer, digest)}
    for problem in problems.values():
        kind = f"grant_{problem.kind}"
        out.append(
            _event(
                kind,
                None,
                says((f"event_summary.{kind}", {"grant": problem.grant, "problem": problem.detail})),
                "access-log",
                grant=problem.grant,
                problem=problem.detail,
            )
        )
    for grant in sharing.list_grants(ledger, digest=digest):
        if grant.id in problems:
            continue
        what = (
            says(("event_summary.granted_all", {}))
            if grant.reveal is None
            else says(("event_summary.granted_fields", {"fields": sorted(grant.reveal)}))
        )
        out.append(
            _event(
                "granted",
                _iso(grant.created_at),
                says(
                    (
                        "event_summary.granted",
                        {
                            "issuer": issuer,
                            "what": what,
                            "grantee": grant.grantee,
                            "until": _iso(grant.expires_at),
                            "purpose": grant.purpose,
                        },
                    )
                ),
                "grants",
                grant=grant.id,
                grantee=grant.grantee,
                purpose=grant.purpose,
                expires_at=_iso(grant.expires_at),
            )
        )
        if grant.revoked_at is not None:
            out.append(
                _event(
                    "grant_revoked",
                    _iso(grant.revoked_at),
                    says(("event_summary.grant_revoked", {"grantee": grant.grantee})),
                    "grants",
                    grant=grant.id,
                    grantee=grant.grantee,
                )
            )
        elif sharing.aware(grant.expires_at) <= now:
            out.append(
                _event(
                    "grant_expired",
                    _iso(grant.expires_at),
                    says(("event_summary.grant_expired", {"grantee": grant.grantee})),
                    "grants",
                    grant=grant.id,
                    grantee=grant.grantee,
                )
            )
    # Any department a grant lets read the certificate adds a read each time: the timeline shows the first
    # TIMELINE_READS of them and says where the paged listing goes on, never every one.
    found = accesslog.entries(ledger, department=issuer, certificate=digest, limit=TIMELINE_READS + 1)
    shown = found[:TIMELINE_READS]
    for access in accesslog.reads(shown):
        if access.get("body_error"):  # an insider's edit: named where it stands, never left out
            out.append(
                _unreadable_event(
                    access["department"],
                    access["seq"],
                    access["at"] if isinstance(access.get("at"), str) else None,
                    access["entry_hash"],
                    log="access",
                )
            )
            continue
        kind = "access" if access["outcome"] == "served" else "access_refused"
        parts: list[tuple[str, dict[str, object]]] = [(f"event_summary.{kind}", {"actor": access["actor"]})]
        if access.get("purpose"):
            parts.append(("event_summary.access_purpose", {"purpose": access["purpose"]}))
        if access.get("detail"):
            parts.append(("event_summary.access_detail", {"detail": access["detail"]}))
        out.append(
            _event(
                kind,
                access["at"],
                says(*parts),
                "access-log",
                actor=access["actor"],
                outcome=access["outcome"],
                grant=access.get("grant"),
                seq=access["seq"],
                entry_hash=access["entry_hash"],
                anchored=access["anchored"],
                tx_hash=access.get("tx_hash"),
            )
        )
    if len(found) > TIMELINE_READS:
        last = shown[-1]
        after = f"{last['department']}:{last['seq']}"
        out.append(
            _event(
                "accesses_more",
                last["at"] if isinstance(last.get("at"), str) else None,
                says(("event_summary.accesses_more", {"seq": last["seq"], "digest": digest, "after": after})),
                "access-log",
                after=after,
            )
        )
    out.extend(_decision_events(ledger, digest))
    return out


def timeline(ledger: Ledger, digest: str, *, now: datetime, private: bool = False) -> dict[str, Any]:
    """The provenance of certificate ``digest`` (NotFoundError if this ledger never issued it). Every read of the
    chain is within the time limit (``LEDGER_VERIFY_SECONDS``): a node answering each read just inside the read
    timeout held the gateway's worker thread (an anonymous client's public timeline) for its reads times 30 s, a
    ChainError naming the limit now (red team round 67)."""
    with chain_limit(ledger.chain):
        return _timeline(ledger, digest, now=now, private=private)


def _timeline(ledger: Ledger, digest: str, *, now: datetime, private: bool) -> dict[str, Any]:
    now = given_time(now, "now")
    key = hex32(parse_hex32(digest))
    with ledger.engine.connect() as conn:
        cert = conn.execute(select(Certificate).where(generations.digest_in(conn, [key]))).first()  # type: ignore[arg-type]
        # the certificate's run of leaves and the run roots its proof needs, not the batch's whole leaves (3.2 MB at
        # 100,000 certificates) for each anonymous client's timeline (red team round 67)
        batch = (
            conn.execute(
                select(  # type: ignore[call-overload]
                    *BATCH_HEAD,
                    Batch.nodes,
                    func.substr(Batch.leaves, run_start(cert.leaf_index), RUN_BYTES).label("run"),
                    func.length(Batch.leaves).label("leaf_bytes"),
                ).where(Batch.root == cert.batch_root)
            ).first()
            if cert
            else None
        )
    if cert is None or batch is None:
        raise NotFoundError(f"certificate {key} was not issued through this ledger")
    # The chain facts below are read for the batch the store row names: only once the row's proof, recomputed from
    # that batch's stored leaves, leads to its root (as status changes and digest verification require), or an
    # insider who moved a revoked certificate's row to another batch would have it shown valid, as chain facts.
    root = parse_hex32(batch.root)
    count = batch.leaf_bytes // 32 if type(batch.leaf_bytes) is int else None  # SQL's "/" divides as floats
    proof = run_proof(batch.run, batch.nodes, cert.leaf_index, count)
    if not checks_core.merkle_proof(parse_hex32(key), proof, root)[0]:
        raise StateError(
            f"the store's record of certificate {key} does not lead to the root of the batch it names: the row or "
            "its batch was altered (ledger reconcile names it), so no chain fact of that batch is its own"
        )
    # the row's issuer decides whose status history is read: its sealed fields must name it too (as every request
    # relying on the row's issuer checks), or a row moved to a department that never changed its status reads valid
    check_custodian(ledger, key, cert.department_id)
    try:  # every chain fact below is read under the row's department: a row naming no code was altered
        department_id_bytes(cert.department_id)
    except InputError:
        # not the caller's input (a well-formed digest): an insider's edit, refused as any altered row is (409),
        # never as the client's mistake (422) (red team round 61)
        raise StateError(
            f"certificate {key}'s store row names {str(cert.department_id)[:40]!r} as its issuer, which is no "
            "department code: the row was altered (ledger reconcile names it), so no chain fact of it is read"
        ) from None
    if batch.department_id != cert.department_id:  # the batch the row leads to is another department's
        raise StateError(
            f"certificate {key}'s store row names {cert.department_id} as its issuer, but its batch {batch.root} "
            f"is {batch.department_id}'s: the row or the batch was altered (ledger reconcile names it), so no status "
            "of it is read"
        )
    blocks = _Blocks(ledger)
    said = _Stated(ledger, cert, now)
    stated = said.type
    shown = stated if stated is not None else cert.cert_type  # the store's word, when nothing better is left
    events = [
        _event(
            "issued",
            said.issued_at,
            says(("event_summary.issued", {"type": shown, "issuer": cert.department_id})),
            "store",
            issuer=cert.department_id,
            type=shown,
            certificate_id=cert.certificate_id if private else None,
        )
    ]
    anchoring = _anchor_events(ledger, cert, batch, stated)
    events += anchoring
    # A batch the chain holds no anchoring of by the row's department is no certificate in force, whatever the
    # store's state says: verification fails it (``anchored``), and the status history of a root nobody anchored is
    # empty, so "valid" would be the word of whoever wrote the row (an insider pointing a revoked certificate's row at
    # a batch row of their making, state ``prepared``).
    anchored = any(e["kind"] == "anchored" for e in anchoring)
    # One read of the certificate's status history gives both its events' blocks and its status now (the last
    # change, as statusOf reads it): the two cannot disagree, as two reads a block apart could.
    history = _status_history(ledger, cert.department_id, parse_hex32(batch.root), parse_hex32(key))
    events += _status_events(ledger, cert.department_id, parse_hex32(batch.root), parse_hex32(key), blocks, history)
    ended, held = _elsewhere(ledger, cert.department_id, parse_hex32(batch.root), parse_hex32(key), history)
    if held is not None:
        # its issuer suspended (and perhaps reinstated) the same digest through another of its roots (anchored
        # again): the same certificate, held (CertificateAnchor 2.2.0, red team rounds 46 and 47)
        held_root, changes = held
        held_kinds = frozenset({"suspended", "reinstated"})
        events += _status_events(ledger, cert.department_id, held_root, parse_hex32(key), blocks, changes, held_kinds)
        # its status is its latest change under either root; an end, never followed by any, sorts last in a block
        history = sorted([*history, *changes], key=lambda change: (int(change[1]), int(change[0]) in (2, 3)))
    if ended is not None:
        # its issuer revoked or superseded the same digest under another of its roots (anchored again): the same
        # certificate, ended (CertificateAnchor 2.1.0, red team round 42); that change is its last
        ended_root, change = ended
        ended_kinds = frozenset({"revoked", "superseded"})
        events += _status_events(
            ledger, cert.department_id, ended_root, parse_hex32(key), blocks, [change], ended_kinds
        )
        history = [*history, change]
    events += _produced_events(ledger, key, private)
    if private:
        events += _private_events(ledger, key, cert.department_id, now)
    # Issuance, anchoring and signing happen in that order, but their times come from two clocks (the issuer's
    # wall clock, the block timestamp) that may disagree by a second: they sort at the earliest of their times,
    # then by their causal rank, while each event keeps the time its source recorded.
    # Chain events of one moment (one block, or blocks mined in the same second) come in the order the chain made
    # them (block, log index), never grouped by kind: a block that reinstated then suspended the certificate again
    # ended its listing with "reinstated" under a status of suspended (red team round 61).
    order = {"issued": 0, "anchored": 1, "signed": 2}
    start = min((e["at"] for e in events if e["kind"] in order and e["at"]), default=None)
    events.sort(
        key=lambda e: (
            (start if e["kind"] in order else e["at"]) or "9999",
            order.get(e["kind"], 3),
            e.get("block_number") or 0,
            e.get("log_index") or 0,
        )
    )
    status_name = ("valid", "suspended", "revoked", "superseded")[int(history[-1][0]) if history else 0]
    if not anchored:
        status_name = "not_anchored"
    elif status_name == "valid" and any(e["kind"] == "anchored" and not e["confirmed"] for e in anchoring):
        # anchored, but not yet as deep as every verifier asks (``confirmations``): not valid until it is, or the
        # operator's reorganisation of a block the timeline had called valid leaves a certificate never anchored
        status_name = "unconfirmed"
    elif status_name == "valid" and not said.erased:
        # in force on chain, and within its validity period now? judged as the digest-only verification judges it,
        # from the dates its sealed body states, in the same words naming no date (noticed by red team round 81: the
        # timeline called an expired licence valid); a body whose dates are not established is not called valid
        status_name = _standing(said.validity)
    return {
        "digest": key,
        "issuer": cert.department_id,
        "type": shown,
        "status": status_name,
        # erased: no dates are left, as the digest-only verification has no validity check then
        "validity": None if said.erased else _validity_words(said.validity),
        "view": "full" if private else "public",
        "as_of": _iso(now),
        "events": events,
    }
