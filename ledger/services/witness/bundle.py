"""The optional ``witness`` section of evidence bundles and the ``witnessed`` check (docs/evidence.md,
docs/witness.md).

    "witness": {"checkpoint": "<signed note: the checkpoint, the ledger's signature, the witnesses' cosignatures>",
                "state": {"block": {<the checkpoint block's header fields>}, "proof": {<eth_getProof answer>}}}

A court gives the witnesses' verifier keys (``--witness-key``) and a quorum; the check passes when that many of
those keys cosigned the checkpoint, the checkpoint names the bundle's chain, lies at or after the anchoring block
and the ``as_of`` block, and the node asked still has the cosigned hash at that height. Without keys the check
passes as "not configured" (the cosignatures cannot mean anything to a verifier that trusts no witness).

``state`` (certificate bundles) proves the issuer's status and anchoring trails at the cosigned block (EIP-1186,
ledger/onchain/stateproof.py): the block's header as the node answered it (whose hash the witnesses cosigned) and the
``eth_getProof`` answer for the issuer's four trail slots there. The check holds the node's status and batch events
of the issuer up to that block to the proven trails, the certificate's batch to those events and the bundle's status
statement to what they give: a court no longer takes the node's word for the issuer's history at the checkpoint. A
bundle without it (written before, or by a ledger whose node had no proof to give) still checks, and the detail says
the state proof is absent.

A decision bundle's ``state`` holds the header and, as ``log``, the proof of the log contract's record of the
decision's batch and of its rule set's publication there (ledger/onchain/logslots.py): ``anchor_event`` and
``rule_set_published`` hold the node's ``logBatch`` record and its events to them (:func:`proven_log`). Without it the
check says "log batch: not proven".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...errors import ChainError, InputError, LedgerError
from ...onchain import anchorslots, logslots, registryslots, stateproof
from ...onchain.chain import Chain
from ...onchain.ids import department_id_bytes
from .checkpoint import Checkpoint, origin_for
from .client import CheckpointStore, WitnessConfig, WitnessedCheckpoint, chain_identity, collect
from .note import COSIGNATURE_V1, VerifierKey, distinct_keys, parse_note


def covering_checkpoint(
    chain: Chain, data_dir: Path, height: int, *, fresh: bool = False
) -> WitnessedCheckpoint | None:
    """A witnessed checkpoint at or after block ``height``: with ``fresh`` one collected now (so the bundle
    states the latest facts), else the lowest one collected so far, else a new one; None when no witnesses are
    configured or no quorum answers."""
    config = WitnessConfig.load(data_dir)
    if not config.configured:
        return None
    if fresh:
        try:
            result = collect(chain, data_dir, config)
        except LedgerError:
            result = None
        if (
            result is not None
            and result.witnessed
            and result.checkpoint is not None
            and result.checkpoint.checkpoint.height >= height
        ):
            return result.checkpoint
    origin = chain_identity(chain).origin
    found = [
        c
        for c in CheckpointStore(data_dir).all(config)
        if c.witnessed and c.checkpoint.origin == origin and c.checkpoint.height >= height
    ]
    if found:  # fresh: the latest there is; otherwise the first that covers the facts
        return (max if fresh else min)(found, key=lambda c: c.checkpoint.size)
    if fresh:
        return None
    try:
        result = collect(chain, data_dir, config)
    except LedgerError:
        return None
    if result.witnessed and result.checkpoint is not None and result.checkpoint.checkpoint.height >= height:
        return result.checkpoint
    return None


def state_section(
    chain: Chain,
    data_dir: Path,
    witnessed: WitnessedCheckpoint,
    department: str,
    *,
    certificate: tuple[bytes, bytes] | None = None,
) -> dict[str, Any] | None:
    """The ``state`` member of a bundle's ``witness`` section: the header of the checkpoint's block and the proof of
    ``department``'s status and anchoring trails there, from the proofs kept when the checkpoint was collected
    (``state-<hash>.json``, the node may have dropped that block's state), else asked of the node; each checked
    against the cosigned hash before it is written. None when neither proves them (the bundle then says so).

    With ``certificate`` (its batch root and digest) the section also carries ``certificate``: the proof of that
    certificate's own slots there (its batch record, status history, ended and held roots; ledger/onchain/
    anchorslots.py), by which a verifier proves its batch and status without reading any event stream, and, when its
    proven ``held`` slot names another root (the same digest anchored again and suspended through its first root),
    ``held_history``: the proof of the status history through that root. Both left out when the node no longer
    holds the block's state (the trail path then serves, as before)."""
    return state_section_settled(chain, data_dir, witnessed, department, certificate=certificate)[0]


def state_section_settled(
    chain: Chain,
    data_dir: Path,
    witnessed: WitnessedCheckpoint,
    department: str,
    *,
    certificate: tuple[bytes, bytes] | None = None,
) -> tuple[dict[str, Any] | None, bool]:
    """:func:`state_section`, and whether another checkpoint could do better: False when the certificate's proof was
    left out because the node no longer held the block's state (a fresher checkpoint's may be held), True otherwise
    (none asked, carried, or its proven history and predecessors past what one proof carries, as they stay at any
    later block: a department superseding many certificates into one, red team round 82)."""
    section = _trail_section(chain, data_dir, witnessed, department)
    if section is None:
        return section, True
    settled = True
    if certificate is not None:  # first: the node may keep the block's state only until it mines the next
        try:
            proof = certificate_proof(chain, witnessed.checkpoint, department, *certificate)
        except CertificatePastBudget:
            proof = None
        else:
            settled = proof is not None
        if proof is not None:
            section.update(proof)
    registry = registry_section(chain, data_dir, witnessed.checkpoint, department, section["block"])
    if registry is not None:
        section["registry"] = registry
    return section, settled


