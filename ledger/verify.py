"""Verifying a certificate against the chain: one path for the CLI, the gateway and evidence bundles.

``verify_certificate`` returns a :class:`Report` listing every check with its result; it never returns a bare
bool. ``Report.raise_for_failure()`` is the strict form. Checks, in order:

format, chain, integrity, merkle_proof, anchored, confirmations, issuer, department_key, signature, status,
validity.

A check that cannot run because an earlier one failed is reported as failed with the reason, so a report is
never "ok" by omission (verification fails closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from .canonical import hex32, parse_hex32
from .certificate import SCHEMA_ID, CertificateDocument, load_document
from .chain import ROLE_ISSUER, Chain, department_code
from .errors import ChainError, InputError, LedgerError, VerificationError
from .merkle import root_from_proof
from .signing import batch_message, recover

STATUS_NAMES = ("valid", "suspended", "revoked", "superseded")
CHECK_NAMES = ("format", "chain", "integrity", "merkle_proof", "anchored", "confirmations", "issuer",
               "department_key", "signature", "status", "validity")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    skipped: bool = False  # not run because an earlier check failed; counts as not passed

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "skipped": self.skipped, "detail": self.detail}


@dataclass(frozen=True)
class Report:
    digest: str | None
    checks: tuple[Check, ...]
    as_of_block: int | None
    at: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        """Checks that ran and failed (skipped ones are not listed: they follow from these)."""
        return [c for c in self.checks if not c.ok and not c.skipped]

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {"verified": self.ok, "digest": self.digest, "as_of_block": self.as_of_block, "at": self.at,
                "checks": [c.to_json() for c in self.checks], "facts": self.facts}

    def raise_for_failure(self) -> Report:
        if not self.ok:
            names = ", ".join(f"{c.name} ({c.detail})" for c in self.failed)
            raise VerificationError(f"certificate {self.digest} failed verification: {names}", report=self)
        return self


@dataclass(frozen=True)
class BatchInfo:
    department: str
    signer: str
    block_number: int
    timestamp: int
    count: int


class ChainView:
    """Read-only view of the contracts, caching facts that cannot change once deep enough in the chain."""

    def __init__(self, chain: Chain, confirmations: int = 0) -> None:
        self.chain = chain
        self.confirmations = confirmations
        self._batches: dict[bytes, BatchInfo] = {}
        self._signers: dict[tuple[str, int], bool] = {}

    def head(self) -> int:
        return self.chain.block_number()

    def batch(self, root: bytes, head: int) -> BatchInfo | None:
        cached = self._batches.get(root)
        if cached is not None:
            return cached
        dept, signer, block, ts, count = self.chain.call(self.chain.anchor.functions.batch(root))
        if int(block) == 0:
            return None
        info = BatchInfo(department_code(dept), signer, int(block), int(ts), int(count))
        if head >= info.block_number + max(self.confirmations, 1) + 5:  # deep enough to cache
            self._batches[root] = info
        return info

    def was_active_issuer(self, signer: str, block: int) -> bool:
        key = (signer, block)
        if key not in self._signers:
            self._signers[key] = bool(self.chain.call(
                self.chain.registry.functions.wasActiveSignerAt(signer, ROLE_ISSUER, block)))
        return self._signers[key]

    def status(self, digest: bytes, at: int | None) -> tuple[str, int, int, bytes]:
        fns = self.chain.anchor.functions
        if at is None:
            status, block, ts, detail = self.chain.call(fns.statusOf(digest))
            return STATUS_NAMES[int(status)], int(block), int(ts), bytes(detail)
        status = self.chain.call(fns.statusAt(digest, at))
        return STATUS_NAMES[int(status)], 0, 0, b""


class _Checks:
    def __init__(self) -> None:
        self.items: list[Check] = []

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.items.append(Check(name, ok, detail))
        return ok

    def skip_rest(self, reason: str) -> None:
        done = {c.name for c in self.items}
        for name in CHECK_NAMES:
            if name not in done:
                self.items.append(Check(name, False, f"not checked: {reason}", skipped=True))


def _parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) else None
    text = value.replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text) if len(text) > 10 else datetime.combine(
            date.fromisoformat(text), datetime.min.time())
    except ValueError:
        raise InputError(f"{value!r} is not an ISO 8601 date or date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def verify_certificate(source: str | Mapping[str, Any] | CertificateDocument, view: ChainView, *,
                       at: str | datetime | None = None) -> Report:
    """Verify a certificate document (or presentation) against the chain as of now or time ``at``."""
    checks = _Checks()
    at_time = _parse_time(at)
    try:
        doc = source if isinstance(source, CertificateDocument) else load_document(source)  # type: ignore[arg-type]
    except InputError as exc:
        checks.add("format", False, str(exc))
        checks.skip_rest("the document could not be read")
        return Report(None, tuple(checks.items), None, at_time.isoformat() if at_time else None)
    checks.add("format", True, f"{doc.fmt}, {len(doc.fields)} disclosed and {len(doc.hidden)} hidden fields")
    try:
        return _verify(doc, view, checks, at_time)
    except ChainError as exc:
        checks.skip_rest(f"the chain could not be read: {exc}")
        return Report(None, tuple(checks.items), None, at_time.isoformat() if at_time else None)


def _verify(doc: CertificateDocument, view: ChainView, checks: _Checks, at_time: datetime | None) -> Report:
    chain = view.chain
    anchor = doc.anchor
    at_text = at_time.isoformat() if at_time else None
    facts: dict[str, Any] = {}
    head = view.head()

    def done(digest: bytes | None) -> Report:
        return Report(hex32(digest) if digest else None, tuple(checks.items), head, at_text, facts)

    same_chain = anchor.get("chain_id") == chain.chain_id and str(anchor.get("contract", "")).lower() == \
        chain.deployment.anchor.lower()
    checks.add("chain", same_chain,
               f"chain {chain.chain_id}, anchor contract {chain.deployment.anchor}" if same_chain else
               f"the certificate names chain {anchor.get('chain_id')} contract {anchor.get('contract')}; this "
               f"verifier reads chain {chain.chain_id} contract {chain.deployment.anchor}")
    try:
        digest = doc.digest()
    except LedgerError as exc:
        checks.add("integrity", False, str(exc))
        checks.skip_rest("the digest could not be computed")
        return done(None)
    stated = doc.stated_digest
    checks.add("integrity", stated is None or stated == digest,
               f"digest {hex32(digest)} recomputed from {len(doc.fields) + len(doc.hidden)} field hashes"
               if stated is None or stated == digest else
               f"the fields hash to {hex32(digest)}, not to the stated digest {hex32(stated)}: the certificate "
               "was altered")
    try:
        root = parse_hex32(str(anchor.get("root")), "anchor.root")
        proof = [parse_hex32(p, "proof element") for p in anchor.get("proof", [])]
        signature = bytes.fromhex(str(anchor.get("signature", "")).removeprefix("0x"))
    except (InputError, ValueError) as exc:
        checks.add("merkle_proof", False, f"malformed anchor: {exc}")
        checks.skip_rest("the anchor section is malformed")
        return done(digest)
    if not checks.add("merkle_proof", root_from_proof(digest, proof) == root,
                      f"proof of {len(proof)} hashes leads to root {hex32(root)}"
                      if root_from_proof(digest, proof) == root else
                      "the certificate's digest is not in the stated batch: a field was changed or the proof "
                      "belongs to another certificate"):
        checks.skip_rest("the certificate is not part of the anchored batch")
        return done(digest)
    batch = view.batch(root, head)
    if batch is None:
        checks.add("anchored", False, f"root {hex32(root)} is not anchored on chain {chain.chain_id}")
        checks.skip_rest("nothing was anchored under this root")
        return done(digest)
    anchored_at = datetime.fromtimestamp(batch.timestamp, UTC)
    facts.update({"department": batch.department, "signer": batch.signer, "block_number": batch.block_number,
                  "anchored_at": anchored_at.isoformat(), "root": hex32(root)})
    checks.add("anchored", at_time is None or anchored_at <= at_time,
               f"by {batch.department} ({batch.signer}) in block {batch.block_number} at {anchored_at.isoformat()}"
               + ("" if at_time is None or anchored_at <= at_time else f", after the time asked about {at_text}"))
    depth = head - batch.block_number
    checks.add("confirmations", depth >= view.confirmations,
               f"{depth} blocks on top; {view.confirmations} required")
    issuer = doc.fields.get("issuer")
    checks.add("issuer", issuer == batch.department,
               f"issued by {issuer}" if issuer == batch.department else
               (f"the certificate claims issuer {issuer!r} but was anchored by {batch.department!r}"
                if issuer is not None else "the issuer field is not disclosed"))
    active = view.was_active_issuer(batch.signer, batch.block_number)
    checks.add("department_key", active,
               f"{batch.signer} was {batch.department}'s key and an active issuer at block {batch.block_number}"
               if active else f"{batch.signer} was not an active issuer's key at block {batch.block_number}")
    try:
        message = batch_message(chain.chain_id, chain.deployment.anchor, root, batch.count, SCHEMA_ID,
                                batch.department.encode().ljust(32, b"\x00"))
        signer = recover(message, signature)
        ok = signer.lower() == batch.signer.lower()
        checks.add("signature", ok, f"root signed by {signer}" if ok else
                   f"signature recovers to {signer}, not to the anchoring key {batch.signer}")
    except InputError as exc:
        checks.add("signature", False, str(exc))
    status, block, ts, detail = view.status(digest, int(at_time.timestamp()) if at_time else None)
    facts["status"] = status
    if status == "superseded":
        facts["superseded_by"] = hex32(detail)
    when = f" in block {block}" if block else ""
    checks.add("status", status == "valid",
               f"{status}{' as of ' + at_text if at_text else ''}{when}"
               + (f", superseded by {hex32(detail)}" if status == "superseded" else ""))
    _validity(doc, checks, at_time)
    return done(digest)


def _validity(doc: CertificateDocument, checks: _Checks, at_time: datetime | None) -> None:
    when = at_time or datetime.now(UTC)
    start, end = doc.fields.get("valid_from"), doc.fields.get("valid_until")
    try:
        start_t, end_t = _parse_time(start), _parse_time(end)
    except InputError as exc:
        checks.add("validity", False, str(exc))
        return
    if end_t is not None and len(str(end)) == 10:
        end_t = end_t.replace(hour=23, minute=59, second=59)
    if start_t and when < start_t:
        checks.add("validity", False, f"not valid before {start}")
    elif end_t and when > end_t:
        checks.add("validity", False, f"expired on {end}")
    else:
        span = f"{start or 'issuance'} to {end or 'no end date'}"
        checks.add("validity", True, f"valid {span}" + (" (hidden fields not checked)" if
                                                         {"valid_from", "valid_until"} & set(doc.hidden) else ""))


def verify_strict(source: Any, view: ChainView, *, at: str | datetime | None = None) -> Report:
    return verify_certificate(source, view, at=at).raise_for_failure()

