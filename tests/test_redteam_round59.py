"""Red team round 59: a hostile department, an anonymous client and a relaying gateway against the council, the
witnesses and the gateway.

1. (The operator of a ledger whose checkpoint key a court's witness pins with ``--log-key``) have the witness cosign
   a chain origin the court never agreed to witness - another registry deployed on the same chain - by signing that
   origin's checkpoint with the pinned key: the witness took a checkpoint any pinned key verified, whatever origin
   the checkpoint named (c2sp.org/tlog-witness: the key must be one trusted *for the checkpoint's origin*; a log's
   key is named after its origin, c2sp.org/signed-note). Fixed: only a pinned key named after the checkpoint's
   origin counts (403 otherwise).
2. (The same operator, showing some parties a history the witness's chain does not hold: a split view) sign a
   checkpoint of a final block with another hash than the chain's (at the size the witness cosigned, or beyond):
   the witness refused it (409, or 422 "forged") and kept nothing, so the only proof that the log's key signed a
   second history was gone with the request. Fixed: a checkpoint a pinned key signed for its origin that
   contradicts the chain is kept in the witness's store (``conflicts.jsonl``, bounded) with an ALARM line; unsigned
   or stranger-signed ones are refused as before and kept nowhere (anyone could fill the disk with them).
"""

from __future__ import annotations

import json
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


def _conflicts(witness: Witness) -> list[dict[str, object]]:
    path = witness.store.directory / "conflicts.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_checkpoint_the_log_signed_against_the_chain_is_kept_as_evidence(ledger: Ledger, tmp_path: Path) -> None:
    """Adversary: the operator of a ledger whose key the witness pins, signing a second history (a split view): a
    checkpoint of a cosigned size with another block hash, and one of a later final block with a hash the chain
    does not hold. Each is refused as before, and kept, signed, in the witness's store with an ALARM line: the
    proof that the log's key signed what the chain does not hold. A stranger's (or an unsigned) checkpoint is not
    kept: anyone could fill the store with them."""
    identity = wclient.chain_identity(ledger.chain)
    key = SignerKey.generate(identity.origin, ED25519)
    witness = _witness(ledger, tmp_path / "w", [key])
    head = ledger.chain.block_number()
    real = Checkpoint.at(identity, head, bytes(ledger.chain.w3.eth.get_block(head)["hash"]))
    witness.add_checkpoint(_request(real, key, 0))

    same_size = Checkpoint(real.origin, real.size, b"\x11" * 32)
    with pytest.raises(WitnessRefusal) as refused:
        witness.add_checkpoint(_request(same_size, key, real.size))
    assert refused.value.status == 409  # the answer is as before (tlog-witness's conflict)
    ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    later = Checkpoint(real.origin, real.size + 1, b"\x22" * 32)
    with pytest.raises(WitnessRefusal) as refused:
        witness.add_checkpoint(_request(later, key, real.size))
    assert refused.value.status == 422 and "forged" in str(refused.value)

    kept = _conflicts(witness)
    assert [(k["origin"], k["size"], k["claimed"]) for k in kept] == [
        (real.origin, real.size, same_size.hash_hex),
        (real.origin, later.size, later.hash_hex),
    ], kept
    assert kept[0]["chain"] == real.hash_hex and kept[1]["chain"] != later.hash_hex
    for item, checkpoint in zip(kept, (same_size, later), strict=True):
        note = str(item["note"])  # the signed note as it came: the log key's signature verifies on it
        assert note.startswith(checkpoint.text()) and key.name in note
    alarms = (witness.store.directory / "alarms.log").read_text()
    assert alarms.count("ALARM") == 2 and "signed" in alarms, alarms
    with pytest.raises(WitnessRefusal):  # the same one again (a collector retrying): kept and alarmed once
        witness.add_checkpoint(_request(same_size, key, real.size))
    assert len(_conflicts(witness)) == 2 and (witness.store.directory / "alarms.log").read_text() == alarms

    stranger = SignerKey.generate(identity.origin, ED25519)
    with pytest.raises(WitnessRefusal) as refused:
        witness.add_checkpoint(_request(Checkpoint(real.origin, real.size, b"\x33" * 32), stranger, real.size))
    assert refused.value.status == 403
    assert len(_conflicts(witness)) == 2  # nothing kept of what the log's key did not sign


def test_a_witness_without_pinned_keys_keeps_no_conflicts(ledger: Ledger, tmp_path: Path) -> None:
    """Adversary: anyone (a witness without --log-key serves everybody), posting forged checkpoints by the
    thousand to fill the witness's disk: nothing is kept, the refusals are as before."""
    identity = wclient.chain_identity(ledger.chain)
    key = SignerKey.generate(identity.origin, ED25519)
    witness = _witness(ledger, tmp_path / "w", [])
    head = ledger.chain.block_number()
    real = Checkpoint.at(identity, head, bytes(ledger.chain.w3.eth.get_block(head)["hash"]))
    witness.add_checkpoint(_request(real, key, 0))
    with pytest.raises(WitnessRefusal) as refused:
        witness.add_checkpoint(_request(Checkpoint(real.origin, real.size, b"\x11" * 32), key, real.size))
    assert refused.value.status == 409
    assert _conflicts(witness) == []


def test_a_log_key_signing_conflicts_by_the_thousand_fills_no_disk(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: the pinned log's operator, signing one conflicting checkpoint after another to fill the witness's
    disk: past the bound nothing more is kept, one alarm says so, and the refusals are as before."""
    from ledger.services.witness import server

    identity = wclient.chain_identity(ledger.chain)
    key = SignerKey.generate(identity.origin, ED25519)
    witness = _witness(ledger, tmp_path / "w", [key])
    head = ledger.chain.block_number()
    real = Checkpoint.at(identity, head, bytes(ledger.chain.w3.eth.get_block(head)["hash"]))
    witness.add_checkpoint(_request(real, key, 0))
    monkeypatch.setattr(server, "MAX_CONFLICT_BYTES", 1)  # full from the first
    for filler in (b"\x11", b"\x12", b"\x13"):
        with pytest.raises(WitnessRefusal) as refused:
            witness.add_checkpoint(_request(Checkpoint(real.origin, real.size, filler * 32), key, real.size))
        assert refused.value.status == 409
    assert _conflicts(witness) == []
    alarms = (witness.store.directory / "alarms.log").read_text()
    assert alarms.count("ALARM") == 1 and "not kept" in alarms, alarms
