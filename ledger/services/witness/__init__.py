"""Witnessed checkpoints: independent parties cosign the chain's history so its operator cannot rewrite it unseen.

* :mod:`.note` — C2SP signed notes, Ed25519 note keys, cosignature/v1;
* :mod:`.checkpoint` — checkpoints of the chain (c2sp.org/tlog-checkpoint, one block = one log entry);
* :mod:`.server` — the witness program (``ledger witness serve``) and its HTTP interface (c2sp.org/tlog-witness);
* :mod:`.client` — the ledger's side: trusted witnesses and quorum, collecting cosignatures, the witnessed state;
* :mod:`.audit` — comparing the chain with the witnessed checkpoints and the database (``ledger audit-chain``).

docs/witness.md states the protocol, the formats and what a witness does and does not guarantee.
"""

from .checkpoint import ChainIdentity, Checkpoint
from .client import CollectResult, WitnessConfig, WitnessedCheckpoint, WitnessView, collect
from .note import Note, SignerKey, VerifierKey

__all__ = [
    "ChainIdentity",
    "Checkpoint",
    "CollectResult",
    "Note",
    "SignerKey",
    "VerifierKey",
    "WitnessConfig",
    "WitnessView",
    "WitnessedCheckpoint",
    "collect",
]
