"""Red team round 59: a hostile department, an anonymous client and a relaying gateway against the council, the
witnesses and the gateway.

1. (The operator of a ledger whose checkpoint key a court's witness pins with ``--log-key``) have the witness cosign
   a chain origin the court never agreed to witness - another registry deployed on the same chain - by signing that
   origin's checkpoint with the pinned key: the witness took a checkpoint any pinned key verified, whatever origin
   the checkpoint named (c2sp.org/tlog-witness: the key must be one trusted *for the checkpoint's origin*; a log's
   key is named after its origin, c2sp.org/signed-note). Fixed: only a pinned key named after the checkpoint's
   origin counts (403 otherwise).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.services.witness import client as wclient
from ledger.services.witness.checkpoint import ChainIdentity, Checkpoint
from ledger.services.witness.note import ED25519, Note, SignerKey
from ledger.services.witness.rpc import Rpc
from ledger.services.witness.server import Witness, WitnessRefusal, WitnessStore

from .evidence_support import rpc_url


def _witness(ledger: Ledger, directory: Path, pinned: list[SignerKey]) -> Witness:
    store = WitnessStore(directory)
    store.create_key("court.example/w59")
    return Witness(store, Rpc(rpc_url(ledger)), log_keys=[k.verifier for k in pinned], log=lambda _line: None)


def _request(checkpoint: Checkpoint, key: SignerKey, old: int) -> bytes:
    note = Note(checkpoint.text(), (key.sign_note(checkpoint.text()),))
    return f"old {old}\n\n".encode() + note.render().encode()


@pytest.fixture(autouse=True)
def witness_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


def test_a_pinned_log_key_gets_no_other_origin_cosigned(ledger: Ledger, tmp_path: Path) -> None:
    """Adversary: the operator of ledger A, whose checkpoint key (named after A's origin) the court's witness pins,
    signing with it a checkpoint of another origin on the same chain (another contract it deployed: a registry of
    its own council) so that the court's witness starts vouching for that deployment. Also a witness pinning the
    keys of two ledgers: A's key must not get B's origin cosigned."""
    identity = wclient.chain_identity(ledger.chain)
    key_a = SignerKey.generate(identity.origin, ED25519)  # the ledger's key is named after its origin
    other = ChainIdentity(identity.chain_id, identity.genesis_hash, ledger.chain.deployment.anchor.lower())
    key_b = SignerKey.generate(other.origin, ED25519)
    witness = _witness(ledger, tmp_path / "w", [key_a, key_b])
    head = ledger.chain.block_number()
    block_hash = bytes(ledger.chain.w3.eth.get_block(head)["hash"])
    foreign = Checkpoint.at(other, head, block_hash)
    with pytest.raises(WitnessRefusal) as refused:
        witness.add_checkpoint(_request(foreign, key_a, 0))  # A's key over B's origin
    assert refused.value.status == 403, refused.value
    assert other.origin in str(refused.value)
    assert other.origin not in witness.store.load()["origins"]
    # each key for its own origin is cosigned as before
    assert witness.add_checkpoint(_request(foreign, key_b, 0)).startswith("\u2014 court.example/w59 ")
    own = Checkpoint.at(identity, head, block_hash)
    assert witness.add_checkpoint(_request(own, key_a, 0)).startswith("\u2014 court.example/w59 ")
    # a pinned key named after no origin would refuse everything, unexplained: refused when the witness starts
    unnamed = SignerKey.generate("ledger.example/mkt", ED25519)
    with pytest.raises(InputError, match="not named after a chain origin"):
        Witness(witness.store, Rpc(rpc_url(ledger)), log_keys=[unnamed.verifier], log=lambda _line: None)