def registry_section(
    chain: Chain, data_dir: Path, cp: Checkpoint, department: str, header: Any
) -> dict[str, Any] | None:
    """The ``registry`` member of a bundle's state section: the proof of ``department``'s key, status and type periods
    in the registry at the checkpoint's block (its three lengths, then every period's words;
    ledger/onchain/registryslots.py), from the proofs kept when the checkpoint was collected, else asked of the node
    (its lengths first, a history past ``MAX_PERIODS`` not asked further), and checked against the cosigned hash with
    ``header`` (the section's) before it is written. None when neither proves it: a verifier then says "registry: not
    proven" (docs/evidence.md)."""
    dept = department_id_bytes(department)
    registry = chain.deployment.registry
    candidates: list[tuple[list[Any], dict[int, int]]] = []
    kept = CheckpointStore(data_dir).state(cp.hash_hex)
    kept_section = kept.get("registry") if kept is not None else None
    if kept is not None and isinstance(kept_section, dict):
        candidates.append(_kept_registry(kept.get("block"), registryslots.unpacked(kept_section), registry, cp, dept))
    for attempt in range(2):
        if attempt == 1:
            try:
                _, answers, words, too_long = registryslots.fetch_histories(
                    chain.w3, registry, cp.block_hash, cp.height, [dept]
                )
            except ChainError:
                return None
            if too_long:
                return None
            candidates = [([_plain(a) for a in answers], words)]
        for answers, words in candidates:
            try:
                section = registryslots.bundle_section(answers, dept, words)
                registryslots.bundle_history(header, section, registry, cp.block_hash, cp.height, dept)
            except (ChainError, KeyError, TypeError, AttributeError):
                continue
            return section
    return None


def _kept_registry(
    block: Any, answers: list[Any], registry: str, cp: Checkpoint, dept: bytes
) -> tuple[list[Any], dict[int, int]]:
    """The kept answers holding department ``dept``'s slots (its lengths, then its periods), each checked against the
    cosigned hash (one that does not prove it is left out), and the words they prove: a kept file holds every
    department's, and only the issuer's are walked."""
    chosen: list[Any] = []
    words: dict[int, int] = {}

    def prove(slots: list[int]) -> None:
        wanted = {f"0x{slot:064x}" for slot in slots}
        for answer in answers:
            keys = {_slot_key(e.get("key")) for e in answer["storageProof"] if isinstance(e, Mapping)}
            if any(answer is c for c in chosen) or not keys & wanted:
                continue
            proven = registryslots.kept_words(block, [answer], registry, cp.block_hash, cp.height)
            if proven:
                chosen.append(answer)
                words.update(proven)

    prove(registryslots.length_slots(dept))
    try:
        prove(registryslots.department_slots(words, dept))
    except ChainError:  # a length past MAX_PERIODS: no period of it is walked
        pass
    return chosen, words


class CertificatePastBudget(LedgerError):
    """The certificate's proven status changes and predecessors are more than one proof of its slots carries."""


def certificate_proof(
    chain: Chain, cp: Checkpoint, department: str, root: bytes, digest: bytes
) -> dict[str, Any] | None:
    """The state section's members proving the certificate at the checkpoint's block: ``certificate``, the node's
    proof of its slots (two ``eth_getProof`` at most: the fixed slots, then with the proven history's and
    predecessors' lengths all of them), and, when its proven ``held`` slot names another root than ``root``,
    ``held_history``, the proof of the status history through that root (:func:`held_history_proof`); each checked
    against the cosigned hash. None when the node cannot prove that block's state (pruned);
    :class:`CertificatePastBudget` when its history and predecessors, or the history through the held root, are
    too long for one proof (the trail path proves both)."""
    dept = department_id_bytes(department)
    slots = anchorslots.certificate_slots(dept, root, digest)
    anchor = chain.deployment.anchor
    try:
        block, answer = stateproof.fetch(chain.w3, anchor, slots.fixed(), cp.height)
        words = stateproof.verified_words(block, answer, anchor, slots.fixed(), cp.block_hash, cp.height)
        length, count = anchorslots.history_length(words, slots), anchorslots.predecessor_count(words, slots)
        if length + count > anchorslots.MAX_HISTORY:
            raise CertificatePastBudget(
                f"{length} status changes and {count} predecessors, past the {anchorslots.MAX_HISTORY} a proof carries"
            )
        if length or count:
            block, answer = stateproof.fetch(chain.w3, anchor, slots.all(length, count), cp.height)
        proven = anchorslots.verified_certificate(block, answer, anchor, slots, cp.block_hash, cp.height)
        trimmed = _trimmed(_plain(block), _plain(answer), slots.all(length, count))
        if trimmed is None:
            return None
        members = {"certificate": trimmed["proof"]}
        if proven.held not in (root, bytes(32)):
            members["held_history"] = held_history_proof(chain, cp, dept, proven.held, digest)
    except ChainError:
        return None
    return members


def held_history_proof(chain: Chain, cp: Checkpoint, dept: bytes, held: bytes, digest: bytes) -> dict[str, Any]:
    """The node's proof of the status history of ``digest`` through ``held`` (the root the certificate's proven held
    slot names: every suspension and reinstatement of the digest is made there) at the checkpoint's block: its
    length, then every change it names (two ``eth_getProof`` at most), checked against the cosigned hash. A
    ChainError when the node cannot prove it; :class:`CertificatePastBudget` past :data:`anchorslots.MAX_HISTORY`
    changes (the bound of the certificate's own history)."""
    slots = anchorslots.certificate_slots(dept, held, digest)
    anchor = chain.deployment.anchor
    block, answer = stateproof.fetch(chain.w3, anchor, [slots.history], cp.height)
    words = stateproof.verified_words(block, answer, anchor, [slots.history], cp.block_hash, cp.height)
    length = anchorslots.history_length(words, slots)
    if length > anchorslots.MAX_HISTORY:
        raise CertificatePastBudget(
            f"{length} status changes through the held root, past the {anchorslots.MAX_HISTORY} a proof carries"
        )
    wanted = [slots.history, *slots.entries(length)]
    if length:
        block, answer = stateproof.fetch(chain.w3, anchor, wanted, cp.height)
    anchorslots.verified_history(block, answer, anchor, slots, cp.block_hash, cp.height)
    trimmed = _trimmed(_plain(block), _plain(answer), wanted)
    if trimmed is None:
        raise ChainError("the node's proof of the status history through the held root is no eth_getProof answer")
    return dict(trimmed["proof"])


