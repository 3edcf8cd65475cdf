"""Replay for auditors: prove a decision history complete and reproducible, or name exactly what is not.

For every department (or the ones asked for), :func:`replay`

1. checks the ``decisions`` log against itself and against the chain's anchored ranges (:func:`logchain.check_log`:
   altered, broken_chain, missing, inserted, reordered, not_anchored, proof_invalid) - always over the department's
   whole log, because completeness cannot be shown for a slice;
2. for every selected automatic decision loads the recorded rule set by digest (``rule_set_unknown``,
   ``rule_set_altered``, ``rule_set_unpublished`` when the chain has no publication of it before the block that anchored
   the decision, ``rule_set_other_department`` when another department published it, ``service_item_not_held`` when the
   department did not hold the rule set's service item at the block that anchored the decision - checked for an
   officer's decision that applied a rule set too, and for one applying none, or the rules of another item, of the
   item it names or every item, red team round 87), loads the recorded input (``input_missing``, ``input_altered``) with
   the fields it keeps sealed apart (``decision_input.seal_fields``): where the erasure of the certificate the decision
   produced destroyed them (or, for a decision that issued nothing and is no approval, the erasure of its case:
   ``erasure.erase_case``), that erasure must be one the department's anchored ``erasures`` log attests (else
   ``input_erased_unattested``; a case erasure of a case then approved is ``case_erased_in_force``), and the decision is
   counted as lawfully erased (``inputs_erased``): its input commitment still checked, its rules re-run unless they read
   the erased fields; reports a rule set whose rules read the service item's attributes (``item.``) it publishes neither
   as ``item`` nor as a catalogue (``item_unpublished``: they read the application's word, red team round 60c); re-runs
   the engine (``engine_mismatch``, ``rerun_failed``) and compares outcome and reasons (``outcome_mismatch``,
   ``reasons_mismatch``);
3. for ``pl-decision/2`` decisions re-establishes every cited certificate's facts as the ledger found them when it
   decided (facts.py): authenticity now, anchored no later than the recorded block, status *as of the recorded
   block* from the chain's status events, validity at the decision moment; a difference is
   ``certificate_facts`` (e.g. a revocation already on chain when the approval was given, or facts the
   application made up), a recorded block that does not match the decision's time or lies after its anchoring is
   ``facts_block_invalid``; the rules are re-run on the re-established facts, so such a decision also shows its
   ``outcome_mismatch``. A revocation after the recorded block is not held against the decision. A certificate
   recorded as held by the applicant through a disclosed identity other than its type's holder field
   (``formats.holders.HOLDER_FIELD_OF_TYPE``; the rule before red team round 69 took any) is
   ``held_by_other_field``, not ``certificate_facts``, and is re-run as recorded;
4. counts the decisions not anchored yet and the age of the oldest; past ``LEDGER_ANCHOR_DEADLINE_SECONDS`` that is
   ``anchoring_overdue`` (until anchored, a record can be deleted from the database without a trace);
5. for human decisions checks only that an override names an existing decision of the same case
   (``override_invalid``); they are not re-run; any decision of a case whose first decision named another applicant
   is ``applicant_changed`` (a case is one applicant's), one naming another service item ``item_changed``;
   a case decided automatically a second (third, ...) time by the same department is ``decided_again`` (naming the
   first): a case is decided by the rules once, again only by an officer's override, so a department cannot re-run
   the rules on altered input until the outcome suits; the first automatic decision of a case an officer had
   approved (the approval standing, or withdrawn since) is ``decided_after_approval``: the rules' refusal leaves the
   approval's permit live, their approval restores a withdrawn one. The earlier decisions are found through the case
   index, whose every key this walk compares with its body (``index_altered``), per chunk: replay keeps nothing per
   decision;
6. checks the certificates approvals produced against the decisions that issued them, both ways
   (``permits.check_links``: ``issued_not_anchored``, ``issued_by_non_approval``, ``produced_not_revoked``,
   ``produced_link_missing``, ``produced_link_altered``, ``produced_decision_missing``,
   ``produced_by_other_department``, ``produced_decision_refused``), and derives each approval's permit key from the
   permit's sealed fields (``permit_key_altered``: its ``permit_key`` row missing or keyed otherwise, or a second live
   permit for the same holder and premises), and its basis from the decision's recorded facts (``permit_basis_altered``:
   a ``permit_basis`` row the sweep never writes).

Unreadable bodies are ``body_invalid``. Filters (period, service item, case) select the decisions re-run and
counted; log integrity is still checked for the whole log of each selected department.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import select
from sqlmodel import col

from .._gc import free_chunk_cycles
from ..errors import InputError, LedgerError, VerificationError
from ..formats import checks as checks_core
from ..formats._native_facts import facts_check
from ..formats.canonical import document_digest, field_hashes, json_loads
from ..formats.decision_input import SEALED_KEY, flatten, sealed_hashes, unflatten
from ..formats.logbody import recorded_instant
from ..formats.rules import (
    ENGINE_VERSION,
    RuleSet,
    evaluate,
    evaluate_known,
    load_rule_set,
    unpublished_item_read,
)
from ..onchain import chainread
from ..onchain._node_http import block_params, block_timestamp
from ..onchain.ids import (
    EVERY_ITEM,
    NO_ITEM_NAMED,
    NO_RULES,
    OTHER_RULES,
    ROLE_APPROVER,
    department_code,
    department_id_bytes,
    finding_withdrawal,
    item_text,
    named_item,
    service_item_bytes,
)
from ..storage import generations
from ..storage.models import CLOCK_SKEW_SECONDS, PermitBasis, PermitKey
from ..storage.store import Certificate, rows_in, streaming_cache
from . import _decision_workers, _replay_worker, logchain, permits
from ._decision_rerun import _as_recorded, _misstated, _unknown_rules, unknown_decider, unknown_format
from .decisions import (
    DECISION_FORMAT,
    DecisionInput,
    RuleSetRecord,
    _secret,
    applicant_reference,
    erased_citations,
    load_sealed_inputs,
)
from .facts import (
    HOLDER_FIELD_OF_TYPE,
    CertificateFact,
    citations,
    classify,
    establish,
    resolve_citations,
    status_at_block,
)
from .logchain import LOG_DECISIONS, ChainRange, LogEntry, LogMention
from .permits import LinkScan, check_links
from .supervision import SUPERVISION_FORMAT, commitment_of, credited_applicant
from .verify import STATUS_NAMES, ChainView, DigestChanges

if TYPE_CHECKING:
    from ..client import Ledger

__all__ = ["ReplayDiscrepancy", "ReplayReport", "replay", "replay_strict"]

Progress = Callable[[int, int], None]
_CHUNK = 5_000
# With workers: chunks of at most this many entries (the last chunk of a run is the one this process may wait for),
# each worker handed up to _WORKER_QUEUE at a time (one it works on, the next waiting: it never waits for this
# process), and a chunk no worker has room for re-run here (False: every chunk waits for a worker; the tests use it
# to send every chunk through the workers)
_POOL_CHUNK = 2_000
_WORKER_QUEUE = 2
_RUN_HERE_WHEN_BUSY = True


@dataclass(frozen=True, slots=True)
class ReplayDiscrepancy:
    """One failed check: ``check`` names it (see the module docstring), ``case_id`` when the entry is readable."""

    check: str
    department: str
    seq: int | None
    case_id: str | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "department": self.department,
            "seq": self.seq,
            "case_id": self.case_id,
            "detail": self.detail,
        }


@dataclass
class ReplayReport:
    filters: dict[str, Any]
    as_of_block: int
    decisions: int = 0
    automatic: int = 0
    human: int = 0
    re_run: int = 0
    # automatic decisions whose input fields a certificate copied were lawfully erased with it (attested on chain)
    inputs_erased: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    departments: dict[str, dict[str, Any]] = field(default_factory=dict)
    discrepancies: list[ReplayDiscrepancy] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    def counts_by_check(self) -> dict[str, int]:
        return dict(Counter(d.check for d in self.discrepancies))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "as_of_block": self.as_of_block,
            "filters": self.filters,
            "decisions": self.decisions,
            "automatic": self.automatic,
            "human": self.human,
            "re_run": self.re_run,
            "inputs_erased": self.inputs_erased,
            "outcomes": dict(self.outcomes),
            "reasons": dict(self.reasons),
            "rules": dict(self.rules),
            "departments": self.departments,
            "discrepancy_counts": self.counts_by_check(),
            "discrepancies": [d.to_json() for d in self.discrepancies],
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        lines = [
            f"replayed {self.decisions} decisions ({self.automatic} automatic, {self.re_run} re-run; "
            f"{self.human} human) in {len(self.departments)} department(s), chain as of block {self.as_of_block}, "
            f"in {self.seconds:.2f} s ({self.decisions / max(self.seconds, 1e-9):,.0f} decisions/s)"
        ]
        if self.inputs_erased:
            lines.append(
                f"{self.inputs_erased} decision(s) lawfully erased in part: the input fields the certificate they "
                "produced copied were erased with it (attested on chain); their input commitments still checked, "
                "and every rule not reading those fields re-run"
            )
        if self.outcomes:
            lines.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in self.outcomes.most_common()))
        for code, dept in sorted(self.departments.items()):
            outcomes = ", ".join(f"{k} {v}" for k, v in sorted(dept["outcomes"].items()))
            lines.append(
                f"  {code}: {dept['decisions']} decisions ({outcomes or 'none selected'}); log "
                f"{dept['log_entries']} entries, anchored up to {dept['anchored_up_to']}"
                + (
                    f"; {dept['unanchored']} not anchored yet, the oldest for {dept['oldest_unanchored_seconds']:.0f} s"
                    if dept.get("unanchored")
                    else ""
                )
            )
            if dept.get("supervision"):
                sup = dept["supervision"]
                lines.append(
                    f"    supervision: {sup['announcements']} inspection announcement(s), {sup['draws']} "
                    f"draw(s) re-drawn from the chain, {sup['findings']} finding(s), "
                    f"{sup['credit_listings']} credit listing(s) and {sup.get('credit_removals', 0)} removal(s) "
                    "checked"
                    + (
                        f"; {sup['credit_officer_not_recorded']} credit entr(y/ies) written before the officer was "
                        "required (officer not recorded)"
                        if sup.get("credit_officer_not_recorded")
                        else ""
                    )
                )
        if self.reasons:
            lines.append("reasons:")
            lines.extend(f"  {v:>8}  {k}" for k, v in self.reasons.most_common())
        pending = sum(d.get("unanchored") or 0 for d in self.departments.values())
        if self.ok:
            lines.append(
                "OK: no discrepancies - every record matches its anchor and every automatic decision "
                "re-runs to the recorded outcome and reasons"
                + (
                    f" ({pending} decision(s) not anchored yet: only the database vouches for them until then)"
                    if pending
                    else ""
                )
            )
        else:
            lines.append(
                f"FAILED: {len(self.discrepancies)} discrepancies: "
                + ", ".join(f"{k} {v}" for k, v in sorted(self.counts_by_check().items()))
            )
            for d in self.discrepancies[:50]:
                lines.append(
                    f"  [{d.check}] {d.department} #{d.seq if d.seq is not None else '-'} "
                    f"case {d.case_id or '-'}: {d.detail}"
                )
            if len(self.discrepancies) > 50:
                lines.append(f"  ... {len(self.discrepancies) - 50} more in the JSON report (--json FILE)")
        return "\n".join(lines)


# a recorded moment as the library reads one when it bounds what it writes (red team round 47): zone-less is UTC
_parse_time = recorded_instant


def _all_ranges(ledger: Ledger) -> dict[str, list[ChainRange]]:
    """Anchored ranges of every department's decision log, from one eth_getLogs query."""
    chain = ledger.chain
    found = chainread.scan(
        chain,
        chain.log.events.LogBatchAnchored,
        what="the anchored decision-log ranges",
        argument_filters={"logId": logchain.log_id(LOG_DECISIONS)},
    )
    by_department: dict[str, list[ChainRange]] = defaultdict(list)
    for e in found:
        args = e["args"]
        by_department[department_code(bytes(args["departmentId"]))].append(
            ChainRange(
                root="0x" + bytes(args["root"]).hex(),
                first_seq=int(args["firstSeq"]),
                last_seq=int(args["lastSeq"]),
                head_hash="0x" + bytes(args["headHash"]).hex(),
                signer=str(args["signer"]),
                block_number=int(e["blockNumber"]),
                tx_hash="0x" + bytes(e["transactionHash"]).hex(),
            )
        )
    return {d: sorted(r, key=lambda x: x.first_seq) for d, r in by_department.items()}


# what a chunk reads of the chain, read once per replay and sent to the workers (_DepartmentRun.chain_facts): the
# department's registry periods, its rule sets' publications (block, item, item not held then), its service item periods
_ChainFacts = tuple[
    list[tuple[bool, int, int]], dict[str, tuple[int | None, bytes | None, bytes | None]], list[tuple[bytes, int, int]]
]


