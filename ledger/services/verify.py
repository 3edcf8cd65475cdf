"""Verifying a certificate against the chain: one path for the CLI, the gateway and evidence bundles.

``verify_certificate`` returns a :class:`Report` listing every check with its result; it never returns a bare
bool. ``Report.raise_for_failure()`` is the strict form. Checks, in order:

format, chain, chain_identity, integrity, disclosure, merkle_proof, anchored, confirmations, issuer, department_key,
signature, type_authority, status, validity, witnessed. ``verify_digest`` runs the same checks but those that read
the certificate's fields (format, integrity, disclosure, validity), for a certificate known only by its digest.

``type_authority`` passes when the council's schedule in the registry authorized the issuing department for the
certificate's (always disclosed) type at the anchoring block: a department acting outside its authority (a health
bureau anchoring a birth certificate in its own name) fails it; a type revoked later leaves what was anchored while
it was held authorized.

``witnessed`` (docs/witness.md) passes with "not configured" when the view has no witnesses; with witnesses it
passes when a quorum cosigned a checkpoint at or after the anchoring and status blocks and the issuer's status
events up to that block hash to the status trail proven from the block's hash (EIP-1186 state proofs,
ledger/onchain/stateproof.py), and fails when the chain contradicts that checkpoint (rolled back or rewritten below
a witnessed height) or the proven state (a node answering the contract's state and its logs alike, made up), or
when ``department_key`` and ``type_authority`` believed registry answers that the issuer's key, status and type
periods proven at that block contradict (ledger/onchain/registryslots.py).

A certificate is looked up where its issuer anchored it: batch ``(issuer, root)`` and status
``(issuer, root, digest)``. Another department that copies the digest into a batch of its own, or anchors the
same root value first, writes to its own namespace, which this lookup never reads (docs/format.md §8).

A check that cannot run because an earlier one failed is reported as failed with the reason, so a report is
never "ok" by omission (verification fails closed).
"""

from __future__ import annotations

import operator
import os
import re
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeGuard

from ..errors import ChainError, ConfigError, InputError, LedgerError, VerificationError
from ..formats import checks as checks_core
from ..formats.canonical import hex32, parse_hex32
from ..formats.certificate import ALWAYS_DISCLOSED, REQUIRED_DISCLOSED, CertificateDocument, batch_schema, load_document
from ..formats.merkle import ProofWalks
from ..formats.reasons import reason_name
from ..onchain import chainread, trail
from ..onchain.deadline import chain_limit, time_limit
from ..onchain.ids import ROLE_ISSUER, department_id_bytes

if TYPE_CHECKING:  # web3 and eth_account (most of a second) are imported by the chain's client, where one is opened
    from ..onchain.chain import Chain

_department_ids = lru_cache(maxsize=1024)(department_id_bytes)


def _department_id(code: str) -> bytes:
    """``department_id_bytes``, remembered for text codes (a pure function; an invalid code raises every time)."""
    return _department_ids(code) if type(code) is str else department_id_bytes(code)


STATUS_NAMES = ("valid", "suspended", "revoked", "superseded")
# Where a certificate was anchored: (department id as bytes32, batch root, digest). Status lives under this key.
CertKey = tuple[bytes, bytes, bytes]
# A certificate's end under one of its department's roots: (that root, status code, block, detail).
_Ended = tuple[bytes, int, int, bytes]
# A status a certificate's department set under another of its roots than the one a document names, which holds for
# the document too (the same digest anchored again is the same certificate): (status name, block, timestamp, detail,
# that root). ChainView.elsewhere answers (its end, its suspension).
Elsewhere = tuple[str, int, int, bytes, bytes]
CHECK_NAMES = (
    "format",
    "chain",
    "chain_identity",
    "integrity",
    "disclosure",
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
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    skipped: bool = False  # not run because an earlier check failed; counts as not passed

    def __init__(self, name: str, ok: bool, detail: str, skipped: bool = False) -> None:
        # the generated __init__ of a frozen dataclass sets each field through object.__setattr__ (~0.1 µs each);
        # verify_many makes a check and a report per certificate
        attributes = self.__dict__
        attributes["name"] = name
        attributes["ok"] = ok
        attributes["detail"] = detail
        attributes["skipped"] = skipped

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "skipped": self.skipped, "detail": self.detail}


_OK = operator.attrgetter("ok")  # a check's verdict, read in C (Report.ok)


class CheckList:
    """What every report of named checks answers (certificate reports here, evidence-bundle reports)."""

    checks: tuple[Check, ...]

    @property
    def failed(self) -> list[Check]:
        """Checks that ran and failed (skipped ones are not listed: they follow from these)."""
        return [c for c in self.checks if not c.ok and not c.skipped]

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)


@dataclass(frozen=True)
class Report(CheckList):
    digest: str | None
    checks: tuple[Check, ...]
    as_of_block: int | None
    at: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        digest: str | None,
        checks: tuple[Check, ...],
        as_of_block: int | None,
        at: str | None = None,
        facts: dict[str, Any] | None = None,
    ) -> None:
        attributes = self.__dict__  # as Check's: one per certificate
        attributes["digest"] = digest
        attributes["checks"] = checks
        attributes["as_of_block"] = as_of_block
        attributes["at"] = at
        attributes["facts"] = {} if facts is None else facts

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(map(_OK, self.checks))

    def to_json(self) -> dict[str, Any]:
        return {
            "verified": self.ok,
            "digest": self.digest,
            "as_of_block": self.as_of_block,
            "at": self.at,
            "checks": [c.to_json() for c in self.checks],
            "facts": self.facts,
        }

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
    schema: bytes  # the batch's certificate type as the chain records it: keccak256 of the name (batch_schema)


# A long-lived view (the gateway's) switches from one statusOf call per verification to the index after this
# many lookups; verify_many switches at once.
INDEX_AFTER = 16
_SUPERSEDED_CODE = 3
_TERMINAL_CODES = (2, _SUPERSEDED_CODE)  # revoked, superseded
_STATUS_EVENTS = {
    "CertificateSuspended": 1,
    "CertificateRevoked": 2,
    "CertificateReinstated": 0,
    "CertificateSuperseded": 3,
}
_SIGNATURES_KEPT = 65_536
_CHAIN_CHECKS_KEPT = 256
# The longest detail the view's shared checks keep: a genuine certificate's are a few hundred characters at most
# (the type authority's, with a 64-character type and a 32-character department); a longer one quotes text that a
# document (a department's own tree) put there, and is answered without being kept.
DETAIL_KEPT = 512
_WINDOWS_KEPT = 4096
_REQUIRED = frozenset(REQUIRED_DISCLOSED)
_EXACT = (str, int, type(None))
# The connected chain's block 0 is read again after this many seconds (a node restarted on other state is noticed).
GENESIS_RECHECK = 5.0
# Seconds after which ChainView.sync(recheck=True) reads the status events not yet final again although the head has
# not moved (a chain rewritten to the same height): one eth_getLogs over the last confirmations + 12 blocks.
RESYNC_SECONDS = 1.0
# Seconds after which ChainView.sync(recheck=True) (the gateway's head refresher) reads every status event again from
# the deployment on, final ones included, and replaces what it kept (red team round 68). A second line since
# CertificateAnchor 4.1.0: every sync checks each department's events against its status trail, so a stream with an
# event left out is refused when read, not kept. One full read: every department's events, for the index only (the
# department streams are checked against their trails at each of their own reads).
FULL_RESYNC_SECONDS = 3600.0
# How a certificate's status is read (docs/privacy.md). "herd": the issuing department's whole status event stream
# is read and the status worked out locally, so the node learns which department's certificates are checked but
# not which certificate; "direct": one statusOf / statusAt / statusHistory call for the certificate itself.
STATUS_LOOKUPS = ("herd", "direct")


class DigestChanges:
    """Every status change of each certificate digest under any of its department's roots, oldest first, split in
    one pass into its ends (revoked, superseded) and its suspensions and reinstatements. The same digest anchored
    again under another root is the same certificate: its first end holds under every root (CertificateAnchor 2.1.0,
    ``endedUnder``, red team round 42) and so does its last suspension (2.2.0 makes them all through one root,
    ``heldUnder``, round 46). Built from status events (key, status code, block, detail) in chain order."""

    __slots__ = ("_changes",)

    def __init__(self, events: Iterable[tuple[CertKey, int, int, bytes]]) -> None:
        # (department, digest) -> (its ends, its suspensions and reinstatements), each (root, status, block, detail)
        found: dict[tuple[bytes, bytes], tuple[list[_Ended], list[_Ended]]] = {}
        for (dept, root, digest), status, block, detail in events:
            made = found.get((dept, digest))
            if made is None:
                made = found[(dept, digest)] = ([], [])
            made[0 if status in _TERMINAL_CODES else 1].append((root, status, block, detail))
        for ends, held in found.values():
            ends.sort(key=lambda change: change[2])
            held.sort(key=lambda change: change[2])
        self._changes = found

    def standing(self, dept: bytes, digest: bytes, upto: int) -> tuple[_Ended | None, _Ended | None]:
        """(the first end, the last suspension or reinstatement) of ``digest`` of department ``dept`` up to block
        ``upto`` under any of its roots, each (root, status, block, detail), or None."""
        made = self._changes.get((dept, digest))
        if made is None:
            return None, None
        ends, held = made
        return (
            next((c for c in ends if c[2] <= upto), None),
            next((c for c in reversed(held) if c[2] <= upto), None),
        )


@dataclass(frozen=True)
class _IndexRead:
    """One read of the status index (:meth:`ChainView._read_index`), put in place whole by :meth:`ChainView._install`:
    (final, recent) pairs of the ends, the suspensions and reinstatements, the latest status of each certificate and
    the supersession notes, as of block ``head``."""

    started: float
    head: int
    final_upto: int
    ended: tuple[dict[tuple[bytes, bytes], _Ended], dict[tuple[bytes, bytes], _Ended]]
    held: tuple[dict[tuple[bytes, bytes], _Ended], dict[tuple[bytes, bytes], _Ended]]
    index: tuple[dict[CertKey, tuple[int, int, bytes]], dict[CertKey, tuple[int, int, bytes]]]
    replaced: Any
    final_mark: tuple[int, str]
    from_deployment: bool
    full: bool
    # each department's status trail after its events up to ``final_upto`` (CertificateAnchor 4.1.0)
    trails: dict[bytes, trail.Trail]


@dataclass
class _DepartmentStream:
    """One department's status events (read whole, never per certificate) as far as block ``synced``, grouped by
    certificate. Events up to ``final_upto`` were final (chainread.Finality) when read; ``recent`` ones are read
    again at the next sync."""

    synced: int = -1
    final_upto: int = -1
    deep: dict[CertKey, list[tuple[int, int, bytes]]] = field(default_factory=dict)
    recent: dict[CertKey, list[tuple[int, int, bytes]]] = field(default_factory=dict)
    # (dept, successor root, successor) -> the digests it superseded, in chain order (one certificate may replace
    # several): from final events, and from the others (read again at the next sync, as ``recent`` is: a
    # supersession the chain dropped leaves no note)
    replaced: dict[CertKey, tuple[bytes, ...]] = field(default_factory=dict)
    replaced_recent: dict[CertKey, tuple[bytes, ...]] = field(default_factory=dict)
    read_at: float = float("-inf")  # monotonic time the last read started
    # the department's status trail (CertificateAnchor 4.1.0) after its events up to ``final_upto``: a sync goes on
    # from it over the events it reads again, and compares the result with the contract's
    final_trail: trail.Trail = trail.NONE

    # the department's changes of each digest under any of its roots (DigestChanges): built on first use from deep
    # and recent (a stream is never changed once made; each sync makes a new one)
    by_digest: DigestChanges | None = None
    # the digests with any change in the stream, under any root (built on first use, as by_digest): a leaf whose
    # digest is not among them has no status to read, so a status list looks up only these (red team round 64)
    changed: frozenset[bytes] | None = None

    def changed_digests(self) -> frozenset[bytes]:
        """Every digest the department changed the status of (in ``deep`` or ``recent``), under any root."""
        if self.changed is None:
            self.changed = frozenset(key[2] for changes in (self.deep, self.recent) for key in changes)
        return self.changed

    def predecessors(self, key: CertKey) -> tuple[bytes, ...]:
        return self.replaced.get(key, ()) + self.replaced_recent.get(key, ())

    def elsewhere(self, dept: bytes, digest: bytes, upto: int) -> tuple[_Ended | None, _Ended | None]:
        """The first revocation or supersession, and the last suspension or reinstatement, of ``digest`` under any
        of the department's roots up to block ``upto``: each (root, status, block, detail), or None
        (:meth:`DigestChanges.standing`)."""
        if self.by_digest is None:
            self.by_digest = DigestChanges(
                (key, status, block, detail)
                for changes in (self.deep, self.recent)
                for key, made in changes.items()
                for status, block, detail in made
            )
        return self.by_digest.standing(dept, digest, upto)

    def changes(self, key: CertKey, upto: int) -> list[tuple[int, int, bytes]]:
        """Every status change (status, block, detail) of the certificate at ``key`` up to block ``upto``, oldest
        first."""
        return [c for c in (*self.deep.get(key, ()), *self.recent.get(key, ())) if c[1] <= upto]

    def last(self, key: CertKey, upto: int) -> tuple[int, int, bytes] | None:
        found = self.changes(key, upto)
        return found[-1] if found else None


def could_act_in(chain: Chain, signer: str, role: int, block: int) -> bool:
    """Whether ``signer`` was an active key of a department holding ``role`` at some moment of ``block``: after
    the block before it, or after ``block`` itself. The registry answers for the state after a whole block, but the
    anchor and log contracts refuse a key that cannot act when the transaction runs, so an anchoring in the block
    that suspended its department or rotated its key was made before that change: judging it by the state after
    the block would let the change reach back and fail a genuine certificate for ever."""
    was = chain.registry.functions.wasActiveSignerAt
    return bool(chain.call(was(signer, role, block))) or (block > 0 and bool(chain.call(was(signer, role, block - 1))))


