"""Witnessed checkpoints (docs/witness.md): witness processes, each with its own key and store, over HTTP against
a real anvil. The chain is rolled back and rewritten for real (evm_snapshot / evm_revert / evm_mine, test only),
so every scenario runs on a ledger of its own; the shared chain is never touched."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER, node_location
from ledger.services import evidence, issuance, status
from ledger.services.departments import Council
from ledger.services.verify import ChainView, verify_certificate
from ledger.services.witness import client as wclient
from ledger.services.witness.checkpoint import Checkpoint
from ledger.services.witness.note import ED25519, Note, SignerKey, parse_note

from .cli_support import cli_in_process
from .conftest import PASSPHRASE, TEST_ITEMS, TEST_TYPES, make_records, make_settings, write_jsonl
from .evidence_support import rpc_url
from .evidence_support import standalone as court_verifier
from .witness_support import WitnessProcess

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "verify_evidence.py"


# -- helpers ---------------------------------------------------------------------------------------------------


def node(ledger: Ledger, method: str, *params: Any) -> Any:
    """Test only: a node control call (evm_snapshot, evm_revert, evm_mine)."""
    answer = ledger.chain.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


@pytest.fixture(autouse=True)
def passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys at rest are encrypted: the ledger's checkpoint key under the ledger's passphrase, each witness's key
    under the witness's own (the witness processes inherit it)."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("LEDGER_WITNESS_PASSPHRASE", "a witness's own passphrase")


@pytest.fixture()
def spawn(tmp_path: Path) -> Iterator[Callable[..., WitnessProcess]]:
    started: list[WitnessProcess] = []

    def start(name: str, rpc: str, *extra: str, store: Path | None = None) -> WitnessProcess:
        witness = WitnessProcess(store or tmp_path / name.replace("/", "_"), name, rpc, *extra)
        started.append(witness)
        return witness

    yield start
    for witness in started:
        witness.stop()


@pytest.fixture()
def own(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger with its own anvil: these tests roll its chain back."""
    ledger = Ledger.open(make_settings(tmp_path / "ledger"), passphrase=PASSPHRASE)
    Council(ledger).register("MKT", "Market Regulation Bureau", ROLE_ISSUER | ROLE_VERIFIER, types=TEST_TYPES)
    yield ledger
    ledger.close()


def trust(ledger: Ledger, witnesses: list[WitnessProcess], quorum: int, finality: int = 0) -> wclient.WitnessConfig:
    config = wclient.WitnessConfig(
        tuple(wclient.TrustedWitness(w.url, wclient.VerifierKey.parse(w.key)) for w in witnesses), quorum, finality
    )
    config.save(ledger.settings.data_dir)
    return config


