"""The verification core: the primitive checks every verification path composes.

Certificates (``verify.py``: the CLI, the gateway, decision facts), evidence bundles (``evidence.py``) and the
provenance timeline (``provenance.py``) each read their facts their own way (a cached chain view, a bundle's
statements, the store), then judge them here, so a check is defined once: what it accepts and what its detail says.
Each returns a :data:`Verdict`, ``(ok, detail)``; the detail says what was found, or what was wrong and why it
matters. Nothing here reads the chain: callers pass what they read, so the same judgement serves a live view, a
bundle's as-of block and a replay.

The court's standalone verifier (``scripts/verify_evidence.py``) is the one deliberate exception: independent by
design, kept in agreement by shared test vectors, not by shared code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import InputError
from .canonical import hex32
from .certificate import remembered_instant
from .merkle import ProofWalks, root_from_proof
from .signing import batch_message, log_message, recover

Verdict = tuple[bool, str]

__all__ = [
    "ValidityWindow",
    "Verdict",
    "batch_signature",
    "batch_signer",
    "chain_identity",
    "department_key",
    "digest_integrity",
    "log_signature",
    "merkle_proof",
    "merkle_proof_text",
    "proof_verdict",
    "validity",
]


def digest_integrity(computed: bytes, stated: bytes | None, hashes: int) -> Verdict:
    """The digest recomputed from ``hashes`` field hashes is the one the document states (if it states one)."""
    if stated is None or stated == computed:
        return True, f"digest {hex32(computed)} recomputed from {hashes} field hashes"
    return False, (
        f"the fields hash to {hex32(computed)}, not to the stated digest {hex32(stated)}: the certificate was altered"
    )


def merkle_proof(digest: bytes, proof: list[bytes], root: bytes, *, what: str = "certificate") -> Verdict:
    """The proof takes the digest (of a certificate, or of a log entry) to the batch root."""
    return proof_verdict(root_from_proof(digest, proof), root, len(proof), what=what)


def merkle_proof_text(
    digest: bytes, elements: Any, root: bytes, walks: ProofWalks, parse: Callable[[Any], list[bytes]]
) -> Verdict:
    """:func:`merkle_proof` of a proof as a document writes it (``elements``: ``"0x"`` + 64 hex digits each),
    walked through ``walks`` (a memo of walks before: the same verdict, fewer hashes); a proof in another form is
    read by ``parse``, which raises InputError naming what is wrong."""
    computed = walks.root(digest, elements, root)
    if computed is None:
        proof = parse(elements)
        return proof_verdict(root_from_proof(digest, proof), root, len(proof))
    return proof_verdict(computed, root, len(elements))


def proof_verdict(computed: bytes, root: bytes, hashes: int, *, what: str = "certificate") -> Verdict:
    """:func:`merkle_proof`'s verdict, for a proof of ``hashes`` hashes already walked to ``computed``."""
    if computed == root:
        return True, f"proof of {hashes} hashes leads to root {hex32(root)}"
    return False, (
        f"the proof leads to {hex32(computed)}, not to the stated root {hex32(root)}: a field was changed "
        f"or the proof belongs to another {what}"
    )


def validity(start: Any, end: Any, now: datetime, *, dates_hidden: bool = False) -> Verdict:
    """``now`` lies within ``valid_from`` / ``valid_until`` read as instants (docs/format.md#validity: a date
    starts at 00:00:00 and ends at 23:59:59 UTC; a date-time names its zone). A malformed date fails."""
    return ValidityWindow(start, end, dates_hidden=dates_hidden).at(now)


def validity_end(value: Any) -> datetime:
    """The UTC instant a ``valid_until`` value stands for, as :func:`validity` reads it (a date ends at 23:59:59
    UTC); InputError when it is malformed. For a writer bounding one validity by another's (a permit ends no later
    than the licence it rests on: services/permits.py)."""
    return remembered_instant(value, end=True)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def instant_us(moment: datetime) -> int:
    """An aware datetime as whole microseconds since 1970-01-01 UTC (exact: a datetime's own resolution), so
    ``instant_us(a) < instant_us(b)`` exactly when ``a < b``."""
    return (moment - _EPOCH) // _MICROSECOND


def validity_words(detail: str, ok: bool) -> str:
    """A validity verdict (a :class:`ValidityWindow` verdict's detail and outcome) for a caller who sent only a
    digest, in words that name no date (the detail names the validity dates, which may be personal: a date of
    birth). Left out, an expired licence's digest was answered "verified", status valid (red team round 81): whether
    the certificate is in its validity period now is what a clerk pasting a digest asks, and one bit, at the
    gateway's clock, is all it says. The public timeline says its standing in the same words."""
    if ok:
        return "within its validity period now (its dates are shown only to whoever sends the certificate file)"
    if detail.startswith("expired"):
        return "expired: past the end of its validity period (its dates are shown only with the certificate file)"
    if detail.startswith("not valid before"):
        return "not yet valid: before the start of its validity period (its dates are shown only with the file)"
    return VALIDITY_UNREAD