class ChainView:
    """Read-only view of the contracts, caching facts that cannot change once deep enough in the chain.

    Per verification it reads the head (``eth_blockNumber``, or a head at most ``max_head_age`` seconds old) and
    nothing else once warm:

    * a batch's anchor (``batch(root)``) is cached once it is deep enough that no reorganisation can undo it;
    * whether a key was an active issuer at a past block is cached (the registry only appends history);
    * the signer recovered from a batch signature is cached per (root, count, department, signature);
    * current statuses come from an index built from the anchor contract's status events (``eth_getLogs``),
      brought up to the head once per head change (and once per :func:`verify_many` call). Events not yet final
      (``chainread.Finality``: within confirmations + 12 blocks of the head) are re-read at each sync, so a
      shallow reorganisation cannot leave a stale status behind. Reports say which block they are "as of".

    Until the index is in use (a fresh view, e.g. one CLI verification), statuses are read with ``statusOf``:
    one call is cheaper than reading every status event since deployment.
    """

    # The witnessed state (ledger.services.witness.client.WitnessView) the ``witnessed`` check reports; None: not
    # configured.
    witness: Any = None
    # The gateway's constants for its native public report (api/services.py, ``_native_context``): made once per
    # view from its chain and deployment, which do not change; None until then.
    public_report_context: Any = None

    def __init__(
        self, chain: Chain, confirmations: int = 0, *, max_head_age: float = 0.0, status_lookup: str = "herd"
    ) -> None:
        if status_lookup not in STATUS_LOOKUPS:
            raise ConfigError(
                f"status lookup {status_lookup!r} is not one of {', '.join(STATUS_LOOKUPS)}: 'herd' "
                "reads the issuer's whole status event stream, 'direct' asks for the one certificate"
            )
        self.status_lookup = status_lookup
        self._streams: dict[bytes, _DepartmentStream] = {}
        # department id -> the block of its registration (its first status period): no status event of it can be
        # older, and one that claims to be is the node lying (read once; forgotten with the other chain facts)
        self._registered: dict[bytes, int] = {}
        self._block_times: dict[int, int] = {}
        # (witnessed block hash, department id) -> its trail from the node's events up to that block, and those
        # events (trail_upto)
        self._witnessed_trails: dict[tuple[str, bytes], tuple[trail.Trail, _DepartmentStream]] = {}
        # department id -> (block, its trail there, its events up to there) proven from the latest witnessed block
        # met (proven_at)
        self._proven_trails: dict[bytes, tuple[int, trail.Trail, _DepartmentStream]] = {}
        # the same for the department's batch events and its anchoring trail (CertificateAnchor 4.2.0): (witnessed
        # block hash, department id) -> the trail from the node's batch events up to that block, and those events by
        # root (batches_upto); department id -> (block, its proven trail there, those events) (anchorings_proven_at)
        self._witnessed_batches: dict[tuple[str, bytes], tuple[trail.Trail, dict[bytes, trail.BatchEvent]]] = {}
        self._proven_batches: dict[bytes, tuple[int, trail.Trail, dict[bytes, trail.BatchEvent]]] = {}
        self.chain = chain
        self.confirmations = confirmations
        self.max_head_age = max_head_age
        self._batches: dict[tuple[str, bytes], BatchInfo] = {}
        self._signers: dict[tuple[str, int], bool] = {}
        self._type_grants: dict[tuple[str, str, str, int], bool] = {}
        # type name -> its hash (batch_schema), a pure function of a few names; the gateway's native report reads it
        self._type_hashes: dict[str, bytes] = {}
        self._recovered: dict[tuple[bytes, int, str, bytes, bytes], str | InputError] = {}
        # proofs walked before (pure hashing, bounded): a certificate of a batch met before hashes two levels or so
        self.proof_walks = ProofWalks()
        self._head = -1
        self._head_read_at = float("-inf")
        # (head, {(department, root, signature, head, confirmations): batch checks}): keep_batch_checks
        self._batch_checks: tuple[int, dict[tuple[Any, ...], Any]] = (-1, {})
        self._checks: dict[tuple[str, bool, str], Check] = {}
        # (chain id, anchor contract, registry) as a document names them, with their types -> its "chain" check
        # (_Run.chain_check)
        self.chain_checks: dict[tuple[Any, ...], Check] = {}
        self._windows: dict[tuple[str | None, str | None, bool], checks_core.ValidityWindow] = {}
        self._genesis: tuple[str, float] = ("", float("-inf"))
        self._lock = threading.Lock()
        self._offline = False  # a forked verifier's copy (_go_offline): reads no chain, rechecks nothing
        self._lookups = 0
        self._indexed = False
        self._synced = -1  # the status index holds every status event up to this block
        self._synced_at = float("-inf")  # monotonic time the last sync started
        self._full_read_at = float("-inf")  # monotonic time the last sync reading from the deployment on started
        self._full_reading = False  # an hourly full read is under way (beside the syncs, not under the lock)
        self._generation = 0  # counts _forget_chain_facts: a full read started before one is not installed
        self._final_upto = -1  # events up to here are final (chainread.Finality) when last read
        # (number, hash) of the block that was the final boundary at the last sync: a history rewritten at or below
        # it (the chain rolled back past the finality margin) changes or removes it (_rewritten_past_final)
        self._final_mark: tuple[int, str] = (-1, "")
        self._topics: dict[bytes, int] = {}
        # (final, recent): (department, successor root, successor) -> the digest it superseded (a note for readers,
        # not a verdict); the recent ones are read again at each sync, as the index's are
        self._replaced: tuple[dict[CertKey, tuple[bytes, ...]], dict[CertKey, tuple[bytes, ...]]] = ({}, {})
        # (deep, recent): (department, root, digest) -> (status, block, detail) of its latest status event, for
        # final events (chainread.Finality) and for the others. One attribute, so a reader never sees halves of two
        # syncs. Keyed by where the certificate was anchored: a copy of its digest in another department's batch
        # has a key of its own that no lookup of the genuine certificate reaches.
        self._index: tuple[dict[CertKey, tuple[int, int, bytes]], dict[CertKey, tuple[int, int, bytes]]] = ({}, {})
        # (deep, recent): (department, digest) -> (root, status, block, detail) of its first revocation or
        # supersession under any of the department's roots: the same digest anchored again is the same certificate
        # (CertificateAnchor 2.1.0, ``endedUnder``)
        self._ended: tuple[dict[tuple[bytes, bytes], _Ended], dict[tuple[bytes, bytes], _Ended]] = ({}, {})
        # (deep, recent): (department, digest) -> (root, status, block, detail) of its last suspension or
        # reinstatement under any of the department's roots (CertificateAnchor 2.2.0 makes them all through one,
        # ``heldUnder``): a suspension holds under every root of the digest, as an end does
        self._held: tuple[dict[tuple[bytes, bytes], _Ended], dict[tuple[bytes, bytes], _Ended]] = ({}, {})
        # department id -> its status trail after its events up to ``_final_upto`` (CertificateAnchor 4.1.0)
        self._trails: dict[bytes, trail.Trail] = {}

    def head(self) -> int:
        if self.max_head_age > 0 and time.monotonic() - self._head_read_at <= self.max_head_age:
            return self._head
        head = self.chain.block_number()
        # the head read, lower or not: a chain rolled back has no block above it (see refresh)
        self._head, self._head_read_at = head, time.monotonic()
        return head

    def genesis(self) -> str:
        """The connected chain's genesis (block 0) hash, read at most every ``GENESIS_RECHECK`` seconds."""
        found, read_at = self._genesis
        if time.monotonic() - read_at > GENESIS_RECHECK:
            found = self.chain.block_hash(0) or ""
            self._genesis = (found, time.monotonic())
        return found

    def refresh(self, head: int | None = None) -> int:
        """Read the head now (or take ``head``, a block number the caller has just read from this chain), bring
        the status index up to it, then publish it to :meth:`head`; for a caller that keeps ``head()`` answering
        from memory (the gateway's refresher). A head published this way is synced already, so no reader waits
        for a sync and every report as of it includes that block's status events.

        The head published is the one read, also when it is lower than the last: the chain's operator rolled the
        chain back. Keeping the higher number judged what the chain holds now against blocks it no longer has:
        an anchoring at the new tip had confirmations it lacked and was "final", so cached for good, and a
        second rollback dropping it went unseen."""
        head = self.chain.block_number() if head is None else head
        if head < self._head:
            self._batch_checks = (-1, {})  # kept for the higher head, which a straggler's check would wait for
        self.sync(head, recheck=True)
        if time.monotonic() - self._genesis[1] > GENESIS_RECHECK / 2:  # so warm_head never finds it stale
            # read, then replace: clearing it first sent every public verification made during the read (a web3
            # call, tens of ms on a busy loop) down the chain-reading path
            started = time.monotonic()
            self._genesis = (self.chain.block_hash(0) or "", started)
        self._head, self._head_read_at = head, time.monotonic()
        return head

    def warm_head(self, department: str, root: bytes) -> int | None:
        """The head a certificate of batch ``root`` would be verified against without any chain read, or None.

        Not None only when a head read within ``max_head_age`` is at hand, the status index is synced to it and
        the batch's anchor and its signer's registry answer are cached: verifying is then CPU-only, so a caller
        on an event loop may do it inline (and take the chain-reading path otherwise)."""
        head = self.warm()
        if head is None:
            return None
        batch = self._batches.get((department, root))
        if batch is None or (batch.signer, batch.block_number) not in self._signers:
            return None
        return head

    def warm(self) -> int | None:
        """:meth:`warm_head` but for the batch: the head read within ``max_head_age``, when the status index is
        synced to it and the genesis was read within ``GENESIS_RECHECK``; else None. (The gateway's native public
        report checks the batch's part itself: api/services.py, ``fast_public_bytes``.)"""
        if self.max_head_age <= 0 or time.monotonic() - self._head_read_at > self.max_head_age:
            return None
        head = self._head
        if not self._indexed or head > self._synced or time.monotonic() - self._genesis[1] > GENESIS_RECHECK:
            return None
        return head

    def batch(self, department: str, root: bytes, head: int) -> BatchInfo | None:
        """Batch ``root`` as anchored by ``department`` (batches live in each department's own namespace, so
        another department's anchoring of the same root value is never found here), or None."""
        key = (department, root)
        cached = self._batches.get(key)
        if cached is not None:
            return cached
        signer, block, ts, count, schema = self.chain.call(
            self.chain.anchor.functions.batch(department_id_bytes(department), root)
        )
        if int(block) == 0:
            return None
        info = BatchInfo(department, signer, int(block), int(ts), int(count), bytes(schema))
        if info.block_number <= chainread.Finality(self.confirmations).final_upto(head):  # final: cache it
            self._batches[key] = info
        return info

    def shared_check(self, key: tuple[str, bool, str]) -> Check:
        """``Check(*key)``, one object per (name, ok, detail) across the verifications made through this view
        (a check is immutable and holds nothing else, so this is a memo of a pure function; at most
        ``_SIGNATURES_KEPT`` are kept). A run of one verification (the gateway's) then builds no check a previous
        one built already. A detail longer than ``DETAIL_KEPT`` characters is not kept."""
        found = self._checks.get(key)
        if found is None:
            found = Check(*key)
            if len(key[2]) <= DETAIL_KEPT:  # at most _SIGNATURES_KEPT details of at most DETAIL_KEPT characters
                if len(self._checks) >= _SIGNATURES_KEPT:
                    self._checks = {}
                self._checks[key] = found
        return found

    def validity_window(self, start: Any, end: Any, hidden: bool) -> checks_core.ValidityWindow:
        """The validity dates of a certificate read once per view (a batch's certificates share a few): kept for
        text (or absent) dates that read as dates, a few thousand at most; any other value (a number in a tampered
        document, text that is no date) is read afresh, so values that compare equal across types (1, 1.0, True)
        never share a window, and no sender's text is kept."""
        key = (start, end, hidden) if type(start) in _TEXT_OR_NONE and type(end) in _TEXT_OR_NONE else None
        window = self._windows.get(key) if key is not None else None
        if window is None:
            window = checks_core.ValidityWindow(start, end, dates_hidden=hidden)
            if key is not None and not window.malformed:  # a date's text is at most 32 characters
                if len(self._windows) >= _WINDOWS_KEPT:
                    self._windows.clear()
                self._windows[key] = window
        return window

    def batch_checks_kept(self, key: tuple[str, bytes, bytes, int]) -> Any:
        """The batch checks (anchored, confirmations, department_key, signature) worked out for ``key`` =
        (department, root, signature, head) by an earlier verification against the same head, or None."""
        head, kept = self._batch_checks
        return kept.get((*key, self.confirmations)) if head == key[3] else None

    def keep_batch_checks(self, key: tuple[str, bytes, bytes, int], found: Any) -> None:
        """Remember the batch checks of ``key`` for later verifications against the same head, when every input
        they were built from is a cached fact: the batch's anchor is final (cached by :meth:`batch`), the
        registry's answer for its signer at the anchoring block is cached (:meth:`was_active_issuer`) and the
        signature's signer is a pure function of its inputs. They are then a pure function of the key and
        :attr:`confirmations` (the depth is the head's minus the anchoring block). Freshness bound: one head.
        They are kept only for the latest head (at most ``_SIGNATURES_KEPT``), and never for a question about
        the past (``at``), whose checks compare with that moment."""
        batch: BatchInfo | None = found[0]
        if batch is None or self._batches.get((key[0], key[1])) is not batch:
            return
        if (batch.signer, batch.block_number) not in self._signers:
            return
        head, kept = self._batch_checks
        if head != key[3] or len(kept) >= _SIGNATURES_KEPT:
            if key[3] < head:
                return  # a straggler verifying against an older head: the memo stays with the newer one
            head, kept = key[3], {}
            self._batch_checks = (head, kept)
        kept[(*key, self.confirmations)] = found

    def was_active_issuer(self, signer: str, block: int) -> bool:
        key = (signer, block)
        cached = self._signers.get(key)
        if cached is not None:
            return cached
        active = could_act_in(self.chain, signer, ROLE_ISSUER, block)
        if block < self._head:  # a change later in the same block could still alter the answer for it
            self._signers[key] = active
        return active

    def was_authorized_for_type(self, department: str, certificate_type: str, block: int) -> bool:
        """The registry's ``wasAuthorizedForTypeAt(department, keccak(type), block)``, cached once ``block`` is
        final (``chainread.Finality``), as every chain fact this view keeps: the chain does not check a batch's
        types, so a reorganisation within the finality window can keep the anchoring at its height and drop (or
        add) the council's grant before it, and an answer kept from the branch that is gone would outlive it."""
        key = ("type", department, certificate_type, block)
        cached = self._type_grants.get(key)
        if cached is not None:
            return cached
        from eth_utils.crypto import keccak

        authorized = bool(
            self.chain.call(
                self.chain.registry.functions.wasAuthorizedForTypeAt(
                    _department_id(department), keccak(text=certificate_type), block
                )
            )
        )
        if block <= chainread.Finality(self.confirmations).final_upto(self._head):
            if len(self._type_grants) >= _SIGNATURES_KEPT:
                self._type_grants.clear()
            self._type_grants[key] = authorized
        return authorized

    def type_hash(self, certificate_type: str) -> bytes:
        """``batch_schema(certificate_type)``, kept (at most ``_SIGNATURES_KEPT`` names): what a certificate's batch
        must record as its schema."""
        found = self._type_hashes.get(certificate_type)
        if found is None:
            found = batch_schema(certificate_type)
            if len(self._type_hashes) >= _SIGNATURES_KEPT:
                self._type_hashes.clear()
            self._type_hashes[certificate_type] = found
        return found

    def type_grant_kept(self, department: str, certificate_type: str, block: int) -> bool:
        """Whether the registry's answer for ``department``, ``certificate_type`` and ``block`` is kept (final)."""
        return ("type", department, certificate_type, block) in self._type_grants

    def batch_signer(self, root: bytes, batch: BatchInfo, signature: bytes) -> str:
        """Address that signed the batch's EIP-712 message (its schema the chain's record of the batch); InputError
        for a malformed signature (cached)."""
        key = (root, batch.count, batch.department, batch.schema, signature)
        found = self._recovered.get(key)
        if found is None:
            chain = self.chain
            try:
                found = checks_core.batch_signer(
                    chain.chain_id,
                    chain.deployment.anchor,
                    root,
                    batch.count,
                    batch.schema,
                    batch.department.encode().ljust(32, b"\x00"),
                    signature,
                )
            except InputError as exc:
                found = exc
            if len(self._recovered) >= _SIGNATURES_KEPT:
                self._recovered.clear()
            self._recovered[key] = found
        if isinstance(found, InputError):
            raise found
        return found

    def status(
        self, department: str, root: bytes, digest: bytes, at: int | None, head: int | None = None
    ) -> tuple[str, int, int, bytes]:
        """Status of certificate ``digest`` of ``department``'s batch ``root`` now (as of ``head``) or at unix
        time ``at``: (name, block, timestamp, detail). Only that department can have changed it.

        From the index or the department's stream (herd lookup) the timestamp is 0 (the block number says when);
        ``at`` queries ask the chain for this certificate only with the direct lookup.
        """
        fns = self.chain.anchor.functions
        dept = _department_id(department)
        if at is None:
            self._lookups += 1
            if head is not None and (self._indexed or self._lookups > INDEX_AFTER):
                self.sync(head)
                deep, recent = self._index
                key = (dept, root, digest)
                change = recent.get(key) or deep.get(key)
                if change is None:
                    return "valid", 0, 0, b""
                return STATUS_NAMES[change[0]], change[1], 0, change[2]
            if self.status_lookup == "herd":
                upto = self.head() if head is None else head
                found = self.department_stream(department, upto).last((dept, root, digest), upto)
                # never changed: what statusOf answers (Valid, block 0, zero detail)
                return ("valid", 0, 0, bytes(32)) if found is None else (STATUS_NAMES[found[0]], found[1], 0, found[2])
            return self._status_as_of(dept, root, digest, self.chain.call(fns.statusOf(dept, root, digest)), head)
        if self.status_lookup == "herd":
            # statusAt(T) is the last change made in a block stamped at or before T; block times never decrease,
            # so that is the last change up to the last block stamped at or before T: found by bisection over
            # block headers, which tells the node the moment asked about but not the certificate.
            upto = self.head() if head is None else head
            block = self.block_at_time(at, upto)
            found = None if block < 0 else self.department_stream(department, upto).last((dept, root, digest), block)
            return ("valid", 0, 0, b"") if found is None else (STATUS_NAMES[found[0]], 0, 0, b"")
        status = self.chain.call(fns.statusAt(dept, root, digest, at))
        return STATUS_NAMES[int(status)], 0, 0, b""

    def _status_as_of(
        self, dept: bytes, root: bytes, digest: bytes, answer: Any, head: int | None
    ) -> tuple[str, int, int, bytes]:
        """The status as of ``head`` from ``statusOf``'s ``answer``. It is read at the latest block, never at
        ``head``: a node keeps the state of recent blocks only (the embedded anvil 32 below the head, Besu's
        Bonsai 512 by default), and a long run's head falls out of that window. The last change made at or before
        ``head`` is the status as of ``head``; a later one sends us to the history."""
        status, block, ts, detail = answer
        if head is not None and int(block) > head:
            history = self.chain.call(self.chain.anchor.functions.statusHistory(dept, root, digest))
            earlier = [c for c in history if int(c[1]) <= head]
            if not earlier:
                return "valid", 0, 0, bytes(32)  # what statusOf answered as of ``head``: never changed
            status, block, ts, detail = earlier[-1]
        return STATUS_NAMES[int(status)], int(block), int(ts), bytes(detail)

    def standing(
        self, department: str, root: bytes, digest: bytes, at: int | None, head: int
    ) -> tuple[tuple[str, int, int, bytes], Elsewhere | None, Elsewhere | None]:
        """Certificate ``digest`` of ``department``'s batch ``root``: its status (:meth:`status`) and, unless that
        is an end, what its department made of the digest under its other roots (:meth:`elsewhere`, the suspension
        asked for when the status is valid): the status verification reports. Read as :meth:`status` reads; with
        the direct lookup in one JSON-RPC batch (``statusOf`` or ``statusAt``, ``endedUnder``, ``heldUnder``), and
        a status history only for a change after ``head`` or a root they name that is not ``root``."""
        if at is None and self._indexed and head <= self._synced:  # the index answers, whatever the lookup
            return self._standing_indexed(department, root, digest, head)
        direct = self.status_lookup == "direct"
        if direct and at is None and (self._indexed or self._lookups + 1 > INDEX_AFTER):
            direct = False  # the index, as status() switches to it
        if not direct:
            own = self.status(department, root, digest, at, head)
            if own[0] in ("revoked", "superseded"):
                return own, None, None
            return own, *self.elsewhere(department, root, digest, at, head, held=own[0] == "valid")
        if at is None:
            self._lookups += 1
        dept, fns = _department_id(department), self.chain.anchor.functions
        asked = fns.statusOf(dept, root, digest) if at is None else fns.statusAt(dept, root, digest, at)
        answer, ended_root, held_root = self.chain.call_many(
            [asked, fns.endedUnder(dept, digest), fns.heldUnder(dept, digest)]
        )
        if at is None:
            own = self._status_as_of(dept, root, digest, answer, head)
        else:
            own = STATUS_NAMES[int(answer)], 0, 0, b""
        if own[0] in ("revoked", "superseded"):
            return own, None, None
        held = own[0] == "valid"
        roots = bytes(ended_root), bytes(held_root) if held else bytes(32)
        return own, *self._elsewhere_under(dept, root, digest, at, head, *roots)

    def status_history(self, department: str, root: bytes, digest: bytes, upto: int) -> list[tuple[str, int, bytes]]:
        """Every status change of certificate ``digest`` of ``department``'s batch ``root`` up to block ``upto``,
        oldest first: (status, block, detail). Herd lookup: from the department's whole status event stream."""
        dept = _department_id(department)
        if self.status_lookup == "herd":
            # no event lies beyond the head: a block not mined yet (a bundle's as_of, a record's as_of_block) is
            # read up to the head, never asked of the node chunk by chunk (a node answering [] for blocks it does
            # not have would keep that loop going for ever)
            read_to = upto if upto <= self._head else min(upto, self.head())
            return [
                (STATUS_NAMES[s], b, d)
                for s, b, d in self.department_stream(department, read_to).changes((dept, root, digest), upto)
            ]
        changes = self.chain.call(self.chain.anchor.functions.statusHistory(dept, root, digest))
        return [(STATUS_NAMES[int(s)], int(b), bytes(d)) for s, b, _ts, d in changes if int(b) <= upto]

    def elsewhere(
        self, department: str, root: bytes, digest: bytes, at: int | None, head: int, *, held: bool = True
    ) -> tuple[Elsewhere | None, Elsewhere | None]:
        """What ``department`` made of certificate ``digest`` under another of its roots than ``root`` (as of
        ``head``, or at unix time ``at``): (its end, its suspension), each (status, block, timestamp, detail, that
        root) or None. A digest anchored again is the same certificate: its end (revoked, superseded) holds under
        every root (CertificateAnchor 2.1.0 refuses status changes through the other roots once it ended,
        ``endedUnder`` names the root; red team round 42), and so does its suspension (2.2.0 makes every
        suspension and reinstatement of a digest through the root of its first suspension, ``heldUnder``; round
        46). The suspension is read only when there is no end and ``held`` is asked for (a caller whose own root
        says suspended has no use for it): None otherwise.

        Read where :meth:`status` reads: the index (two lookups), the department's stream (one), or the contract:
        ``endedUnder`` and ``heldUnder`` in one JSON-RPC batch (``endedUnder`` alone without ``held``), then the
        status history of a root they name that is not ``root``."""
        dept = _department_id(department)
        if at is None and self._indexed and head <= self._synced:
            return self._indexed_elsewhere(department, dept, root, digest, head, held)
        if self.status_lookup == "herd":
            upto = head if at is None else self.block_at_time(at, head)
            found = (None, None) if upto < 0 else self.department_stream(department, head).elsewhere(dept, digest, upto)
            return _elsewhere_answer(root, held, *found)
        return self._elsewhere_direct(dept, root, digest, at, head, held=held)

    def _standing_indexed(
        self, department: str, root: bytes, digest: bytes, head: int
    ) -> tuple[tuple[str, int, int, bytes], Elsewhere | None, Elsewhere | None]:
        """:meth:`standing` as of ``head`` from the status index, synced to ``head`` or beyond: what :meth:`status`
        and then :meth:`elsewhere` read from it, in one call (verify_many's every certificate)."""
        self._lookups += 1
        dept = _department_id(department)
        deep, recent = self._index
        key = (dept, root, digest)
        change = recent.get(key) or deep.get(key)
        if change is None:
            own = ("valid", 0, 0, b"")
        elif change[0] in _TERMINAL_CODES:
            return (STATUS_NAMES[change[0]], change[1], 0, change[2]), None, None
        else:
            own = (STATUS_NAMES[change[0]], change[1], 0, change[2])
        return own, *self._indexed_elsewhere(department, dept, root, digest, head, own[0] == "valid")

    def _indexed_elsewhere(
        self, department: str, dept: bytes, root: bytes, digest: bytes, head: int, held: bool
    ) -> tuple[Elsewhere | None, Elsewhere | None]:
        """:meth:`elsewhere` as of ``head`` from the index (its two maps of ends and suspensions per digest)."""
        key = (dept, digest)
        ends, holds = self._ended, self._held
        ended = ends[0].get(key) or ends[1].get(key)
        ended = ended if ended is not None and ended[2] <= head else None
        suspended: _Ended | None = None
        if held and (ended is None or ended[0] == root):
            suspended = holds[1].get(key) or holds[0].get(key)
            # a change after ``head``: its stream knows the one before
            if suspended is not None and suspended[2] > head:
                suspended = self.department_stream(department, head).elsewhere(dept, digest, head)[1]
        return _elsewhere_answer(root, held, ended, suspended)

    def _elsewhere_direct(
        self, dept: bytes, root: bytes, digest: bytes, at: int | None, head: int, *, held: bool
    ) -> tuple[Elsewhere | None, Elsewhere | None]:
        """:meth:`elsewhere` asked of the contract for this certificate only (the direct lookup)."""
        chain, fns = self.chain, self.chain.anchor.functions
        if held:
            ended_root, held_root = (
                bytes(r) for r in chain.call_many([fns.endedUnder(dept, digest), fns.heldUnder(dept, digest)])
            )
        else:
            ended_root, held_root = bytes(chain.call(fns.endedUnder(dept, digest))), bytes(32)
        return self._elsewhere_under(dept, root, digest, at, head, ended_root, held_root)

    def _elsewhere_under(
        self, dept: bytes, root: bytes, digest: bytes, at: int | None, head: int, ended_root: bytes, held_root: bytes
    ) -> tuple[Elsewhere | None, Elsewhere | None]:
        """:meth:`elsewhere` from what ``endedUnder`` and ``heldUnder`` answered (a zero ``held_root``: the
        suspension not asked for), reading the status of a root they name that is not ``root``."""
        chain, fns = self.chain, self.chain.anchor.functions
        if ended_root not in (bytes(32), root):
            if at is not None:
                status = int(chain.call(fns.statusAt(dept, ended_root, digest, at)))
                if status in _TERMINAL_CODES:
                    return (STATUS_NAMES[status], 0, 0, b"", ended_root), None
            else:
                changes = chain.call(fns.statusHistory(dept, ended_root, digest))
                terminal = [c for c in changes if int(c[0]) in _TERMINAL_CODES and int(c[1]) <= head]
                if terminal:
                    status, block, ts, detail = terminal[0]
                    return (STATUS_NAMES[int(status)], int(block), int(ts), bytes(detail), ended_root), None
        if held_root in (bytes(32), root):
            return None, None
        if at is not None:
            status = int(chain.call(fns.statusAt(dept, held_root, digest, at)))
            return (None, ("suspended", 0, 0, b"", held_root)) if status == 1 else (None, None)
        changes = [c for c in chain.call(fns.statusHistory(dept, held_root, digest)) if int(c[1]) <= head]
        if not changes or int(changes[-1][0]) != 1:
            return None, None
        _status, block, ts, detail = changes[-1]
        return None, ("suspended", int(block), int(ts), bytes(detail), held_root)

    def department_stream(self, department: str, head: int) -> _DepartmentStream:
        """``department``'s status events up to block ``head``: every one of them, read with ``eth_getLogs``
        filtered by the department's topic only (the contract stamps each status event with the department whose
        key made the change), so the node cannot tell which of its certificates is being looked at. Read once
        per view and brought up to a later head incrementally; the blocks that are not final yet
        (chainread.Finality) are read again, also at the same head once the last read is ``RESYNC_SECONDS`` old
        (the operator replacing the last block with one of the same height, as for the index: :meth:`sync`)."""
        dept = _department_id(department)
        stream = self._streams.get(dept)
        if stream is not None and self._answers_for(stream, head):
            return stream
        with self._lock:
            stream = self._streams.setdefault(dept, _DepartmentStream())
            if self._answers_for(stream, head):
                return stream
            started = time.monotonic()
            # from the department's registration on, as the court's verifier reads: an event the node places before
            # it is outside the range asked for, refused (red team round 68)
            # the contract's trail first, at the latest block: the events are read up to its last change, and must
            # hash to it (red team round 68: a node left a revocation out of its answer and was believed)
            registered, stated = self._registration_and_trail(dept)
            start = max(stream.final_upto + 1, registered)
            final_upto = max(chainread.Finality(self.confirmations).final_upto(head), stream.final_upto)
            end = max(head, stated.block)
            deep = {key: list(changes) for key, changes in stream.deep.items()}
            recent: dict[CertKey, list[tuple[int, int, bytes]]] = {}
            supersessions: list[tuple[int, CertKey, bytes]] = []
            running = final_trail = stream.final_trail
            for key, status, block, data in self._department_logs(dept, start, end, supersessions):
                running = running.then(status, key[2], key[1], block, data)
                if block <= final_upto:
                    final_trail = running
                (deep if block <= final_upto else recent).setdefault(key, []).append((status, block, data[:32]))
            trail.require(dept, running, stated, f"blocks {start}-{end}")
            replaced, replaced_recent = _split_supersessions(stream.replaced, supersessions, final_upto)
            fresh = _DepartmentStream(
                end, final_upto, deep, recent, replaced, replaced_recent, started, final_trail=final_trail
            )
            self._streams[dept] = fresh
            return fresh

    def trail_upto(self, dept: bytes, height: int, block_hash: str) -> tuple[trail.Trail, _DepartmentStream]:
        """Department ``dept``'s status trail recomputed from its status events up to block ``height`` of hash
        ``block_hash`` (a witnessed block), as the node answers them, and those events: read once per witnessed
        block, since a block whose hash a witness vouches for, and every block below it, never changes; the
        witnessed check compares the trail with the one proven at that block, and the verdict with the events'
        (red team round 75: a node answered these events honestly and the status verdict's reads from another
        state). Read on from the trail last proven at a lower block (:meth:`proven_at`), else from the department's
        registration: a later checkpoint costs the events since the last one, not the department's whole history
        (a history rewritten below the last one leaves the result unequal to the trail proven at ``height``, so it
        fails, never passes)."""
        key = (block_hash, dept)
        found = self._witnessed_trails.get(key)
        if found is not None:
            return found
        below, running, earlier = self._proven_trails.get(dept, (-1, trail.NONE, _DepartmentStream()))
        if not 0 <= below < height:
            below, running, earlier = -1, trail.NONE, _DepartmentStream()
        start = below + 1 if below >= 0 else self.registered_from(dept)
        deep = {k: list(changes) for k, changes in earlier.deep.items()}
        for event_key, status, block, data in self._department_logs(dept, start, height, []):
            running = running.then(status, event_key[2], event_key[1], block, data)
            deep.setdefault(event_key, []).append((status, block, data[:32]))
        events = _DepartmentStream(height, height, deep, final_trail=running)
        kept = {k: v for k, v in self._witnessed_trails.items() if k[0] == block_hash}
        kept[key] = (running, events)
        self._witnessed_trails = kept
        return running, events

    def proven_at(self, dept: bytes, height: int, value: trail.Trail, events: _DepartmentStream) -> None:
        """Keep ``value`` as department ``dept``'s trail at block ``height``, proven from a witnessed block's hash
        (the state there, not a node's word), with the ``events`` that hash to it: :meth:`trail_upto` reads on
        from them."""
        known = self._proven_trails.get(dept)
        if known is None or known[0] < height:
            self._proven_trails[dept] = (height, value, events)

    def batches_upto(
        self, dept: bytes, height: int, block_hash: str
    ) -> tuple[trail.Trail, dict[bytes, trail.BatchEvent]]:
        """Department ``dept``'s anchoring trail recomputed from its batch events up to block ``height`` of hash
        ``block_hash`` (a witnessed block), as the node answers them, and those events by root: read once per
        witnessed block, on from the trail last proven at a lower block (:meth:`anchorings_proven_at`), else from
        the department's registration (no batch of it can be older: the contract refuses an anchoring by a
        department the registry does not hold active). The witnessed check compares the trail with the one proven
        at that block, and the certificate's batch with the events (red team round 75: a node dated a batch
        anchored after the latest checkpoint below it)."""
        key = (block_hash, dept)
        found = self._witnessed_batches.get(key)
        if found is not None:
            return found
        below, running, earlier = self._proven_batches.get(dept, (-1, trail.NONE, {}))
        if not 0 <= below < height:
            below, running, earlier = -1, trail.NONE, {}
        start = below + 1 if below >= 0 else self.registered_from(dept)
        batches = dict(earlier)
        for event in trail.read_batch_events(self.chain, start, height, dept):
            running = running.anchored(event.root, event.signer, event.block, event.data)
            batches.setdefault(event.root, event)  # the contract refuses a root anchored twice by one department
        kept = {k: v for k, v in self._witnessed_batches.items() if k[0] == block_hash}
        kept[key] = (running, batches)
        self._witnessed_batches = kept
        return running, batches

    def anchorings_proven_at(
        self, dept: bytes, height: int, value: trail.Trail, batches: dict[bytes, trail.BatchEvent]
    ) -> None:
        """Keep ``value`` as department ``dept``'s anchoring trail at block ``height``, proven from a witnessed
        block's hash, with the batch events that hash to it: :meth:`batches_upto` reads on from them."""
        known = self._proven_batches.get(dept)
        if known is None or known[0] < height:
            self._proven_batches[dept] = (height, value, batches)

    def registered_from(self, dept: bytes) -> int:
        """The block from which department ``dept`` (its id) can have status events: its registration (the start of
        its first status period in the registry), or the deployment's block for a department the registry does not
        know (it changed no status; not kept, as its registration may come). A node placing a status event before it
        moved the event: the court's verifier reads a department's events from there and refuses an earlier one, and
        so does the library (red team round 68: a suspension moved before the registration came first in chain
        order, and the certificate read valid)."""
        deployed = int(self.chain.deployment.deployed_block)
        known = self._registered.get(dept)
        if known is not None or self._offline:
            return deployed if known is None else known
        try:
            periods = self.chain.call(self.chain.registry.functions.statusHistory(dept))
        except ChainError as exc:
            if exc.error_name != "RegistryUnknownDepartment":
                raise
            periods = []
        return self._registered_from_periods(dept, periods)

    def _registration_and_trail(self, dept: bytes) -> tuple[int, trail.Trail]:
        """:meth:`registered_from` and the department's status trail at the latest block: one JSON-RPC batch when
        the registration is not kept yet (a fresh view's first herd read: every CLI verification and evidence
        bundle), so the trail costs no round trip of its own."""
        if dept in self._registered or self._offline:
            return self.registered_from(dept), trail.stated(self.chain, dept)
        fns = [self.chain.registry.functions.statusHistory(dept), self.chain.anchor.functions.statusTrail(dept)]
        try:
            periods, stated = self.chain.call_many(fns)
        except ChainError as exc:
            if exc.error_name != "RegistryUnknownDepartment":
                raise
            return self._registered_from_periods(dept, []), trail.stated(self.chain, dept)
        return self._registered_from_periods(dept, periods), trail.from_answer(stated)

    def _registered_from_periods(self, dept: bytes, periods: Any) -> int:
        """:meth:`registered_from` from the registry's status periods of ``dept`` (none: not registered)."""
        deployed = int(self.chain.deployment.deployed_block)
        if not periods:
            # not registered yet: not kept, or a view asked before the registration (an anonymous client naming a
            # department code to come) took the deployment's block for it for good, and with it an event the node
            # moved before the registration (red team round 70). Asked again until the registry knows it.
            return deployed
        found = max(deployed, min(int(period[2]) for period in periods))
        self._registered[dept] = found
        return found

    def _answers_for(self, stream: _DepartmentStream, head: int) -> bool:
        """Whether ``stream`` answers for ``head``: synced that far, and its events not yet final read within
        ``RESYNC_SECONDS`` (a chain rewritten to the same height leaves the head's number as it was). A forked
        verifier (offline) keeps the streams of its run, as it keeps the index."""
        return head <= stream.synced and (self._offline or time.monotonic() - stream.read_at < RESYNC_SECONDS)

    def _department_logs(
        self, dept: bytes, start: int, end: int, supersessions: list[tuple[int, CertKey, bytes]]
    ) -> list[tuple[CertKey, int, int, bytes]]:
        """Every status event of department ``dept`` in blocks [start, end], in chain order: (key, status, block,
        the event's ABI data, its detail first); each supersession also goes to ``supersessions`` as (block,
        successor's key, superseded digest).
        Read as raw JSON-RPC (web3's log formatting costs ten times the transfer at 100,000 events), and checked: an
        event of another department or contract, or outside the range, is the node lying."""
        topics = {"0x" + t.hex(): code for t, code in self._status_topics().items()}
        contract, dept_topic = self.chain.deployment.anchor.lower(), "0x" + dept.hex()
        found: list[tuple[int, int, CertKey, int, bytes]] = []  # (block, log index, key, status, data)
        for block, upto in chainread.scan_ranges(self.chain, "the status events of one department", start, end):
            query = {
                "address": contract,
                "fromBlock": hex(block),
                "toBlock": hex(upto),
                "topics": [list(topics), None, None, dept_topic],
            }
            try:
                answer = self.chain.w3.provider.make_request("eth_getLogs", [query])  # type: ignore[arg-type]
            except (OSError, ValueError) as exc:
                raise ChainError(f"could not read the status events of blocks {block}-{upto}: {exc}") from exc
            if answer.get("error") or not isinstance(answer.get("result"), list):
                raise ChainError(
                    f"could not read the status events of blocks {block}-{upto}: "
                    f"{answer.get('error') or 'no list of events'}"
                )
            try:
                for log in answer["result"]:
                    names = log["topics"]
                    number = int(log["blockNumber"], 16)
                    if (
                        log.get("removed")
                        or log["address"].lower() != contract
                        or len(names) != 4
                        or names[0] not in topics
                        or names[3].lower() != dept_topic
                        or not block <= number <= upto
                    ):
                        raise ChainError(
                            "the node answered a query for one department's status events with an "
                            "event it was not asked for"
                        )
                    key = (dept, bytes.fromhex(names[2][2:]), bytes.fromhex(names[1][2:]))
                    data = bytes.fromhex(log["data"][2:])
                    found.append((number, int(log["logIndex"], 16), key, topics[names[0]], data))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ChainError(f"the node's status events of blocks {block}-{upto} are malformed: {exc}") from exc
        # in chain order, whatever order the node answered in (the successor's predecessors too: the report names
        # the latest one, as the index and the scan do)
        found.sort(key=lambda item: (item[0], item[1]))
        supersessions.extend(  # data: successor, successorRoot
            (number, (dept, data[32:64], data[:32]), key[2])
            for number, _, key, status, data in found
            if status == _SUPERSEDED_CODE
        )
        return [(key, status, number, data) for number, _, key, status, data in found]

    def block_at_time(self, at: int, head: int) -> int:
        """The last block up to ``head`` stamped at or before unix time ``at`` (-1 when none is), by bisection."""

        def stamp(number: int) -> int:
            found = self._block_times.get(number)
            if found is None:
                try:
                    found = int(self.chain.w3.eth.get_block(number)["timestamp"])
                except chainread.read_errors() as exc:
                    raise ChainError(f"could not read block {number}: {exc}") from exc
                if number <= chainread.Finality(self.confirmations).final_upto(head):
                    self._block_times[number] = found
            return found

        low, high = 0, head  # invariant: the answer lies in [low - 1, high]
        if stamp(0) > at:
            return -1
        while low < high:
            middle = (low + high + 1) // 2
            if stamp(middle) <= at:
                low = middle
            else:
                high = middle - 1
        return low

    def prove_replaces(self, department: str, root: bytes, digest: bytes, predecessors: tuple[bytes, ...]) -> None:
        """Take ``predecessors`` as the certificates certificate ``digest`` of ``department``'s batch ``root``
        superseded: what a state proof of its slots at a witnessed block proves (an evidence bundle's, docs/evidence.md
        "Certificate slots"), so :meth:`replaces` asks the node nothing for it."""
        proven = dict(getattr(self, "_proven_replaces", {}))
        proven[(_department_id(department), root, digest)] = tuple(predecessors)
        self._proven_replaces = proven

    def replaces(self, department: str, root: bytes, digest: bytes) -> tuple[bytes, ...]:
        """The digests of the certificates this one superseded, in chain order: none, one, or several (a certificate
        replacing two merged ones). From the index when in use, from the department's stream under the herd lookup,
        else (direct lookup) from the contract's own record of them, ``predecessors(department, root, digest)``
        (CertificateAnchor 4.3.0): one call whatever the chain's length, where a scan of every supersession of the
        issuer from block 1 grew with the chain and a node could leave one out of it unseen. Each is believed only as
        the superseded certificate's status history on the contract records it (a supersession by this one): a
        predecessor a node made up named a certificate this one never replaced (red team round 72). Proven ones
        (:meth:`prove_replaces`) are taken as proven."""
        dept = _department_id(department)
        proven = getattr(self, "_proven_replaces", {}).get((dept, root, digest))
        if proven is not None:
            return tuple(proven)
        if self._indexed:
            deep, recent = self._replaced
            return deep.get((dept, root, digest), ()) + recent.get((dept, root, digest), ())
        stream = self._streams.get(dept)
        if stream is not None:  # herd lookup: already read with the department's status events
            return stream.predecessors((dept, root, digest))
        fns = self.chain.anchor.functions
        found = [(bytes(p[0]), bytes(p[1])) for p in self.chain.call(fns.predecessors(dept, root, digest))]
        if not found:
            return ()
        histories = self.chain.call_many([fns.statusHistory(dept, r, d) for r, d in found])
        for (_, old), history in zip(found, histories, strict=True):
            if not any(int(c[0]) == _SUPERSEDED_CODE and bytes(c[3]) == digest for c in history):
                raise ChainError(
                    f"the node answered {hex32(old)} as a certificate {hex32(digest)} superseded, which that "
                    "certificate's status history on the contract does not record: the node made it up; do not "
                    "trust this node"
                )
        return tuple(old for _, old in found)

    def sync(self, head: int | None = None, *, recheck: bool = False) -> int:
        """Bring the status index up to ``head`` (default: the chain's head now); returns the block it is synced to.

        ``recheck`` (the gateway's head refresher, each :func:`verify_many` call): also read the events not yet
        final again when the last read is :data:`RESYNC_SECONDS` old although the head has not moved. A chain
        rewritten to the same height (the operator replacing its last blocks and making no new one) leaves the
        head's number as it was, and an index kept per head number alone went on answering for the old blocks.
        The per-certificate lookups inside one verification run never recheck (a forked verifier reads no chain)."""
        head = self.head() if head is None else head
        if self._indexed and head <= self._synced and not (recheck and (head < self._synced or self._stale())):
            return self._synced
        with self._lock:
            if recheck and self._rewritten_past_final(head):
                self._forget_chain_facts()
            if self._indexed and head <= self._synced and not (recheck and (head < self._synced or self._stale())):
                return self._synced
            # a recheck at a lower head (the chain rolled back): the events not final are read up to it, and
            # none of the blocks above it, which the chain may no longer have, is kept
            if not (recheck and self._indexed and self._full_read_due()):
                self._sync_locked(head if recheck else max(head, self._synced))
                return self._synced
            self._full_reading, generation = True, self._generation
        return self._full_read(head, generation)

    def _full_read_due(self) -> bool:
        return not self._full_reading and time.monotonic() - self._full_read_at >= FULL_RESYNC_SECONDS

    def _full_read(self, head: int, generation: int) -> int:
        """The hourly read of every status event from the deployment on (FULL_RESYNC_SECONDS), made outside the
        view's lock: on a long chain it takes seconds to minutes, and held under the lock it held up every sync,
        so every public verification at the gateway waited for it once an hour. Syncs meanwhile keep the kept
        index current; the new one replaces it once read (unless the chain facts were forgotten since: a rewrite),
        brought up to the newest head a sync reached meanwhile."""
        try:
            state = self._read_index(head, full=True)
            with self._lock:
                if self._generation == generation:
                    reached = self._synced
                    self._install(state)
                    if reached > head:
                        self._sync_locked(reached)
        finally:
            self._full_reading = False
        return self._synced

    def _stale(self) -> bool:
        return time.monotonic() - self._synced_at >= RESYNC_SECONDS or self._full_read_due()

    def _rewritten_past_final(self, head: int) -> bool:
        """Whether the chain no longer has the block that was the final boundary at the last sync, as it was then:
        its head below it, or another hash there. What this view keeps for good (batches' anchorings, registry
        answers, block times, the index's deep events) was read as final against that boundary; a rollback or a
        rewrite past it (the chain's operator with its validators, red team round 65) leaves none of it standing."""
        number, known = self._final_mark
        if number < 0 or self._offline:
            return False
        return head < number or (self.chain.block_hash(number) or "") != known

    def _forget_chain_facts(self) -> None:
        """Forget every chain fact this view keeps (not the pure memos: recovered signers, proof walks, checks), so
        the next reads take them from the chain as it is now: the history they came from was rewritten."""
        self._streams = {}
        self._registered = {}
        self._block_times = {}
        self._batches = {}
        self._signers = {}
        self._type_grants = {}
        self._batch_checks = (-1, {})
        self._ended, self._held = ({}, {}), ({}, {})
        self._index, self._replaced = ({}, {}), ({}, {})
        self._trails = {}
        self._final_upto, self._synced, self._indexed = -1, -1, False
        self._final_mark = (-1, "")
        self._generation += 1

    def _sync_locked(self, head: int) -> None:
        self._install(self._read_index(head))

    def _read_index(self, head: int, *, full: bool = False) -> _IndexRead:
        """The status index up to ``head``, read from the chain and from what is kept (nothing of the view is
        changed: :meth:`_install` puts it in place). Everything after the previous final boundary is read again:
        events near the old head may have been replaced by a reorganisation since. ``full`` (every
        FULL_RESYNC_SECONDS): everything from the deployment on, into a new index that replaces the kept one whole
        once read (readers meanwhile answer from the old)."""
        started = time.monotonic()
        deployed = int(self.chain.deployment.deployed_block)
        kept_upto = -1 if full else self._final_upto
        start = max(kept_upto + 1, deployed)
        final_upto = max(chainread.Finality(self.confirmations).final_upto(head), kept_upto)
        # every department's trail first, at the latest block: the events are read up to the last change of any,
        # and each department's must hash to its trail (red team round 68)
        stated = trail.stated_all(self.chain)
        head = max([head, *(found.block for found in stated.values())])
        links: list[tuple[CertKey, int, int, bytes]] = []
        deep = {} if full else dict(self._index[0])
        recent: dict[CertKey, tuple[int, int, bytes]] = {}
        ended_deep = {} if full else dict(self._ended[0])
        ended_recent = dict[tuple[bytes, bytes], _Ended]()
        held_deep = {} if full else dict(self._held[0])
        held_recent = dict[tuple[bytes, bytes], _Ended]()
        supersessions: list[tuple[int, CertKey, bytes]] = []
        for key, status, block, detail in self._status_logs(start, head, supersessions, links):
            (deep if block <= final_upto else recent)[key] = (status, block, detail)  # later events win
            if status in _TERMINAL_CODES:  # the first end wins
                ended = ended_deep if block <= final_upto else ended_recent
                if (key[0], key[2]) not in ended_deep:
                    ended.setdefault((key[0], key[2]), (key[1], status, block, detail))
            else:  # the last suspension or reinstatement wins
                (held_deep if block <= final_upto else held_recent)[(key[0], key[2])] = (key[1], status, block, detail)
        running, trails = trail.chained(links, None if full else self._trails, final_upto)
        trail.require_all(running, stated, f"blocks {start}-{head}")
        replaced = _split_supersessions({} if full else self._replaced[0], supersessions, final_upto)
        mark = self._final_mark
        if final_upto >= 0 and final_upto != mark[0]:  # one block read when the boundary moves
            mark = (final_upto, self.chain.block_hash(final_upto) or "")
        return _IndexRead(
            started,
            head,
            final_upto,
            (ended_deep, ended_recent),
            (held_deep, held_recent),
            (deep, recent),
            replaced,
            mark,
            start <= deployed,
            full,
            trails,
        )

    def _install(self, read: _IndexRead) -> None:
        # the ends first: a reader (the gateway's native report) that sees the new index sees them too
        self._ended, self._held = read.ended, read.held
        self._index, self._replaced, self._final_upto = read.index, read.replaced, read.final_upto
        self._trails = read.trails
        self._synced, self._indexed, self._synced_at = read.head, True, read.started
        if read.from_deployment:
            # the department streams stay: each read of one checked it against its department's status trail
            self._full_read_at = read.started
        self._final_mark = read.final_mark

    def status_events(self, start: int | None = None, end: int | None = None) -> list[tuple[CertKey, int, int, bytes]]:
        """Every status event of the anchor contract in blocks [start (default: deployment), end (default: head)],
        in chain order: ((department, root, digest), status code, block, detail). For "status as of block B"
        questions over many certificates (replay), read once. Every department's events are checked against its
        status trail (:mod:`ledger.onchain.trail`), so they are read from the deployment on, up to the last change
        of any, whatever ``start`` is: those before ``start`` or past ``end`` are left out of the answer. A range read
        alone cannot be checked (the trail chains every change since the department's first), and one unchecked
        answered a node's made-up or missing events (red team round 73)."""
        end = self.head() if end is None else end
        deployed = int(self.chain.deployment.deployed_block)
        start = deployed if start is None else start
        stated = trail.stated_all(self.chain)
        links: list[tuple[CertKey, int, int, bytes]] = []
        found = self._status_logs(deployed, max([end, *(t.block for t in stated.values())]), None, links)
        trail.require_all(trail.chained(links)[0], stated, "every status event")
        return [event for event in found if start <= event[2] <= end]

    def _status_topics(self) -> dict[bytes, int]:
        if not self._topics:
            from eth_utils.crypto import keccak

            for item in self.chain.artifacts["CertificateAnchor"].abi:
                if item.get("type") == "event" and item["name"] in _STATUS_EVENTS:
                    signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                    self._topics[keccak(text=signature)] = _STATUS_EVENTS[item["name"]]
        return self._topics

    def _status_logs(
        self,
        start: int,
        end: int,
        supersessions: list[tuple[int, CertKey, bytes]] | None = None,
        links: list[tuple[CertKey, int, int, bytes]] | None = None,
    ) -> list[tuple[CertKey, int, int, bytes]]:
        """Every status event of the anchor contract in [start, end], in chain order: ((department, root,
        digest), status, block, detail), detail being the reason code or, for a supersession, the successor's
        digest (every status event has topics [event, digest, root, department] and the detail first in data).
        Each supersession also goes to ``supersessions``: (block, successor's key, superseded digest), and every
        event to ``links`` with its whole ABI data, for its department's status trail. An event of a
        block before its department's registration is the node lying (it moved the event, red team round 68): a
        ChainError, for the index, replay and reconcile alike, as the herd read and the court's verifier refuse it."""
        topics = self._status_topics()
        found: list[tuple[CertKey, int, int, bytes]] = []
        logs = chainread.scan_raw(
            self.chain,
            {"address": self.chain.deployment.anchor, "topics": [["0x" + t.hex() for t in topics]]},
            what="the status events",
            start=start,
            end=end,
        )
        for log in logs:  # in chain order
            status = topics[bytes(log["topics"][0])]
            key = (bytes(log["topics"][3]), bytes(log["topics"][2]), bytes(log["topics"][1]))
            data = bytes(log["data"])
            if int(log["blockNumber"]) < self.registered_from(key[0]):
                raise ChainError(
                    f"the node answered a status event in block {int(log['blockNumber'])}, before its department "
                    f"was registered (block {self.registered_from(key[0])}): no such event can exist, the node "
                    "moved it; do not trust this node"
                )
            found.append((key, status, int(log["blockNumber"]), data[:32]))
            if links is not None:
                links.append((key, status, int(log["blockNumber"]), data))
            if supersessions is not None and status == _SUPERSEDED_CODE:  # data: successor, successorRoot
                supersessions.append((int(log["blockNumber"]), (key[0], data[32:64], data[:32]), key[2]))
        return found