def cli(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    return cli_in_process(ledger, monkeypatch, capsys, *args)


def standalone(ledger: Ledger, path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code, result, stderr = court_verifier(ledger, path, *extra)
    assert result is not None, stderr
    return code, result


def result_of(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in result["checks"] if c["name"] == name)


def issue(ledger: Ledger, tmp: Path, n: int = 3) -> list[dict[str, Any]]:
    import io

    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp / "in.jsonl", make_records(n)), "MKT", out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def view(ledger: Ledger) -> ChainView:
    chain_view = ChainView(ledger.chain, ledger.settings.confirmations)
    chain_view.witness = wclient.WitnessView.for_ledger(ledger.chain, ledger.settings.data_dir)
    return chain_view


def signed_request(ledger: Ledger, checkpoint: Checkpoint, old: int) -> bytes:
    # the ledger's checkpoint key (bound to its chain's origin), naming the checkpoint's origin: a checkpoint of
    # another chain signed with this ledger's key
    own = wclient.log_key(ledger.settings.data_dir, wclient.chain_identity(ledger.chain).origin)
    key = SignerKey.from_seed(checkpoint.origin, ED25519, own.seed())
    note = Note(checkpoint.text(), (key.sign_note(checkpoint.text()),))
    return f"old {old}\n\n".encode() + note.render().encode()


# -- the story of the issue: a revocation rolled back after witnesses cosigned it --------------------------------


def test_rollback_after_a_checkpoint_is_caught_everywhere(
    own: Ledger,
    spawn: Callable[..., WitnessProcess],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    w1, w2 = spawn("court.example/w1", rpc_url(own)), spawn("notary.example/w2", rpc_url(own))
    data_dir = str(own.settings.data_dir)
    for w in (w1, w2):
        assert cli(own, monkeypatch, capsys, "witness", "trust", w.url, w.key)[0] == 0
    assert cli(own, monkeypatch, capsys, "witness", "quorum", "2")[0] == 0
    records = write_jsonl(tmp_path / "in.jsonl", make_records(3))
    code, _, err = cli(
        own, monkeypatch, capsys, "issue", str(records), "-d", "MKT", "--out", str(tmp_path / "out.jsonl")
    )
    assert code == 0 and "WITNESSED" in err, err
    docs = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    cert = tmp_path / "cert.json"
    cert.write_text(json.dumps(docs[0]))
    code, out, _ = cli(own, monkeypatch, capsys, "verify", str(cert), "--json")
    report = json.loads(out)
    assert code == 0 and {c["name"]: c["ok"] for c in report["checks"]}["witnessed"] is True, report

    snapshot = node(own, "evm_snapshot")
    code, _, err = cli(own, monkeypatch, capsys, "revoke", docs[0]["digest"], "--reason", "fraud")
    assert code == 0 and "WITNESSED" in err, err
    code, out, _ = cli(own, monkeypatch, capsys, "verify", str(cert), "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 1 and not checks["status"]["ok"] and checks["witnessed"]["ok"], checks
    before = tmp_path / "before.json"
    assert cli(own, monkeypatch, capsys, "evidence", docs[0]["digest"], "--out", str(before))[0] == 0
    bundle = json.loads(before.read_text())
    assert "witness" in bundle and bundle["status"]["status"] == "revoked"
    keys = ["--witness-key", w1.key, "--witness-key", w2.key]
    code, result = standalone(own, before, *keys)
    assert result_of(result, "witnessed")["result"] == "PASS", result
    assert result_of(result, "status")["result"] == "FAIL"

    # The operator rolls the chain back: the revocation disappears from it.
    assert node(own, "evm_revert", snapshot) is True
    code, out, _ = cli(own, monkeypatch, capsys, "verify", str(cert), "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert checks["status"]["ok"], "the rolled-back chain says valid again"
    assert code == 1 and not checks["witnessed"]["ok"]
    assert "rolled back" in checks["witnessed"]["detail"] or "rewritten" in checks["witnessed"]["detail"]
    code, out, _ = cli(own, monkeypatch, capsys, "verify", str(cert))
    assert code == 1 and "NOT VERIFIED: failed witnessed" in out

    code, out, _ = cli(own, monkeypatch, capsys, "reconcile", "--json")
    kinds = json.loads(out)["divergence_counts"]
    assert code == 1 and kinds.get("status_change_missing") == 1, out
    assert {"rollback_below_witnessed", "rewrite_below_witnessed"} & set(kinds), out

    code, out, _ = cli(own, monkeypatch, capsys, "audit-chain", "--json")
    audit = json.loads(out)
    found = {f["kind"] for f in audit["findings"]}
    assert code == 1 and "witness_contradicted" in found and "status_change_missing" in found, audit
    assert any(
        "below the witnessed block" in f["detail"] for f in audit["findings"] if f["kind"] == "status_change_missing"
    ), audit

    # The witnesses refuse to cosign the rewritten history, with an alarm that says what diverged.
    node(own, "evm_mine")
    code, out, err = cli(own, monkeypatch, capsys, "witness", "collect")
    assert code == 3 and "ALARM" in err, (out, err)
    assert set(json.loads(out)["alarms"]) == {w1.name, w2.name}
    for w in (w1, w2):
        assert "ALARM" in w.alarms() and (" rollback" in w.alarms() or "rewritten" in w.alarms())
    check = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger.cli",
            "witness",
            "check",
            "--store",
            str(w1.store),
            "--rpc",
            rpc_url(own),
            "--origin",
            wclient.chain_identity(own.chain).origin,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 3 and "ALARM" in check.stderr, check.stderr

    # The court, with the witnesses' keys, checks the bundle made before the rollback: a clear failure.
    code, result = standalone(own, before, *keys)
    witnessed = result_of(result, "witnessed")
    assert code == 1 and witnessed["result"] == "FAIL", result
    assert "rolled back" in witnessed["detail"] or "rewritten" in witnessed["detail"]
    library = evidence.verify_bundle(before, own.chain, witness_keys=[w1.key, w2.key])
    assert {c.name for c in library.failed} == {c["name"] for c in result["checks"] if c["result"] == "FAIL"}
    code, out, _ = cli(
        own, monkeypatch, capsys, "evidence", "verify", str(before), "--witness-key", w1.key, "--witness-key", w2.key
    )
    assert code == 1 and "FAIL  witnessed" in out
    assert data_dir  # the ledger's own data directory kept the cosigned checkpoints the whole time


# -- quorum, finality, forged and stale checkpoints, a swapped chain ---------------------------------------------


def test_offline_witness_quorum_reached_with_the_others(
    own: Ledger, spawn: Callable[..., WitnessProcess], tmp_path: Path
) -> None:
    witnesses = [spawn(f"w{i}.example/w", rpc_url(own)) for i in (1, 2, 3)]
    trust(own, witnesses, quorum=2)
    witnesses[2].stop()
    docs = issue(own, tmp_path)
    result = wclient.collect(own.chain, own.settings.data_dir)
    assert result.witnessed and set(result.checkpoint.cosigners) == {"w1.example/w", "w2.example/w"}  # type: ignore[union-attr]
    assert "unreachable" in result.refusals["w3.example/w"]
    report = verify_certificate(docs[0], view(own))
    assert report.ok and "2 of 3, quorum 2" in report.check("witnessed").detail
    witnesses[1].stop()
    result = wclient.collect(own.chain, own.settings.data_dir)
    assert not result.witnessed and len(result.refusals) == 2  # one cosignature is no quorum of 2


def test_not_yet_witnessed_fails_until_collected(
    own: Ledger, spawn: Callable[..., WitnessProcess], tmp_path: Path
) -> None:
    trust(own, [spawn("w1.example/w", rpc_url(own))], quorum=1)
    docs = issue(own, tmp_path)
    report = verify_certificate(docs[0], view(own))
    assert not report.ok and "not witnessed yet" in report.check("witnessed").detail
    assert wclient.collect(own.chain, own.settings.data_dir).witnessed
    assert verify_certificate(docs[0], view(own)).ok


def test_forged_stale_and_unknown_checkpoints_are_refused(own: Ledger, spawn: Callable[..., WitnessProcess]) -> None:
    identity = wclient.chain_identity(own.chain)
    log_key = wclient.log_key(own.settings.data_dir, identity.origin)
    w = spawn("court.example/w1", rpc_url(own), "--log-key", str(log_key.verifier))
    head = own.chain.block_number()
    real = Checkpoint.at(identity, head, bytes(own.chain.w3.eth.get_block(head)["hash"]))
    status_code, _, body = w.post(signed_request(own, real, 0))
    assert status_code == 200 and body.startswith("\u2014 court.example/w1 ")

    forged = Checkpoint(real.origin, real.size, b"\x11" * 32)
    status_code, _, body = w.post(signed_request(own, forged, real.size))
    assert status_code == 409, body  # same size, another hash than the one cosigned
    node(own, "evm_mine")
    forged = Checkpoint(real.origin, real.size + 1, b"\x11" * 32)
    status_code, _, body = w.post(signed_request(own, forged, real.size))
    assert status_code == 422 and "forged checkpoint" in body, body

    stranger = SignerKey.generate(identity.origin, ED25519)
    later = Checkpoint.at(identity, head + 1, bytes(own.chain.w3.eth.get_block(head + 1)["hash"]))
    note = Note(later.text(), (stranger.sign_note(later.text()),))
    status_code, _, body = w.post(f"old {real.size}\n\n".encode() + note.render().encode())
    assert status_code == 403, body  # signed by a key this witness does not trust for the origin

    stale = Checkpoint.at(identity, head - 2, bytes(own.chain.w3.eth.get_block(head - 2)["hash"]))
    status_code, ctype, body = w.post(signed_request(own, stale, stale.size))
    assert status_code == 409 and ctype.startswith("text/x.tlog.size") and body == f"{real.size}\n"
    status_code, _, body = w.post(signed_request(own, stale, real.size))
    assert status_code == 400 and "stale" in body, body

    other = Checkpoint(real.origin.rsplit("/", 1)[0] + "/0x" + "12" * 20, real.size, real.block_hash)
    status_code, _, body = w.post(signed_request(own, other, 0))
    assert status_code == 403, body  # not the ledger's key for that origin (round 59: named after its own)
    w2 = spawn("court.example/w2", rpc_url(own))
    status_code, _, body = w2.post(signed_request(own, other, 0))
    assert status_code == 404 and "no registry contract" in body, body
    # refusals of bad requests are no alarms; the two checkpoints the pinned ledger key signed against the chain
    # (same size another hash, a forged final block) are its proof of a second history, kept (red team round 59)
    assert w2.alarms() == "" and w.alarms().count("ALARM") == 2 and "split view" in w.alarms(), w.alarms()
    assert len((w.store / "conflicts.jsonl").read_text().splitlines()) == 2


def test_reorganisation_deeper_than_finality_raises_the_alarm(
    own: Ledger, spawn: Callable[..., WitnessProcess], tmp_path: Path
) -> None:
    deep = node(own, "evm_snapshot")
    for _ in range(6):
        node(own, "evm_mine")
    w = spawn("court.example/w1", rpc_url(own), "--finality", "3")
    trust(own, [w], quorum=1, finality=3)
    first = wclient.collect(own.chain, own.settings.data_dir)
    assert first.witnessed
    cosigned = first.checkpoint.checkpoint.height  # type: ignore[union-attr]
    assert cosigned <= own.chain.block_number() - 3

    shallow = node(own, "evm_snapshot")
    node(own, "evm_mine")
    node(own, "evm_mine")
    assert node(own, "evm_revert", shallow) is True  # replaces only blocks above the cosigned, not final ones
    node(own, "evm_mine")
    again = wclient.collect(own.chain, own.settings.data_dir)
    assert again.witnessed and not again.alarms and w.alarms() == ""

    assert node(own, "evm_revert", deep) is True  # replaces blocks the witness cosigned as final
    node(own, "evm_increaseTime", 7)  # the new branch's blocks get other timestamps, so other hashes: empty blocks
    for _ in range(12):  # re-mined within the same second would otherwise be the very same blocks
        node(own, "evm_mine")
    result = wclient.collect(own.chain, own.settings.data_dir)
    assert not result.witnessed and "court.example/w1" in result.alarms
    assert "history rewritten" in result.alarms["court.example/w1"] or "rollback" in result.alarms["court.example/w1"]
    assert f"block {again.checkpoint.checkpoint.height}" in w.alarms()  # type: ignore[union-attr]
    # The witness's operator learns which node rewrote history; the ledger that asked does not learn where the
    # witness reads the chain.
    assert f"({node_location(rpc_url(own))})" in w.alarms()
    assert node_location(rpc_url(own)) not in json.dumps(result.to_json())


def test_a_chain_swapped_for_another_with_the_same_contracts(
    own: Ledger, spawn: Callable[..., WitnessProcess], tmp_path: Path
) -> None:
    # Chain B: another node with the very same contracts (same deployer key and nonces, so same addresses).
    other_dir = tmp_path / "other"
    other_dir.mkdir(mode=0o700)
    shutil.copytree(own.settings.keys_dir, other_dir / "keys")
    other = Ledger.open(make_settings(other_dir), passphrase=PASSPHRASE)
    try:
        assert other.chain.deployment.registry == own.chain.deployment.registry
        store = tmp_path / "w1-store"
        w = spawn("court.example/w1", rpc_url(own), store=store)
        trust(own, [w], quorum=1)
        docs = issue(own, tmp_path)
        assert wclient.collect(own.chain, own.settings.data_dir).witnessed
        before = tmp_path / "before.json"
        before.write_text(json.dumps(evidence.certificate_bundle(own, docs[0])))
        w.stop()

        # The operator points the witness's node address at chain B.
        w_b = spawn("court.example/w1", rpc_url(other), store=store)
        trust(own, [w_b], quorum=1)
        result = wclient.collect(own.chain, own.settings.data_dir)
        # Another genesis says "chain swapped"; two anvils started in the same second share their genesis block,
        # and the cosigned block then differs ("history rewritten") or B has not reached it ("rollback"). Either
        # way the witness refuses, loudly.
        alarm = result.alarms.get("court.example/w1", "")
        assert not result.witnessed and any(
            word in alarm for word in ("chain swapped", "history rewritten", "rollback")
        ), result.to_json()
        assert "ALARM" in w_b.alarms() and f"({node_location(rpc_url(other))})" in w_b.alarms()
        assert node_location(rpc_url(other)) not in json.dumps(result.to_json())
        code, result_b = standalone(other, before, "--witness-key", w.key)
        # The court pointed at chain B: another genesis fails `chain`; the same genesis (same second) fails
        # `witnessed`, B's block at the cosigned height having another hash.
        failed = {c["name"] for c in result_b["checks"] if c["result"] == "FAIL"}
        assert code == 1 and failed & {"chain", "witnessed"}, result_b
    finally:
        other.close()


# -- the bundle's witness section, checked the same way by both verifiers ----------------------------------------


def test_bundle_witness_section_in_both_verifiers(
    own: Ledger, spawn: Callable[..., WitnessProcess], tmp_path: Path
) -> None:
    w1, w2, w3 = (spawn(f"w{i}.example/w", rpc_url(own)) for i in (1, 2, 3))
    trust(own, [w1, w2], quorum=2)
    docs = issue(own, tmp_path)
    bundle = evidence.certificate_bundle(own, docs[0])
    note = parse_note(bundle["witness"]["checkpoint"])
    assert Checkpoint.parse(note.text).height == bundle["as_of"]["block_number"]

    def both(candidate: dict[str, Any], name: str, *keys: str, quorum: int | None = None) -> str:
        path = tmp_path / name
        path.write_text(json.dumps(candidate))
        extra = [a for k in keys for a in ("--witness-key", k)] + (["--witness-quorum", str(quorum)] if quorum else [])
        code, result = standalone(own, path, *extra)
        library = evidence.verify_bundle(path, own.chain, witness_keys=list(keys), witness_quorum=quorum)
        assert (code == 0) == library.ok, (result, library.to_json())
        assert {c["name"] for c in result["checks"] if c["result"] == "FAIL"} == {c.name for c in library.failed}
        assert [c["name"] for c in result["checks"]] == list(evidence.CHECK_NAMES)
        return result_of(result, "witnessed")["result"] + ": " + result_of(result, "witnessed")["detail"]

    assert both(bundle, "ok.json", w1.key, w2.key).startswith("PASS")
    assert both(bundle, "nokeys.json").startswith("PASS: not configured")
    assert both(bundle, "w3.json", w1.key, w2.key, w3.key).startswith("FAIL")  # w3 never cosigned; quorum: all
    assert both(bundle, "w3q2.json", w1.key, w2.key, w3.key, quorum=2).startswith("PASS")
    bare = {k: v for k, v in bundle.items() if k != "witness"}
    assert both(bare, "bare.json", w1.key).startswith("FAIL")

    tampered = json.loads(json.dumps(bundle))
    text = tampered["witness"]["checkpoint"]
    line = text.rstrip("\n").rsplit("\n", 1)[1]
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[-1] ^= 1
    tampered["witness"]["checkpoint"] = text.replace(
        line, " ".join(line.split(" ")[:2]) + " " + base64.b64encode(bytes(raw)).decode()
    )
    assert both(tampered, "tampered.json", w1.key, w2.key).startswith("FAIL")

    # A stale checkpoint replayed in a newer bundle does not cover its facts.
    status.revoke(own, docs[1]["digest"], "fraud")
    newer = evidence.certificate_bundle(own, docs[1])
    assert newer["status"]["status"] == "revoked"
    replayed = dict(newer, witness=bundle["witness"])
    detail = both(replayed, "replayed.json", w1.key, w2.key)
    assert detail.startswith("FAIL") and "stale" in detail


def test_gateway_reports_the_witnessed_state(own: Ledger, spawn: Callable[..., WitnessProcess], tmp_path: Path) -> None:
    from .api_support import Clock, make_client

    trust(own, [spawn("w1.example/w", rpc_url(own))], quorum=1)
    docs = issue(own, tmp_path)
    client = make_client(own, Clock())
    answer = client.post("/public/verify", json={"document": docs[0]})
    checks = {c["name"]: c for c in answer.json()["checks"]}
    assert answer.status_code == 200 and not checks["witnessed"]["ok"], checks  # anchored after the last checkpoint
    assert "not witnessed yet" in checks["witnessed"]["detail"]
    assert wclient.collect(own.chain, own.settings.data_dir).witnessed
    answer = client.post("/public/verify", json={"document": docs[0]})
    checks = {c["name"]: c for c in answer.json()["checks"]}
    assert answer.json()["verified"] is True and checks["witnessed"]["ok"], checks


def test_decision_bundle_is_witnessed_and_fails_after_a_rollback(
    own: Ledger, spawn: Callable[..., WitnessProcess], tmp_path: Path
) -> None:
    from ledger.onchain.chain import ROLE_APPROVER

    from .evidence_support import decided

    w1, w2 = spawn("w1.example/w", rpc_url(own)), spawn("w2.example/w", rpc_url(own))
    trust(own, [w1, w2], quorum=2)
    Council(own).register(
        "GOV", "Government Service Centre", ROLE_ISSUER | ROLE_APPROVER, types=TEST_TYPES, items=TEST_ITEMS
    )
    snapshot = node(own, "evm_snapshot")
    _, apps = decided(own, "GOV")
    bundle = evidence.decision_bundle(own, "GOV", apps[0]["case_id"])
    assert "witness" in bundle and bundle["library_report"]["verified"] is True
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(bundle))
    keys = ["--witness-key", w1.key, "--witness-key", w2.key]
    code, result = standalone(own, path, *keys)
    assert code == 0 and [c["name"] for c in result["checks"]] == list(evidence.DECISION_CHECK_NAMES), result
    assert result_of(result, "witnessed")["result"] == "PASS"

    # both verifiers judge one chain: the node's one-second miner re-mined the facts block's height between the
    # court's run and the library's, so one read "no such block" and the other an empty block there
    node(own, "evm_setIntervalMining", 0)
    node(own, "evm_setAutomine", True)  # setting the interval switched every kind of mining off
    assert node(own, "evm_revert", snapshot) is True  # the decision's anchoring leaves the chain
    code, result = standalone(own, path, *keys)
    library = evidence.verify_bundle(path, own.chain, witness_keys=[w1.key, w2.key])
    assert code == 1 and result_of(result, "witnessed")["result"] == "FAIL", result
    assert {c.name for c in library.failed} == {c["name"] for c in result["checks"] if c["result"] == "FAIL"}
    # and once the heights of the rolled-back blocks are mined again (empty, other hashes): still alike in both
    for _ in range(12):
        node(own, "evm_mine")
    code, result = standalone(own, path, *keys)
    library = evidence.verify_bundle(path, own.chain, witness_keys=[w1.key, w2.key])
    assert code == 1 and result_of(result, "witnessed")["result"] == "FAIL", result
    assert {c.name for c in library.failed} == {c["name"] for c in result["checks"] if c["result"] == "FAIL"}


def test_malformed_requests_and_wrong_keys_are_refused(own: Ledger, spawn: Callable[..., WitnessProcess]) -> None:
    identity = wclient.chain_identity(own.chain)
    w = spawn("court.example/w1", rpc_url(own))
    head = own.chain.block_number()
    real = Checkpoint.at(identity, head, bytes(own.chain.w3.eth.get_block(head)["hash"]))
    good = signed_request(own, real, 0)
    assert w.post(good.replace(b"old 0\n\n", b"old 0\nAAAA\n\n"))[0] == 422  # no proof lines: it reads the chain
    assert w.post(b"old 00\n\n" + good.split(b"\n\n", 1)[1])[0] == 400
    assert w.post(b"new 0\n\n" + good.split(b"\n\n", 1)[1])[0] == 400
    assert w.post(good.replace(b"\n\n\xe2\x80\x94", b"\n\n-"))[0] == 400  # a signature line must start with an em dash
    assert w.post(b"\xff" * 10)[0] == 400
    # digits of other scripts are digits to str.isdigit() but not to int(): a clear 400, not a crash
    for size in ("²", "٣", "1¹"):
        assert w.post(f"old {size}\n\n".encode() + good.split(b"\n\n", 1)[1])[0] == 400
    origin, size, rest = good.split(b"\n\n", 1)[1].split(b"\n", 2)
    assert size.isdigit()
    assert w.post(b"old 0\n\n" + b"\n".join([origin, "²".encode(), rest]))[0] == 400  # its size line
    assert w.post(good)[0] == 200
    # A witness refuses to start with a --log-key that is not a ledger checkpoint key (it would admit anyone).
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger.cli",
            "witness",
            "serve",
            "--store",
            str(w.store),
            "--rpc",
            rpc_url(own),
            "--log-key",
            w.key,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "Ed25519 note key" in bad.stderr


def test_a_following_witness_sees_a_rollback_nobody_asked_about(
    own: Ledger, spawn: Callable[..., WitnessProcess]
) -> None:
    import time

    origin = wclient.chain_identity(own.chain).origin
    snapshot = node(own, "evm_snapshot")
    start = own.chain.block_number()
    for _ in range(3):
        node(own, "evm_mine")
    w = spawn("court.example/w1", rpc_url(own), "--interval", "0.2", "--origin", origin)
    state = w.store / "state.json"

    def cosigned_size() -> int:
        try:
            return int(json.loads(state.read_text())["origins"][origin]["size"])
        except (OSError, ValueError, KeyError):
            return 0

    deadline = time.monotonic() + 60  # a bound on waiting for another process, not a timed assertion
    while cosigned_size() <= start + 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cosigned_size() > start + 3, "the witness never cosigned on its own"
    assert node(own, "evm_revert", snapshot) is True
    while "ALARM" not in w.alarms() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "ALARM" in w.alarms() and origin in w.alarms()
    assert "ALARM" in w.stop()  # and on its log


def test_a_witness_address_that_does_not_answer_http_is_a_refusal_not_a_crash(ledger: Ledger, tmp_path: Path) -> None:
    """Something else listens at a trusted witness's address (a port taken over, a service's banner): urllib lets
    http.client's BadStatusLine through, which is no OSError, and the collection let it through too - one such
    witness stopped the collection from every other, and the command that had just written to the chain (issue,
    revoke: collect_after_change) ended in a traceback after its write."""
    import socket
    import threading

    from ledger.services.witness.note import COSIGNATURE_V1

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def banner() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

    thread = threading.Thread(target=banner, daemon=True)
    thread.start()
    try:
        key = SignerKey.generate("banner.example/w", COSIGNATURE_V1).verifier
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        config = wclient.WitnessConfig((wclient.TrustedWitness(url, key),), 1)
        result = wclient.collect(ledger.chain, tmp_path / "ledger", config)
        assert not result.witnessed and "banner.example/w" in result.refusals, result.to_json()
        found, problems = wclient.fetch_latest(config, wclient.chain_identity(ledger.chain).origin)
        assert not found and "banner.example/w" in problems, problems
    finally:
        stop.set()
        thread.join(5)
        listener.close()