class _RuleSets:
    """Recorded rule sets by digest, each loaded and checked once, and each department's publication of it asked of
    the chain once (rule sets are kept per department on chain, BatchLog 2.1.0)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._cache: dict[str, tuple[RuleSet | None, str | None, str | None]] = {}
        self._published: dict[tuple[str, str], int | None] = {}
        self._items: dict[tuple[str, str], bytes] = {}  # the service item each publication names (bytes32)
        self._misnamed: dict[tuple[str, str], bytes | None] = {}  # memo of misnamed()
        self._others: dict[tuple[str, str], list[str]] = {}
        self._unread_items: dict[str, str | None] = {}  # memo of unread_item()
        self._unheld: dict[tuple[str, str], bytes | None] = {}  # memo of unheld()
        self._item_periods: dict[str, list[tuple[bytes, int, int]]] = {}  # serviceItemHistory by department
        self._held: dict[tuple[str, bytes, int], bool] = {}  # memo of held_at(): a batch's decisions share its block

    def unread_item(self, rule_set: RuleSet) -> str | None:
        """The first ``item.`` path ``rule_set``'s rules read without publishing the item's attributes or a
        catalogue (:func:`unpublished_item_read`), once per rule set."""
        digest = rule_set.hex_digest
        if digest not in self._unread_items:
            self._unread_items[digest] = unpublished_item_read(rule_set.document)
        return self._unread_items[digest]

    def others(self, digest: str, dept: str) -> list[str]:
        """The departments other than ``dept`` whose key published rule set ``digest`` (its RuleSetPublished
        events), asked only of a decision ``dept`` did not publish the rule set of."""
        key = (dept, digest)
        if key not in self._others:
            raw = _digest_bytes(digest)
            found: set[str] = set()
            if raw is not None:
                chain = self._ledger.chain
                for log in chainread.scan(
                    chain,
                    chain.log.events.RuleSetPublished,
                    what="the rule set's publication",
                    argument_filters={"digest": raw},
                ):
                    found.add(bytes(log["args"]["departmentId"]).rstrip(b"\x00").decode("ascii", "replace"))
            found.discard(dept)
            self._others[key] = sorted(found)
        return self._others[key]

    def publications(self, dept: str) -> dict[str, tuple[int | None, bytes | None, bytes | None]]:
        """:meth:`published`, :meth:`item` and :meth:`unheld` for each rule set the database records as ``dept``'s (a
        few rows), for the replaying process to send its workers (``_DepartmentRun.chain_facts``). The record's
        department only
        chooses what is asked: the answer is the chain's, and a worker asks the chain itself for any other digest a
        decision names."""
        with self._ledger.engine.connect() as conn:
            digests = (
                conn.execute(select(col(RuleSetRecord.digest)).where(col(RuleSetRecord.department_id) == dept))
                .scalars()
                .all()
            )
        return {
            digest: (self.published(digest, dept), self._items.get((dept, digest)), self.unheld(digest, dept))
            for digest in digests
            if isinstance(digest, str)
        }

    def take_publications(
        self, dept: str, published: Mapping[str, tuple[int | None, bytes | None, bytes | None]]
    ) -> None:
        """Take the publications the replaying process read for this replay (a worker): the answers this process
        would have asked the chain for, read once per replay instead of once per process."""
        for digest, (block, item, unheld) in published.items():
            self._published.setdefault((dept, digest), block)
            self._unheld.setdefault((dept, digest), unheld)
            if item is not None:
                self._items.setdefault((dept, digest), item)

    def published(self, digest: str, dept: str) -> int | None:
        """The block in which ``dept`` published rule set ``digest`` on chain (None when it did not)."""
        key = (dept, digest)
        if key not in self._published:
            raw = _digest_bytes(digest)
            block = None
            if raw is not None and logchain.is_department_code(dept):
                chain = self._ledger.chain
                _d, item, number, _time = chain.call(chain.log.functions.ruleSet(department_id_bytes(dept), raw))
                block = int(number) or None
                self._items[key] = bytes(item)
            self._published[key] = block
        return self._published[key]

    def item(self, digest: str, dept: str) -> bytes | None:
        """The service item ``dept``'s publication of rule set ``digest`` names on chain (None when unpublished). A
        worker handed the publications (:meth:`take_publications`) asks the chain for it once per rule set."""
        key = (dept, digest)
        if key not in self._items:
            raw = _digest_bytes(digest)
            if raw is None or not logchain.is_department_code(dept):
                return None
            chain = self._ledger.chain
            _d, item, _number, _time = chain.call(chain.log.functions.ruleSet(department_id_bytes(dept), raw))
            self._items[key] = bytes(item)
        return self._items[key] if self.published(digest, dept) is not None else None

    def misnamed(self, digest: str, dept: str, rule_set: RuleSet) -> bytes | None:
        """The service item ``dept``'s publication of rule set ``digest`` (``rule_set``) names on chain when it is
        not the one the rule set serves, else None (also when unpublished): worked out once per rule set and
        department, not for each of its decisions."""
        key = (dept, digest)
        if key not in self._misnamed:
            item = self.item(digest, dept)
            wrong = item is not None and item != service_item_bytes(rule_set.service_item)
            self._misnamed[key] = item if wrong else None
        return self._misnamed[key]

    def unheld(self, digest: str, dept: str) -> bytes | None:
        """The service item ``dept``'s publication of rule set ``digest`` names when ``dept`` did not hold it at the
        publication's block (no period of the registry's ``serviceItemHistory`` covers it: red team round 85s), else
        None (also when unpublished). An item revoked after the publication leaves it held then. Worked out once per
        rule set and department; the periods are read once per department."""
        key = (dept, digest)
        if key not in self._unheld:
            item, block = self.item(digest, dept), self.published(digest, dept)
            held = item is None or block is None or self.held_at(dept, item, block)
            self._unheld[key] = None if held else item
        return self._unheld[key]

    def item_periods(self, dept: str) -> list[tuple[bytes, int, int]]:
        """``dept``'s service item periods, the registry's ``serviceItemHistory`` (item, from block, until block, 0
        while held), read once per department (a worker takes the replaying process's: :meth:`take_item_periods`);
        none for a department id that is no code."""
        if dept not in self._item_periods:
            found: list[tuple[bytes, int, int]] = []
            if logchain.is_department_code(dept):
                chain = self._ledger.chain
                periods = chain.call(chain.registry.functions.serviceItemHistory(department_id_bytes(dept)))
                found = [(bytes(i), int(start), int(until)) for i, start, until in periods]
            self._item_periods[dept] = found
        return self._item_periods[dept]

    def take_item_periods(self, dept: str, periods: Sequence[tuple[bytes, int, int]]) -> None:
        """Take :meth:`item_periods` as the replaying process read them for this replay (a worker)."""
        self._item_periods.setdefault(dept, list(periods))

    def held_at(self, dept: str, item: bytes, block: int) -> bool:
        """Whether ``dept`` held service ``item`` (bytes32) at ``block``: a period [from, until) of its
        :meth:`item_periods` covers it (until 0: held still). A block is judged whole, as the registry's
        ``heldServiceItemAt``: a grant executed in block B counts from B + 1, a revocation in B until the end of B."""
        key = (dept, item, block)
        if key not in self._held:
            self._held[key] = any(
                i == item and start <= block and (until == 0 or block < until)
                for i, start, until in self.item_periods(dept)
            )
        return self._held[key]

    def get(self, digest: str, dept: str) -> tuple[RuleSet | None, str | None, str | None, int | None]:
        """(rule set, failed check, detail, block in which ``dept`` published it)."""
        if digest not in self._cache:
            self._cache[digest] = self._load(digest)
        return (*self._cache[digest], self.published(digest, dept))

    def _load(self, digest: str) -> tuple[RuleSet | None, str | None, str | None]:
        ledger = self._ledger
        if _digest_bytes(digest) is None:
            return None, "rule_set_unknown", f"recorded rule set digest {digest!r} is not a digest"
        with ledger.engine.connect() as conn:
            text = conn.execute(
                select(RuleSetRecord.document).where(  # type: ignore[call-overload]
                    RuleSetRecord.digest == digest
                )
            ).scalar()
        if text is None:
            return None, "rule_set_unknown", f"rule set {digest} is not in the database"
        if not isinstance(text, str):  # SQLite keeps what an insider writes: a number, bytes
            return None, "rule_set_altered", f"the stored document of rule set {digest} is not text"
        try:
            document = json_loads(text)
        except ValueError:
            return None, "rule_set_altered", f"the stored document of rule set {digest} is not JSON"
        if (
            "0x" + hashlib.sha256(text.encode("utf-8")).hexdigest() != digest
            and "0x" + document_digest(document).hex() != digest
        ):
            return (
                None,
                "rule_set_altered",
                (
                    f"the stored document of rule set {digest} was edited: its digest is "
                    f"now 0x{document_digest(document).hex()}"
                ),
            )
        try:
            return load_rule_set(document), None, None
        except InputError as exc:
            return None, "rule_set_altered", f"the stored rule set {digest} no longer loads: {exc}"


class _UnseenFact:
    """What :meth:`_Facts.check` reads of the fact ``facts.establish`` gives a citation that cannot be looked at
    (``failed``: ``not_found``, a digest not in the store, or ``citation_invalid``): not verified, status unknown,
    nothing else known - the same values as its ``CertificateFact``, without building one (a frozen dataclass's
    construction, once per such citation per decision). Its block is none: ``check`` compares the recorded facts as
    of the decision's own block."""

    __slots__ = ("digest", "failed")
    issuer = root = type = expired = anchored_block = holder = None
    verified = False
    status = "unknown"
    subject_ids: tuple[str, ...] = ()
    any_ids: tuple[str, ...] = ()

    def __init__(self, digest: str | None, failed: tuple[str]) -> None:
        self.digest = digest
        self.failed = failed


_NOT_FOUND, _CITATION_INVALID = ("not_found",), ("citation_invalid",)
_Fact = CertificateFact | _UnseenFact


def _unseen_facts(items: list[tuple[Any, str | None, str | None]], stored: Mapping[str, Any]) -> list[_Fact] | None:
    """The facts ``facts.establish`` gives citations none of which can be looked at (``not_found``: a digest not in
    the store; ``citation_invalid``: nothing it could be), as :class:`_UnseenFact`; None when one can be looked at."""
    out: list[_Fact] = []
    for document, digest, ref in items:
        if document is not None:
            return None
        if digest is not None:
            if stored.get(digest) is not None:
                return None
            out.append(_UnseenFact(digest, _NOT_FOUND))
        elif ref is not None and stored.get(ref) is not None:
            return None
        else:
            out.append(_UnseenFact(None, _CITATION_INVALID))
    return out


def _digest_bytes(digest: str) -> bytes | None:
    """The 32 bytes of a recorded ``0x`` digest; None for anything else."""
    try:
        raw = bytes.fromhex(digest[2:]) if digest.startswith("0x") else b""
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


# A decision's facts block must be the chain's head at the decision moment: mined no later than it, and its next
# block (if any) no earlier, give or take this many seconds of clock difference between the engine and the chain.
# An engine cannot pick an older block (before a revocation) for its facts, nor a later one.
FACTS_CLOCK_SKEW = CLOCK_SKEW_SECONDS  # the bound the library holds a stated time to when it is given
_FACT_FIELDS = ("digest", "type", "verified", "status", "expired", "holder")


def _fact_values(
    fact: CertificateFact | _UnseenFact, verified: bool, status: str, expired: bool | None, holder: bool | None
) -> tuple[Any, ...]:
    """A fact as of the decision block, as :meth:`_Facts.check` compares and views it: the recorded fields in
    ``_FACT_FIELDS`` order, then the issuer."""
    return (fact.digest, fact.type, verified, status, expired, holder, fact.issuer)


class _Facts:
    """Re-establishes the certificate facts of pl-decision/2 decisions, sharing one chain view, the chain's status
    events (read once) and the block timestamps across a replay."""

    def __init__(self, ledger: Ledger, *, block_time: Callable[[int], int | None] | None = None) -> None:
        self.ledger = ledger
        self._view: ChainView | None = None
        # a block's timestamp (None: the chain has no such block); web3's by default, a worker's own reader without
        # web3 (``_replay_worker``): the same answer, eth_getBlockByNumber's timestamp
        self._read_block_time = block_time
        self._history: dict[Any, list[tuple[int, int]]] | None = None
        # each (department, digest)'s changes under any of its roots (its ends, suspensions and reinstatements),
        # made with _history from the same events
        self._elsewhere = DigestChanges(())
        self._times: dict[int, int] = {}
        self.stored: dict[str, dict[str, Any]] = {}
        self.cache: dict[tuple[Any, Any], Sequence[_Fact]] = {}
        self._moments: dict[Any, datetime | None] = {}  # decided_at text -> _parse_time of it, per chunk
        self._periods: dict[str, list[tuple[bool, int, int]]] = {}
        self._erased: dict[str, dict[str, str | None]] | None = None
        self._erasures: dict[str, dict[str, dict[str, Any]]] = {}  # digest -> department -> its erasure entry
        # (department, case id) -> its attested case erasure (erasure.erase_case), inputs the union of its entries'
        self._cases: dict[tuple[str, str], dict[str, Any]] = {}
        # input digest -> department whose attested entry names it -> the certificates those entries erased
        self._erased_inputs: dict[str, dict[str, set[str]]] | None = None
        self.shredded: dict[str, str] = {}
        # (department, facts block, decided_at, anchoring block) -> (ok, findings) of a chunk (_when_and_who_ok)
        self._judged: dict[tuple[str, int, Any, int | None], tuple[bool, list[tuple[str, str]]]] = {}

    @property
    def view(self) -> ChainView:
        """The chain view verification reads through, made on first use: a worker whose chunks verify no cited
        certificate never opens the chain's client (``_replay_worker``)."""
        if self._view is None:
            self._view = ChainView(self.ledger.chain, self.ledger.settings.confirmations, max_head_age=3600.0)
        return self._view

    def _parse_moment(self, moment: Any) -> datetime | None:
        decided = _parse_time(moment)
        if type(moment) is str:
            self._moments[moment] = decided
        return decided

    def _shredded(self, inputs: list[dict[str, Any]]) -> dict[str, str]:
        """The inline cited copies of ``inputs`` that an erasure destroyed: ref -> the digest their row names."""
        refs = [
            c["document_ref"]
            for i in inputs
            for c in citations(i)
            if isinstance(c, dict) and isinstance(c.get("document_ref"), str)
        ]
        return erased_citations(self.ledger, refs) if refs else {}

    def prepare(self, decisions: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Work out, for a chunk of (body, input) pairs, every cited certificate's facts at once: the digests
        resolved in one lookup, the certificates verified with one call per decision moment (a bulk run decides a
        whole chunk at one moment)."""
        inputs = [i for _, i in decisions]
        # each citation read once (facts.classify) for resolving and establishing alike
        classified = [[classify(c) for c in citations(i)] for i in inputs]
        self.stored = resolve_citations(self.ledger, inputs, classified)
        # the copies named by document_ref, as classified (a JSON input's citation is a dict or no mapping at all,
        # so classify's reading of the reference is _shredded's)
        refs = [ref for items in classified for _, _, ref in items if ref is not None]
        self.shredded = erased_citations(self.ledger, refs) if refs else {}
        self.cache = {}
        moments: dict[str, list[int]] = defaultdict(list)
        for k, (body, _) in enumerate(decisions):
            if isinstance(body.get("decided_at"), str) and classified[k]:
                moments[body["decided_at"]].append(k)
        for moment, group in moments.items():
            decided = self._parse_moment(moment)  # kept for check (the native check reads it there)
            if decided is None:
                continue
            # a decision none of whose citations can be looked at (no document inline, none in the store by its
            # digest or reference) has the facts establish gives such citations, without verifying anything or
            # reading the head: their block is not one a fact of them is compared at (``check`` compares the
            # recorded facts as of the decision's own block), so no chain is read for them
            seen = []
            for k in group:
                unseen = _unseen_facts(classified[k], self.stored)
                if unseen is None:
                    seen.append(k)
                else:
                    self.cache[(decisions[k][0].get("input_digest"), moment)] = unseen
            if not seen:
                continue
            group = seen
            found = establish(
                self.view,
                [citations(inputs[k]) for k in group],
                self.stored,
                now=decided,
                classified=[classified[k] for k in group],
            )
            for k, facts in zip(group, found, strict=True):
                self.cache[(decisions[k][0].get("input_digest"), moment)] = facts

    def release(self) -> None:
        """Let go of the chunk's documents and facts (:meth:`prepare` makes the next chunk's), so that the chunk's
        young-generation pass (ledger._gc) does not walk them alive."""
        self.stored, self.cache, self.shredded, self._judged, self._moments = {}, {}, {}, {}, {}

    def history(self) -> dict[Any, list[tuple[int, int]]]:
        if self._history is None:
            found: dict[Any, list[tuple[int, int]]] = defaultdict(list)
            events = self.view.status_events()
            for key, status, block, _detail in events:
                found[key].append((block, status))
            self._history, self._elsewhere = found, DigestChanges(events)
        return self._history

    def status_at(self, key: Any, block: int) -> str:
        """The status in force at ``block`` of the certificate at ``key`` (department, root, digest): its own
        history's, unless its issuer revoked or superseded the same digest under another root by then, or, for one
        valid under its own, held it suspended under another (the same certificate anchored again: CertificateAnchor
        2.1.0, ``endedUnder``, red team round 42; 2.2.0, ``heldUnder``, rounds 46 and 47), as verification reads it
        (``ChainView.elsewhere``)."""
        own = status_at_block(self.history().get(key, []), block)
        if own in ("revoked", "superseded"):
            return own
        ended, held = self._elsewhere.standing(key[0], key[2], block)
        if ended is not None and ended[0] != key[1]:
            return STATUS_NAMES[ended[1]]
        if own == "valid" and held is not None and held[0] != key[1] and held[1] == 1:
            return "suspended"
        return own

    def block_time(self, number: int) -> int | None:
        if number not in self._times:
            try:
                if self._read_block_time is not None:
                    found = self._read_block_time(number)
                    if found is None:
                        return None
                    self._times[number] = found
                else:  # the raw answer, checked and read as a worker's BlockTimes reads it: the same time or none
                    answer = self.ledger.chain.w3.provider.make_request(
                        "eth_getBlockByNumber",  # type: ignore[arg-type]
                        block_params(number),
                    )
                    found = block_timestamp(answer)
                    if found is None:
                        return None
                    self._times[number] = found
            except Exception:  # noqa: BLE001 - a block the chain does not have: reported by the caller
                return None
        return self._times[number]

    def take_authority(self, department: str, periods: list[tuple[bool, int, int]]) -> None:
        """Take the periods the replaying process read for this replay (a worker)."""
        self._periods.setdefault(department, periods)

    def authority(self, department: str) -> list[tuple[bool, int, int]]:
        """The department's (active, roles, from block) periods from the registry, oldest first (read once)."""
        if department not in self._periods:
            chain = self.ledger.chain
            periods = chain.call(chain.registry.functions.statusHistory(department_id_bytes(department)))
            self._periods[department] = [(bool(a), int(r), int(f)) for a, r, f in periods]
        return self._periods[department]

    def check(
        self,
        department: str,
        decision_input: dict[str, Any],
        body: dict[str, Any],
        anchor: ChainRange | None,
        fail: Callable[[str, str], None],
    ) -> list[dict[str, Any]] | None:
        """Check when and by whom an automatic decision was taken, then re-establish its facts, reporting every
        difference from the recorded ones; the rules' view of each fact (``CertificateFact.rule_view``), for the
        re-run, or None when the decision cannot be re-run on them. Natively in one call when it can
        (``_native_facts``: the same findings and views), else by :meth:`check_reference`."""
        if facts_check is not None:
            answer = facts_check(
                body,
                decision_input,
                department,
                anchor,
                self._moments,
                self._judged,
                self._judge,
                self.cache,
                self._erased,
                self.shredded,
                self._status_of,
                self._reference,
            )
            if answer is not None:
                for check, detail in answer[0]:
                    fail(check, detail)
                return answer[1]  # type: ignore[no-any-return]
        return self.check_reference(department, decision_input, body, anchor, fail)

    def _reference(self, department: str, identity: str) -> str:
        return applicant_reference(self.ledger, department, identity)

    def _status_of(self, fact: _Fact, block: int) -> str:
        """The status as of ``block`` of the certificate of an authentic ``fact`` naming its issuer, root and digest."""
        issuer, root, digest = cast(str, fact.issuer), cast(str, fact.root), cast(str, fact.digest)
        key = (issuer.encode().ljust(32, b"\x00"), bytes.fromhex(root[2:]), bytes.fromhex(digest[2:]))
        return self.status_at(key, block)

    def check_reference(
        self,
        department: str,
        decision_input: dict[str, Any],
        body: dict[str, Any],
        anchor: ChainRange | None,
        fail: Callable[[str, str], None],
    ) -> list[dict[str, Any]] | None:
        """:meth:`check` in Python: the reference the native check (``_native_facts``) answers as."""
        recorded = body.get("certificates")
        moment = body.get("decided_at")
        # a bulk run decides a whole chunk at one moment: its text parsed once (a pure function of it)
        decided = (
            self._moments[moment] if type(moment) is str and moment in self._moments else self._parse_moment(moment)
        )
        cited = citations(decision_input)
        block = body.get("as_of_block")
        if not isinstance(recorded, list) or len(recorded) != len(cited) or decided is None:
            fail(
                "certificate_facts",
                f"the decision records {len(recorded) if isinstance(recorded, list) else 0} "
                f"certificate facts for {len(cited)} cited certificates",
            )
            return None
        if (
            not isinstance(block, int)
            or isinstance(block, bool)
            or any(not isinstance(f, dict) or f.get("as_of_block") != block for f in recorded)
        ):
            fail(
                "facts_block_invalid",
                "the decision and its certificate facts name no single block they were "
                f"judged at (as_of_block {block!r})",
            )
            return None
        if not self._when_and_who_ok(department, block, decided, anchor, body, fail):
            return None
        if not cited:
            return []
        now = self.cache.get((body.get("input_digest"), body.get("decided_at")))
        if now is None:
            (now,) = establish(self.view, [cited], self.stored, now=decided)
            self.shredded.update(self._shredded([decision_input]))
        applicant = body.get("applicant_ref")
        holds = isinstance(applicant, str)

        def reference(identity: str) -> str:
            return self._reference(department, identity)

        # Each fact as of the decision block: (digest, type, verified, status, expired, holder, issuer), worked out
        # from the fact established now without a new CertificateFact for each (dataclasses.replace and held_by made
        # one or two per cited certificate per decision): the same values, compared and viewed field by field
        final: list[tuple[Any, ...]] = []
        for index, (fact, theirs, citation) in enumerate(zip(now, recorded, cited, strict=True)):
            gone = self._erased_citation(fact, theirs, citation)
            if gone is not None:
                erased = self._erased_fact(gone, theirs, block, department, (body.get("input_digest"), index))
                if erased is not None:  # what erasure left checks out, with the facts its issuer attested
                    final.append(_fact_values(erased, erased.verified, erased.status, erased.expired, erased.holder))
                    continue
            depth = theirs.get("confirmations", 0)
            depth = depth if isinstance(depth, int) and not isinstance(depth, bool) else 0
            verified, status, expired, anchored = fact.verified, fact.status, fact.expired, fact.anchored_block
            if verified and anchored is not None and anchored > block:
                # anchored only after the decision block: at decision time nothing was anchored to check
                verified, status, expired = False, "unknown", None
            elif verified and anchored is not None and block - anchored < depth:
                # not yet deep enough at the decision block: the decision rightly did not count it
                verified, status = False, "unknown"
            elif verified and fact.issuer and fact.root and fact.digest:
                status = self._status_of(fact, block)
            holder = fact.holder
            if holds:  # CertificateFact.held_by: an empty or blank holder field names no one
                holder = verified and any(reference(i) == applicant for i in fact.subject_ids if i.strip())
                if (
                    not holder
                    and verified
                    and theirs.get("holder") is True
                    and any(reference(i) == applicant for i in fact.any_ids if i.strip())
                ):
                    # recorded under the rule before red team round 69 (any disclosed holder field named the holder):
                    # its own finding, not made-up facts; re-run as recorded, so no outcome_mismatch follows from it
                    fail(
                        "held_by_other_field",
                        f"certificate {index + 1} ({fact.digest}, type {fact.type!r}) was held by the applicant "
                        "through a disclosed identity other than its type's holder field "
                        f"({HOLDER_FIELD_OF_TYPE.get(fact.type or '', 'none named')}): the rule before red team "
                        "round 69; no longer a holding, so an officer should review the decision",
                    )
                    holder = True
            final.append(_fact_values(fact, verified, status, expired, holder))
        views = []
        for i, (mine, theirs) in enumerate(zip(final, recorded, strict=True)):
            digest, cert_type, verified, status, expired, holder, issuer = mine
            get = theirs.get
            if not (
                get("digest") == digest
                and get("type") == cert_type
                and get("verified") == verified
                and get("status") == status
                and get("expired") == expired
                and get("holder") == holder
            ):
                diffs = [
                    f"{k}: recorded {theirs.get(k)!r}, the chain says {v!r}"
                    for k, v in zip(_FACT_FIELDS, mine, strict=False)
                    if theirs.get(k) != v
                ]
                if diffs:
                    fail(
                        "certificate_facts", f"certificate {i + 1} ({digest}) as of block {block}: " + "; ".join(diffs)
                    )
            # CertificateFact.rule_view
            views.append(
                {
                    "type": cert_type,
                    "digest": digest,
                    "issuer": issuer if verified else None,
                    "verified": verified,
                    "status": status,
                    "expired": expired,
                    "holder": bool(holder),
                }
            )
        return views

    def _when_and_who_ok(
        self,
        department: str,
        block: int,
        decided: datetime,
        anchor: ChainRange | None,
        body: dict[str, Any],
        fail: Callable[[str, str], None],
    ) -> bool:
        """:meth:`_moment_ok`, then :meth:`_authority_ok`, judged once per chunk for the decisions that share their
        facts block, decision moment and anchoring block (a bulk run decides a whole chunk at one moment, as of one
        block): the same findings, reported for each. Only a judgement of mined blocks is kept (the next block's
        time read, so no later block can change it: block times and the registry's periods are read once per
        replay already); one made at the chain's head is made again for each decision, as before."""
        judged = self._judge(department, block, decided, anchor, body)
        for check, detail in judged[1]:
            fail(check, detail)
        return judged[0]

    def _judge(
        self, department: str, block: int, decided: datetime, anchor: ChainRange | None, body: dict[str, Any]
    ) -> tuple[bool, list[tuple[str, str]]]:
        """:meth:`_when_and_who_ok`'s judgement and findings, kept per chunk as it says."""
        moment = body.get("decided_at")
        key = (department, block, moment, anchor.block_number if anchor is not None else None)
        judged = self._judged.get(key)
        if judged is None:
            found: list[tuple[str, str]] = []

            def note(check: str, detail: str) -> None:
                found.append((check, detail))

            ok = self._moment_ok(block, decided, anchor, body, note) and self._authority_ok(
                department, block, anchor, note
            )
            judged = (ok, found)
            if block + 1 in self._times:
                self._judged[key] = judged
        return judged

    def erased(self) -> dict[str, dict[str, str | None]]:
        """Digests of the certificates whose erasure the chain attests, with every department that logged it and the
        type its entry records (read once; :func:`ledger.services.erasure.proven_by`: anchored entries that check
        out, none the database alone holds; all of them, so another department's entry naming the digest cannot
        hide its issuer's)."""
        if self._erased is None:
            from .erasure import proven_record

            self._erasures, self._cases = proven_record(self.ledger)
            self._erased = {
                digest: {d: kind if isinstance(kind := e.get("type"), str) else None for d, e in by.items()}
                for digest, by in self._erasures.items()
            }
        return self._erased

    def erased_inputs(self) -> dict[str, dict[str, set[str]]]:
        """The decision inputs whose sealed fields an erasure the chain attests destroyed (its entry's ``inputs``),
        with the departments whose entry names each and the certificates those entries erased (read from
        :meth:`erased`'s entries, once)."""
        if self._erased_inputs is None:
            self.erased()
            found: dict[str, dict[str, set[str]]] = {}
            for digest, by in self._erasures.items():
                for department, entry in by.items():
                    inputs = entry.get("inputs")
                    for named in inputs if isinstance(inputs, list) else ():
                        if isinstance(named, str):
                            found.setdefault(named, {}).setdefault(department, set()).add(digest)
            self._erased_inputs = found
        return self._erased_inputs

    def erased_with_its_case(self, dept: str, input_digest: str, case: Any) -> bool:
        """Whether an attested erasure entry of ``dept`` naming ``input_digest`` erased a certificate a decision
        of ``dept`` issued in ``case``: the only lawful erasure of a decision's typed fields when the decision
        issued nothing itself (the rules' referral an officer then approved; red team, round 41a)."""
        from .erasure import issuing_case

        certificates = self.erased_inputs().get(input_digest, {}).get(dept, set())
        return isinstance(case, str) and any(case in issuing_case(self.ledger, dept, c) for c in sorted(certificates))

    def erased_case(self, dept: str, input_digest: str, case: Any) -> bool:
        """Whether an erasure of ``dept``'s own case ``case`` that the chain attests (``erasure.erase_case``: an
        anchored entry of ``dept``'s ``erasures`` log naming that case) names ``input_digest`` among its inputs: the
        lawful erasure of typed fields no certificate carries (a refused or withdrawn case), for a decision that is
        no approval (the caller checks). Another department's entry, or one naming another case, excuses nothing
        (red team, round 42p)."""
        self.erased()
        entry = self._cases.get((dept, case)) if isinstance(case, str) else None
        return entry is not None and input_digest in entry.get("inputs", ())

    def erasure_record(
        self,
    ) -> tuple[
        dict[str, dict[str, str | None]], dict[str, dict[str, dict[str, Any]]], dict[tuple[str, str], dict[str, Any]]
    ]:
        """What :meth:`erased` read (the attested erasures, with their entries, and the attested case erasures), for
        the replaying process to send its workers with a department's first chunks (as the credit book): a worker
        that has them reads no erasures log, nor the chain's anchors of one."""
        return self.erased(), self._erasures, self._cases

    def take_erasures(
        self,
        record: tuple[
            dict[str, dict[str, str | None]],
            dict[str, dict[str, dict[str, Any]]],
            dict[tuple[str, str], dict[str, Any]],
        ],
    ) -> None:
        """Take :meth:`erasure_record` as the replaying process read it for this replay (a worker), unless this
        process read its own: the same erasures, read once per replay instead of once per process."""
        if self._erased is None:
            self._erased, self._erasures, self._cases = record

    def _erased_citation(self, fact: _Fact, theirs: Mapping[str, Any], citation: Any) -> str | None:
        """The digest of the lawfully erased certificate a citation named, or None: cited by digest, its body is
        gone from the store; cited inline, its copy was destroyed with it. Either way the certificate must be in an
        ``erasures`` log, and an inline copy must be of the certificate the anchored record names (its row's label
        is the database's word, so it decides nothing on its own)."""
        if fact.failed == ("not_found",) and fact.digest in self.erased():
            return fact.digest
        ref = citation.get("document_ref") if isinstance(citation, dict) else None
        digest = self.shredded.get(ref) if fact.failed == ("citation_invalid",) and isinstance(ref, str) else None
        if digest is not None and digest == theirs.get("digest") and digest in self.erased():
            return digest
        return None

    def _erased_fact(
        self, digest: str, theirs: Mapping[str, Any], block: int, department: str, citation: tuple[Any, int]
    ) -> CertificateFact | None:
        """The fact of a cited certificate whose body was lawfully erased after the decision: its fields are gone, so
        it cannot be re-verified as a document, and replay must not report an honest decision for that (docs/privacy.md:
        every audit still works). What erasure left is checked instead, none of it from the record: the stored
        digest leads by its Merkle proof (from its batch's stored leaves) to a root its issuer anchored, signed by an
        active issuer key, by the decision block; the type is the stored one, which must be the one the issuer's
        attested erasure entry records (entries older than that record none); the status is the chain's at that
        block. What needs the erased fields (expiry, holder) is what the issuer's erasure entry attests of this
        decision (``cited_in``: established from the fields before they were destroyed), never the record's own
        word: an entry that attests nothing of it leaves them unknown, and a record claiming them is reported.
        None when any of that fails (then it is reported)."""
        from ..formats import checks
        from ..storage.store import Batch, Certificate
        from .status import stored as stored_certificate

        try:
            cert = stored_certificate(self.ledger, digest)
            with self.ledger.engine.connect() as conn:
                cert_type, signature = conn.execute(
                    select(col(Certificate.cert_type), col(Batch.signature))
                    .join(Batch, col(Batch.root) == col(Certificate.batch_root))
                    .where(generations.digest_in(conn, [digest]))
                ).one()
            if cert.department not in self.erased().get(digest, ()):  # only its issuer erases a certificate
                return None
            # once the body is gone, only the issuer's attested erasure entry binds a type to the digest (the column
            # is the database's word: an insider retypes it to make a made-up fact check out): a column that
            # disagrees with it is what erasure left not checking out; an entry written before types were recorded
            # leaves the stored one
            attested_type = self.erased().get(digest, {}).get(cert.department)
            if attested_type is not None and attested_type != cert_type:
                return None
            view = self.view
            batch = view.batch(cert.department, cert.root, view.head())
            if (
                not checks.merkle_proof(cert.digest, cert.proof, cert.root)[0]
                or batch is None
                or batch.block_number > block
                or not view.was_active_issuer(batch.signer, batch.block_number)
                or view.batch_signer(cert.root, batch, bytes.fromhex(signature.removeprefix("0x"))).lower()
                != batch.signer.lower()
            ):
                return None
        except (LedgerError, ValueError, TypeError, AttributeError):
            # a blob or a number where the batch row keeps its signature's hex (SQLite keeps any type): no
            # signature, so the citation does not check out; it stopped the whole replay (red team round 80)
            return None
        from .erasure import attested_citation

        key = (department_id_bytes(cert.department), cert.root, cert.digest)
        attested = attested_citation(self._erasures.get(digest, {}).get(cert.department, {}), department, *citation)
        expired = attested.get("expired") if attested is not None else None
        holder = attested.get("holder") if attested is not None else None
        depth = theirs.get("confirmations", 0)
        return CertificateFact(
            digest,
            cert.department,
            "0x" + cert.root.hex(),
            cert_type,
            True,
            self.status_at(key, block),
            expired if isinstance(expired, bool) else None,
            block,
            (),
            batch.block_number,
            confirmations=depth if type(depth) is int else 0,
            holder=holder if isinstance(holder, bool) else None,
        )

    def _moment_ok(
        self,
        block: int,
        decided: datetime,
        anchor: ChainRange | None,
        body: dict[str, Any],
        fail: Callable[[str, str], None],
    ) -> bool:
        """The decision block was the head at decided_at, and the decision was anchored soon after it: a record
        can be backdated at most by the anchoring deadline."""
        when, after = self.block_time(block), self.block_time(block + 1)
        moment = decided.timestamp()
        if anchor is not None and block > anchor.block_number:
            fail(
                "facts_block_invalid",
                f"the decision names block {block}, after it was anchored in block {anchor.block_number}",
            )
            return False
        if when is None:
            fail("facts_block_invalid", f"the decision names block {block}, which this chain does not have")
            return False
        if after is None and anchor is not None and anchor.block_number > block:
            # the decision's anchoring is a later block of the same chain, so the chain has the next block: a node
            # answering that it does not (or failing to answer) dropped the bound the next block's time gives, and a
            # decision taken after a revocation passed on the facts from before it (red team round 34a)
            fail(
                "facts_block_invalid",
                f"the node does not produce block {block + 1}, the block after the decision's facts block, though "
                f"it anchored the decision in block {anchor.block_number}: without it the facts block cannot be "
                "judged the head at the decision moment (check that LEDGER_RPC_URL names a node of this chain you "
                "trust, then replay again)",
            )
            return False
        if when > moment + FACTS_CLOCK_SKEW or (after is not None and after < moment - FACTS_CLOCK_SKEW):
            fail(
                "facts_block_invalid",
                f"the decision names block {block} (mined "
                f"{datetime.fromtimestamp(when, UTC).isoformat()}), which was not the head at "
                f"the decision moment {body.get('decided_at')}",
            )
            return False
        sealed = self.block_time(anchor.block_number) if anchor is not None else None
        if anchor is not None and sealed is not None and moment > sealed + FACTS_CLOCK_SKEW:
            # a record is taken before it is anchored: a facts block still the chain's head (no block after it to
            # compare with) passed for any decided_at to the end of the calendar
            fail(
                "facts_block_invalid",
                f"the decision says it was taken at {body.get('decided_at')}, after it was anchored in block "
                f"{anchor.block_number} (mined {datetime.fromtimestamp(sealed, UTC).isoformat()}): a decision is "
                "anchored after it is taken, so its decided_at is not the moment it was taken",
            )
            return False
        deadline = self.ledger.settings.anchor_deadline_seconds
        if deadline and anchor is not None and sealed is not None and sealed - moment > deadline:
            fail(
                "anchored_late",
                f"decided at {body.get('decided_at')} but anchored {sealed - moment:.0f} s "
                f"later (block {anchor.block_number}); the deadline is {deadline} s, so its time and "
                "facts are not attested (a backdated record looks like this)",
            )
            return False
        return True

    def _authority_ok(
        self, department: str, block: int, anchor: ChainRange | None, fail: Callable[[str, str], None]
    ) -> bool:
        """The department was an active approver from the decision block until the decision was anchored. A period
        starting in the anchoring's own block, after the decision's, may have begun after the anchoring in that block
        (the contract let the anchoring through, so it did, unless the department was reinstated first): it is not
        held against the decision, as a certificate's key is judged by the block before its anchoring or its own
        (red team round 65: a suspension mined after the anchoring voided every decision of its range)."""
        end = anchor.block_number if anchor is not None else block
        periods = self.authority(department)
        for i, (active, roles, start) in enumerate(periods):
            stop = periods[i + 1][2] if i + 1 < len(periods) else None
            if anchor is not None and start == end > block:
                continue
            if start <= end and (stop is None or stop > block) and not (active and roles & ROLE_APPROVER):
                fail(
                    "decided_without_authority",
                    f"{department} was {'suspended' if not active else 'not an approver'} from block {start} while "
                    f"this decision (block {block}, anchored in block {end}) was taken",
                )
                return False
        return True


def replay(
    ledger: Ledger,
    *,
    department: str | Iterable[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    service_item: str | None = None,
    case_id: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ReplayReport:
    """Check and re-run the decision history; every problem is a discrepancy in the report (fail closed).

    ``workers``: processes that re-run whole chunks of the log (``_replay_worker``: bodies, index, inputs, facts,
    rules, commitments) while this one reads the log and re-runs the chunks no worker is free for; by default one
    per core beyond the first for a long history, 0 for none. The log's integrity chain, sequence and anchors are
    always checked here, in order, on the very rows the chunks re-run; the chunks' findings are merged in log
    order, so the report is the one a single process makes."""
    import time

    started = time.perf_counter()
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InputError(f"{name} must carry a time zone (UTC)")
    chain = ledger.chain
    report = ReplayReport(
        filters={
            "department": department if isinstance(department, (str, type(None))) else sorted(department),
            "since": since.isoformat() if since else None,
            "until": until.isoformat() if until else None,
            "service_item": service_item,
            "case_id": case_id,
        },
        as_of_block=chain.block_number(),
    )
    ranges = _all_ranges(ledger)
    with ledger.engine.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(
                select(col(LogEntry.department_id), _count())
                .where(col(LogEntry.log) == LOG_DECISIONS)
                .group_by(col(LogEntry.department_id))
            ).all()
        )
    if department is None:
        departments = sorted(set(counts) | set(ranges))
    else:
        departments = [department] if isinstance(department, str) else sorted(department)
    total = sum(counts.get(d, 0) for d in departments)
    rule_sets = _RuleSets(ledger)
    facts = _Facts(ledger)
    selection = _Selection(case_id, service_item, since, until)
    scans: dict[str, LinkScan] = {}
    done = 0
    # The cyclic collector is not paused here (the gateway runs this): the CLI pauses it (ledger._gc).
    # one case re-runs one or two decisions: no worker is worth starting for that
    pool_size = _decision_workers.worker_count(workers if case_id is None or workers is not None else 0, total)
    spec = None
    if pool_size and _replay_worker.can_open(ledger):
        try:
            spec = _replay_worker.spec_of(ledger)
        except LedgerError:
            # the vault does not open (no passphrase): one process, which needs it only where the one-process replay
            # does, and fails there as it did
            spec = None
    if spec is None:
        pool_size = 0  # also for a database in this process's memory, or a node a worker cannot reach
    # every page of the log and of the inputs is read once, in order: a small page cache per connection keeps this
    # process's memory flat in the log's length (storage.store.streaming_cache)
    with (
        streaming_cache(),
        _decision_workers.Pool(pool_size, _replay_worker.start, (spec,))
        if pool_size
        else contextlib.nullcontext() as pool,
    ):
        done = _replay_departments(
            ledger, report, departments, ranges, counts, rule_sets, facts, selection, total, progress, scans, pool
        )
    # the certificates approvals produced, linked both ways with the decisions that issued them (permits.py); what
    # it needs of each log was gathered by the walk above (the log is read once)
    for p in check_links(ledger, departments, scans):
        if case_id is None or p.case_id == case_id:
            report.discrepancies.append(ReplayDiscrepancy(p.check, p.department, p.seq, p.case_id, p.detail))
    report.discrepancies.extend(_erased_in_force(ledger, facts, departments, case_id))
    report.discrepancies.extend(_permit_keys(ledger, departments, scans, rule_sets, case_id))
    report.discrepancies.extend(_permit_bases(ledger, departments, scans, rule_sets, case_id))
    report.discrepancies.sort(key=lambda d: (d.department, d.seq if d.seq is not None else -1, d.check))
    if progress is not None:
        progress(done, total)
    report.seconds = time.perf_counter() - started
    return report


def _permit_keys(
    ledger: Ledger,
    departments: Iterable[str],
    scans: Mapping[str, LinkScan],
    rule_sets: _RuleSets,
    case_id: str | None,
) -> list[ReplayDiscrepancy]:
    """``permit_key_altered``: an approval's permit whose ``permit_key`` rows (by which the next approval finds the
    holder's live permit for the same premises, migration 0022; a row a key since 0025) are missing or hold other keys
    than its holder and premises give, and each later live permit sharing a key with an earlier live one (the second
    permit such an edit let through). The keys are derived here as the approval derives them
    (``permits.premises_keys``: the department's decision secret, the issuing rule set's ``produces``) from the
    permit's sealed fields, once they hash to its digest; its liveness is the chain's status and the sealed
    ``valid_until``, never the row's columns. An insider deleting or rekeying the row let a second permit through
    unreported (round 77's open clause)."""
    out: list[ReplayDiscrepancy] = []
    now = datetime.now(UTC)
    table = PermitKey.__table__  # type: ignore[attr-defined]
    for dept in departments:
        scan = scans.get(dept)
        if scan is None or not scan.issued:
            continue
        issued_at = {seq: digest for digest, (seq, _hash, _case) in scan.issued.items()}
        specs: dict[str, Mapping[str, Any]] = {}  # permit digest -> the issuing rule set's produces (one_per)
        stored: dict[str, Any] = {}
        sealed: dict[str, bytes] = {}
        with ledger.engine.connect() as conn:
            seqs = sorted(issued_at)
            for i in range(0, len(seqs), 900):
                for seq, text in conn.execute(
                    select(col(LogEntry.seq), col(LogEntry.body)).where(
                        col(LogEntry.log) == LOG_DECISIONS,
                        col(LogEntry.department_id) == dept,
                        col(LogEntry.seq).in_(seqs[i : i + 900]),
                    )
                ):
                    try:
                        body = logchain.stored_loads(text)
                    except ValueError:
                        continue  # body_invalid
                    digest = body.get("rule_set") if isinstance(body, dict) else None
                    rules = rule_sets.get(digest, dept)[0] if isinstance(digest, str) else None
                    produces = (rules.produces or {}) if rules is not None else {}
                    if produces.get("one_per") and int(seq) in issued_at:
                        specs[issued_at[int(seq)]] = produces
            wanted = sorted(specs)
            for i in range(0, len(wanted), 900):
                part = wanted[i : i + 900]
                for digest, department, key in conn.execute(
                    select(table.c.digest, table.c.department_id, table.c.key).where(table.c.digest.in_(part))
                ):
                    if department == dept:  # a row a key (premises_keys; red team round 85c)
                        stored.setdefault(str(digest), set()).add(key)
                # by digest alone: the decision names the permit, whatever department its row now says (red team
                # round 85: a row moved to another department read as an erased permit, its deleted key row unseen)
                for digest, body in conn.execute(
                    select(col(Certificate.digest), col(Certificate.sealed)).where(generations.digest_in(conn, part))
                ):
                    sealed[str(digest)] = bytes(body)
        if not specs:
            continue
        try:
            secret = _secret(ledger, dept)
        except LedgerError:
            continue  # the vault does not open: nor do the permits
        derived: dict[str, tuple[list[str], bool]] = {}  # digest -> (keys, within its sealed validity now)
        for digest, spec in specs.items():
            fields = _bound_fields(ledger, digest, sealed.get(digest))
            if fields is None:
                continue  # erased or altered (reconcile names an altered body): it states nothing to key
            subject = {k.removeprefix("subject."): v for k, v in fields.items() if k.startswith("subject.")}
            try:
                keys = permits.premises_keys(secret, spec, subject)
                # within its sealed validity now, as every verifier judges it (an end not read as a date: not live)
                current = checks_core.validity(None, fields.get("valid_until"), now)[0]
            except (LedgerError, ValueError, KeyError, TypeError):
                continue
            if keys is None:
                continue
            derived[digest] = (keys, current)
            seq, _hash, case = scan.issued[digest]
            rows = stored.get(digest, _NO_ROW)
            if rows is _NO_ROW:
                detail = f"permit {digest} has no permit_key row: an approval for the same premises would not find it"
            elif rows != {None} and rows != set(keys):
                held = sorted(str(k)[:80] for k in rows)
                detail = (
                    f"permit {digest}'s permit_key rows hold {held!r}, not the key(s) its holder and premises give: "
                    "an approval for the same premises would not find it"
                )
            else:
                continue  # keyed as derived (or not keyed yet: issued before 0022, keyed when an approval asks)
            out.append(ReplayDiscrepancy("permit_key_altered", dept, seq, case, detail))
        statuses = permits.chain_statuses(ledger, dept, derived)
        first_live: dict[str, str] = {}
        for digest in sorted(derived, key=lambda d: scan.issued[d][0]):
            keys, current = derived[digest]
            if statuses.get(digest) not in ("valid", "suspended") or not current:
                continue
            # the earliest live permit sharing a key with this one (an application sharing any is the same premises)
            earlier = min((first_live.setdefault(k, digest) for k in keys), key=lambda d: scan.issued[d][0])
            if earlier != digest:
                seq, _hash, case = scan.issued[digest]
                out.append(
                    ReplayDiscrepancy(
                        "permit_key_altered",
                        dept,
                        seq,
                        case,
                        f"permit {digest} is live for the same holder and premises as permit {earlier} (decision "
                        f"{scan.issued[earlier][0]}): a holder has one live permit per premises; revoke all but one",
                    )
                )
    return [d for d in out if case_id is None or d.case_id == case_id]


_NO_ROW = object()

_FOLLOWED = (None, "suspending", "suspended", "revoking", "revoked")  # what the sweep writes in ``followed``


def _permit_bases(
    ledger: Ledger,
    departments: Iterable[str],
    scans: Mapping[str, LinkScan],
    rule_sets: _RuleSets,
    case_id: str | None,
) -> list[ReplayDiscrepancy]:
    """``permit_basis_altered``: a ``permit_basis`` row (migration 0023: what the sweep makes a permit follow) that
    is not what the sweep writes (red team round 84p: an insider's edit was put back by the next sweep, round 83, and
    reported by nothing): a row naming another certificate than the one the approval's recorded facts give
    (``permits.bases_of``) that is not a renewal the sweep moved it to (reached through its issuer's supersessions,
    each naming the permit's holder), a row of a type the permit rests on nothing of, a row naming a permit no
    decision of its department issued, or a row saying the sweep suspended the permit in a block where no
    suspension of it for the sweep's reason is on chain. A permit with no row yet (issued before 0023, its rows
    written at the first sweep) is no finding. The chain is read (as the verification core reads it) only for a row
    that differs from its decision's basis and for a suspension a row claims."""
    from ..formats.canonical import parse_hex32
    from ..formats.reasons import reason_name

    out: list[ReplayDiscrepancy] = []
    table = PermitBasis.__table__  # type: ignore[attr-defined]
    view: ChainView | None = None
    head = 0
    for dept in departments:
        scan = scans.get(dept)
        with ledger.engine.connect() as conn:
            rows = list(conn.execute(table.select().where(table.c.department_id == dept)))
        if not rows:
            continue
        issued = scan.issued if scan is not None else {}
        by_permit: dict[str, list[Any]] = {}
        for row in rows:
            if str(row.permit) in issued:
                by_permit.setdefault(str(row.permit), []).append(row)
            else:
                out.append(
                    ReplayDiscrepancy(
                        "permit_basis_altered",
                        dept,
                        None,
                        None,
                        f"a permit_basis row names {str(row.permit)[:80]!r}, which no decision of {dept} issued",
                    )
                )
        seqs = sorted({issued[p][0] for p in by_permit})
        bodies: dict[int, Any] = {}
        roots: dict[str, str] = {}
        with ledger.engine.connect() as conn:
            for i in range(0, len(seqs), 900):
                for seq, text in conn.execute(
                    select(col(LogEntry.seq), col(LogEntry.body)).where(
                        col(LogEntry.log) == LOG_DECISIONS,
                        col(LogEntry.department_id) == dept,
                        col(LogEntry.seq).in_(seqs[i : i + 900]),
                    )
                ):
                    with contextlib.suppress(ValueError):  # body_invalid
                        bodies[int(seq)] = logchain.stored_loads(text)
            wanted = sorted(p for p, rs in by_permit.items() if any(r.followed == "suspended" for r in rs))
            for i in range(0, len(wanted), 900):
                roots.update(
                    (str(d), str(r))
                    for d, r in conn.execute(
                        select(col(Certificate.digest), col(Certificate.batch_root)).where(
                            generations.digest_in(conn, wanted[i : i + 900]), col(Certificate.department_id) == dept
                        )
                    )
                )
        for permit, permit_rows in sorted(by_permit.items()):
            seq, _hash, case = issued[permit]
            body = bodies.get(seq)
            named = body.get("rule_set") if isinstance(body, dict) else None
            rules = rule_sets.get(named, dept)[0] if isinstance(named, str) else None
            if rules is None:
                continue  # an unreadable decision or rule set: reported as such
            decided = {b[0]: b[1:] for b in permits.bases_of(rules, body)}  # type: ignore[arg-type]
            for row in permit_rows:
                problem = None
                if row.cert_type not in decided:
                    problem = f"the row is of type {str(row.cert_type)[:64]!r}, which the permit rests on nothing of"
                elif (row.basis_issuer, row.basis_digest, row.basis_root) != decided[row.cert_type]:
                    if view is None:
                        view = ChainView(ledger.chain, ledger.settings.confirmations)
                        head = view.head()
                    issuer, digest, _root = decided[row.cert_type]
                    try:
                        renewed = permits._renewed_to(ledger, view, permit, issuer, digest, row, head)
                    except (LedgerError, ValueError, TypeError):
                        renewed = False
                    if not renewed:
                        problem = (
                            f"the row names {str(row.basis_digest)[:80]!r} of {str(row.basis_issuer)[:40]!r}, not the "
                            f"{row.cert_type} {digest} of {issuer} decision {seq} rests on, nor a renewal of it for "
                            "the same holder"
                        )
                if problem is None and row.followed not in _FOLLOWED:
                    problem = f"the row says the sweep did {str(row.followed)[:40]!r}, which it never writes"
                if problem is None and row.followed == "suspended":
                    if view is None:
                        view = ChainView(ledger.chain, ledger.settings.confirmations)
                        head = view.head()
                    try:
                        history = view.status_history(dept, parse_hex32(roots[permit]), parse_hex32(permit), head)
                    except (LedgerError, ValueError, TypeError, KeyError):
                        history = []
                    if not any(
                        state == "suspended"
                        and block == row.followed_block
                        and bytes(detail)
                        and reason_name(bytes(detail)[-1]) == permits.BASIS_SUSPENDED_REASON
                        for state, block, detail in history
                    ):
                        problem = (
                            f"the row says the sweep suspended the permit in block {str(row.followed_block)[:20]}, "
                            f"where no suspension of it for the sweep's reason ({permits.BASIS_SUSPENDED_REASON}) is "
                            "on chain"
                        )
                if problem is not None:
                    detail = f"permit {permit}'s permit_basis row ({row.cert_type or 'no basis'}): {problem}"
                    out.append(ReplayDiscrepancy("permit_basis_altered", dept, seq, case, detail))
    return [d for d in out if case_id is None or d.case_id == case_id]


def _bound_fields(ledger: Ledger, digest: str, sealed: bytes | None) -> dict[str, Any] | None:
    """The fields of the certificate ``digest`` as its sealed body states them, once they hash to the digest; None
    when the body is gone (erased), does not open, or states other fields (as the approval's guard reads it)."""
    return permits.sealed_fields(ledger, digest, sealed)


def _erased_in_force(
    ledger: Ledger, facts: _Facts, departments: list[str], case_id: str | None
) -> list[ReplayDiscrepancy]:
    """``case_erased_in_force``: an attested case erasure (``erasure.erase_case``) of a case whose latest decision
    decided by the entry's stated ``at`` (to its second) was an approval. The library refuses such an erasure (the
    case's certificate, or its approval, is in force: its certificate's erasure is the way), so the entry was
    written past it, and the typed fields of the case's referrals or refusals it excuses went while the approval
    stood (red team, round 42p). Replay alone judges it: a bundle carries no case history."""
    from .decisions import find_decisions

    facts.erased()
    found = []
    for (dept, case), entry in sorted(facts._cases.items()):
        if dept not in departments or (case_id is not None and case != case_id):
            continue
        try:
            decided = find_decisions(ledger, dept, case)
        except LedgerError:
            continue  # an unreadable entry: the log's check names it
        # every entry of the case, not its first alone: a later one may be written while the case, reopened by an
        # approval after the first, stood approved (red team round 47)
        stated = entry.get("stated")
        reported: set[int] = set()
        for seq, text in stated if isinstance(stated, list) else [(entry.get("seq"), entry.get("at"))]:
            found.extend(_in_force(dept, case, decided, seq, text, reported))
    return found


def _in_force(
    dept: str, case: str, decided: list[Any], seq: Any, text: Any, reported: set[int]
) -> list[ReplayDiscrepancy]:
    """``case_erased_in_force`` for entry ``seq`` of ``dept``'s erasures log, stating moment ``text``, of case
    ``case`` decided as ``decided`` (oldest first): none, or the approval it was written while (once per approval,
    ``reported``)."""
    at = _parse_time(text)
    # the entry states its moment to the second, a decision to the millisecond: a decision in the entry's
    # second is not known to precede it. The latest decision up to the end of that second counts, and is
    # reported only when it is an approval stated by the entry's moment (a refusal withdrawing the approval in
    # that second, then the library's erasure, was reported as written past the library: red team round 43)
    before = [
        d
        for d in decided
        if at is None
        or (when := _parse_time(d.body.get("decided_at"))) is None  # type: ignore[arg-type]
        or when < at + timedelta(seconds=1)
    ]
    stated = None if not before else _parse_time(before[-1].body.get("decided_at"))  # type: ignore[arg-type]
    if (
        before
        and before[-1].body.get("outcome") == "approve"
        and (at is None or stated is None or stated <= at)
        and before[-1].seq not in reported
    ):
        reported.add(before[-1].seq)
        return [
            ReplayDiscrepancy(
                "case_erased_in_force",
                dept,
                before[-1].seq,
                case,
                f"entry {seq} of {dept}'s erasures log erased case {case!r} at {text}, "
                f"while its approval (decision {before[-1].seq}) stood: a case in force is erased with its "
                "certificate, and `ledger erase --case` refuses it; the entry was written past the library",
            )
        ]
    return []


def _replay_departments(
    ledger: Ledger,
    report: ReplayReport,
    departments: list[str],
    ranges: dict[str, list[ChainRange]],
    counts: dict[str, int],
    rule_sets: _RuleSets,
    facts: _Facts,
    selection: _Selection,
    total: int,
    progress: Progress | None,
    scans: dict[str, LinkScan],
    pool: _decision_workers.Pool | None = None,
) -> int:
    done = 0
    for dept in departments:
        if not logchain.is_department_code(dept):
            # entries stored under a code no department can have: nothing on chain names it (no anchors, no
            # registry periods), so they are reported as such and the other departments replayed (red team round 42)
            _add_log_discrepancies(ledger, report, dept, logchain.check_log(ledger, LOG_DECISIONS, dept))
            continue
        scans[dept] = LinkScan()
        walk = _DepartmentReplay(
            ledger,
            report,
            dept,
            ranges.get(dept, []),
            counts.get(dept, 0),
            rule_sets,
            facts,
            selection,
            scans[dept],
            pool,
        )

        def visit(seq: int, text: str, entry_hash: str, lookup: str | None, walk: _DepartmentReplay = walk) -> None:
            nonlocal done
            handed = walk.add(seq, text, entry_hash, lookup)
            if handed:
                done += handed
                if progress is not None:
                    progress(done, total)

        log_found = logchain.check_log(
            ledger, LOG_DECISIONS, dept, ranges=walk.ranges, visit=visit, spelling_compared=True
        )
        done += walk.flush()
        walk.finish(log_found)
    return done


@dataclass(frozen=True)
class _Selection:
    case_id: str | None
    service_item: str | None
    since: datetime | None
    until: datetime | None

    def wants(self, body: dict[str, Any]) -> bool:
        if self.case_id is not None and body.get("case_id") != self.case_id:
            return False
        if self.service_item is not None and body.get("service_item") != self.service_item:
            return False
        if self.since is not None or self.until is not None:
            at = _parse_time(body.get("decided_at"))  # type: ignore[arg-type]
            if (
                at is None
                or (self.since is not None and at < self.since)
                or (self.until is not None and at >= self.until)
            ):
                return False
        return True


@dataclass(slots=True)
class _Chunk:
    """What one chunk of a department's log gave (in whichever process re-ran it), merged into the report in log
    order: its findings in the order the one-process walk makes them, its counts, the officers' overrides (checked
    at the end), and what ``permits.check_links`` reads of each readable body (fed in log order at the merge)."""

    discrepancies: list[ReplayDiscrepancy] = field(default_factory=list)
    decisions: int = 0
    automatic: int = 0
    human: int = 0
    re_run: int = 0
    inputs_erased: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    overrides: list[tuple[int, str | None, dict[str, Any], Any]] = field(default_factory=list)
    supervised: bool = False
    links: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)


# what permits.LinkScan.add reads of a body
_LINK_FIELDS = ("case_id", "outcome", "issued")


class _DepartmentRun:
    """Re-runs chunks of one department's log: the same code in the replaying process and in its workers
    (``_replay_worker``), each with its own caches for the run."""

    def __init__(
        self,
        ledger: Ledger,
        department: str,
        ranges: list[ChainRange],
        rule_sets: _RuleSets,
        facts: _Facts,
        selection: _Selection,
    ) -> None:
        self.ledger = ledger
        self.department = department
        self.ranges = ranges
        self.ends = [r.last_seq for r in ranges]
        self.rule_sets = rule_sets
        self.facts = facts
        self.selection = selection
        self._credit: Any = None
        self._chain_facts: _ChainFacts | None = None

    def credit_book(self) -> Any:
        """The department's credit list as the chain attests it, read once (supervision.py)."""
        if self._credit is None:
            from .supervision import CreditBook

            self._credit = CreditBook(self.ledger, self.department, self.ranges)
        return self._credit

    def share_credit(self, book: Any) -> None:
        """Take the credit book the replaying process read for this replay (a worker), unless this run read one
        itself: the same list over the same anchored ranges, read once per replay instead of once per process (it
        scans the department's whole log)."""
        if self._credit is None:
            self._credit = book

    def chain_facts(self) -> _ChainFacts:
        """What a chunk reads of the chain in the common case, as this process read it for this replay: the
        department's registry periods, the publication block of every rule set the database records and the
        department's service item periods (read once per replay: the same bound as each process reading them at its
        first chunk). Sent with every chunk to the workers (a few numbers), which then need no chain client for
        them."""
        if self._chain_facts is None:
            self._chain_facts = (
                self.facts.authority(self.department),
                self.rule_sets.publications(self.department),
                self.rule_sets.item_periods(self.department),
            )
        return self._chain_facts

    def share_chain_facts(self, facts: _ChainFacts) -> None:
        """Take :meth:`chain_facts` as the replaying process read them (a worker)."""
        periods, published, items = facts
        self.facts.take_authority(self.department, periods)
        self.rule_sets.take_publications(self.department, published)
        self.rule_sets.take_item_periods(self.department, items)

    def chunk(self, rows: list[tuple[int, str, str, str | None]]) -> _Chunk:
        """Re-run one chunk of (seq, body text, stored entry hash, stored lookup key) rows, in log order."""
        found = _Chunk()
        dept = self.department
        selected = []
        # (seq, case id, its lookup key, selected, decided by the rules) of this chunk's decisions of a case
        automatic: list[tuple[int, str, str, bool, bool]] = []
        named: dict[int, set[str]] = {}  # seq -> the certificates its body names (its LogMention rows' word)
        # the bodies spelt as the ledger writes them (nearly all) read in one native call for the chunk; any other
        # row (None) is read here, with the same answers for the same text (tests/test_hashcore.py)
        read = _decision_workers.decision_bodies(rows, _LINK_FIELDS)
        for (seq, text, entry_hash, lookup), plain in zip(rows, read, strict=True):
            if plain is not None:
                body, own, mentions, links = plain
            else:
                try:
                    body = logchain.stored_loads(text)
                    if not isinstance(body, dict):
                        raise ValueError("not an object")
                except ValueError as exc:
                    found.discrepancies.append(
                        ReplayDiscrepancy("body_invalid", dept, seq, None, f"decision body is not a JSON object: {exc}")
                    )
                    continue
                spelt = logchain.spelling_problem(text, body)
                if spelt is not None:  # reported, and read on as the ledger reads it (the last of a key named twice)
                    case = body.get("case_id")
                    found.discrepancies.append(
                        ReplayDiscrepancy("body_invalid", dept, seq, case if isinstance(case, str) else None, spelt)
                    )
                own = logchain.lookup_of(body)
                mentions = set(logchain.mentions_of(body))
                links = {k: body[k] for k in _LINK_FIELDS if k in body}
            if lookup != own:
                # the index that finds a case's decisions (deciding a case once among them) names another case, or
                # none: an edit of the database that would let a retried application be decided a second time
                case = body.get("case_id")
                found.discrepancies.append(
                    ReplayDiscrepancy(
                        "index_altered",
                        dept,
                        seq,
                        case if isinstance(case, str) else None,
                        "the entry's stored lookup key is not the one its case id gives: the database's index of "
                        "cases was edited (a case looked up would miss this decision)",
                    )
                )
            named[seq] = mentions
            found.links.append((seq, entry_hash, links))
            if body.get("format") == SUPERVISION_FORMAT or "withdrawal" in body:
                found.supervised = True  # checked as a whole at the end; a supervision record is no decision
                if body.get("format") == SUPERVISION_FORMAT:
                    continue
            chosen = self.selection.wants(body)
            engine = _kind(body) == "engine"
            if own is not None:  # a case decided by the rules twice: decided_again; for another applicant too
                automatic.append((seq, body["case_id"], own, chosen, engine))
            if chosen:
                selected.append((seq, body, engine))
        if named:
            _report_mentions_altered(self.ledger, found, dept, named)
        if automatic:
            _report_decided_again(self.ledger, found, dept, automatic)
        inputs = _load_inputs(
            self.ledger,
            [b["input_digest"] for _, b, engine in selected if engine and isinstance(b.get("input_digest"), str)],
        )
        parsed = []
        values: dict[str, Any] = {}  # input digest -> the stored input parsed (once: the re-run reads it too)
        for _, body, _ in selected:
            digest = body.get("input_digest")
            if body.get("format") != DECISION_FORMAT or not isinstance(digest, str) or digest not in inputs:
                continue
            try:
                value = values[digest] if digest in values else json_loads(inputs[digest])
            except ValueError:
                continue
            values[digest] = value
            if isinstance(value, dict):
                parsed.append((body, value))
        commitments: list[tuple[int, dict[str, Any], str]] = []
        apart = [d for d, v in values.items() if isinstance(v, dict) and SEALED_KEY in v]
        sealed = load_sealed_inputs(self.ledger, apart) if apart else {}
        self.facts.prepare(parsed)
        counted: tuple[list[str], list[str], list[str]] = ([], [], [])
        officers: list[tuple[int, dict[str, Any]]] = []  # officers' decisions naming a stored input
        rule_memo: dict[Any, Any] = {}  # _rerun's rule set findings, once per chunk (_rule_set_findings)
        for seq, body, engine in selected:
            found.decisions += 1
            _count_decision(counted, body)
            if engine:
                found.automatic += 1
                _rerun(
                    found,
                    dept,
                    seq,
                    body,
                    inputs,
                    self.rule_sets,
                    self.facts,
                    self.ranges,
                    self.ends,
                    credit=self.credit_book,
                    commitments=commitments,
                    values=values,
                    sealed=sealed,
                    rule_memo=rule_memo,
                )
            else:
                found.human += 1
                # taken for an officer's below: said, as the bundle verifiers fail it (an automatic one: _rerun)
                unknown = unknown_decider(body) or unknown_format(body)
                if unknown is not None:
                    case = body.get("case_id")
                    found.discrepancies.append(
                        ReplayDiscrepancy("format_invalid", dept, seq, case if isinstance(case, str) else None, unknown)
                    )
                if isinstance(body.get("input_digest"), str):
                    officers.append((seq, body))

                def fail(check: str, detail: str, seq: int = seq, body: dict[str, Any] = body) -> None:
                    found.discrepancies.append(ReplayDiscrepancy(check, dept, seq, body.get("case_id"), detail))

                if body.get("rule_set") is not None:  # an officer who applied a rule set applied its department's
                    _check_publisher(self.rule_sets, dept, body["rule_set"], fail)
                    _check_item_held(self.rule_sets, dept, body["rule_set"], self._anchor_block(seq), fail)
                    rules_item = (
                        self.rule_sets.item(body["rule_set"], dept) if isinstance(body["rule_set"], str) else None
                    )
                    officers_item = named_item(body.get("service_item"))
                    other = rules_item not in (None, officers_item, EVERY_ITEM) and officers_item not in (
                        None,
                        EVERY_ITEM,
                    )
                    if other and not finding_withdrawal(body):  # the rules of another item than the one it names,
                        # which is the item it decides (red team round 87)
                        _check_named_item_held(
                            self.rule_sets, dept, body["service_item"], self._anchor_block(seq), fail, OTHER_RULES
                        )
                elif not finding_withdrawal(body):  # the item it names is the one it decides (red team round 86o)
                    _check_named_item_held(
                        self.rule_sets, dept, body.get("service_item"), self._anchor_block(seq), fail
                    )
                self._officer_moment(dept, seq, body, found)
                if body.get("overrides") is not None:
                    found.overrides.append((seq, body.get("case_id"), body["overrides"], body.get("decided_at")))
        if officers:
            self._officers_sealed(dept, officers, found)
        found.outcomes.update(counted[0])
        found.reasons.update(counted[1])
        found.rules.update(counted[2])
        if commitments:
            # the record's field-by-field commitment is to the stored input, for the decisions whose input passed
            # the checks before it; each input parsed once (above), not again
            wanted = list(dict.fromkeys(digest for _, _, digest in commitments))
            computed = _decision_workers.input_commitments(
                _secret(self.ledger, dept), [(d, inputs[d]) for d in wanted], values
            )
            expected = dict(zip(wanted, computed, strict=True))
            for seq, body, digest in commitments:
                _compare_input_commitment(found, dept, seq, body, expected[digest])
        self.facts.release()
        return found

    def _anchor_block(self, seq: int) -> int | None:
        """The block that anchored entry ``seq`` of the department's log (None while it is not anchored)."""
        i = bisect.bisect_left(self.ends, seq)
        return self.ranges[i].block_number if i < len(self.ranges) and self.ranges[i].first_seq <= seq else None

    def _officers_sealed(self, dept: str, officers: list[tuple[int, dict[str, Any]]], found: _Chunk) -> None:
        """The fields an officer's decision input keeps sealed apart (its rule set's, as an automatic decision's):
        destroyed without the lawful erasure (``input_erased_unattested``), missing or moved (``input_missing``),
        altered (``input_altered``) or written back after it (``input_erasure_undone``), as :func:`_rerun` reports
        them; an officer's decision is not re-run, so nothing else of its input is read here (red team, round 41a)."""
        inputs = _load_inputs(self.ledger, [b["input_digest"] for _, b in officers])
        apart: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
        for seq, body in officers:
            try:
                value = json_loads(inputs[body["input_digest"]]) if body["input_digest"] in inputs else None
            except ValueError:
                continue
            if isinstance(value, dict) and SEALED_KEY in value:
                apart.append((seq, body, value))
        if not apart:
            return
        sealed = load_sealed_inputs(self.ledger, [b["input_digest"] for _, b, _ in apart])
        for seq, body, value in apart:

            def fail(check: str, detail: str, seq: int = seq, body: dict[str, Any] = body) -> None:
                found.discrepancies.append(ReplayDiscrepancy(check, dept, seq, body.get("case_id"), detail))

            _with_sealed(value, body["input_digest"], body, sealed, self.facts, dept, fail)

    def _officer_moment(self, dept: str, seq: int, body: dict[str, Any], found: _Chunk) -> None:
        """An officer's decision is anchored after it is taken, within the anchoring deadline: its ``decided_at``
        (the instant it is stored and listed at, gaps34) is bounded by its anchoring block's time as an automatic
        decision's is (:meth:`_Facts._moment_ok`). Without this, an officer's decision stating a decided_at years
        before or after it was taken was listed in a window it does not belong to, and passed (red team round 35)."""
        decided = _parse_time(body.get("decided_at"))  # type: ignore[arg-type]
        i = bisect.bisect_left(self.ends, seq)
        anchor = self.ranges[i] if i < len(self.ranges) and self.ranges[i].first_seq <= seq else None
        sealed = self.facts.block_time(anchor.block_number) if anchor is not None else None
        if decided is None or anchor is None or sealed is None:
            return  # unreadable: body checks; not anchored: anchoring_overdue
        moment = decided.timestamp()
        deadline = self.ledger.settings.anchor_deadline_seconds
        if moment > sealed + FACTS_CLOCK_SKEW:
            detail = (
                f"the officer's decision says it was taken at {body.get('decided_at')}, after it was anchored in block "
                f"{anchor.block_number} (mined {datetime.fromtimestamp(sealed, UTC).isoformat()}): its decided_at is "
                "not the moment it was taken, and a listing of that time's window shows it"
            )
        elif deadline and sealed - moment > deadline:
            detail = (
                f"the officer's decision says it was taken at {body.get('decided_at')} but was anchored "
                f"{sealed - moment:.0f} s later (block {anchor.block_number}); the deadline is {deadline} s, so its "
                "time is not attested (a backdated record, listed in a past window, looks like this)"
            )
        else:
            return
        found.discrepancies.append(ReplayDiscrepancy("anchored_late", dept, seq, body.get("case_id"), detail))


class _DepartmentReplay:
    """Walks one department's log as check_log streams it past, a chunk at a time: each chunk re-run here or, when
    one is idle, in a worker (``_replay_worker``), and merged into the report in log order."""

    def __init__(
        self,
        ledger: Ledger,
        report: ReplayReport,
        department: str,
        ranges: list[ChainRange],
        entries: int,
        rule_sets: _RuleSets,
        facts: _Facts,
        selection: _Selection,
        links: LinkScan,
        pool: _decision_workers.Pool | None = None,
    ) -> None:
        self.ledger = ledger
        self.pool = pool
        self.facts = facts
        self.report = report
        self.department = department
        self.ranges = ranges
        self.selection = selection
        self.run = _DepartmentRun(ledger, department, ranges, rule_sets, facts, selection)
        self.summary: dict[str, Any] = {
            "decisions": 0,
            "outcomes": Counter(),
            "log_entries": entries,
            "anchored_up_to": ranges[-1].last_seq if ranges else 0,
        }
        report.departments[department] = self.summary
        self.overrides: list[tuple[int, str | None, dict[str, Any], Any]] = []
        self.buffer: list[tuple[int, str, str, str | None]] = []
        self.chunk_size = min(_CHUNK, _POOL_CHUNK) if pool is not None else _CHUNK
        self.handed = 0  # chunks handed to workers
        # chunks re-run (or being re-run in a worker), not merged yet, in log order
        self.pending: deque[_decision_workers.Pending | _decision_workers.Done] = deque()
        # what permits.check_links reads of the log, fed from this walk (every readable body, selected or not)
        self.links = links
        self.supervised = False  # the log holds supervision records (supervision.py): check them at the end

    def add(self, seq: int, text: str, entry_hash: str, lookup: str | None) -> int:
        """Queue one entry (with its stored index key); the entries of the chunk it completed and handed on, else 0."""
        self.buffer.append((seq, text, entry_hash, lookup))
        if len(self.buffer) >= self.chunk_size:
            return self.flush()
        return 0

    def flush(self) -> int:
        """Hand the queued chunk on (to an idle worker, else re-run it here); returns how many entries it held."""
        rows, self.buffer = self.buffer, []
        count = len(rows)
        if not rows:
            return 0
        pool = self.pool
        busy = sum(1 for p in self.pending if isinstance(p, _decision_workers.Pending) and not p.done())
        if pool is not None and (busy < pool.size * _WORKER_QUEUE or not _RUN_HERE_WHEN_BUSY):
            # the credit book goes with the department's first chunks, one for each place in the workers' queues:
            # each worker takes one of them almost surely, and one that did not reads its own (a large book is not
            # pickled with every chunk)
            first = self.handed < pool.size * _WORKER_QUEUE
            credit = self.run.credit_book() if first else None
            erasures = self.facts.erasure_record() if first else None
            self.handed += 1
            self.pending.append(
                pool.submit(
                    _replay_worker.run_chunk,
                    self.department,
                    self.ranges,
                    self.selection,
                    rows,
                    credit,
                    self.run.chain_facts(),
                    erasures,
                )
            )
        else:
            found = self.run.chunk(rows)
            del rows
            # once the chunk's own values are freed: inside the chunk's work, the pass walked every one of them,
            # alive (about a tenth of replay's time)
            free_chunk_cycles()
            self.pending.append(_decision_workers.Done(found))
        self._merge(wait=False)
        return count

    def _merge(self, *, wait: bool) -> None:
        """Merge the chunks done, in log order (all of them when ``wait``)."""
        report, summary, dept = self.report, self.summary, self.department
        while self.pending and (wait or self.pending[0].done()):
            found: _Chunk = self.pending.popleft().result()
            report.discrepancies.extend(found.discrepancies)
            report.decisions += found.decisions
            summary["decisions"] += found.decisions
            report.automatic += found.automatic
            report.human += found.human
            report.re_run += found.re_run
            report.inputs_erased += found.inputs_erased
            report.outcomes.update(found.outcomes)
            summary["outcomes"].update(found.outcomes)
            report.reasons.update(found.reasons)
            report.rules.update(found.rules)
            self.overrides.extend(found.overrides)
            self.supervised = self.supervised or found.supervised
            for seq, entry_hash, body in found.links:
                self.links.add(dept, seq, entry_hash, body)

    def finish(self, log_found: list[logchain.Discrepancy]) -> None:
        self._merge(wait=True)
        _check_overrides(self.ledger, self.report, self.department, self.overrides)
        if self.supervised:
            from .supervision import check_replay

            def fail(check: str, seq: int | None, case: str | None, detail: str) -> None:
                self.report.discrepancies.append(ReplayDiscrepancy(check, self.department, seq, case, detail))

            self.summary["supervision"] = check_replay(self.ledger, self.department, self.ranges, fail)
        _add_log_discrepancies(self.ledger, self.report, self.department, log_found)
        self._check_unanchored()

    def _check_unanchored(self) -> None:
        """Decisions not anchored yet are counted with their age; past the deadline they are a discrepancy (until
        anchored, a record can be deleted from the database without a trace)."""
        found = logchain.unanchored(self.ledger, LOG_DECISIONS, self.department)
        if not found:
            self.summary.update(unanchored=0, oldest_unanchored_seconds=None)
            return
        pending = found[0]
        age = pending.age_seconds(datetime.now(UTC))
        self.summary.update(unanchored=pending.count, oldest_unanchored_seconds=round(age, 1))
        periods = self.facts.authority(self.department)
        if not periods or not (periods[-1][0] and periods[-1][1] & ROLE_APPROVER):
            self.report.discrepancies.append(
                ReplayDiscrepancy(
                    "anchoring_refused",
                    self.department,
                    pending.oldest_seq,
                    None,
                    f"{pending.count} decision(s) not anchored, and the chain will refuse to anchor them: "
                    f"{self.department} is no longer an active approver. Only the database vouches for them",
                )
            )
            return
        deadline = self.ledger.settings.anchor_deadline_seconds
        if age < -FACTS_CLOCK_SKEW:
            # the age is read from the stored time, the instant the entry states (gaps34): one dated ahead was never
            # overdue, and hid every entry waiting behind it from the deadline (red team round 35)
            self.report.discrepancies.append(
                ReplayDiscrepancy(
                    "anchoring_overdue",
                    self.department,
                    pending.oldest_seq,
                    None,
                    f"{pending.count} decision(s) not anchored, the oldest (#{pending.oldest_seq}) stating a time "
                    f"{-age:.0f} s ahead of now ({pending.oldest_at.isoformat()}): how long they have waited cannot "
                    f"be told. Run `ledger anchor-logs --department {self.department}`, and `ledger replay` again",
                )
            )
        elif deadline and age > deadline:
            self.report.discrepancies.append(
                ReplayDiscrepancy(
                    "anchoring_overdue",
                    self.department,
                    pending.oldest_seq,
                    None,
                    f"{pending.count} decision(s) not anchored, the oldest (#{pending.oldest_seq}) for {age:.0f} s; the "
                    f"deadline is {deadline} s: run `ledger anchor-logs --department {self.department}`",
                )
            )


def replay_strict(ledger: Ledger, **filters: Any) -> ReplayReport:
    """:func:`replay`, raising VerificationError (with the report) on any discrepancy."""
    report = replay(ledger, **filters)
    if not report.ok:
        raise VerificationError(
            f"replay found {len(report.discrepancies)} discrepancies: "
            + ", ".join(f"{k} {v}" for k, v in sorted(report.counts_by_check().items())),
            report=report,
        )
    return report


def _count() -> Any:
    from sqlalchemy import func

    return func.count()


def _kind(body: dict[str, Any]) -> str | None:
    decided_by = body.get("decided_by")
    return decided_by.get("kind") if isinstance(decided_by, dict) else None


def _load_inputs(ledger: Ledger, digests: list[str]) -> dict[str, str]:
    unique = list(dict.fromkeys(digests))
    head = f"SELECT digest, document FROM {DecisionInput.__tablename__} WHERE digest"  # noqa: S608
    with ledger.engine.connect() as conn:
        return dict(rows_in(conn, head, (), unique))


def _count_decision(counted: tuple[list[str], list[str], list[str]], body: dict[str, Any]) -> None:
    """Queue a selected decision's outcome, reasons and fired rules on ``counted`` (outcomes, reasons, rules): the
    chunk counts each list at once (``Counter.update`` counts in C, in the same order, so the counters' order of
    first appearance, which the report keeps, is the same as counting one by one)."""
    outcomes, said, rules = counted
    outcomes.append(str(body.get("outcome")))
    reasons, fired = body.get("reasons"), body.get("fired")  # a list unless an insider edited the row
    if isinstance(reasons, list):
        said.extend(map(str, reasons))
    if isinstance(fired, list):
        rules.extend(map(str, fired))


def _check_publisher(rule_sets: _RuleSets, dept: str, digest: Any, fail: Callable[[str, str], None]) -> None:
    """``rule_set_other_department``: the decision applied a rule set another department published: it decided
    under that department's policy, legal bases and permit, as if they were its own."""
    if not isinstance(digest, str) or rule_sets.published(digest, dept) is not None:
        return
    others = rule_sets.others(digest, dept)
    if others:
        fail(
            "rule_set_other_department",
            f"rule set {digest} was published by {', '.join(others)}, not {dept}: a department decides only with "
            "rule sets it published itself",
        )


def _check_item_held(
    rule_sets: _RuleSets, dept: str, digest: Any, anchor_block: int | None, fail: Callable[[str, str], None]
) -> None:
    """``service_item_not_held``: ``dept`` did not hold the service item its publication of rule set ``digest`` names
    at ``anchor_block``, the block that anchored the decision's log batch, the block the decision is evidenced by
    (red team round 86s). The chain refuses only a publication of an item not held (BatchLog 3.0.0): a log batch is a
    Merkle root of entries it cannot read, so a department deciding after the council revoked the item, with rules it
    published while it held it, is told here. An item revoked after the anchoring leaves the decision inside the
    grant. Nothing to judge for a decision not anchored yet (``anchoring_overdue``) or under rules ``dept`` never
    published (``rule_set_unpublished``)."""
    if anchor_block is None or not isinstance(digest, str):
        return
    item = rule_sets.item(digest, dept)
    if item is None or rule_sets.held_at(dept, item, anchor_block):
        return
    fail(
        "service_item_not_held",
        f"the decision was anchored in block {anchor_block}, when {dept} did not hold service item {item_text(item)} "
        f"that its rule set {digest} serves: the council had not made it responsible for that item then (never "
        "granted, or revoked before; DepartmentRegistry serviceItemHistory)",
    )


def _check_named_item_held(
    rule_sets: _RuleSets,
    dept: str,
    stated: Any,
    anchor_block: int | None,
    fail: Callable[[str, str], None],
    how: str = NO_RULES,
) -> None:
    """``service_item_not_held`` for an officer's decision that applied no rule set (or, ``how``, the rules of another
    item: red team round 87): ``dept`` did not hold the service item the decision names (``stated``, its
    ``service_item``: the item it decides), nor every item ("*"), at ``anchor_block``, the block that anchored its log
    batch (red team round 86o), or it names none. Nothing to judge for a decision not anchored yet
    (``anchoring_overdue``)."""
    if anchor_block is None:
        return
    item = named_item(stated)
    if item is None:
        fail("service_item_not_held", NO_ITEM_NAMED)
    elif not rule_sets.held_at(dept, item, anchor_block) and not rule_sets.held_at(dept, EVERY_ITEM, anchor_block):
        fail(
            "service_item_not_held",
            f"the decision was anchored in block {anchor_block}, when {dept} did not hold service item "
            f"{item_text(item)} that the officer's decision decides ({how}), nor every item ('*'): "
            "the council had not made it responsible for that item then (never granted, or revoked before; "
            "DepartmentRegistry serviceItemHistory)",
        )


def _rule_set_findings(
    rule_sets: _RuleSets, dept: str, digest: Any, anchor_block: int | None, as_of: Any
) -> tuple[list[tuple[str, str]], RuleSet | None, int | None]:
    """What :func:`_rerun` finds of a decision's rule set ``digest`` (the record's ``rule_set``, of any JSON type)
    anchored in ``anchor_block`` and recorded as taken at ``as_of`` (its ``as_of_block``): the (check, detail) of
    each finding in the order it reports them, the rule set (None: the last finding says why; nothing is re-run) and
    the block ``dept`` published it in."""
    findings: list[tuple[str, str]] = []

    def fail(check: str, detail: str) -> None:
        findings.append((check, detail))

    rule_set, check, detail, published = rule_sets.get(digest if isinstance(digest, str) else repr(digest), dept)
    if published is None and isinstance(digest, str) and rule_sets.others(digest, dept):
        _check_publisher(rule_sets, dept, digest, fail)  # rule_set_other_department
    elif published is None:
        fail("rule_set_unpublished", f"rule set {digest} was never published on chain by {dept}")
    elif anchor_block is not None and published > anchor_block:
        fail(
            "rule_set_unpublished",
            f"rule set {digest} was published in block {published}, after the decision "
            f"was anchored in block {anchor_block}",
        )
    elif isinstance(as_of, int) and published > as_of:
        fail(
            "rule_set_unpublished",
            f"rule set {digest} was published in block {published}, after the decision was taken (block {as_of})",
        )
    else:
        _check_publisher(rule_sets, dept, digest, fail)
    _check_item_held(rule_sets, dept, digest, anchor_block, fail)
    if rule_set is None:
        fail(check or "rule_set_unknown", detail or f"rule set {digest} cannot be loaded")
        return findings, None, published
    item = rule_sets.misnamed(digest, dept, rule_set) if published is not None and isinstance(digest, str) else None
    if item is not None:
        # the chain's record of which rules serve an item names another one (the library refuses it, red team 39)
        fail(
            "rule_set_unpublished",
            f"rule set {digest} was published by {dept} as a rule set for service item {item_text(item)}, not for "
            f"{rule_set.service_item!r}, the item it serves",
        )
    unheld = rule_sets.unheld(digest, dept) if published is not None and isinstance(digest, str) else None
    if unheld is not None:
        # the chain refuses such a publication (BatchLog 3.0.0); a record naming one is outside the council's grant
        fail(
            "rule_set_unpublished",
            f"rule set {digest} was published by {dept} in block {published} for service item {item_text(unheld)}, "
            f"which the council had not made {dept} responsible for then (red team round 85s)",
        )
    unread = rule_sets.unread_item(rule_set)
    if unread is not None:
        # stored before round 60c: its rules read the item's attributes from the application; the record is still
        # re-run as it was decided (history is not rewritten), and reported
        fail(
            "item_unpublished",
            f"rule set {digest} reads {unread}, an attribute of the service item, but publishes neither the item's "
            "attributes (item) nor the department's catalogue (items): the decision read what the application "
            "stated about its item, which an applicant can state falsely (red team round 60c)",
        )
    return findings, rule_set, published


def _rerun(
    report: _Chunk,
    dept: str,
    seq: int,
    body: dict[str, Any],
    inputs: dict[str, str],
    rule_sets: _RuleSets,
    facts_replay: _Facts,
    ranges: list[ChainRange],
    ends: list[int],
    *,
    credit: Callable[[], Any] | None = None,
    commitments: list[tuple[int, dict[str, Any], str]],
    values: Mapping[str, Any],
    sealed: Mapping[str, Any] | None = None,
    rule_memo: dict[Any, tuple[list[tuple[str, str]], RuleSet | None, int | None]] | None = None,
) -> None:
    """Re-run one automatic decision. Its input commitment check is queued on ``commitments``: the caller compares
    once the commitments are computed (in a worker). ``values``: stored inputs already parsed, by digest.
    ``rule_memo``: the chunk's :func:`_rule_set_findings`, by (digest, anchoring block, recorded block)."""
    case = body.get("case_id")

    def fail(check: str, detail: str) -> None:
        report.discrepancies.append(ReplayDiscrepancy(check, dept, seq, case, detail))

    if body.get("format") != DECISION_FORMAT:
        # Deployments of these contracts only ever record pl-decision/2: an older or missing format would have
        # the rules re-run on the application's own claims about its certificates, not on the ledger's facts.
        fail(
            "format_invalid",
            f"an automatic decision must be {DECISION_FORMAT!r} (facts established by the "
            f"ledger), this one says {body.get('format')!r}",
        )
        return
    if body.get("engine") != ENGINE_VERSION:
        fail("engine_mismatch", f"recorded by engine {body.get('engine')!r}; this replay runs {ENGINE_VERSION!r}")
        return
    digest = body.get("rule_set")
    i = bisect.bisect_left(ends, seq)
    anchor_range = ranges[i] if i < len(ranges) and ranges[i].first_seq <= seq else None
    anchor_block = anchor_range.block_number if anchor_range is not None else None
    as_of = body.get("as_of_block")
    # what the rule set's checks find depends on nothing else of the decision: worked out once per chunk for each
    # (digest, anchoring block, recorded block) - a batch's decisions share them - and told for each decision in the
    # same order and words (``rule_memo``; a digest of another JSON type than a string is judged each time)
    key = (digest, anchor_block, (type(as_of), as_of) if isinstance(as_of, int) else None)
    judged = rule_memo.get(key) if rule_memo is not None and type(digest) is str else None
    if judged is None:
        judged = _rule_set_findings(rule_sets, dept, digest, anchor_block, as_of)
        if rule_memo is not None and type(digest) is str:
            rule_memo[key] = judged
    findings, rule_set, _published = judged
    for check, detail in findings:
        fail(check, detail)
    if rule_set is None:
        return
    input_digest = body.get("input_digest")
    if not isinstance(input_digest, str) or input_digest not in inputs:
        fail("input_missing", f"the recorded input {input_digest} is not in the database")
        return
    text = inputs[input_digest]
    try:
        decision_input = values[input_digest] if input_digest in values else json_loads(text)
    except ValueError:
        fail("input_altered", f"the stored input {input_digest} is not JSON")
        return
    if "0x" + hashlib.sha256(text.encode("utf-8")).hexdigest() != input_digest:
        actual = "0x" + document_digest(decision_input).hex()
        if actual != input_digest:
            fail("input_altered", f"the stored input's digest is now {actual}, the decision recorded {input_digest}")
            return
    # every automatic decision is pl-decision/2 (checked above): its facts are re-established, then re-run on
    if not isinstance(decision_input, dict):
        fail("input_altered", f"the stored input {input_digest} is not a JSON object")
        return
    if "input_commitment" in body:  # the record's field-by-field commitment is to the stored input
        commitments.append((seq, body, input_digest))
    erased: list[str] = []
    if SEALED_KEY in decision_input:  # the fields a certificate copies, sealed apart: opened, or erased with it
        opened = _with_sealed(decision_input, input_digest, body, sealed or {}, facts_replay, dept, fail)
        if opened is None:
            return
        decision_input, erased = opened
        if erased:
            report.inputs_erased += 1
    facts = facts_replay.check(dept, decision_input, body, anchor_range, fail)
    if facts is None:
        return
    view = {**decision_input, "certificates": facts}  # facts_view: the facts as the rules read them
    if credit is not None:
        book = credit()
        view = _credit_view(body, view, book, fail)
        _check_credit_block(body, seq, book, fail)
    # every rule may read what was lawfully erased: the outcome is then not re-derived, but still held to the
    # record's own fired with the engine's precedence (red team round 44)
    unknown = _unknown_rules(rule_set.document, erased) if erased else []
    try:
        # rules reading a lawfully erased field are taken as the record's ``fired`` states, every other one re-run
        # and the outcome judged from both: an approval the readable rules refuse is no longer hidden behind the
        # erasure of its permit (red team round 42r)
        result = evaluate_known(rule_set, view, _as_recorded(unknown, body)) if unknown else evaluate(rule_set, view)
    except InputError as exc:
        fail("rerun_failed", f"the engine refused the recorded input: {exc}")
        return
    if body.get("commitment") != commitment_of(rule_set, result.outcome, result.fired, str(body.get("decided_at"))):
        fail(
            "commitment_mismatch",
            f"recorded commitment {body.get('commitment')}, the rule set gives "
            f"{commitment_of(rule_set, result.outcome, result.fired, str(body.get('decided_at')))}",
        )
    if result.outcome != body.get("outcome"):
        fail(
            "outcome_mismatch",
            f"recorded {body.get('outcome')!r}, re-run gives {result.outcome!r} ({', '.join(result.reasons)})",
        )
    elif list(result.reasons) != body.get("reasons"):
        fail("reasons_mismatch", f"recorded {body.get('reasons')}, re-run gives {list(result.reasons)}")
    elif body.get("legal_basis") != rule_set.legal_basis(result.reasons):
        fail(
            "reasons_mismatch",
            f"the legal basis recorded for the reasons, {body.get('legal_basis')}, is not the "
            f"rule set's {rule_set.legal_basis(result.reasons)}",
        )
    elif misstated := _misstated(rule_set, result, body, unknown):
        # a full re-run too: the record's fired (counted in the statistics) is the engine's list (red team round 44)
        which = "the rules reading no lawfully erased field, re-run," if unknown else "the rules re-run"
        fail("reasons_mismatch", f"{which} differ from the record's fired: {'; '.join(misstated)}")
    _check_case(decision_input, body, fail)
    if not unknown:
        report.re_run += 1


def _check_case(decision_input: Mapping[str, Any], body: Mapping[str, Any], fail: Callable[[str, str], None]) -> None:
    for key in ("case_id", "service_item"):
        # the ledger stores an input with its decision's case and service item (decisions._prepare_input refuses
        # an application naming others): a record carrying another case's input is no decision of that input, and
        # re-running it proves nothing of its own case (red team, round 22)
        if key in decision_input and decision_input[key] != body.get(key):
            fail(
                "rerun_failed",
                f"the recorded input's {key} {decision_input[key]!r} is not the decision's {body.get(key)!r}: the "
                "record carries the input of another case",
            )


def _with_sealed(
    stored: dict[str, Any],
    input_digest: str,
    body: Mapping[str, Any],
    sealed: Mapping[str, Any],
    facts_replay: _Facts,
    dept: str,
    fail: Callable[[str, str], None],
) -> tuple[dict[str, Any], list[str]] | None:
    """The input the rules read, with the fields kept sealed apart (``decision_input.seal_fields``) put back, and
    the names of those lawfully erased (then left out); None when what is kept does not add up (reported): the
    row is missing or does not open (``input_missing``), its fields do not hash to the kept hashes
    (``input_altered``), or they were destroyed without an erasure of the certificate this decision produced that
    the department's anchored erasures log attests (``input_erased_unattested``)."""
    try:
        rest, hashes = sealed_hashes(stored)
    except VerificationError as exc:
        fail("input_altered", str(exc))
        return None
    names = ", ".join(sorted(hashes))
    if input_digest not in sealed:
        fail(
            "input_missing",
            f"the fields stored input {input_digest} keeps sealed apart ({names}) are not in the database, or their "
            "row does not open (deleted, altered or moved)",
        )
        return None
    opened = sealed[input_digest]
    issued = body.get("issued")
    permit = issued.get("certificate") if isinstance(issued, dict) else None
    # a decision that issued a permit loses its typed fields with that permit's erasure alone; one that issued
    # nothing, with the erasure of a permit its own case produced (red team, round 41a) or of the case itself, by
    # its own department (erasure.erase_case: a case no certificate carries; red team, round 42p)
    lawfully_erased = (
        dept in facts_replay.erased().get(permit, {})
        if isinstance(permit, str)
        else (
            input_digest in facts_replay.erased_inputs()
            and facts_replay.erased_with_its_case(dept, input_digest, body.get("case_id"))
        )
        or (body.get("outcome") != "approve" and facts_replay.erased_case(dept, input_digest, body.get("case_id")))
    )
    if opened is not None and lawfully_erased:
        fail(
            "input_erasure_undone",
            f"the input fields {names} are stored sealed again although an anchored erasure of {dept} destroyed "
            "them (a backup's row written back): run `ledger erase` of that certificate again",
        )
    if opened is None:
        if not lawfully_erased:
            fail(
                "input_erased_unattested",
                f"the input fields {names} were destroyed, but no entry of {dept}'s erasures log that the chain "
                f"attests erased the certificate this decision produced ({permit}), or names this input with its "
                "case: only the lawful erasure of the certificate the case's application produced, or of the case "
                "itself when no certificate carries it (`ledger erase --case`), destroys them",
            )
            return None
        return rest, sorted(hashes)
    values, salts = opened
    if set(values) != set(hashes) or field_hashes(values, salts) != hashes:
        fail(
            "input_altered",
            f"the input fields {names} kept sealed apart do not hash to the hashes the stored input keeps",
        )
        return None
    return unflatten({**flatten(rest), **values}), []


def _compare_input_commitment(report: _Chunk, dept: str, seq: int, body: dict[str, Any], expected: str | None) -> None:
    """The record's field-by-field commitment is to the stored input: else no evidence bundle of it can open it."""
    if body.get("input_commitment") != expected:
        report.discrepancies.append(
            ReplayDiscrepancy(
                "input_commitment_invalid",
                dept,
                seq,
                body.get("case_id"),
                f"the record commits to input {body.get('input_commitment')}, but the "
                f"stored input gives {expected}: no evidence bundle can disclose it",
            )
        )


def _credit_view(
    body: dict[str, Any], view: dict[str, Any], book: Any, fail: Callable[[str, str], None]
) -> dict[str, Any]:
    """The rules' view with the applicant's credit status re-established from the chain-attested credit list as of
    the decision's block (supervision.py); a decision that recorded another status is ``credit_status``. ``view``
    is the re-run's own copy of the input: its ``applicant`` is replaced in place (``supervision.with_credit``
    without a second copy)."""
    block, applicant = body.get("as_of_block"), body.get("applicant_ref")
    if not isinstance(block, int) or not isinstance(applicant, str):
        fail("credit_status", "the decision names no block or applicant to read the credit list at")
        return view
    status = book.status(applicant, block, str(body.get("decided_at")))
    if body.get("credit") != status:
        fail(
            "credit_status",
            f"recorded credit status {body.get('credit')}, the credit list as of block {block} says {status}",
        )
    # with_credit, on the view this re-run made (no second copy of the input)
    view["applicant"] = credited_applicant(view.get("applicant"), status)
    return view


def _check_credit_block(body: dict[str, Any], seq: int, book: Any, fail: Callable[[str, str], None]) -> None:
    """A decision's ``as_of_block`` must not predate a credit entry about its applicant that the department had
    recorded (earlier in the log) and anchored: otherwise the engine could pick an old block to miss a listing."""
    block, applicant = body.get("as_of_block"), body.get("applicant_ref")
    if isinstance(block, int) and isinstance(applicant, str):
        missed = book.passed_over(applicant, block, seq)
        if missed:
            fail(
                "credit_block_stale",
                f"the decision read the credit list as of block {block}, before credit "
                f"entr{'y' if len(missed) == 1 else 'ies'} #{', #'.join(map(str, missed))} "
                "about this applicant that precede it in the log were anchored",
            )


def _report_mentions_altered(ledger: Ledger, report: _Chunk, dept: str, named: dict[int, set[str]]) -> None:
    """``index_altered`` for each entry of a chunk whose ``LogMention`` rows (the index that finds a certificate's
    decisions for its timelines and the decision that produced a permit) are not the certificates its body names:
    an insider who deleted a row hid the decision from the certificate's timeline; one who added a row put a
    decision there that does not name it. One range read per chunk (the rows' primary key)."""
    mentions = LogMention.__table__  # type: ignore[attr-defined]
    stored: dict[int, set[str]] = defaultdict(set)
    with ledger.engine.connect() as conn:
        for seq, digest in conn.execute(
            select(mentions.c.seq, mentions.c.digest).where(
                mentions.c.log == LOG_DECISIONS,
                mentions.c.department_id == dept,
                mentions.c.seq >= min(named),
                mentions.c.seq <= max(named),
            )
        ).all():
            stored[int(seq)].add(str(digest))
    for seq in sorted(named):  # an entry not read as a body is reported as such, its rows not compared
        if stored.get(seq, set()) != named[seq]:
            missing, extra = sorted(named[seq] - stored.get(seq, set())), sorted(stored.get(seq, set()) - named[seq])
            report.discrepancies.append(
                ReplayDiscrepancy(
                    "index_altered",
                    dept,
                    seq,
                    None,
                    "the database's index of the certificates this decision names was edited"
                    + (f": it lacks {', '.join(missing)} (their timelines would miss this decision)" if missing else "")
                    + (
                        f"{';' if missing else ':'} it adds {', '.join(extra)}, which the decision does not name"
                        if extra
                        else ""
                    ),
                )
            )


def _report_decided_again(
    ledger: Ledger, report: _Chunk, dept: str, automatic: list[tuple[int, str, str, bool, bool]]
) -> None:
    """``decided_again`` for each selected automatic decision of a case ``dept`` had already decided automatically,
    naming the first such decision; ``applicant_changed`` for each selected decision (automatic or an officer's) of
    a case whose first decision named another applicant. ``automatic``: (seq, case id, lookup key from the body,
    selected, decided by the rules) of a chunk's decisions. The earlier decisions are found by the cases' index
    keys, this chunk's and every entry before it (one index-only query per 900 cases: replay keeps nothing per
    decision, so its memory stays flat in the log's length), and their bodies are read to be sure. The index is the
    database's word, but this walk compares every entry's key with its body: a first decision an insider hid from
    the index is ``index_altered``."""
    last = max(seq for seq, _, _, _, _ in automatic)
    keys = sorted({key for _, _, key, _, _ in automatic})
    with ledger.engine.connect() as conn:
        places = _places(conn, dept, keys, below=last + 1)
        shared = sorted(seq for seqs in places.values() if len(seqs) > 1 for seq in seqs)  # usually none
        first: dict[str, int] = {}  # case id -> its first automatic decision
        applicants: dict[str, tuple[int, str]] = {}  # case id -> (seq, applicant_ref) of its first decision
        applicant_of: dict[int, str] = {}  # seq -> the applicant_ref its body names
        items: dict[str, tuple[int, str]] = {}  # case id -> (seq, service_item) of its first decision
        item_of: dict[int, str] = {}  # seq -> the service_item its body names
        outcomes: dict[str, list[tuple[int, Any, bool]]] = {}  # case id -> (seq, outcome, a withdrawal?) in order
        for seq, text in _bodies(conn, dept, shared):
            try:
                body = logchain.stored_loads(text)
            except ValueError:
                continue  # reported as altered by the log check
            case = body.get("case_id") if isinstance(body, dict) else None
            if not isinstance(case, str):
                continue
            if _kind(body) == "engine" and seq < first.get(case, seq + 1):
                first[case] = seq
            applicant = body.get("applicant_ref")
            if body.get("format") != SUPERVISION_FORMAT and isinstance(applicant, str):
                applicant_of[seq] = applicant
                if seq < applicants.get(case, (seq + 1, None))[0]:
                    applicants[case] = (seq, applicant)
            item = body.get("service_item")
            if body.get("format") != SUPERVISION_FORMAT and isinstance(item, str):
                item_of[seq] = item
                if seq < items.get(case, (seq + 1, None))[0]:
                    items[case] = (seq, item)
            outcomes.setdefault(case, []).append((seq, body.get("outcome"), body.get("withdrawal") is not None))
    for seq, case, _, chosen, engine in automatic:
        opened = applicants.get(case)
        mine = applicant_of.get(seq)
        if (
            chosen
            and opened is not None
            and opened[0] < seq
            and mine is not None  # a reference edited into another type is ``altered`` (the log check)
            and mine != opened[1]
        ):
            report.discrepancies.append(
                ReplayDiscrepancy(
                    "applicant_changed",
                    dept,
                    seq,
                    case,
                    f"decision {seq} of case {case!r} names applicant {mine!r}, but the case's first "
                    f"decision {opened[0]} named {opened[1]!r}: every decision of a case is about its one applicant "
                    "(the library refuses another), so the record says two things about whom it decided",
                )
            )
        first_item, its_item = items.get(case), item_of.get(seq)
        if (
            chosen
            and first_item is not None
            and first_item[0] < seq
            and its_item is not None
            and its_item != first_item[1]
        ):
            report.discrepancies.append(
                ReplayDiscrepancy(
                    "item_changed",
                    dept,
                    seq,
                    case,
                    f"decision {seq} of case {case!r} is for service item {its_item!r}, but the case's first "
                    f"decision {first_item[0]} was for {first_item[1]!r}: a case is one application for one item "
                    "(the library refuses another), so the record says two things about what was decided",
                )
            )
        if not engine:
            continue
        earlier = first.get(case)
        if chosen and (earlier is None or earlier >= seq):
            _report_decided_after_approval(report, dept, seq, case, sorted(outcomes.get(case, [])))
        if not chosen or earlier is None or earlier >= seq:
            continue  # the first automatic decision of its case (or one this replay was not asked about)
        named = f"decision {earlier}"
        report.discrepancies.append(
            ReplayDiscrepancy(
                "decided_again",
                dept,
                seq,
                case,
                f"decision {seq} decides case {case!r} automatically again: {dept} already decided it by the rules "
                f"in {named}. A case is decided by the rules once; deciding it again is an officer's override - a "
                "re-run, perhaps on altered input, can shop for an outcome",
            )
        )


def _report_decided_after_approval(
    report: _Chunk, dept: str, seq: int, case: str, decided: list[tuple[int, Any, bool]]
) -> None:
    """``decided_after_approval`` for the first automatic decision ``seq`` of ``case`` when an earlier decision of the
    case (an officer's) approved it. ``decided``: (seq, outcome, whether a withdrawal) of the case's decisions, in
    order. The library refuses it: an approved case is the officers' (a refusal by the rules would leave its permit
    live; an approval by the rules after the approval was withdrawn would issue a fresh permit for the withdrawn
    case)."""
    before = [d for d in decided if d[0] < seq]
    approvals = [s for s, outcome, _ in before if outcome == "approve"]
    if not approvals:
        return
    ended = next((d for d in before if d[0] > approvals[-1]), None)
    if ended is None:
        what = f"decision {approvals[-1]} approved it and still stood"
    else:
        how = "an inspection's withdrawal" if ended[2] else f"a {ended[1]!r} decision"
        what = f"decision {approvals[-1]} approved it and decision {ended[0]} ({how}) withdrew the approval"
    report.discrepancies.append(
        ReplayDiscrepancy(
            "decided_after_approval",
            dept,
            seq,
            case,
            f"decision {seq} decides case {case!r} by the rules after an officer's approval: {what}. The rules do not "
            "decide a case once approved (their refusal leaves the approval's permit live; their approval restores a "
            "withdrawn one) - an officer's override does, on the record",
        )
    )


def _check_overrides(
    ledger: Ledger, report: ReplayReport, dept: str, overrides: list[tuple[int, str | None, dict[str, Any], Any]]
) -> None:
    if not overrides:
        return
    wanted = [o[2].get("seq") for o in overrides if isinstance(o[2], dict)]
    with ledger.engine.connect() as conn:
        rows = {
            int(s): (h, b)
            for s, h, b in conn.execute(
                select(col(LogEntry.seq), col(LogEntry.entry_hash), col(LogEntry.body)).where(
                    col(LogEntry.log) == LOG_DECISIONS,
                    col(LogEntry.department_id) == dept,
                    col(LogEntry.seq).in_([w for w in wanted if isinstance(w, int)]),
                )
            )
        }
    between = _passed_over(ledger, dept, overrides)
    for seq, case, target, stated in overrides:
        ref = target.get("seq") if isinstance(target, dict) else None
        row = rows.get(ref) if isinstance(ref, int) else None
        problem = None
        if row is None or not isinstance(ref, int) or ref >= seq:
            problem = f"overrides decision {ref!r}, which is not an earlier decision of {dept}"
        elif row[0] != target.get("entry_hash"):
            problem = (
                f"overrides decision {ref} with hash {target.get('entry_hash')}, but that decision's hash is {row[0]}"
            )
        else:
            try:
                replaced = logchain.stored_loads(row[1])
                other = replaced.get("case_id")
            except (ValueError, AttributeError):
                replaced, other = {}, None
            before = replaced.get("decided_at") if isinstance(replaced, dict) else None
            if other != case:
                problem = f"overrides decision {ref}, which is for case {other!r}"
            elif isinstance(case, str) and (passed := between.get((case, ref, seq))):
                problem = (
                    f"overrides decision {ref}, but decision {passed} of the case came after it: an officer's "
                    "decision replaces the case's latest word, and this one passes over a later decision (a "
                    "withdrawal, a refusal) in the record"
                )
            elif _stated_before(stated, before):
                problem = (
                    f"overrides decision {ref}, decided at {before}, but states an earlier moment ({stated}): the "
                    "record says the case was settled before the decision it replaces was taken (the library "
                    "refuses this)"
                )
        if problem:
            report.discrepancies.append(ReplayDiscrepancy("override_invalid", dept, seq, case, problem))


def _stated_before(stated: Any, before: Any) -> bool:
    """Whether moment text ``stated`` is earlier than moment text ``before`` (both readable), each read as replay
    reads an officer's moment (:func:`_parse_time`: a time without a zone is UTC): read with ``instant``, a zone-less
    earlier moment was unreadable here and passed, while the anchoring check read it as UTC (red team round 45)."""
    mine = _parse_time(stated) if isinstance(stated, str) else None
    theirs = _parse_time(before) if isinstance(before, str) else None
    return mine is not None and theirs is not None and mine < theirs


def _passed_over(
    ledger: Ledger, dept: str, overrides: list[tuple[int, str | None, dict[str, Any], Any]]
) -> dict[tuple[str, int, int], int]:
    """For each override (seq, case, target) of ``dept``: the latest decision of its case recorded between the
    decision it names and itself, keyed (case, target seq, seq); an override names the case's latest decision, so
    usually there is none. Found by the cases' index keys (``ix_logentry_lookup``, compared with every body by the
    walk: ``index_altered``), the bodies in between read to be sure."""
    wanted = [
        (seq, case, target["seq"])
        for seq, case, target, _stated in overrides
        if isinstance(case, str) and isinstance(target, dict) and isinstance(target.get("seq"), int)
    ]
    if not wanted:
        return {}
    keys = sorted({logchain.lookup_key(case) for _, case, _ in wanted})
    low, high = min(ref for _, _, ref in wanted), max(seq for seq, _, _ in wanted)
    with ledger.engine.connect() as conn:
        places = _places(conn, dept, keys, above=low, below=high)
        suspects = {
            (seq, case, ref): [n for n in places.get(logchain.lookup_key(case), []) if ref < n < seq]
            for seq, case, ref in wanted
        }
        bodies: dict[int, Any] = {}
        for number, text in _bodies(conn, dept, sorted({n for found in suspects.values() for n in found})):
            try:
                bodies[number] = logchain.stored_loads(text)
            except ValueError:
                continue  # reported as altered by the log check
    out = {}
    for (seq, case, ref), found in suspects.items():
        named = [
            n
            for n in found
            if isinstance(bodies.get(n), dict) and bodies[n].get("case_id") == case and "decided_by" in bodies[n]
        ]
        if named:
            out[(case, ref, seq)] = max(named)
    return out


_LOG_TABLE = LogEntry.__tablename__
_IN_DEPARTMENT_LOG = f"FROM {_LOG_TABLE} WHERE log = {{mark}} AND department_id = {{mark}} AND"


def _places(
    conn: Any, dept: str, keys: list[str], *, above: int | None = None, below: int | None = None
) -> dict[str, list[int]]:
    """The numbers of ``dept``'s decision-log entries whose index key (``lookup``) is one of ``keys`` and numbered
    above ``above`` and below ``below`` (when given), by key: one index-only query (``ix_logentry_lookup``) per 900
    keys."""
    places: dict[str, list[int]] = defaultdict(list)
    bounds = [(">", above), ("<", below)]
    tail = "".join(f" AND seq {op} {{mark}}" for op, bound in bounds if bound is not None)
    after = tuple(bound for _, bound in bounds if bound is not None)
    head = f"SELECT seq, lookup {_IN_DEPARTMENT_LOG} lookup"
    for seq, key in rows_in(conn, head, (LOG_DECISIONS, dept), keys, tail, after):
        places[str(key)].append(int(seq))
    return places


def _bodies(conn: Any, dept: str, seqs: list[int]) -> Iterator[tuple[int, str]]:
    """(seq, stored body text) of ``dept``'s decision-log entries numbered ``seqs``, 900 numbers per query."""
    head = f"SELECT seq, body {_IN_DEPARTMENT_LOG} seq"
    for seq, text in rows_in(conn, head, (LOG_DECISIONS, dept), seqs):
        yield int(seq), text


def _add_log_discrepancies(ledger: Ledger, report: ReplayReport, dept: str, found: list[logchain.Discrepancy]) -> None:
    if not found:
        return
    seqs = [d.seq for d in found if d.seq is not None]
    cases: dict[int, str | None] = {}
    with ledger.engine.connect() as conn:
        for seq, text in _bodies(conn, dept, seqs):
            try:
                cases[seq] = logchain.stored_loads(text).get("case_id")
            except (ValueError, AttributeError):
                cases[seq] = None
    for d in found:
        report.discrepancies.append(
            ReplayDiscrepancy(d.kind, dept, d.seq, cases.get(d.seq) if d.seq else None, d.detail)
        )
