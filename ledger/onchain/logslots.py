"""Where BatchLog keeps a decision's anchoring and its rule set's publication: the storage slots a state proof at a
witnessed block proves them by.

A decision bundle states the log batch its entry is anchored in (``_batches[department][root]``: department, log id,
range, block, time, signer, head hash) and the publication of the rule set it applied (``_ruleSets[department]
[digest]``: department, service item, block, time). Both verifiers read them from the node (``logBatch``, the
LogBatchAnchored and RuleSetPublished events); proving these slots at the cosigned block holds the node's answers to
the chain the witnesses saw (docs/evidence.md, "The log batch at the cosigned block").

The slots are the compiler's (``storageLayout`` in ledger/onchain/contracts.json): a mapping's slot is Solidity's
``keccak256(key . slot)``, the members' slots and offsets read from the layout, never counted by hand.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from .anchorslots import mapped
from .stateproof import Member, layout_leaf, layout_members, shipped_layout, verified_words


@dataclass(frozen=True, slots=True)
class LogLayout:
    """The slots of BatchLog's ``_batches`` and ``_ruleSets`` mappings and the members of their records."""

    batches: int
    batch: Mapping[str, Member]
    batch_words: int
    rule_sets: int
    rule_set: Mapping[str, Member]
    rule_set_words: int

    @classmethod
    def from_layout(cls, layout: Mapping[str, Any]) -> LogLayout:
        variables = {v["label"]: v for v in layout["storage"]}
        types = layout["types"]

        batch, rule_set = (
            layout_leaf(types, variables["_batches"]["type"]),
            layout_leaf(types, variables["_ruleSets"]["type"]),
        )
        return cls(
            int(variables["_batches"]["slot"]),
            layout_members(types, batch),
            int(types[batch]["numberOfBytes"]) // 32,
            int(variables["_ruleSets"]["slot"]),
            layout_members(types, rule_set),
            int(types[rule_set]["numberOfBytes"]) // 32,
        )


@functools.cache
def log_layout() -> LogLayout:
    """BatchLog's storage layout as the slots read it (once a process)."""
    return shipped_layout("BatchLog", LogLayout.from_layout)


def batch_slots(department_id: bytes, root: bytes) -> list[int]:
    """Every word of the log batch record ``_batches[department_id][root]``."""
    layout = log_layout()
    base = mapped(mapped(layout.batches, department_id), root)
    return [base + i for i in range(layout.batch_words)]


def rule_set_slots(department_id: bytes, digest: bytes) -> list[int]:
    """Every word of the rule set record ``_ruleSets[department_id][digest]``."""
    layout = log_layout()
    base = mapped(mapped(layout.rule_sets, department_id), digest)
    return [base + i for i in range(layout.rule_set_words)]


def decision_slots(department_id: bytes, root: bytes, digest: bytes | None) -> list[int]:
    """The slots a decision bundle's ``witness.state.log`` proves: the batch record's, then (with a rule set) the rule
    set record's."""
    return batch_slots(department_id, root) + ([] if digest is None else rule_set_slots(department_id, digest))


@dataclass(frozen=True, slots=True)
class ProvenLogBatch:
    """``_batches[department][root]`` as proven: all zero when no such batch was anchored by the proven block."""

    department_id: bytes
    log_id: bytes
    first_seq: int
    last_seq: int
    block_number: int
    timestamp: int
    signer: str  # 0x + 40 lowercase hex digits
    head_hash: bytes


@dataclass(frozen=True, slots=True)
class ProvenRuleSet:
    """``_ruleSets[department][digest]`` as proven: all zero when the department had not published it by then."""

    department_id: bytes
    service_item: bytes
    block_number: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class ProvenLog:
    """What a decision bundle's ``witness.state.log`` proves at the witnessed block ``at``."""

    batch: ProvenLogBatch
    rule_set: ProvenRuleSet | None  # None: the decision applied no rule set (none was proven)
    at: int