def log_section(
    chain: Chain,
    cp: Checkpoint,
    department: str,
    root: bytes,
    digest: bytes | None,
    *,
    data_dir: Path | None = None,
) -> dict[str, Any] | None:
    """The ``state`` member of a decision bundle's ``witness`` section: the header of the checkpoint's block and, as
    ``log``, the node's ``eth_getProof`` of the log contract's slots for the decision's batch record
    (``_batches[department][root]``, every word) and, with ``digest``, its rule set's publication
    (``_ruleSets[department][digest]``) there (ledger/onchain/logslots.py), checked against the cosigned hash before it
    is written. With ``data_dir`` the proofs ``ledger witness collect`` kept with the checkpoint are tried first (the
    batches anchored since the checkpoint before it, and their departments' rule sets). None when neither proves them
    (the embedded node keeps 32 blocks below its head, Besu some 512): a verifier then says "log batch: not proven"
    (docs/evidence.md)."""
    log = chain.deployment.log
    dept = department_id_bytes(department)
    slots = logslots.decision_slots(dept, root, digest)
    kept = None if data_dir is None else CheckpointStore(data_dir).state(cp.hash_hex)
    if kept is not None and isinstance(kept.get("log"), dict):
        answer = logslots.kept_proof(kept["log"], slots)
        trimmed = None if answer is None else _trimmed(_plain(kept.get("block")), answer, slots)
        if trimmed is not None:
            try:
                logslots.verified_log(
                    trimmed["block"], trimmed["proof"], log, dept, root, digest, cp.block_hash, cp.height
                )
            except (ChainError, KeyError, TypeError, AttributeError):
                pass
            else:
                return {"block": trimmed["block"], "log": trimmed["proof"]}
    try:
        block, answer = stateproof.fetch(chain.w3, log, slots, cp.height)
        logslots.verified_log(block, answer, log, dept, root, digest, cp.block_hash, cp.height)
    except ChainError:
        return None
    trimmed = _trimmed(_plain(block), _plain(answer), slots)
    if trimmed is None:
        return None
    return {"block": trimmed["block"], "log": trimmed["proof"]}


def decision_state(
    chain: Chain, data_dir: Path, cp: Checkpoint, department: str, root: bytes, digest: bytes | None
) -> dict[str, Any] | None:
    """A decision bundle's ``witness.state``: :func:`log_section` and, as ``registry``, the proof of the deciding
    department's key, status and type periods at the same block (:func:`registry_section`, the reading certificate
    bundles' issuer periods get: the kept proofs of the checkpoint, else the node's), by which both verifiers hold the
    node's ``wasActiveSignerAt`` and ``statusHistory`` answers of ``department_key`` and the bundle's periods of
    ``department_history`` to the cosigned block. The registry member is left out when neither proves it (verifiers
    then say "registry: not proven"); None when the log's proof cannot be had (as :func:`log_section`)."""
    section = log_section(chain, cp, department, root, digest, data_dir=data_dir)
    if section is None:
        return None
    registry = registry_section(chain, data_dir, cp, department, section["block"])
    if registry is not None:
        section["registry"] = registry
    return section