def _elsewhere_answer(
    root: bytes, held: bool, ended: _Ended | None, suspended: _Ended | None
) -> tuple[Elsewhere | None, Elsewhere | None]:
    """:meth:`ChainView.elsewhere`'s answer from the digest's first end and last suspension or reinstatement under
    any root of its department (each (root, status, block, detail) or None): what holds for ``root``'s certificate
    that its own root does not say."""
    if ended is not None and ended[0] != root:
        return (STATUS_NAMES[ended[1]], ended[2], 0, ended[3], ended[0]), None
    if not held or suspended is None or suspended[0] == root or suspended[1] != 1:
        return None, None
    return None, ("suspended", suspended[2], 0, suspended[3], suspended[0])


def _split_supersessions(
    deep: dict[CertKey, tuple[bytes, ...]], supersessions: list[tuple[int, CertKey, bytes]], final_upto: int
) -> tuple[dict[CertKey, tuple[bytes, ...]], dict[CertKey, tuple[bytes, ...]]]:
    """The notes "successor replaces digest": those of final blocks added to a copy of ``deep`` (kept), the others
    in a dict of their own, replaced whole at the next read (a reorganisation may drop them), in chain order. A
    successor may replace several certificates: each note is kept, after the ones before it."""
    kept, recent = dict(deep), dict[CertKey, tuple[bytes, ...]]()
    for block, successor, predecessor in supersessions:
        notes = kept if block <= final_upto else recent
        notes[successor] = (*notes.get(successor, ()), predecessor)
    return kept, recent