VALIDITY_UNREAD = "its validity period could not be read from the issuer's record"


class ValidityWindow:
    """:func:`validity` of two dates at any moment: the dates read once, each verdict written once (a verifier
    that meets the same dates again keeps the window: ``ChainView.validity_window``)."""

    __slots__ = ("_end", "_end_t", "_end_us", "_error", "_hidden", "_start", "_start_t", "_start_us", "_verdicts")

    def __init__(self, start: Any, end: Any, *, dates_hidden: bool = False) -> None:
        self._start, self._end, self._hidden = start, end, dates_hidden
        self._error: Verdict | None = None
        self._start_t = self._end_t = None
        try:
            self._start_t = remembered_instant(start, end=False) if start is not None else None
            self._end_t = remembered_instant(end, end=True) if end is not None else None
        except InputError as exc:
            self._error = (False, str(exc))
        # the same instants as whole microseconds since 1970 (exact: what the gateway's native call compares the
        # clock's microsecond with, as ``at`` compares datetimes)
        self._start_us = instant_us(self._start_t) if self._start_t is not None else None
        self._end_us = instant_us(self._end_t) if self._end_t is not None else None
        self._verdicts: list[Verdict | None] = [None, None, None]  # valid, not yet valid, expired

    @property
    def malformed(self) -> bool:
        return self._error is not None

    def at(self, now: datetime) -> Verdict:
        if self._error is not None:
            return self._error
        if self._start_t and now < self._start_t:
            branch = 1
        elif self._end_t and now > self._end_t:
            branch = 2
        else:
            branch = 0
        verdict = self._verdicts[branch]
        if verdict is None:
            verdict = self._verdicts[branch] = self._verdict(branch)
        return verdict

    def _verdict(self, branch: int) -> Verdict:
        start, end = self._start, self._end
        if branch == 1:
            return False, f"not valid before {start}"
        if branch == 2:
            return False, f"expired on {end}"
        return True, (
            f"valid {start or 'from issuance'} to {end or 'no end date'}"
            + (" (hidden fields not checked)" if self._hidden else "")
        )


def department_key(signer: str, department: str, block: int, active_issuer: bool) -> Verdict:
    """The anchoring key was the department's, and the department an active issuer, at the anchoring block (as the
    registry's ``wasActiveSignerAt`` answered)."""
    if active_issuer:
        return True, f"{signer} was {department}'s key and an active issuer at block {block}"
    return False, f"{signer} was not an active issuer's key at block {block}"


def batch_signer(
    chain_id: int, anchor_contract: str, root: bytes, count: int, schema: bytes, department: bytes, signature: bytes
) -> str:
    """The address that signed a batch's EIP-712 ``AnchorBatch`` message (docs/format.md §7); InputError for a
    malformed signature."""
    return recover(batch_message(chain_id, anchor_contract, root, count, schema, department), signature)


def batch_signature(signed_by: str | InputError, anchoring_key: str) -> Verdict:
    """The batch signature recovers (``signed_by``, or why it could not) to the key that anchored the batch."""
    if isinstance(signed_by, InputError):
        return False, str(signed_by)
    if signed_by.lower() == anchoring_key.lower():
        return True, f"EIP-712 batch signature by {signed_by}"
    return False, (
        f"the signature recovers to {signed_by}, not to the anchoring key {anchoring_key} (made for "
        "another root, chain or contract?)"
    )


def log_signature(
    chain_id: int,
    log_contract: str,
    log_id: bytes,
    root: bytes,
    first_seq: int,
    last_seq: int,
    department: bytes,
    signature: bytes,
    anchoring_key: str,
) -> Verdict:
    """A log batch's EIP-712 ``LogBatch`` signature recovers to the key that anchored it."""
    try:
        signer = recover(log_message(chain_id, log_contract, log_id, root, first_seq, last_seq, department), signature)
    except InputError as exc:
        return False, str(exc)
    if signer.lower() == anchoring_key.lower():
        return True, f"EIP-712 log batch signature by {signer}"
    return False, f"the signature recovers to {signer}, not to the anchoring key {anchoring_key}"


def chain_identity(recorded_genesis: str, found_genesis: str) -> Verdict:
    """The connected chain is the one the deployment was made on: its block 0 is the recorded one."""
    recorded, found = recorded_genesis.lower(), found_genesis.lower()
    if found == recorded:
        return True, f"genesis {found}"
    return False, (
        f"the connected chain's genesis is {found}, not {recorded} recorded at deployment: another chain, "
        "or one whose history was replaced"
    )