def _plain(value: Any) -> Any:
    """A node's answer as JSON objects and lists (a provider's middleware answers mappings of its own)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _trail_section(
    chain: Chain, data_dir: Path, witnessed: WitnessedCheckpoint, department: str
) -> dict[str, Any] | None:
    cp = witnessed.checkpoint
    dept = department_id_bytes(department)
    slots = stateproof.department_slots(dept)
    anchor = chain.deployment.anchor
    candidates: list[tuple[Any, Any]] = []
    kept = CheckpointStore(data_dir).state(cp.hash_hex)
    if kept is not None:
        proofs = kept.get("proofs", [])
        named = kept.get("departments")
        at = named.get("0x" + dept.hex()) if isinstance(named, dict) else None
        if type(at) is int and 0 <= at < len(proofs):
            proofs = [proofs[at]]
        candidates += [(kept.get("block"), answer) for answer in proofs]
    for block, answer in candidates:
        section = _trimmed(block, answer, slots)
        if section is not None and _proves(section, anchor, slots, cp):
            return section
    try:
        block, answer = stateproof.fetch(chain.w3, anchor, slots, cp.height)
    except ChainError:
        return None
    section = _trimmed(block, answer, slots)
    return section if section is not None and _proves(section, anchor, slots, cp) else None


def _trimmed(block: Any, answer: Any, slots: list[int]) -> dict[str, Any] | None:
    """The header fields of ``block`` and the proofs of ``slots`` of ``answer`` (a kept answer holds sixteen
    departments' slots): what a verifier needs, nothing of the block's body."""
    if not isinstance(block, dict) or not isinstance(answer, dict) or type(answer.get("storageProof")) is not list:
        return None
    wanted = {f"0x{slot:064x}" for slot in slots}
    storage = [
        {"key": e["key"], "proof": e.get("proof")}
        for e in answer["storageProof"]
        if isinstance(e, dict) and _slot_key(e.get("key")) in wanted
    ]
    header = {k: v for k, v in block.items() if k not in stateproof.NOT_HEADER}
    return {
        "block": header,
        "proof": {
            "address": answer.get("address"),
            "accountProof": answer.get("accountProof"),
            "storageProof": storage,
        },
    }


def _slot_key(key: Any) -> str | None:
    try:
        return f"0x{int(key, 16):064x}" if type(key) is str and len(key) <= 66 else None
    except ValueError:
        return None


def _proves(section: dict[str, Any], anchor: str, slots: list[int], cp: Checkpoint) -> bool:
    try:
        stateproof.verified_words(section["block"], section["proof"], anchor, slots, cp.block_hash, cp.height)
    except ChainError:
        return False
    return True


def shape_problem(section: Any) -> str | None:
    if not isinstance(section, dict) or not isinstance(section.get("checkpoint"), str):
        return "witness.checkpoint must be a signed note (text)"
    return None


def parse_keys(keys: list[str] | None) -> list[VerifierKey]:
    parsed = [VerifierKey.parse(k) for k in keys or []]
    wrong = [k.name for k in parsed if k.kind != COSIGNATURE_V1]
    if wrong:
        raise InputError(f"witness keys must be cosignature/v1 (type 0x04) keys; not {', '.join(wrong)}")
    return parsed


# the witnessed check's words for a certificate bundle without a state section, and the verdict line of a report
# passing it (red team round 79: the absence in the last line, whoever stripped it), as the court's verifier's
STATE_PROOF_ABSENT = "state proof: absent (the bundle carries none"
VERIFIED_WITHOUT_STATE_PROOF = (
    "VERIFIED, without a state proof: the issuer's status and anchoring trails at the witnessed block are the node's "
    "word (--require-state-proof fails a bundle carrying none)"
)
VERIFIED_WITHOUT_REGISTRY_PROOF = (
    "VERIFIED, without a proof of the registry: the issuer's key, status and type periods at the witnessed block are "
    "the node's word (--require-state-proof fails a bundle carrying none)"
)
VERIFIED_WITHOUT_LOG_PROOF = (
    "VERIFIED, without a proof of the log batch: the decision's batch record, its rule set's publication and the "
    "deciding department's registry periods at the witnessed block are the node's word (--require-state-proof fails a "
    "bundle carrying none)"
)
# the verdict of a decision bundle whose registry proof carries no proof of the deciding department's service item
# periods (older, or stripped: red team round 87), in both verifiers
VERIFIED_WITHOUT_ITEMS_PROOF = (
    "VERIFIED, without a proof of the service items: the deciding department's service item periods at the witnessed "
    "block are the node's word (--require-state-proof fails a bundle carrying none)"
)
VERIFIED_WITHOUT_HELD_HISTORY_PROOF = (
    "VERIFIED, without a proof of the held root's history: the certificate's status changes through the root it was "
    "first suspended under (the same digest anchored again) are the node's word (--require-state-proof fails a "
    "bundle carrying none)"
)

# the witnessed check's detail when a state proof is required and no witness is trusted: the proof is of the block
# the witnesses cosigned, so without their keys nothing it proves can be held to a checkpoint (both verifiers)
STATE_PROOF_WITHOUT_KEYS = (
    "a state proof is required (--require-state-proof) but no witness keys were given: the proof is of the block the "
    "witnesses cosigned, so it proves nothing without them"
)


def _state_of(bundle: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """The ``witness.state`` section of a bundle of ``kind`` ("certificate", "decision"); None when it has none."""
    section = bundle.get("witness")
    if not isinstance(section, dict) or bundle.get("kind") != kind:
        return None
    state = section.get("state")
    return state if isinstance(state, dict) else None


def proven_certificate(
    chain: Chain, bundle: dict[str, Any], keys: list[VerifierKey], quorum: int | None
) -> anchorslots.ProvenCertificate | None:
    """The certificate's batch record and status history as the bundle's ``witness.state.certificate`` proves them at
    a checkpoint that ``quorum`` of ``keys`` cosigned and the node still has; None when anything of that does not
    hold (no keys, no proof, too few cosignatures, another block on the chain, a proof that does not prove): the
    verifier then reads the anchoring from the department's batch stream, and ``witnessed`` says what failed. Used
    before the anchoring event is looked up, so a proven batch needs no stream read (docs/evidence.md)."""
    state = _state_of(bundle, "certificate")
    if state is None or not isinstance(state.get("certificate"), dict):
        return None
    try:
        checkpoint = _cosigned(chain, bundle, keys, quorum)
        if checkpoint is None:
            return None
        slots = anchorslots.certificate_slots(
            department_id_bytes(bundle["certificate"]["fields"]["issuer"]),
            bytes.fromhex(bundle["anchor"]["root"][2:]),
            bytes.fromhex(bundle["certificate"]["digest"][2:]),
        )
        proven = anchorslots.verified_certificate(
            state.get("block"),
            state["certificate"],
            bundle["chain"]["anchor_contract"],
            slots,
            checkpoint.block_hash,
            checkpoint.height,
        )
    except (LedgerError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if proven.held in (bytes.fromhex(bundle["anchor"]["root"][2:]), bytes(32)) or "held_history" not in state:
        return proven
    try:
        held = _held_history(bundle, state, proven.held, checkpoint)
    except (LedgerError, ValueError, TypeError, KeyError, AttributeError):
        return proven  # not proven: the node's word there, and ``witnessed`` fails naming the held root's proof
    return replace(proven, held_history=held)


def _held_history(
    bundle: dict[str, Any], state: dict[str, Any], held: bytes, checkpoint: Checkpoint
) -> tuple[tuple[int, int, int, bytes], ...]:
    """The status history of the bundle's certificate through ``held`` (the root its proven held slot names) as the
    bundle's ``witness.state.held_history`` proves it at the cosigned block: every change up to it."""
    return anchorslots.verified_history(
        state["block"],
        state["held_history"],
        bundle["chain"]["anchor_contract"],
        anchorslots.certificate_slots(
            department_id_bytes(bundle["certificate"]["fields"]["issuer"]),
            held,
            bytes.fromhex(bundle["certificate"]["digest"][2:]),
        ),
        checkpoint.block_hash,
        checkpoint.height,
    )


def _cosigned(chain: Chain, bundle: dict[str, Any], keys: list[VerifierKey], quorum: int | None) -> Checkpoint | None:
    """The bundle's checkpoint when ``quorum`` of ``keys`` cosigned it for the bundle's chain, it covers the bundle's
    anchoring block and ``as_of`` and the node still has its block; None otherwise (``witnessed`` says why). The
    court's verifier takes a proof on the same terms (red team round 84: a stale checkpoint's certificate proof was
    taken by the library only, and ``status`` differed)."""
    keys = distinct_keys(keys)
    need = len(keys) if quorum is None else quorum
    note = parse_note(bundle["witness"]["checkpoint"])
    checkpoint = Checkpoint.parse(note.text)
    c = bundle["chain"]
    if (
        not keys
        or need < 1
        or checkpoint.origin != origin_for(c["chain_id"], c["genesis_hash"], c["registry_contract"])
    ):
        return None
    if max(bundle["anchor"]["block_number"], bundle["as_of"]["block_number"]) > checkpoint.height:
        return None
    if len(note.verified(keys)) < need or chain.block_number() < checkpoint.height:
        return None
    if "0x" + bytes(chain.w3.eth.get_block(checkpoint.height)["hash"]).hex() != checkpoint.hash_hex:
        return None
    return checkpoint


@dataclass(frozen=True, slots=True)
class ProvenRegistry:
    """The issuing department's key, status and type periods as the bundle's ``witness.state.registry`` proves them at
    the witnessed block ``height``: they answer every question of a block at or below it (registryslots)."""

    history: registryslots.RegistryHistory
    height: int

    @property
    def where(self) -> str:
        """How the checks' details name it, alike in the court's verifier."""
        return f"the registry's state at witnessed block {self.height}, proven by the bundle's registry proof"


def proven_registry(
    chain: Chain, bundle: dict[str, Any], keys: list[VerifierKey], quorum: int | None
) -> ProvenRegistry | None:
    """The issuer's (a decision bundle's: the deciding department's) registry history as the bundle's
    ``witness.state.registry`` proves it at a checkpoint that ``quorum`` of ``keys`` cosigned, the node still has, and
    which covers the bundle's anchoring and ``as_of`` blocks; None when anything of that does not hold (``witnessed``
    then says what). With it ``department_key``, ``department_history`` and (certificates) ``type_authority`` hold
    the node's registry answers and the bundle's periods to it."""
    state = _state_of(bundle, str(bundle.get("kind")))
    if state is None or "registry" not in state:
        return None
    try:
        checkpoint = _cosigned(chain, bundle, keys, quorum)
        if checkpoint is None or max(bundle["anchor"]["block_number"], bundle["as_of"]["block_number"]) > (
            checkpoint.height
        ):
            return None
        history = registryslots.bundle_history(
            state.get("block"),
            state["registry"],
            bundle["chain"]["registry_contract"],
            checkpoint.block_hash,
            checkpoint.height,
            department_id_bytes(registry_subject(bundle)[0]),
        )
    except (LedgerError, ValueError, TypeError, KeyError, AttributeError):
        return None
    return ProvenRegistry(history, checkpoint.height)


def trail_standing(
    chain: Chain, bundle: dict[str, Any], keys: list[VerifierKey], quorum: int | None, view: Any
) -> anchorslots.ProvenStanding | None:
    """For a bundle whose ``witness.state`` proves the issuer's trails but not the certificate's own slots (the trail
    path: a herd build, or a section cut off), the certificate's status history under its root and the root it
    first ended under, as the issuer's status events up to the cosigned block give them once they hash to the status
    trail proven there (``view``: a :class:`~ledger.services.verify.ChainView`, whose reading the witnessed check
    repeats); None when anything of that does not hold (``witnessed`` then says what). The ``status`` check holds
    the node's "now" to it as to :func:`proven_certificate`'s (red team round 84: a node answering ``statusOf``
    "valid" for a certificate whose revocation such a bundle proves was believed)."""
    state = _state_of(bundle, "certificate")
    if (
        state is None
        or "certificate" in state
        or not isinstance(state.get("block"), dict)
        or not isinstance(state.get("proof"), dict)
    ):
        return None
    try:
        checkpoint = _cosigned(chain, bundle, keys, quorum)
        if checkpoint is None:
            return None
        height = checkpoint.height
        dept = department_id_bytes(bundle["certificate"]["fields"]["issuer"])
        words = stateproof.verified_words(
            state["block"],
            state["proof"],
            bundle["chain"]["anchor_contract"],
            stateproof.department_slots(dept),
            checkpoint.block_hash,
            height,
        )
        read, events = view.trail_upto(dept, height, checkpoint.hash_hex)
        if not read.agrees(stateproof.trail_from(words, dept)):
            return None
        root = bytes.fromhex(bundle["anchor"]["root"][2:])
        digest = bytes.fromhex(bundle["certificate"]["digest"][2:])
        history = tuple(
            (code, block, 0, detail) for code, block, detail in events.changes((dept, root, digest), height)
        )
        ended, held = events.elsewhere(dept, digest, height)
        through = bytes(32) if held is None else held[0]
        # the changes through the root every suspension of the digest is made through, when another: the proven
        # events hold them as they hold the certificate's own
        held_history = (
            None
            if through in (root, bytes(32))
            else tuple(
                (code, block, 0, detail) for code, block, detail in events.changes((dept, through, digest), height)
            )
        )
        return anchorslots.ProvenStanding(
            history, bytes(32) if ended is None else ended[0], through, height, held_history
        )
    except (LedgerError, ValueError, TypeError, KeyError, AttributeError):
        return None


def check_witnessed(
    chain: Chain,
    bundle: dict[str, Any],
    keys: list[VerifierKey],
    quorum: int | None,
    *,
    require_state_proof: bool = False,
) -> tuple[bool, str]:
    """The ``witnessed`` check: (passed, detail). ``require_state_proof`` (the verifier's choice; red team round 79)
    fails a certificate bundle whose ``witness`` section carries no ``state``, which otherwise passes saying the
    proof is absent (bundles written before state proofs); it needs witness keys, the proof being of their block."""
    section = bundle.get("witness")
    keys = distinct_keys(keys)  # one public key is one witness, whatever names it is published under
    if not keys and require_state_proof:
        return False, STATE_PROOF_WITHOUT_KEYS
    if not keys:
        return True, (
            "not configured: no witness keys given"
            + (" (the bundle's cosigned checkpoint was not checked)" if section else "")
        )
    need = len(keys) if quorum is None else quorum
    if need < 1:  # a quorum of none would pass a checkpoint no witness cosigned
        return False, f"a witness quorum of {need} asks no witness to have cosigned: give a quorum of at least 1"
    if section is None:
        return (
            False,
            f"the bundle carries no cosigned checkpoint; {need} of the {len(keys)} witnesses given must cosign",
        )
    note = parse_note(section["checkpoint"])
    checkpoint = Checkpoint.parse(note.text)
    c = bundle["chain"]
    origin = origin_for(c["chain_id"], c["genesis_hash"], c["registry_contract"])
    if checkpoint.origin != origin:
        return False, f"the checkpoint is of {checkpoint.origin}, not of the bundle's chain {origin}"
    cosigners = [k.name for k, _ in note.verified(keys)]
    if len(cosigners) < need:
        return False, (
            f"{len(cosigners)} of the {len(keys)} witnesses given cosigned the checkpoint "
            f"({', '.join(cosigners) or 'none'}); {need} required"
        )
    height = checkpoint.height
    facts = {"the anchoring block": bundle["anchor"]["block_number"], "as_of": bundle["as_of"]["block_number"]}
    late = [f"{name} {block}" for name, block in facts.items() if block > height]
    if late:
        return False, f"the checkpoint at block {height} does not cover {', '.join(late)}: a stale checkpoint"
    head = chain.block_number()
    if head < height:
        return False, (
            f"the node's head is block {head}, below the witnessed block {height}: the chain was rolled "
            "back after the witnesses cosigned it"
        )
    now = "0x" + bytes(chain.w3.eth.get_block(height)["hash"]).hex()
    if now != checkpoint.hash_hex:
        return False, (
            f"the node's block {height} has hash {now}; {', '.join(cosigners)} cosigned "
            f"{checkpoint.hash_hex}: the chain was rewritten after the witnesses cosigned it"
        )
    witnessed = (
        f"block {height} ({checkpoint.hash_hex}) cosigned by {', '.join(cosigners)} ({len(cosigners)} of "
        f"{len(keys)}, quorum {need}) and still on the chain"
    )
    if bundle.get("kind") != "certificate":  # anchored in the batch log: its record there is what the state proves
        return _against_log(bundle, section, checkpoint, witnessed, require_state_proof)
    if "state" not in section and require_state_proof:
        return False, (
            f"{witnessed}; state proof: absent, and one is required (--require-state-proof): the bundle's witness "
            "section carries no state (the cosigned block's header and the proof of the issuer's status and anchoring "
            "trails there), so they would be the node's word"
        )
    if "state" not in section:
        return True, (
            f"{witnessed}; state proof: absent (the bundle carries none: the issuer's status and anchoring trails at "
            "that block are the node's word)"
        )
    problem, proven = _against_state(chain, bundle, section["state"], checkpoint)
    if problem is not None:
        return False, problem
    ok, detail = _with_registry(bundle, section["state"], checkpoint, f"{witnessed}; {proven}", require_state_proof)
    if ok and HELD_HISTORY_NOT_PROVEN in proven and require_state_proof:
        return False, f"{detail}; {HELD_HISTORY_REQUIRED}"
    return ok, detail


# the witnessed detail's words for a decision bundle whose witness section carries no proof of the log contract's
# state (written before ``witness.state.log``, by a ledger whose node could not prove the block, or stripped), in both
# verifiers: the decision's batch record and its rule set's publication are then the node's word
LOG_BATCH_NOT_PROVEN = "log batch: not proven"
LOG_BATCH_REQUIRED = "a proof of the log batch is required (--require-state-proof)"
# the words naming the proof in the checks holding the node to it (anchor_event, rule_set_published), in both verifiers
LOG_PROOF = "the bundle's state proof of the log contract"


def _decision_proof(bundle: dict[str, Any]) -> tuple[bytes, bytes, bytes | None]:
    """(department id, batch root, rule set digest or None) whose log slots a decision bundle's state proves."""
    rule_set = bundle.get("rule_set")
    return (
        department_id_bytes(bundle["decision"]["department"]),
        bytes.fromhex(bundle["anchor"]["root"][2:]),
        bytes.fromhex(rule_set["digest"][2:]) if isinstance(rule_set, dict) else None,
    )


def _against_log(
    bundle: dict[str, Any], section: dict[str, Any], checkpoint: Checkpoint, witnessed: str, require: bool
) -> tuple[bool, str]:
    """The ``witnessed`` check's end for a decision bundle: its ``witness.state`` (the cosigned block's header and,
    as ``log``, the proof of the decision's batch record and its rule set's publication in the log contract) proven
    from the cosigned hash down. What it proves is held against the node by ``anchor_event`` and
    ``rule_set_published`` (:func:`proven_log`)."""
    state = section.get("state")
    if state is None:
        if require:
            return False, (
                f"{witnessed}; {LOG_BATCH_NOT_PROVEN}, and {LOG_BATCH_REQUIRED}: the bundle's witness section carries "
                "no state (the cosigned block's header and the proof of the decision's batch record and its rule "
                "set's publication there), so they would be the node's word"
            )
        return True, (
            f"{witnessed}; {LOG_BATCH_NOT_PROVEN} (the bundle carries no proof of the log contract's state: the "
            "decision's batch record and its rule set's publication at that block are the node's word)"
        )
    height = checkpoint.height
    if (
        not isinstance(state, dict)
        or not isinstance(state.get("block"), dict)
        or not isinstance(state.get("log"), dict)
    ):
        return False, (
            "the bundle's state proof (witness.state) is not an object holding a block header and the log contract's "
            "proof (objects)"
        )
    try:
        dept, root, digest = _decision_proof(bundle)
        proven = logslots.verified_log(
            state["block"],
            state["log"],
            bundle["chain"]["log_contract"],
            dept,
            root,
            digest,
            checkpoint.block_hash,
            height,
        )
    except (ChainError, InputError, ValueError) as exc:
        return False, (
            f"{LOG_PROOF} does not prove the decision's batch record and its rule set's publication at witnessed "
            f"block {height}: {exc} (whoever made or handed over the bundle altered it, cut it, or gave another "
            "root's, another department's or another block's)"
        )
    b = proven.batch
    said = (
        f"log batch: {bundle['decision']['department']}'s entries {b.first_seq}-{b.last_seq} under root "
        f"{bundle['anchor']['root'].lower()} (block {b.block_number}, key {b.signer}) proven at block {height} from "
        "the bundle's state proof"
        if any(b.department_id)
        else f"log batch: no batch of root {bundle['anchor']['root'].lower()} proven at block {height}"
    )
    r = proven.rule_set
    if r is not None:
        said += (
            f"; its rule set's publication (block {r.block_number}) proven"
            if any(r.department_id)
            else f"; no publication of its rule set by {bundle['decision']['department']} proven there"
        )
    return _with_registry(bundle, state, checkpoint, f"{witnessed}; {said}", require)


def _with_registry(
    bundle: dict[str, Any], state: dict[str, Any], checkpoint: Checkpoint, said: str, require: bool
) -> tuple[bool, str]:
    """The end of a bundle's ``witnessed`` check, ``said`` what its other proofs proved: the issuer's (a decision's:
    the deciding department's) registry periods its ``witness.state.registry`` proves at the same block
    (:func:`_against_registry`), which ``department_key`` and ``department_history`` hold the node's answers to;
    without it "registry: not proven" (``state_proof`` "partial"), and for a decision without its service items
    "service items: not proven": each a failure under ``require``."""
    problem, registry = _against_registry(bundle, state, checkpoint)
    if problem is not None:
        return False, problem
    if registry.startswith(REGISTRY_NOT_PROVEN) and require:
        return False, f"{said}; {registry}, and one is required (--require-state-proof)"
    if ITEMS_NOT_PROVEN in registry and require:
        return False, f"{said}; {registry}; {ITEMS_REQUIRED}"
    return True, f"{said}; {registry}"


def proven_log(
    chain: Chain, bundle: dict[str, Any], keys: list[VerifierKey], quorum: int | None
) -> logslots.ProvenLog | None:
    """The decision's batch record and its rule set's publication as the bundle's ``witness.state.log`` proves them at
    a checkpoint that ``quorum`` of ``keys`` cosigned, the node still has, and which covers the bundle's anchoring and
    ``as_of`` blocks; None when anything of that does not hold (``witnessed`` then says what). With it
    ``anchor_event`` holds the node's ``logBatch`` record and event to the proven record, and ``rule_set_published``
    the node's RuleSetPublished event to the proven publication."""
    state = _state_of(bundle, "decision")
    if state is None or not isinstance(state.get("log"), dict):
        return None
    try:
        checkpoint = _cosigned(chain, bundle, keys, quorum)
        if checkpoint is None:
            return None
        dept, root, digest = _decision_proof(bundle)
        return logslots.verified_log(
            state.get("block"),
            state["log"],
            bundle["chain"]["log_contract"],
            dept,
            root,
            digest,
            checkpoint.block_hash,
            checkpoint.height,
        )
    except (LedgerError, ValueError, TypeError, KeyError, AttributeError):
        return None


# the witnessed detail's words for a certificate bundle whose proven held slot names another root (the same digest
# anchored again and suspended through its first root) and whose state section carries no proof of the history
# through it (written before ``held_history``), in both verifiers: the changes there are then the node's word
HELD_HISTORY_NOT_PROVEN = "held root's history: not proven"
HELD_HISTORY_REQUIRED = "a proof of the held root's history is required (--require-state-proof)"


# the witnessed detail's words for a bundle whose state section carries no registry proof (written before it did, or
# by a ledger that could prove none), in both verifiers: the issuer's periods are then the node's word
REGISTRY_NOT_PROVEN = "registry: not proven"
# the words for a decision bundle whose registry proof carries no proof of the deciding department's service item
# periods (written before it did), in both verifiers: service_item_held and rule_set_published read them of the node
ITEMS_NOT_PROVEN = "service items: not proven"
ITEMS_REQUIRED = "a proof of the service items is required (--require-state-proof)"


# the words naming a decision bundle's department in the registry's details (a certificate bundle's is its issuer),
# in both verifiers; and the verdict's end for a decision bundle whose state proves its log batch but not the registry
DECIDER = "the deciding department"
VERIFIED_WITHOUT_DECIDER_REGISTRY_PROOF = (
    "VERIFIED, without a proof of the registry: the deciding department's key and status periods at the witnessed "
    "block are the node's word (--require-state-proof fails a bundle carrying none)"
)


def registry_subject(bundle: Mapping[str, Any]) -> tuple[Any, str]:
    """(the department whose registry periods a bundle's ``witness.state.registry`` proves, how details name it): a
    certificate bundle's issuer, a decision bundle's deciding department."""
    if bundle.get("kind") == "decision":
        return bundle["decision"]["department"], DECIDER
    return bundle["certificate"]["fields"].get("issuer"), "the issuer"


def _against_registry(bundle: dict[str, Any], state: dict[str, Any], checkpoint: Checkpoint) -> tuple[str | None, str]:
    """(Why the bundle's registry proof does not prove the issuer's (a decision bundle's: the deciding department's)
    key, status and type periods at the cosigned block, or None; what it proved, or that the bundle carries none).
    What the periods say is held against the bundle and the node by ``department_key``, ``department_history`` and
    (certificates) ``type_authority``."""
    department, who = registry_subject(bundle)
    if "registry" not in state:
        return None, (
            f"{REGISTRY_NOT_PROVEN} (the bundle's state proof carries no proof of the registry's state: {who}'s "
            "key, status and type periods are the node's word)"
        )
    try:
        history = registryslots.bundle_history(
            state["block"],
            state["registry"],
            bundle["chain"]["registry_contract"],
            checkpoint.block_hash,
            checkpoint.height,
            department_id_bytes(department),
        )
    except (ChainError, InputError, ValueError, TypeError) as exc:
        return (
            f"the bundle's registry proof does not prove {who}'s key, status and type periods at witnessed block "
            f"{checkpoint.height}: {exc} (whoever made or handed over the bundle altered it, cut it, or gave another "
            "department's or another block's)",
            "",
        )
    said = (
        f"registry: {len(history.keys)} key, {len(history.statuses)} status and {len(history.types)} type periods of "
        f"{who} proven at block {checkpoint.height} from the bundle's registry proof"
    )
    if who != DECIDER:  # a certificate's checks read no service item
        return None, said
    if history.items is None:
        return None, (
            f"{said}; {ITEMS_NOT_PROVEN} (the registry proof carries no proof of {who}'s service item periods: "
            "they are the node's word)"
        )
    return None, f"{said}; service items: {len(history.items)} periods of {who} proven there"


def _against_state(chain: Chain, bundle: dict[str, Any], state: Any, checkpoint: Checkpoint) -> tuple[str | None, str]:
    """(Why the bundle's facts contradict the issuer's trails its ``state`` proves at the cosigned block, or None;
    what was proven). The proof is the bundle's, checked from the cosigned hash down (the header's RLP, then each
    trie node); the node's status and batch events of the issuer up to that block must hash to the proven trails,
    the certificate's batch must be among those batch events with its block, key, count and type, and the bundle's
    status as of ``as_of`` must be the one those status events give."""
    from ..verify import STATUS_NAMES, ChainView

    height = checkpoint.height
    if (
        not isinstance(state, dict)
        or not isinstance(state.get("block"), dict)
        or not isinstance(state.get("proof"), dict)
    ):
        return (
            "the bundle's state proof (witness.state) is not an object holding a block header and a proof (objects)",
            "",
        )
    issuer = bundle["certificate"]["fields"]["issuer"]
    try:
        dept = department_id_bytes(issuer)
        words = stateproof.verified_words(
            state["block"],
            state["proof"],
            bundle["chain"]["anchor_contract"],
            stateproof.department_slots(dept),
            checkpoint.block_hash,
            height,
        )
    except (ChainError, InputError, ValueError) as exc:
        return (
            f"the bundle's state proof does not prove the issuer's trails at witnessed block {height}: {exc} "
            "(whoever made or handed over the bundle altered its proof or header, or took them from another block)",
            "",
        )
    statuses, anchorings = stateproof.trail_from(words, dept), stateproof.anchoring_from(words, dept)
    if "certificate" in state:
        return _against_certificate(bundle, state, checkpoint, dept, statuses.changes, anchorings.changes)
    view = ChainView(chain)
    read, events = view.trail_upto(dept, height, checkpoint.hash_hex)
    if not read.agrees(statuses):
        return (
            f"the node's status events of {issuer!r} up to witnessed block {height} do not hash to the status trail "
            f"the bundle's state proof proves there ({statuses.changes} changes, the last in block {statuses.block}; "
            f"the events give {read.changes}, the last in block {read.block}): the node left out, made up or altered "
            "status events; do not trust this node's statuses",
            "",
        )
    read, batches = view.batches_upto(dept, height, checkpoint.hash_hex)
    if not read.agrees(anchorings):
        return (
            f"the node's batch events of {issuer!r} up to witnessed block {height} do not hash to the anchoring trail "
            f"the bundle's state proof proves there ({anchorings.changes} batches, the last in block "
            f"{anchorings.block}; the events give {read.changes}, the last in block {read.block}): the node left out, "
            "made up, moved or altered batch events; do not trust this node's batches",
            "",
        )
    anchor = bundle["anchor"]
    root = bytes.fromhex(anchor["root"][2:])
    event = batches.get(root)
    stated = (anchor["block_number"], anchor["signer"].lower(), anchor["count"], anchor["schema"].lower())
    if (
        event is None
        or (
            event.block,
            event.signer_address.lower(),
            event.count,
            "0x" + event.schema.hex(),
        )
        != stated
    ):
        return (
            f"the bundle's batch {anchor['root']} (block {anchor['block_number']}, key {anchor['signer']}) is not "
            f"among the batch events of {issuer!r} up to witnessed block {height} that hash to the anchoring trail "
            "the bundle's state proof proves there: no quorum has seen this anchoring",
            "",
        )
    as_of = bundle["as_of"]["block_number"]
    digest = bytes.fromhex(bundle["certificate"]["digest"][2:])
    found = events.last((dept, root, digest), as_of)
    expected = ("valid", None, None) if found is None else (STATUS_NAMES[found[0]], found[1], "0x" + found[2].hex())
    status = bundle["status"]
    given = (status["status"], status["changed_in_block"], (status["detail"] or "").lower() or None)
    if given != expected:
        return (
            f"the bundle states {status['status']} (changed in block {status['changed_in_block']}) as of block {as_of}; "
            f"the issuer's status events up to witnessed block {height}, which hash to the status trail the bundle's "
            f"state proof proves, give {expected[0]} (changed in block {expected[1]}): the bundle's status or the "
            "node's events were altered",
            "",
        )
    return None, (
        f"the issuer's status trail ({statuses.changes} changes) and anchoring trail ({anchorings.changes} batches) "
        f"proven at block {height} from the bundle's state proof; the node's events up to it hash to them, and hold "
        "the certificate's batch and the bundle's status"
    )


def _against_certificate(
    bundle: dict[str, Any], state: dict[str, Any], checkpoint: Checkpoint, dept: bytes, changes: int, batches: int
) -> tuple[str | None, str]:
    """``_against_state`` when the bundle carries the proof of the certificate's own slots (``state.certificate``):
    its batch record must be the bundle's anchoring field for field (key, block, time, count, type) and its status
    history, cut at ``as_of``, must give the bundle's status. No event is read: O(1) proofs, whatever the chain's
    length (docs/evidence.md)."""
    from ..verify import STATUS_NAMES

    height = checkpoint.height
    anchor = bundle["anchor"]
    try:
        slots = anchorslots.certificate_slots(
            dept, bytes.fromhex(anchor["root"][2:]), bytes.fromhex(bundle["certificate"]["digest"][2:])
        )
        proven = anchorslots.verified_certificate(
            state["block"],
            state["certificate"],
            bundle["chain"]["anchor_contract"],
            slots,
            checkpoint.block_hash,
            height,
        )
    except (ChainError, ValueError) as exc:
        return (
            f"the bundle's state proof does not prove the certificate's slots at witnessed block {height}: {exc} "
            "(whoever made or handed over the bundle altered its proof, left a slot out, or gave another "
            "certificate's)",
            "",
        )
    record = proven.batch
    stated = (
        anchor["signer"].lower(),
        anchor["block_number"],
        anchor["block_timestamp"],
        anchor["count"],
        anchor["schema"].lower(),
    )
    if (record.signer, record.block_number, record.timestamp, record.count, "0x" + record.schema.hex()) != stated:
        return (
            f"the bundle's batch {anchor['root']} (key {anchor['signer']}, block {anchor['block_number']}, time "
            f"{anchor['block_timestamp']}, {anchor['count']} certificates, type {anchor['schema']}) is not the record "
            f"the bundle's state proof proves at witnessed block {height} (key {record.signer}, block "
            f"{record.block_number}, time {record.timestamp}, {record.count} certificates, type "
            f"0x{record.schema.hex()}): no quorum has seen this anchoring",
            "",
        )
    as_of = bundle["as_of"]["block_number"]
    expected: tuple[Any, ...] = ("valid", None, None)
    for code, block, _time, detail in proven.history:
        if block <= as_of and code < len(STATUS_NAMES):
            expected = (STATUS_NAMES[code], block, "0x" + detail.hex())
    status = bundle["status"]
    given = (status["status"], status["changed_in_block"], (status["detail"] or "").lower() or None)
    if given != expected:
        return (
            f"the bundle states {status['status']} (changed in block {status['changed_in_block']}) as of block {as_of}; "
            f"the certificate's status changes the bundle's state proof proves at witnessed block {height} "
            f"({len(proven.history)} of them) give {expected[0]} (changed in block {expected[1]}): the bundle's "
            "status was altered",
            "",
        )
    elsewhere = [
        f"{what} under the issuer's batch 0x{at.hex()}"
        for what, at in (("ended", proven.ended), ("first suspended", proven.held))
        if any(at) and at != bytes.fromhex(anchor["root"][2:])
    ]
    held = ""
    if any(proven.held) and proven.held != bytes.fromhex(anchor["root"][2:]):
        if "held_history" not in state:
            held = (
                f"; {HELD_HISTORY_NOT_PROVEN} (the bundle's state proof carries no proof of the status history through "
                f"the issuer's batch 0x{proven.held.hex()}: the changes there are the node's word)"
            )
        else:
            try:
                through = _held_history(bundle, state, proven.held, checkpoint)
            except (LedgerError, ValueError, TypeError, KeyError, AttributeError) as exc:
                return (
                    f"the bundle's state proof does not prove the status history through the issuer's batch "
                    f"0x{proven.held.hex()}, the certificate's held root, at witnessed block {height}: {exc} (whoever "
                    "made or handed over the bundle altered it, cut it, or gave another root's or another block's)",
                    "",
                )
            held = f"; its status history there ({len(through)} changes) proven"
    return None, (
        f"the certificate's batch record and status history ({len(proven.history)} changes) proven at block {height} "
        f"from the bundle's state proof, with the issuer's status trail ({changes} changes) and anchoring trail "
        f"({batches} batches); no event stream read"
        + (f"; the same digest {', '.join(elsewhere)} (anchored again)" if elsewhere else "")
        + held
        + (
            f"; it replaces {' and '.join('0x' + d.hex() for _, d in proven.predecessors)} (proven)"
            if proven.predecessors
            else ""
        )
    )
