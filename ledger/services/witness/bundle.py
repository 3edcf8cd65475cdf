"""The optional ``witness`` section of evidence bundles and the ``witnessed`` check (docs/evidence.md,
docs/witness.md).

    "witness": {"checkpoint": "<signed note: the checkpoint, the ledger's signature, the witnesses' cosignatures>"}

A court gives the witnesses' verifier keys (``--witness-key``) and a quorum; the check passes when that many of
those keys cosigned the checkpoint, the checkpoint names the bundle's chain, lies at or after the anchoring block
and the ``as_of`` block, and the node asked still has the cosigned hash at that height. Without keys the check
passes as "not configured" (the cosignatures cannot mean anything to a verifier that trusts no witness).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import InputError, LedgerError
from ...onchain.chain import Chain
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


def check_witnessed(
    chain: Chain, bundle: dict[str, Any], keys: list[VerifierKey], quorum: int | None
) -> tuple[bool, str]:
    section = bundle.get("witness")
    keys = distinct_keys(keys)  # one public key is one witness, whatever names it is published under
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
    return True, (
        f"block {height} ({checkpoint.hash_hex}) cosigned by {', '.join(cosigners)} ({len(cosigners)} of "
        f"{len(keys)}, quorum {need}) and still on the chain"
    )