def verified_log(
    block: Any,
    answer: Any,
    address: str,
    department_id: bytes,
    root: bytes,
    digest: bytes | None,
    block_hash: bytes,
    number: int,
) -> ProvenLog:
    """The batch record of ``root`` and (with ``digest``) the rule set record of ``department_id`` as the header
    ``block`` and the ``eth_getProof`` answer ``answer`` of the log contract at ``address`` prove them in block
    ``number`` of hash ``block_hash`` (a ChainError when the proof lacks a word or does not prove it)."""
    layout = log_layout()
    slots = batch_slots(department_id, root)
    words = verified_words(block, answer, address, slots, block_hash, number)
    b = layout.batch
    base = slots[0]
    batch = ProvenLogBatch(
        b["departmentId"].of(words, base).to_bytes(32, "big"),
        b["logId"].of(words, base).to_bytes(32, "big"),
        b["firstSeq"].of(words, base),
        b["lastSeq"].of(words, base),
        b["blockNumber"].of(words, base),
        b["timestamp"].of(words, base),
        "0x" + b["signer"].of(words, base).to_bytes(20, "big").hex(),
        b["headHash"].of(words, base).to_bytes(32, "big"),
    )
    rule_set = None
    if digest is not None:
        slots = rule_set_slots(department_id, digest)
        words = verified_words(block, answer, address, slots, block_hash, number)
        r = layout.rule_set
        base = slots[0]
        rule_set = ProvenRuleSet(
            r["departmentId"].of(words, base).to_bytes(32, "big"),
            r["serviceItem"].of(words, base).to_bytes(32, "big"),
            r["blockNumber"].of(words, base),
            r["timestamp"].of(words, base),
        )
    return ProvenLog(batch, rule_set, number)


# -- kept with a checkpoint (``ledger witness collect``; docs/witness.md) ----------------------------------------------

# The most decision-log batches whose records collect keeps the proofs of with a checkpoint: the newest of those
# anchored since the previous checkpoint (a bundle's checkpoint is the first covering its anchoring, so these are the
# batches whose bundles name it); past them a bundle asks the node, as before
MAX_KEPT_BATCHES = 256
# The most rule set records kept beside them: the newest published by the departments of the kept batches up to the
# checkpoint (a department publishes a few; a decision applies one of its own)
MAX_KEPT_RULE_SETS = 64
# The most (department, digest) pairs of the carried list of publications (``published``, below) read from a kept file:
# far above any real ledger's (some fifty departments, each keeping its newest MAX_KEPT_RULE_SETS); past it the list
# is not read and the publications are scanned from the deployment again
MAX_CARRIED_RULE_SETS = 1 << 16
LOG_ANCHORED_TOPIC = "0x" + keccak(text="LogBatchAnchored(bytes32,bytes32,bytes32,uint64,uint64,bytes32,address)").hex()
RULE_SET_TOPIC = "0x" + keccak(text="RuleSetPublished(bytes32,bytes32,bytes32)").hex()


def kept_at(chain: Any, height: int, block_hash: bytes, since: int, published: Any = None) -> dict[str, Any]:
    """What collect keeps of the log contract with the checkpoint of block ``height`` (hash ``block_hash``): the
    ``eth_getProof`` answers, each checked against that hash, of every word of the records of the decision-log batches
    anchored in blocks ``since + 1`` to ``height`` (at most :data:`MAX_KEPT_BATCHES`, the newest) and of the rule sets
    their departments published up to ``height`` (at most :data:`MAX_KEPT_RULE_SETS`, the newest), packed as the
    registry's are (each trie node once). A ChainError when the node cannot prove them.

    The rule sets are chosen from every department's publications up to ``height`` (``published``: the newest
    :data:`MAX_KEPT_RULE_SETS` of each, in chain order, with the block the list covers), carried forward from the
    previous checkpoint's file (``published``, that file's section) so only the blocks since are scanned; without
    one that reads well, from the deployment. The list only chooses which slots' proofs are kept: every proof is
    checked against the cosigned hash wherever it is used, so a list an insider edited at worst leaves a rule set's
    proof out (the bundle asks the node, or says "not proven"), never makes a verifier believe a record the chain
    does not hold (tests/test_witness_kept_log.py)."""
    from . import chainread, registryslots, stateproof

    log = chain.deployment.log
    decisions = "0x" + bytes(chain.call(chain.log.functions.decisionsLog(), height)).hex()
    batches: list[tuple[str, str]] = []
    for entry in chainread.scan_raw(
        chain,
        {"address": log, "topics": [LOG_ANCHORED_TOPIC, decisions]},
        what="the decision batches anchored since the previous checkpoint",
        start=since + 1,
        end=height,
    ):
        pair = (_topic(entry, 2), _topic(entry, 3))
        if pair not in batches:
            batches.append(pair)
    batches = batches[-MAX_KEPT_BATCHES:]
    carried = _carried(published, since, height)
    if carried is None:  # none carried (a first checkpoint, an older file) or one that does not read well
        index, start = [], int(getattr(chain.deployment, "deployed_block", 0) or 0)
    else:
        index, start = carried[0], carried[1] + 1
    seen = set(index)
    for entry in chainread.scan_raw(
        chain,
        {"address": log, "topics": [RULE_SET_TOPIC]},
        what="the rule sets published since the previous checkpoint",
        start=start,
        end=height,
    ):
        pair = (_topic(entry, 2), _topic(entry, 1))
        if pair not in seen:
            seen.add(pair)
            index.append(pair)
    index = _newest_of_each(index, MAX_KEPT_RULE_SETS)
    departments = {dept for dept, _ in batches}
    rule_sets = [pair for pair in index if pair[0] in departments][-MAX_KEPT_RULE_SETS:]
    slots = [s for d, r in batches for s in batch_slots(bytes.fromhex(d[2:]), bytes.fromhex(r[2:]))]
    slots += [s for d, g in rule_sets for s in rule_set_slots(bytes.fromhex(d[2:]), bytes.fromhex(g[2:]))]
    answers = []
    for i in range(0, len(slots), stateproof.MAX_PROOF_SLOTS):
        _, answer, _ = stateproof.fetch_verified(
            chain.w3, log, slots[i : i + stateproof.MAX_PROOF_SLOTS], block_hash, height
        )
        answers.append(answer)
    return {
        "address": log.lower(),
        "since": since,
        "batches": [list(pair) for pair in batches],
        "rule_sets": [list(pair) for pair in rule_sets],
        "published": {"through": height, "rule_sets": [list(pair) for pair in index]},
        **registryslots.packed(answers),
    }