class _Checks:
    def __init__(self, names: tuple[str, ...] = CHECK_NAMES) -> None:
        self.items: list[Check] = []
        self.names = names

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.items.append(Check(name, ok, detail))
        return ok

    def skip_rest(self, reason: str) -> None:
        done = {c.name for c in self.items}
        for name in self.names:
            if name not in done:
                self.items.append(Check(name, False, f"not checked: {reason}", skipped=True))


def _parse_time(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return _in_utc(value) if isinstance(value, datetime) else None
    if not isinstance(value, str):  # e.g. a number in a tampered document: a failed check, not a crash
        raise InputError(f"{value!r} is not an ISO 8601 date or date-time")
    return _parse_time_text(value)


def _in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; InputError when that is outside the calendar (year 1 +01:00, year 9999 -01:00)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InputError(
            f"{moment.isoformat()} is outside the calendar (its UTC instant is before year 1 or after "
            "9999); give a moment within it"
        ) from None


@lru_cache(maxsize=4096)
def _parse_time_text(value: str) -> datetime:
    # Cached: certificates of one batch share their validity dates, and datetimes are immutable.
    text = value.replace("Z", "+00:00")
    try:
        parsed = (
            datetime.fromisoformat(text)
            if len(text) > 10
            else datetime.combine(date.fromisoformat(text), datetime.min.time())
        )
    except ValueError:
        raise InputError(f"{value!r} is not an ISO 8601 date or date-time") from None
    if parsed.tzinfo:
        _in_utc(parsed)  # comparable with every other moment
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Run:
    """What the verifications of one call share: the view, the head, the moment asked about, and the checks
    that depend only on the batch (anchor, confirmations, key, signature) or only on the chain, each worked out
    once per call instead of once per certificate. :func:`verify_certificate` makes one per certificate, so
    a batch of one goes through exactly the same code."""

    def __init__(
        self,
        view: ChainView,
        at: str | datetime | None,
        head: int | None,
        now: str | datetime | None = None,
        expected: tuple[str | None, str | None] | None = None,
    ) -> None:
        self.view = view
        # (type, issuer) the verifier asked for (expectation), None when it asked for none: an "expected" check
        self.expected = expected
        self.names = CHECK_NAMES if expected is None else (*CHECK_NAMES, "expected")
        self.at_time = _parse_time(at)
        self.at_text = self.at_time.isoformat() if self.at_time else None
        # Validity is judged at one moment for the whole call: the time asked about, else the caller's "now"
        # (a decision's moment), else the clock. Status stays as of the head unless ``at`` is given.
        self.now = self.at_time or (_parse_time(now) if now is not None else None) or datetime.now(UTC)
        self.head = head
        # the longest one verification may wait for the node in all (LEDGER_VERIFY_SECONDS): each certificate's
        self.seconds: float | None = getattr(view.chain, "verify_seconds", None)
        self._identity: Check | None = None
        self._batches: dict[
            tuple[str, bytes, bytes, int], tuple[BatchInfo | None, tuple[Check, ...], dict[str, Any]]
        ] = {}
        # (department, type, block, schema): type_authority
        self._type_checks: dict[tuple[str, str, int, bytes], Check] = {}
        # _anchoring's part that depends only on the anchor section's texts and the issuer (_KeptAnchoring), for a
        # run of many certificates (verify_many's); None: nothing kept (a run of one would only pay for keeping it)
        self._anchorings: dict[tuple[str, str, str, str, str | None, int], _KeptAnchoring] | None = None
        # the passing format, disclosure and status checks, by what their details name (the format and field counts;
        # nothing; the moment asked about), for a run of many certificates as _anchorings
        self._passed: dict[Any, Check] | None = None

    def check(self, name: str, ok: bool, detail: str) -> Check:
        """A check whose detail repeats across certificates (one object, reports are immutable): the view's, which
        keeps them across runs (a run of its own would only repeat that lookup, and miss on every check of a run
        of one certificate, the gateway's)."""
        return self.view.shared_check((name, ok, detail))

    def chain_check(self, anchor: Mapping[str, Any]) -> Check:
        chain_id, contract, registry = anchor.get("chain_id"), anchor.get("contract"), anchor.get("registry")
        # A pure function of the three values and the view's chain, kept across runs for values whose equality
        # is identity of their text (a string, an integer, null: 1 and True, or 0.0 and -0.0, are equal keys
        # but are written differently in the detail)
        exact = type(chain_id) in _EXACT and type(contract) in _EXACT and type(registry) in _EXACT
        kept = self.view.chain_checks
        named = (type(chain_id), chain_id, type(contract), contract, type(registry), registry)
        found = kept.get(named) if exact else None
        if found is None:
            found = self._chain_check(anchor, chain_id, registry)
            if exact:
                if len(kept) >= _CHAIN_CHECKS_KEPT:  # the values are the sender's: a few are genuine
                    kept.clear()
                kept[named] = found
        return found

    def _chain_check(self, anchor: Mapping[str, Any], chain_id: Any, registry: Any) -> Check:
        # The registry is optional in a document but, when stated, it is the credential's issuer id (vc.py): a
        # holder must not be able to name another registry than the one the chain's anchor contract consults.
        key = (
            chain_id if isinstance(chain_id, int) else repr(chain_id),
            str(anchor.get("contract", "")),
            None if registry is None else str(registry),
        )
        chain = self.view.chain
        same = (
            key[0] == chain.chain_id
            and key[1].lower() == chain.deployment.anchor.lower()
            and (key[2] is None or key[2].lower() == chain.deployment.registry.lower())
        )
        return Check(
            "chain",
            same,
            (
                f"chain {chain.chain_id}, anchor contract {chain.deployment.anchor}"
                if same
                else f"the certificate names chain {anchor.get('chain_id')} contract {anchor.get('contract')} registry "
                f"{registry}; this verifier reads chain {chain.chain_id} contract {chain.deployment.anchor} "
                f"registry {chain.deployment.registry}"
            ),
        )

    def type_authority(self, department: str, certificate_type: object, batch: BatchInfo) -> Check:
        """The certificate's type is its batch's, as the chain records it (CertificateAnchor 3.0.0: a batch is of one
        type, the type a supersession is checked by), and the council had authorized ``department`` for it at the
        anchoring block.

        Kept for the run (the certificates of a batch share it) once the view keeps the registry's answer, which
        it does when the block is final (:meth:`ChainView.was_authorized_for_type`): the check is then a pure
        function of the department, the type and the batch's block and schema."""
        if type(certificate_type) is not str:
            return self.check("type_authority", False, f"the certificate states no valid type ({certificate_type!r})")
        block = batch.block_number
        key = (department, certificate_type, block, batch.schema)
        found = self._type_checks.get(key)
        if found is not None:
            return found
        if not _CERTIFICATE_TYPE.match(certificate_type):
            return self.check("type_authority", False, f"the certificate states no valid type ({certificate_type!r})")
        if self.view.type_hash(certificate_type) != batch.schema:
            return self.check(
                "type_authority",
                False,
                f"the certificate states type {certificate_type!r} but {department} anchored its batch as type "
                f"{hex32(batch.schema)} (keccak256 of the type name; the registry's certificateTypeName names it): a "
                "certificate put in a batch of another type, whose type the chain's checks of supersessions and "
                "grants never saw",
            )
        authorized = self.view.was_authorized_for_type(department, certificate_type, block)
        found = self.check(
            "type_authority",
            authorized,
            f"{department} was authorized for type {certificate_type!r} at block {block}"
            if authorized
            else f"{department} was not authorized by the council to issue type {certificate_type!r} at block {block}, "
            f"where it anchored this certificate: a department acting outside its authority (the registry's "
            f"typeHistory lists the types it held and when)",
        )
        if type(department) is str and self.view.type_grant_kept(department, certificate_type, block):
            self._type_checks[key] = found
        return found

    def chain_identity_check(self) -> Check:
        """The connected chain is the one the deployment was made on: its genesis hash is the recorded one."""
        if self._identity is None:
            self._identity = self.check(
                "chain_identity",
                *checks_core.chain_identity(self.view.chain.deployment.genesis_hash, self.view.genesis()),
            )
        return self._identity

    def batch_checks(
        self, department: str, root: bytes, signature: bytes, head: int
    ) -> tuple[BatchInfo | None, tuple[Check, ...], dict[str, Any]]:
        """(batch, [anchored, confirmations, department_key, signature] checks, facts) of one anchored root."""
        key = (department, root, signature, head)
        found = self._batches.get(key)
        if found is None:
            kept = self.view.batch_checks_kept(key) if self.at_time is None else None
            found = self._batches[key] = (
                kept if kept is not None else self._batch_checks(department, root, signature, head)
            )
            if kept is None and self.at_time is None:
                self.view.keep_batch_checks(key, found)
        return found

    def _batch_checks(
        self, department: str, root: bytes, signature: bytes, head: int
    ) -> tuple[BatchInfo | None, tuple[Check, ...], dict[str, Any]]:
        view, at_time, at_text = self.view, self.at_time, self.at_text
        batch = view.batch(department, root, head)
        if batch is None:
            return (
                None,
                (
                    Check(
                        "anchored",
                        False,
                        f"{department} never anchored root {hex32(root)} on chain {view.chain.chain_id}",
                    ),
                ),
                {},
            )
        anchored_at = datetime.fromtimestamp(batch.timestamp, UTC)
        facts = {
            "department": batch.department,
            "signer": batch.signer,
            "block_number": batch.block_number,
            "anchored_at": anchored_at.isoformat(),
            "root": hex32(root),
        }
        anchored = Check(
            "anchored",
            at_time is None or anchored_at <= at_time,
            f"by {batch.department} ({batch.signer}) in block {batch.block_number} at "
            f"{anchored_at.isoformat()}"
            + ("" if at_time is None or anchored_at <= at_time else f", after the time asked about {at_text}"),
        )
        depth = head - batch.block_number
        confirmations = Check(
            "confirmations", depth >= view.confirmations, f"{depth} blocks on top; {view.confirmations} required"
        )
        key = Check(
            "department_key",
            *checks_core.department_key(
                batch.signer,
                batch.department,
                batch.block_number,
                view.was_active_issuer(batch.signer, batch.block_number),
            ),
        )
        signed_by: str | InputError
        try:
            signed_by = view.batch_signer(root, batch, signature)
        except InputError as exc:
            signed_by = exc
        signed = Check("signature", *checks_core.batch_signature(signed_by, batch.signer))
        return batch, (anchored, confirmations, key, signed), facts


def verify_certificate(
    source: str | Mapping[str, Any] | CertificateDocument,
    view: ChainView,
    *,
    at: str | datetime | None = None,
    now: str | datetime | None = None,
    expected_type: str | None = None,
    expected_issuer: str | None = None,
    rebuilt: bool = False,
) -> Report:
    """Verify a certificate document (or presentation) against the chain as of now or time ``at``.

    ``at`` asks about the past: status as of the block at that time, validity at that time. ``now`` only moves
    the moment validity is judged at (default: the clock), with status as of the head: a verifier replaying a
    check, or a test, supplies it. An ISO 8601 string without a time zone is UTC.

    ``expected_type`` / ``expected_issuer``: what the verifier asked the holder for (a business licence, of
    department MKT). Every genuine certificate passes every other check whatever its type and issuer, so a verifier
    asking for one kind must say which: an ``expected`` check then fails for a certificate of another type or issuer
    (red team round 65: a holder's genuine birth certificate was VERIFIED where a licence was asked for).

    ``rebuilt``: the document was rebuilt from this ledger's store (a verification by digest), so one that does not
    read as a certificate says the store's record was altered, not that what the caller sent was unreadable (it sent
    a digest)."""
    return _verify_one(
        source,
        _Run(view, at, None, now, expectation(expected_type, expected_issuer)),
        unreadable=_ALTERED_RECORD if rebuilt else _UNREADABLE,
    )


_UNREADABLE = "the document could not be read"
_ALTERED_RECORD = (
    "the store's record of this certificate was altered: the document rebuilt from it does not read as a certificate "
    "(`ledger reconcile` names the row)"
)


# What a certificate's digest alone lets the chain answer: every check but those that read its fields.
DIGEST_CHECK_NAMES = tuple(n for n in CHECK_NAMES if n not in ("format", "integrity", "disclosure", "validity"))


def verify_digest(
    digest: str,
    anchor: Mapping[str, Any],
    view: ChainView,
    *,
    issuer: str,
    certificate_type: str | None,
    at: str | datetime | None = None,
    unproven: Mapping[str, str] | None = None,
) -> Report:
    """Verify a certificate known by its digest alone, against the chain as of now or time ``at``: the checks of
    :func:`verify_certificate` that read no field (:data:`DIGEST_CHECK_NAMES`), from its ``anchor`` section (root,
    proof, signature, chain; as a document has it) and the ``issuer`` and ``certificate_type`` its issuer's store
    names. For a certificate whose contents are gone (erased: no document can be rebuilt) the chain's facts remain:
    that the digest was anchored, by whom and when, under a key and signature of that department, and its status.

    Nothing in the digest binds the issuer or type a store names: the caller says which of them it could not
    establish from a record the chain attests (``unproven``: check name -> why, in words that name no field), and
    each such check that ran fails with that reason (fail closed), listed in ``facts["unproven"]``.
    """
    key = parse_hex32(digest, "digest")  # InputError: not a digest
    run = _Run(view, at, None)
    checks = _Checks(DIGEST_CHECK_NAMES)
    facts: dict[str, Any] = {}
    try:
        with time_limit(run.seconds):
            head = view.head()
            checks.items.append(run.chain_check(anchor))
            checks.items.append(run.chain_identity_check())
            found = _anchoring(run, checks, facts, key, anchor, issuer, certificate_type, head)
            if found is not None:
                _witnessed(run, checks, *found, head, issuer)
    except ChainError as exc:
        checks.skip_rest(f"the chain could not be read: {exc}")
        return Report(hex32(key), tuple(checks.items), None, run.at_text)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:  # fail closed, as for a document
        checks.skip_rest(f"the anchor section is malformed ({type(exc).__name__}: {exc})")
        return Report(hex32(key), tuple(checks.items), None, run.at_text)
    if unproven:
        checks.items = [_not_established(c, unproven.get(c.name)) for c in checks.items]
        facts["unproven"] = sorted(n for n in unproven if n in DIGEST_CHECK_NAMES)
    return Report(hex32(key), tuple(checks.items), head, run.at_text, facts)


def _not_established(check: Check, why: str | None) -> Check:
    """``check`` failed for ``why`` (a fact it judges that the caller could not establish), unless it did not run.
    Only ``why`` is kept: the detail the check wrote may name the fact the caller could not vouch for."""
    if why is None or check.skipped:
        return check
    return Check(check.name, False, why)


def verify_many(
    sources: Iterable[str | Mapping[str, Any] | CertificateDocument],
    view: ChainView,
    *,
    at: str | datetime | None = None,
    now: str | datetime | None = None,
    workers: int | None = None,
    expected_type: str | None = None,
    expected_issuer: str | None = None,
) -> list[Report]:
    """Verify many certificates against one head: the head is read and the status index brought up to it
    once, then each certificate is verified exactly as :func:`verify_certificate` does (same checks, same
    reports, all "as of" that block). What depends only on a batch (its anchor, key and signature checks) is
    worked out once per batch root, and validity is judged at one moment for the whole call.

    ``workers``: forked helper processes (:func:`worker_count`; default: one for a call of at least
    :data:`FORK_MIN` certificates on a machine with two cores or more), which give the same reports.
    ``expected_type`` / ``expected_issuer``: as :func:`verify_certificate`'s, for every certificate of the call."""
    expected = expectation(expected_type, expected_issuer)  # before the chain is read: a bad one is the caller's
    try:
        with chain_limit(view.chain):  # the reads all its certificates share
            head: int | None = view.head()
            view.sync(head, recheck=True)
    except ChainError:
        head = None  # each verification reports the chain failure itself
    run = _Run(view, at, head, now, expected)
    run._anchorings = {}  # many certificates: each anchor section's batch part worked out once (_anchoring)
    run._passed = {}  # and the passing checks whose details repeat, once each
    # The cyclic collector is not paused here (the gateway runs this): one-shot callers pause it (ledger._gc).
    listed = sources if isinstance(sources, list) else list(sources)
    if head is not None and worker_count(workers, len(listed)):
        return _verify_forked(listed, run)
    return [_verify_one(source, run) for source in listed]


# verify_many verifies in two processes only for at least this many certificates: forking a process that holds the
# status index costs a few milliseconds of CPU (page tables), worth it from a few thousand verifications (≈ 50-150
# µs each).
FORK_MIN = 4_000


def worker_count(requested: int | None, size: int) -> int:
    """Forked helper processes for a :func:`verify_many` call of ``size`` certificates: ``requested`` when given
    (0: none; at most 1 is used); by default 1 when the machine has more than one core, the platform can fork,
    the call has at least :data:`FORK_MIN` certificates and this process runs no other thread (a thread holding a
    lock at the fork, in OpenSSL say, could leave it held in the child)."""
    if not hasattr(os, "fork"):
        return 0
    if requested is not None:
        return min(1, max(0, requested))
    if size < FORK_MIN or (os.cpu_count() or 1) < 2 or threading.active_count() > 1:
        return 0
    return 1


class _Offline(BaseException):
    """Raised in a forked verifier when a verification would read the chain: the parent verifies that certificate
    itself. A BaseException, so no ``except Exception`` of the checks turns it into a report."""


def _offline(*_: object, **__: object) -> Any:
    raise _Offline


def _verify_forked(sources: list[Any], run: _Run) -> list[Report]:
    """``[_verify_one(s, run) for s in sources]`` on two cores: a forked child (it inherits the view's cached
    facts, the run and the documents, so nothing but reports travels) and this process take the documents chunk
    by chunk from one queue of tickets (a pipe holding one byte per chunk), so whichever process gets more of the
    machine verifies more, and neither waits for a part fixed in advance (a child that starts late or shares its
    core with another program is not waited for: this process takes the chunks it did not). The child sends each
    chunk's reports pickled as soon as it has them, and this process reads them between its own chunks.

    The child never reads the chain nor touches a connection of this process: its node provider refuses every
    request (a verification that would need one, e.g. of a batch whose anchor is not final and so not cached, is
    left to this process, which verifies it exactly as it would have), it writes only to its pipe and leaves with
    ``os._exit`` (no atexit handler, no connection closed). The head, the moment validity is judged at and the
    status index are the run's, so the reports are those one process gives (tests/test_verify_parallel.py
    compares them, tampered documents included). Whatever the child did not send, or sent in a form this process
    does not read, this process verifies itself."""
    import fcntl

    # Checks every report shares are worked out before the fork, so the child does not read the genesis itself.
    try:
        run.chain_identity_check()
    except ChainError:
        return [_verify_one(source, run) for source in sources]
    reports: list[Report | None] = [None] * len(sources)
    warmed = _warm_batches(sources, run, reports)  # bytearray: 1 where this process has the report already
    size = max(_CHUNK_MIN, -(-len(sources) // _CHUNKS_MAX))
    chunks = -(-len(sources) // size)
    tickets_r, tickets_w = os.pipe()
    os.write(tickets_w, bytes(range(chunks)))  # at most _CHUNKS_MAX bytes: far below a pipe's capacity
    os.close(tickets_w)  # so a read past the last ticket is the end, in both processes
    read_end, write_end = os.pipe()
    with suppress(OSError, AttributeError):  # room for a few chunks' reports (Linux), so the child seldom waits
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    try:
        pid = os.fork()
    except OSError:  # no process to be had (a limit reached): all of it here
        for fd in (read_end, write_end, tickets_r):
            os.close(fd)
        return [r if r is not None else _verify_one(s, run) for s, r in zip(sources, reports, strict=True)]
    if pid == 0:  # the child
        try:
            os.close(read_end)
            _go_offline(run.view)
            with os.fdopen(write_end, "wb") as pipe:
                _child_chunks(sources, run, warmed, size, tickets_r, pipe)
        finally:
            os._exit(0)
    os.close(write_end)
    frames = _Frames(read_end, len(sources), size)
    try:
        while ticket := os.read(tickets_r, 1):
            start = ticket[0] * size
            for i in range(start, min(start + size, len(sources))):
                if not warmed[i]:
                    reports[i] = _verify_one(sources[i], run)
            frames.take(reports, block=False)
        frames.take(reports, block=True)  # the child's last chunks, up to the end of its pipe
        frames.close()
        # whatever the child did not verify (a batch it could not read offline) or did not send: verified here,
        # while the child's exit frees its memory
        return [r if r is not None else _verify_one(s, run) for s, r in zip(sources, reports, strict=True)]
    finally:
        frames.close()  # a child still writing (this process interrupted) gets a broken pipe and leaves
        os.close(tickets_r)
        os.waitpid(pid, 0)


def _child_chunks(sources: list[Any], run: _Run, warmed: bytearray, size: int, tickets: int, pipe: Any) -> None:
    """The forked child's loop: take a ticket, verify that chunk (but the documents the parent verified before the
    fork), send the chunk's number and reports (None for those it could not verify offline), until the tickets
    run out, at most :data:`_CHILD_LEAVES` documents' worth are left (the parent's), or it met
    :data:`_CHILD_OFFLINE_LIMIT` documents it could not verify offline."""
    import pickle

    offline = 0
    while (
        offline < _CHILD_OFFLINE_LIMIT
        and _tickets_left(tickets) * size > _CHILD_LEAVES
        and (ticket := os.read(tickets, 1))
    ):
        start = ticket[0] * size
        out: list[Report | None] = []
        for i in range(start, min(start + size, len(sources))):
            if warmed[i] or offline >= _CHILD_OFFLINE_LIMIT:
                out.append(None)
                continue
            try:
                out.append(_verify_one(sources[i], run))
            except _Offline:
                offline += 1
                out.append(None)
        pickled = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        pipe.write(_FRAME_HEAD.pack(ticket[0], len(pickled)))
        pipe.write(pickled)
        pipe.flush()


def _tickets_left(tickets: int) -> int:
    """How many tickets the pipe still holds (FIONREAD); a large number where that cannot be asked."""
    import fcntl
    import termios

    try:
        left = bytearray(4)
        fcntl.ioctl(tickets, termios.FIONREAD, left)
    except (OSError, AttributeError):
        return _CHUNKS_MAX
    return int.from_bytes(left, "little")


class _Frames:
    """The child's chunks of reports as this process reads them from the pipe: each a header (chunk number,
    length) and that many bytes of pickled reports. A frame naming no chunk of this call, longer than
    :data:`_REPORTS_MAX_BYTES`, that does not unpickle to one report (or None) per document of its chunk, or a pipe
    ending inside a frame, ends the reading: the pipe is closed, and this process verifies what is missing."""

    def __init__(self, fd: int, count: int, size: int) -> None:
        self._fd, self._count, self._size = fd, count, size
        self._buffer = bytearray()
        self._open = True
        os.set_blocking(fd, False)

    def take(self, reports: list[Report | None], *, block: bool) -> None:
        """Read what the child has sent (``block``: up to the end of its pipe) and fill in its reports."""
        if not self._open:
            return
        if block:
            os.set_blocking(self._fd, True)
        while self._open:
            try:
                data = os.read(self._fd, _READ_BYTES)
            except BlockingIOError:
                return
            if not data:  # the child closed its end: everything it sent is read (a frame cut short is dropped)
                self.close()
                return
            self._buffer += data
            self._fill(reports)

    def _fill(self, reports: list[Report | None]) -> None:
        import pickle

        buffer, at = self._buffer, 0
        while len(buffer) - at >= _FRAME_HEAD.size:
            chunk, length = _FRAME_HEAD.unpack_from(buffer, at)
            start = chunk * self._size
            expected = min(self._size, self._count - start)
            if start >= self._count or length > _REPORTS_MAX_BYTES:
                self.close()
                return
            if len(buffer) - at - _FRAME_HEAD.size < length:
                break  # the rest of this frame is still on its way
            body = memoryview(buffer)[at + _FRAME_HEAD.size : at + _FRAME_HEAD.size + length]
            try:
                theirs = pickle.loads(body)  # noqa: S301 - written by this process's own forked child
            except Exception:  # noqa: BLE001 - not a frame the child wrote whole: verified here instead
                theirs = None
            finally:
                body.release()
            if not isinstance(theirs, list) or len(theirs) != expected:
                self.close()
                return
            for i, report in enumerate(theirs, start):
                if report is not None and reports[i] is None:
                    reports[i] = report
            at += _FRAME_HEAD.size + length
        del buffer[:at]

    def close(self) -> None:
        if self._open:
            self._open = False
            self._buffer.clear()
            os.close(self._fd)


# The child's reports come in frames: chunk number (4 bytes) and length (8 bytes), then that many bytes.
_FRAME_HEAD = struct.Struct("<IQ")
# At most this many bytes of pickled reports in one frame (about 300 bytes per report): a larger length is not one
# the child wrote, and this process verifies what the child had not sent yet itself.
_REPORTS_MAX_BYTES = 1 << 32
# The documents are split into at most this many chunks (a ticket is one byte), of at least _CHUNK_MIN each: a
# chunk costs a ticket read, a frame and a pickle's header, and the last one taken sets how long the other process
# may wait at the end (≈ 200 × 25 µs = 5 ms).
_CHUNKS_MAX = 256
_CHUNK_MIN = 200
# The reports pipe's size asked for (Linux's default limit for one pipe): a few chunks' reports, which the child
# writes without waiting for this process, busy with a chunk of its own, to read them.
_PIPE_BYTES = 1 << 20
_READ_BYTES = 1 << 20
# The child takes no ticket once at most this many documents' worth are left: its exit unmaps every page it shares
# with the parent (~20 ms of CPU for the bench's process, measured), which then overlaps the parent's last chunks
# instead of following them while the parent waits to reap it (~1 µs a certificate of a 20,000-certificate call).
_CHILD_LEAVES = 800
# A child that met this many certificates it could not verify offline hands the rest back unverified: each such
# attempt costs it a contract call's encoding (≈ 2 ms) before the refusal, and the parent would wait for them all.
_CHILD_OFFLINE_LIMIT = 32
# At most this many batches are warmed before the fork (a hostile call naming thousands of roots is not verified
# twice over).
_WARM_BATCHES = 256
_ANCHOR, _ROOT = operator.itemgetter("anchor"), operator.itemgetter("root")


def _warm_batches(sources: list[Any], run: _Run, reports: list[Report | None]) -> bytearray:
    """Before the fork: verify one certificate of each batch the documents name (its report kept in ``reports``),
    so that the batch's facts (final anchor, key history, signature) are in the view's cache the child inherits,
    instead of the child handing back every certificate of a batch the caller's view had not met yet. Returns one
    byte per document, 1 for those verified here. Reading the roots costs ~0.1 µs a document for parsed documents
    (in C, for the usual dicts); texts are not parsed here (the child hands back what it cannot verify)."""
    warmed = bytearray(len(sources))
    try:  # the usual call: dicts with an anchor section; the last document naming each root, roots in order met
        named: dict[Any, int] = dict(zip(map(_ROOT, map(_ANCHOR, sources)), range(len(sources)), strict=True))
    except Exception:  # noqa: BLE001 - texts, parsed documents, malformed ones: looked at one by one
        named = {}
        for i, source in enumerate(sources):
            anchor = (
                source.anchor
                if isinstance(source, CertificateDocument)
                else source.get("anchor")
                if isinstance(source, Mapping)
                else None
            )
            root = anchor.get("root") if isinstance(anchor, Mapping) else None
            if isinstance(root, str):
                named.setdefault(root, i)
    kept = 0
    for root, i in named.items():
        if not isinstance(root, str):
            continue
        if kept >= _WARM_BATCHES:
            break
        kept += 1
        reports[i] = _verify_one(sources[i], run)
        warmed[i] = 1
    return warmed


def _go_offline(view: ChainView) -> None:
    """In a forked child: every request to the node raises :class:`_Offline`. The view's chains (and the witness
    view's) get a provider of their own that refuses every request: replacing only ``make_request`` on the
    inherited provider is not enough, since web3 keeps the request function it built before the fork, which would
    still send over this process's kept-alive connection (tests/test_verify_parallel.py)."""
    view._offline = True
    chains = [view.chain]
    witness_chain = getattr(view.witness, "chain", None)
    if witness_chain is not None:
        chains.append(witness_chain)
    for chain in chains:
        chain.w3.provider = _offline_provider()


def _offline_provider() -> Any:
    """A node provider that refuses every request (a forked verifier's): web3's class, imported with the chain's
    client that it replaces."""
    from web3.providers.base import BaseProvider

    class _OfflineProvider(BaseProvider):
        def make_request(self, method: Any, params: Any) -> Any:
            raise _Offline

        def is_connected(self, show_traceback: bool = False) -> bool:
            return False

    return _OfflineProvider()


def _verify_one(
    source: str | Mapping[str, Any] | CertificateDocument, run: _Run, *, unreadable: str = _UNREADABLE
) -> Report:
    checks = _Checks(run.names)
    try:
        doc = source if isinstance(source, CertificateDocument) else load_document(source)
    except InputError as exc:
        checks.add("format", False, str(exc))
        checks.skip_rest(unreadable)
        return Report(None, tuple(checks.items), None, run.at_text)
    passed = run._passed
    key = ("format", doc.fmt, len(doc.fields), len(doc.hidden)) if type(doc.fmt) is str else None
    found = passed.get(key) if passed is not None and key is not None else None
    if found is None:
        found = run.check("format", True, f"{doc.fmt}, {len(doc.fields)} disclosed and {len(doc.hidden)} hidden fields")
        if passed is not None and key is not None:
            passed[key] = found
    checks.items.append(found)
    try:
        with time_limit(run.seconds):
            return _verify(doc, run, checks, run.view.head() if run.head is None else run.head)
    except ChainError as exc:
        checks.skip_rest(f"the chain could not be read: {exc}")
        return Report(None, tuple(checks.items), None, run.at_text)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
        # A member of the wrong JSON type somewhere the checks read (a proof that is a number, a chain id that is
        # a list): the document is malformed. Fail closed with what was found, never a traceback: decisions verify
        # documents that applicants hand in.
        checks.skip_rest(f"the document is malformed ({type(exc).__name__}: {exc})")
        return Report(None, tuple(checks.items), None, run.at_text)


def _proof(elements: Any) -> list[bytes]:
    if type(elements) is list:
        try:  # the usual form: "0x" + 64 hex digits each, read in one go
            if all(type(p) is str and len(p) == 66 and p[:2] == "0x" for p in elements):
                raw = bytes.fromhex("".join([p[2:] for p in elements]))
                # 64 characters per element: 32 bytes each only if every one was a hex digit (fromhex skips
                # whitespace, which would leave fewer bytes; a digit pair cannot straddle two elements then either)
                if len(raw) == 32 * len(elements):
                    return [raw[i : i + 32] for i in range(0, len(raw), 32)]
        except ValueError:
            pass  # parse_hex32 names the problem
    if type(elements) is not list:
        raise InputError(f"anchor.proof must be a list of 32-byte hex hashes, not {type(elements).__name__}")
    return [parse_hex32(p, "proof element") for p in elements]


def _verify(doc: CertificateDocument, run: _Run, checks: _Checks, head: int) -> Report:
    anchor = doc.anchor
    at_text = run.at_text
    facts: dict[str, Any] = {}
    items = checks.items

    def done(digest: bytes | None) -> Report:
        return Report(hex32(digest) if digest else None, tuple(items), head, at_text, facts)

    items.append(run.chain_check(anchor))
    items.append(run.chain_identity_check())
    digest: bytes | None = None
    try:
        digest = doc.digest()
    except LedgerError as exc:
        checks.add("integrity", False, str(exc))
    if digest is not None:
        checks.add(
            "integrity", *checks_core.digest_integrity(digest, doc.stated_digest, len(doc.fields) + len(doc.hidden))
        )
    if doc.hidden.keys().isdisjoint(ALWAYS_DISCLOSED) and doc.fields.keys() >= _REQUIRED:  # the usual case, in C
        hidden_required, missing = [], []
    else:
        hidden_required = [name for name in ALWAYS_DISCLOSED if name in doc.hidden]
        missing = [name for name in REQUIRED_DISCLOSED if name not in doc.fields and name not in doc.hidden]
    if hidden_required or missing:
        checks.add(
            "disclosure",
            False,
            "; ".join(
                filter(
                    None,
                    (
                        f"{', '.join(hidden_required)} must always be disclosed but {'is' if len(hidden_required) == 1 else 'are'}"
                        " hidden: a holder cannot hide what every verifier needs (e.g. an expiry date)"
                        if hidden_required
                        else "",
                        f"{', '.join(missing)} missing" if missing else "",
                    ),
                )
            ),
        )
    else:
        passed = run._passed
        disclosed = passed.get("disclosure") if passed is not None else None
        if disclosed is None:
            disclosed = run.check(
                "disclosure", True, "id, type, issuer, issued_at and the validity dates are disclosed"
            )
            if passed is not None:
                passed["disclosure"] = disclosed
        items.append(disclosed)
    if run.expected is not None:
        items.append(_expected_check(run, run.expected, doc.fields.get("type"), doc.fields.get("issuer")))
    if digest is None:  # e.g. the type hidden (pl-cert/2: the digest commits to it), which disclosure named above
        checks.skip_rest("the digest could not be computed")
        return done(None)
    found = _anchoring(run, checks, facts, digest, anchor, doc.fields.get("issuer"), doc.fields.get("type"), head)
    if found is not None:
        _validity(doc, run, checks)
        _witnessed(run, checks, *found, head, doc.fields.get("issuer"))
    return done(digest)


def _anchoring(
    run: _Run,
    checks: _Checks,
    facts: dict[str, Any],
    digest: bytes,
    anchor: Mapping[str, Any],
    issuer: object,
    certificate_type: object,
    head: int,
) -> tuple[tuple[int, int], _Verdict] | None:
    """The chain's checks of certificate ``digest`` (merkle_proof to status), whether a document or only its
    digest was given: ((anchoring block, last status change block), the status verdict), or None when a check
    stopped the rest (skipped, with the reason)."""
    items = checks.items
    anchorings = run._anchorings
    key = _anchoring_key(anchor, issuer, head) if anchorings is not None else None
    kept = anchorings.get(key) if key is not None and anchorings is not None else None
    # these anchor texts met before in this run: only the proof is the certificate's own
    if kept is not None and key is not None:
        elements = anchor.get("proof", [])
        try:  # merkle_proof_text's first step: the walk of a proof in the usual form
            walked = run.view.proof_walks.root(digest, elements, kept.root)
            # else worked out in full: a proof of another form read strictly, or one leading elsewhere
            in_batch, proof_detail = (
                (True, "")
                if walked == kept.root
                else checks_core.merkle_proof_text(digest, elements, kept.root, run.view.proof_walks, _proof)
            )
        except (InputError, ValueError) as exc:  # the root and signature texts read before: the proof's error
            checks.add("merkle_proof", False, f"malformed anchor: {exc}")
            checks.skip_rest("the anchor section is malformed")
            return None
        if not in_batch:
            checks.add("merkle_proof", False, proof_detail)
            checks.skip_rest("the certificate is not part of the anchored batch")
            return None
        if proof_detail:
            items.append(run.check("merkle_proof", True, proof_detail))
        else:  # the walk's: its detail names only the root and the proof's length (checks_core.proof_verdict)
            hashes = len(elements)  # a list: the walk read it
            passed = kept.proofs.get(hashes)
            if passed is None:
                passed = kept.proofs[hashes] = run.check(
                    "merkle_proof", *checks_core.proof_verdict(kept.root, kept.root, hashes)
                )
            items.append(passed)
        facts.update(kept.facts)
        items.extend(kept.checks)
        department = key[0]  # the issuer: a department (it passed _is_department when this was kept)
        items.append(run.type_authority(department, certificate_type, kept.batch))
        return _standing(run, items, facts, digest, kept.root, kept.batch, department, certificate_type, head)
    try:
        root = parse_hex32(str(anchor.get("root")), "anchor.root")
        in_batch, proof_detail = checks_core.merkle_proof_text(
            digest, anchor.get("proof", []), root, run.view.proof_walks, _proof
        )
        signature = bytes.fromhex(str(anchor.get("signature", "")).removeprefix("0x"))
    except (InputError, ValueError) as exc:
        checks.add("merkle_proof", False, f"malformed anchor: {exc}")
        checks.skip_rest("the anchor section is malformed")
        return None
    if in_batch:
        items.append(run.check("merkle_proof", True, proof_detail))
    else:
        checks.add("merkle_proof", False, proof_detail)
        checks.skip_rest("the certificate is not part of the anchored batch")
        return None
    if not _is_department(issuer):
        checks.add(
            "anchored", False, f"the certificate names no issuer department to look its batch up in (issuer {issuer!r})"
        )
        checks.skip_rest("the issuing department is unknown")
        return None
    batch, batch_checks, batch_facts = run.batch_checks(issuer, root, signature, head)
    if batch is None:
        items.extend(batch_checks)
        checks.skip_rest("the issuer anchored nothing under this root")
        return None
    facts.update(batch_facts)
    anchored, confirmations, department_key, signed = batch_checks
    items.append(anchored)
    items.append(confirmations)
    named = anchor.get("department", issuer)
    stated_signer = anchor.get("signer")  # the credential's verificationMethod (vc.py): the chain's, or refused
    if named != issuer:
        items.append(
            run.check("issuer", False, f"the certificate's issuer is {issuer!r} but its anchor section names {named!r}")
        )
    elif stated_signer is not None and str(stated_signer).lower() != batch.signer.lower():
        items.append(
            run.check(
                "issuer",
                False,
                f"the anchor section names key {stated_signer} but {issuer}'s batch was anchored by {batch.signer}",
            )
        )
    else:
        items.append(run.check("issuer", True, f"issued and anchored by {issuer}"))
    items.append(department_key)
    items.append(signed)
    if key is not None and anchorings is not None and len(anchorings) < _ANCHORINGS_KEPT:
        anchorings[key] = _KeptAnchoring(root, batch, batch_facts, tuple(items[-5:]), {})
    items.append(run.type_authority(issuer, certificate_type, batch))
    return _standing(run, items, facts, digest, root, batch, issuer, certificate_type, head)


# At most this many anchor sections' checks are kept per run (one per batch in the usual call; a hostile call
# naming a signature per certificate keeps no more than this).
_ANCHORINGS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class _KeptAnchoring:
    """What :func:`_anchoring` worked out from an anchor section's texts and the issuer, the same for every
    certificate of the run that states them (``_Run._anchorings``): the root it names, the batch the chain holds
    under it, the batch's facts and the anchored, confirmations, issuer, department_key and signature checks, and the
    passing merkle_proof check by the proof's length (its detail names the root and the length alone)."""

    root: bytes
    batch: BatchInfo
    facts: dict[str, Any]
    checks: tuple[Check, ...]
    proofs: dict[int, Check]


def _anchoring_key(anchor: object, issuer: object, head: int) -> tuple[str, str, str, str, str | None, int] | None:
    """The run's key of :func:`_anchoring`'s batch part: every input it reads besides the digest and the proof (the
    issuer, the anchor section's root, signature, department and signer, the head), for the usual form only (a
    plain dict, each of them text, the signer text or absent); None for any other (worked out in full). Text keys
    only: two values equal as keys are then the same text, read the same way by every check."""
    if type(anchor) is not dict or type(issuer) is not str:
        return None
    root, signature = anchor.get("root"), anchor.get("signature", "")
    named, signer = anchor.get("department", issuer), anchor.get("signer")
    if type(root) is not str or type(signature) is not str or type(named) is not str:
        return None
    if signer is not None and type(signer) is not str:
        return None
    return issuer, root, signature, named, signer, head


def _standing(
    run: _Run,
    items: list[Check],
    facts: dict[str, Any],
    digest: bytes,
    root: bytes,
    batch: BatchInfo,
    issuer: str,
    certificate_type: object,
    head: int,
) -> tuple[tuple[int, int], _Verdict]:
    """The status check of :func:`_anchoring`, once the batch is the chain's: the certificate's standing as of the
    head (or the moment asked about), and its verdict."""
    at_time, at_text = run.at_time, run.at_text
    at = int(at_time.timestamp()) if at_time else None
    # the same digest anchored again by its issuer is the same certificate: an end under another root holds, and so
    # does a suspension under another root for a certificate valid under its own (red team rounds 42 and 46)
    (status, block, ts, detail), ended, held = run.view.standing(issuer, root, digest, at, head)
    why = ""
    if ended is not None:
        status, block, ts, detail, ended_root = ended
        facts["ended_under"] = hex32(ended_root)
        why = f" under {issuer}'s batch {hex32(ended_root)} (this anchoring is the same certificate anchored again)"
    elif held is not None:
        status, block, ts, detail, held_root = held
        facts["suspended_under"] = hex32(held_root)
        why = f" under {issuer}'s batch {hex32(held_root)} (this anchoring is the same certificate anchored again)"
    facts["status"] = status
    if status == "superseded":
        facts["superseded_by"] = hex32(detail)
        why = f", superseded by {hex32(detail)}{why}"
    elif status in ("revoked", "suspended") and detail:
        facts["reason"] = reason_name(detail)
        why = f" (reason: {facts['reason']}){why}"
    if run.at_time is None:
        predecessors = run.view.replaces(issuer, root, digest)
        if predecessors:
            # "replaces": the latest (one digest, as every report before certificates replacing several had);
            # "replaces_all": every one, in chain order, when there are several
            facts["replaces"] = hex32(predecessors[-1])
            if len(predecessors) > 1:
                facts["replaces_all"] = [hex32(p) for p in predecessors]
            why += f"; it replaces {' and '.join(hex32(p) for p in predecessors)}"
    when = f" in block {block}" if block else ""
    if ts:
        when += f" at {datetime.fromtimestamp(ts, UTC).isoformat().replace('+00:00', 'Z')}"
    passed = run._passed
    if status == "valid" and not when and not why and passed is not None:  # never changed: "valid" (as of ...)
        found = passed.get("status")
        if found is None:
            found = passed["status"] = run.check("status", True, f"valid{' as of ' + at_text if at_text else ''}")
        items.append(found)
    else:
        items.append(
            run.check("status", status == "valid", f"{status}{' as of ' + at_text if at_text else ''}{when}{why}")
        )
    return (batch.block_number, block), _Verdict(root, digest, status, block, at, batch, certificate_type)


@dataclass(frozen=True, slots=True)
class _Verdict:
    """The status check's verdict on the certificate at ``root``/``digest``: its status and the block of the change
    that made it (0: never changed, or not named: a moment asked about), ``at`` that moment (unix time), or None
    for the head."""

    root: bytes
    digest: bytes
    status: str
    block: int
    at: int | None
    batch: BatchInfo  # the batch as the verdict's reads had it (batch(department, root)): its block, key, count, type
    certificate_type: object = None  # the type the certificate (or its issuer's store) states, as type_authority had it


def _witnessed(
    run: _Run, checks: _Checks, blocks: tuple[int, ...], verdict: _Verdict, head: int, issuer: object
) -> None:
    """The anchoring and the last status change lie at or below a checkpoint a quorum of witnesses cosigned, the
    chain still has the cosigned block there, the issuer's status events up to that block hash to the status
    trail the contract's state at that block proves, the status verdict is the one those events give, and the
    issuer's batch events up to that block hash to the anchoring trail proven there and hold the batch as the
    verification read it (docs/witness.md)."""
    witness = run.view.witness
    if witness is None:
        checks.items.append(run.check("witnessed", True, "not configured: this verifier trusts no witnesses"))
        return
    try:
        ok, detail = witness.check(blocks, head)
        if ok and _is_department(issuer):
            problem = _against_proven_state(run, witness, issuer, verdict)
            if problem is None:
                problem, note = _against_proven_registry(run, checks, witness, issuer, verdict)
                detail += note
            if problem is not None:
                ok, detail = False, problem
    except LedgerError as exc:
        ok, detail = False, f"the witnessed state could not be read: {exc}"
    checks.add("witnessed", ok, detail)


def _against_proven_state(run: _Run, witness: Any, issuer: str, verdict: _Verdict) -> str | None:
    """Why the node's status events of department ``issuer`` up to the witnessed block contradict the contract's
    state at that block, proven from the block's hash (EIP-1186, ledger/onchain/stateproof.py), or None. A node
    that answers ``statusTrail``, ``statusOf`` and its logs from a state of its own making, all agreeing, is caught
    here: its proof cannot hash up to the block a quorum of witnesses cosigned, and the true trail there commits to
    every status change up to it."""
    proven_trail = getattr(witness, "proven_trail", None)
    latest = getattr(witness, "latest", None)
    if proven_trail is None or latest is None:
        return None  # a witnessed state that proves no contract state (none of the ledger's)
    height, block_hash = latest.checkpoint.height, latest.checkpoint.hash_hex
    dept = _department_id(issuer)
    proven_anchoring = getattr(witness, "proven_anchoring", None)
    if proven_anchoring is not None:
        problem = _against_proven_batches(run.view, proven_anchoring(dept), dept, issuer, verdict, height, block_hash)
        if problem is not None:
            return problem
    proven = proven_trail(dept)
    read, events = run.view.trail_upto(dept, height, block_hash)
    if read.agrees(proven):
        run.view.proven_at(dept, height, proven, events)
        return _against_proven_events(run.view, events, dept, verdict, height)
    return (
        f"the node's status events of department {issuer!r} up to witnessed block {height} do not hash to the status "
        f"trail the contract's state at that block proves ({proven.changes} changes, the last in block "
        f"{proven.block}; the node's events give {read.changes}, the last in block {read.block}): the node left "
        "out, made up or altered status events, and answered the contract's state to match them; do not trust "
        "this node's statuses"
    )


def _against_proven_registry(
    run: _Run, checks: _Checks, witness: Any, issuer: str, verdict: _Verdict
) -> tuple[str | None, str]:
    """(why, or None) the registry's answers the verification read for the certificate's batch (``wasActiveSignerAt``
    for its key and the department's status at its block, ``wasAuthorizedForTypeAt`` for its type) are not what the
    registry's state at the witnessed block, proven from the block's hash (ledger/onchain/registryslots.py), answers,
    and a note for the check's detail. The answers are taken from the checks that used them (``department_key``,
    ``type_authority``), not asked again: a node answering the second read otherwise than the first would agree with
    the proof here and have its first answer believed. The registry's periods only grow, and none covering a block
    at or below the witnessed one changes after it, so the state there answers for the batch's block as every later
    state does. A node answering those views from a state of its own making (a forged key the department's, a type
    granted, a suspended department active, or a genuine key denied) was believed before: the anchoring trail proves
    the batch, not the registry's word on it."""
    proven_registry = getattr(witness, "proven_registry", None)
    latest = getattr(witness, "latest", None)
    batch = verdict.batch
    if proven_registry is None or latest is None or batch.block_number > latest.checkpoint.height:
        return None, ""  # a witnessed state of no registry; or a batch not witnessed yet (said already)
    height, block = latest.checkpoint.height, batch.block_number
    history, why = proven_registry(_department_id(issuer))
    if history is None:
        return None, f"; registry: not proven ({why})"
    view = run.view
    made = {c.name: c.ok for c in checks.items if not c.skipped}
    said = made.get("department_key")
    if said is not None and history.could_act_in(batch.signer, ROLE_ISSUER, block) != said:
        return (
            f"the node's registry answered that {batch.signer} {'was' if said else 'was not'} an active issuer key of "
            f"{issuer!r} at block {block}, where it anchored this certificate's batch, but the registry's state at "
            f"witnessed block {height}, proven from the block's hash, says it {'was not' if said else 'was'} "
            f"({history.key_and_standing(issuer, batch.signer, block)}): the node answered the registry's views "
            "from a state of its own making; do not trust this node's registry"
        ), ""
    certificate_type = verdict.certificate_type
    said = made.get("type_authority")
    # a type that is not the batch's failed the check before it asked the registry: no grant was answered
    if (
        said is not None
        and type(certificate_type) is str
        and _CERTIFICATE_TYPE.match(certificate_type)
        and view.type_hash(certificate_type) == batch.schema
        and history.was_authorized_for_type_at(batch.schema, block) != said
    ):
        periods = [t for t in history.types if t.type_hash == batch.schema]
        held = (
            ", ".join(
                f"from block {t.from_block}" + (f" to {t.until_block}" if t.until_block else " on") for t in periods
            )
            or "never"
        )
        return (
            # the type is a field of the certificate: named by no detail a digest-only caller sees (api/services.py)
            f"the node's registry answered that {issuer!r} {'was' if said else 'was not'} authorized for the "
            f"certificate's type at block {block}, where it anchored this certificate's batch, but the registry's "
            f"state at witnessed block {height}, proven from the block's hash, says it {'was not' if said else 'was'} "
            f"(its grants of that type: {held}): the node answered the registry's views from a state of its own "
            "making; do not trust this node's registry"
        ), ""
    return None, ""


def _against_proven_batches(
    view: ChainView, proven: trail.Trail, dept: bytes, issuer: str, verdict: _Verdict, height: int, block_hash: str
) -> str | None:
    """Why the certificate's batch, as the verification read it (``batch(department, root)``: the block the witness
    check held to the checkpoint, its key, count and type), is not among department ``issuer``'s batch events up to
    witnessed block ``height`` that hash to the anchoring trail ``proven`` there, or None. A node dating a batch
    anchored after the checkpoint at or below it had ``witnessed`` vouch for an anchoring no quorum had seen (red
    team round 75); a batch dated after the checkpoint fails the witness check as "not witnessed yet" before this."""
    read, batches = view.batches_upto(dept, height, block_hash)
    if not read.agrees(proven):
        return (
            f"the node's batch events of department {issuer!r} up to witnessed block {height} do not hash to the "
            f"anchoring trail the contract's state at that block proves ({proven.changes} batches, the last in block "
            f"{proven.block}; the node's events give {read.changes}, the last in block {read.block}): the node left "
            "out, made up, moved or altered batch events, and answered the contract's state to match them; do not "
            "trust this node's batches"
        )
    view.anchorings_proven_at(dept, height, proven, batches)
    batch = verdict.batch
    if batch.block_number > height:
        return None  # not witnessed yet: the witness check said so already
    event = batches.get(verdict.root)
    if event is None:
        return (
            f"the node dates batch {hex32(verdict.root)} of {issuer!r} in block {batch.block_number}, at or below "
            f"witnessed block {height}, but the department's batch events up to that block, proven by the contract's "
            "state there, do not hold it: no quorum has seen this anchoring; do not trust this node's batches"
        )
    stated = (event.block, event.signer_address.lower(), event.count, event.schema)
    if stated != (batch.block_number, batch.signer.lower(), batch.count, batch.schema):
        return (
            f"the node's record of batch {hex32(verdict.root)} of {issuer!r} (block {batch.block_number}, key "
            f"{batch.signer}, {batch.count} certificates) is not the anchoring the department's batch events up to "
            f"witnessed block {height}, proven by the contract's state there, hold (block {event.block}, key "
            f"{event.signer_address}, {event.count} certificates, or another type): do not trust this node's batches"
        )
    return None


def _against_proven_events(
    view: ChainView, events: _DepartmentStream, dept: bytes, verdict: _Verdict, height: int
) -> str | None:
    """Why the status ``verdict`` (as of the head, its last change at or below witnessed block ``height``: the
    witness check asked that) is not the one the department's ``events`` up to ``height`` give, the events that
    hash to the trail proven there, or None. The verdict is read apart from them (``statusOf``, ``endedUnder`` and
    ``heldUnder`` with the direct lookup; the events up to the head checked against ``statusTrail`` at the head with
    the herd read; the gateway's index): a node answering those from another state and the proof's events honestly
    was believed (red team round 75). Read as the herd read reads: the certificate's own last change, then an end
    or, for a valid one, a suspension under another of the department's roots. A verdict as of a moment (``at``)
    names no block of its own: its status is held to the events up to the last block stamped at or before it
    (found among the node's headers, as the herd read finds it), when that block is at or below ``height``."""
    upto = height
    if verdict.at is not None:
        upto = view.block_at_time(verdict.at, height)
        if upto >= height:
            return None  # the moment lies after the witnessed block: its changes since are not witnessed yet
    found = events.last((dept, verdict.root, verdict.digest), upto) if upto >= 0 else None
    expected = ("valid", 0) if found is None else (STATUS_NAMES[found[0]], found[1])
    if expected[0] not in ("revoked", "superseded") and upto >= 0:
        ended, held = _elsewhere_answer(
            verdict.root, expected[0] == "valid", *events.elsewhere(dept, verdict.digest, upto)
        )
        other = ended or held
        if other is not None:
            expected = (other[0], other[1])
    if expected[0] == verdict.status and (verdict.at is not None or expected[1] == verdict.block):
        return None
    return (
        f"the node's status answer ({verdict.status}, the last change in block {verdict.block}) is not what its "
        f"status events up to witnessed block {height}, proven by the contract's state there, give ({expected[0]}, "
        f"the last change in block {expected[1]}): the node answered the status from a state of its own making; "
        "do not trust this node's statuses"
    )


def expectation(
    certificate_type: str | None,
    issuer: str | None,
    *,
    names: tuple[str, str] = ("expected_type", "expected_issuer"),
) -> tuple[str | None, str | None] | None:
    """What a verifier asks a certificate to be, (type, issuer department), or None when it asks nothing; InputError
    for a type or department no certificate can state (it would be compared with nothing and fail every one),
    naming the option it came in (``names``: the CLI's)."""
    if certificate_type is None and issuer is None:
        return None
    if certificate_type is not None and (
        type(certificate_type) is not str or not _CERTIFICATE_TYPE.match(certificate_type)
    ):
        raise InputError(
            f"the expected type {str(certificate_type)[:80]!r} is no certificate type (lowercase letters, digits "
            "and '-', e.g. business-licence)",
            field=names[0],
        )
    if issuer is not None and not _is_department(issuer):
        raise InputError(
            f"the expected issuer {str(issuer)[:80]!r} is no department code (1-32 printable ASCII characters)",
            field=names[1],
        )
    return certificate_type, issuer


def _expected_check(
    run: _Run, expected: tuple[str | None, str | None], certificate_type: object, issuer: object
) -> Check:
    """The ``expected`` check: the certificate states the type and issuer the verifier asked for (its other checks
    say whether it states them truly: the digest commits to both, the chain's batch to its type and issuer)."""
    want_type, want_issuer = expected
    wrong = []
    if want_type is not None and certificate_type != want_type:
        wrong.append(
            f"a {certificate_type[:80]!r}, not the {want_type!r} asked for"
            if isinstance(certificate_type, str)
            else f"of no stated type, not the {want_type!r} asked for"
        )
    if want_issuer is not None and issuer != want_issuer:
        wrong.append(f"issued by {str(issuer)[:40]!r}, not by {want_issuer} as asked for")
    if wrong:
        return run.check("expected", False, "the certificate is " + " and ".join(wrong))
    asked = " of ".join(filter(None, (f"a {want_type!r}" if want_type else "", want_issuer)))
    return run.check("expected", True, f"{asked}, as asked for" if want_type else f"issued by {asked}, as asked for")


def _validity(doc: CertificateDocument, run: _Run, checks: _Checks) -> None:
    start, end = doc.fields.get("valid_from"), doc.fields.get("valid_until")
    hidden = "valid_from" in doc.hidden or "valid_until" in doc.hidden
    ok, detail = run.view.validity_window(start, end, hidden).at(run.now)
    checks.items.append(run.check("validity", ok, detail))


_TEXT_OR_NONE = (str, type(None))
_CERTIFICATE_TYPE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")


def _is_department(value: object) -> TypeGuard[str]:
    """A department id as docs/format.md §6 defines it (1-32 printable ASCII characters)."""
    return isinstance(value, str) and 0 < len(value) <= 32 and value.isascii() and value.isprintable()


def verify_strict(
    source: Any, view: ChainView, *, at: str | datetime | None = None, now: str | datetime | None = None
) -> Report:
    return verify_certificate(source, view, at=at, now=now).raise_for_failure()