_WORD = re.compile(r"0x[0-9a-f]{64}")


def _is_word(value: Any) -> bool:
    return type(value) is str and _WORD.fullmatch(value) is not None


def _carried(published: Any, since: int, height: int) -> tuple[list[tuple[str, str]], int] | None:
    """The carried list of publications (``published``, a kept file's: ``through``, the block it covers, and its
    ``rule_sets``, (department, digest) pairs in chain order) and its block, or None when it does not read as one
    the previous checkpoint's collect (at block ``since``) wrote for a checkpoint below ``height``: then the
    publications are scanned from the deployment, as if none were carried."""
    if not isinstance(published, dict):
        return None
    through, pairs = published.get("through"), published.get("rule_sets")
    if type(through) is not int or not -1 <= through <= since or through >= height:
        return None
    if type(pairs) is not list or len(pairs) > MAX_CARRIED_RULE_SETS:
        return None
    index: list[tuple[str, str]] = []
    for pair in pairs:
        if type(pair) is not list or len(pair) != 2 or not all(_is_word(x) for x in pair):
            return None
        index.append((pair[0], pair[1]))
    return list(dict.fromkeys(index)), through


def _newest_of_each(pairs: list[tuple[str, str]], most: int) -> list[tuple[str, str]]:
    """``pairs`` (department, digest) in their order, keeping only the newest ``most`` of each department."""
    counts: dict[str, int] = {}
    kept: list[tuple[str, str]] = []
    for pair in reversed(pairs):
        counts[pair[0]] = counts.get(pair[0], 0) + 1
        if counts[pair[0]] <= most:
            kept.append(pair)
    kept.reverse()
    return kept


def _topic(entry: Any, index: int) -> str:
    topic = entry["topics"][index]
    return "0x" + (topic.hex().removeprefix("0x") if isinstance(topic, bytes) else str(topic)[2:]).lower()


def kept_proof(section: Any, slots: list[int]) -> dict[str, Any] | None:
    """One ``eth_getProof``-shaped answer of the kept ``section`` (:func:`kept_at`) holding the storage proofs of every
    one of ``slots`` (its account proof the first holding answer's: all are of one block), or None when it lacks one.
    Not checked here: the caller proves it against the witnessed hash, as anything read from the file."""
    from .registryslots import unpacked

    wanted = {f"0x{slot:064x}": slot for slot in slots}
    found: dict[int, Any] = {}
    account = None
    for answer in unpacked(section):
        for entry in answer["storageProof"]:
            key = entry.get("key") if isinstance(entry, Mapping) else None
            try:
                slot = wanted.get(f"0x{int(key, 16):064x}") if type(key) is str and len(key) <= 66 else None
            except ValueError:
                slot = None
            if slot is not None and slot not in found:
                found[slot] = entry
                account = answer["accountProof"] if account is None else account
    if any(slot not in found for slot in slots) or account is None:
        return None
    address = section.get("address") if isinstance(section, Mapping) else None
    return {"address": address, "accountProof": account, "storageProof": [found[slot] for slot in slots]}
