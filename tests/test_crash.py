"""Issue 6, crashes: a real issuing process killed with SIGKILL at random points, restarted, and every
certificate anchored exactly once; nothing counts as verified before its anchor has the configured confirmations."""

from __future__ import annotations

import random
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import ChainError, InputError
from ledger.formats.canonical import hex32
from ledger.onchain.chain import ROLE_ISSUER
from ledger.services import issuance
from ledger.services.departments import Council
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.store import Batch

from .cli_support import assert_anchored_exactly_once, crash_worker, run_cli
from .conftest import PASSPHRASE, TEST_TYPES, make_records, make_settings, write_jsonl

TRIALS = 6
SEED = 6


def test_sigkill_at_random_points_then_restart_anchors_everything_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    with Ledger.open(make_settings(tmp_path / "crash"), passphrase=PASSPHRASE) as ledger:
        Council(ledger).register("CRASH", "Crash Test Office", ROLE_ISSUER, types=TEST_TYPES)
        records = make_records(72, prefix="CR")
        source = write_jsonl(tmp_path / "bulk.jsonl", records)
        killed_after = []
        for _ in range(TRIALS):
            worker = crash_worker(ledger, source, "CRASH")
            assert worker.stdout is not None
            lines = []
            wanted = rng.randint(1, 4)  # "ready", "resumed", then one line per confirmed batch
            while len(lines) < wanted:
                line = worker.stdout.readline()
                if not line:
                    break
                lines.append(line.strip())
            if worker.poll() is None:
                # a random point inside the next batch: building, storing, sending or waiting for the anchor
                subprocess.run(["sleep", f"{rng.uniform(0, 0.25):.3f}"], check=True)
                worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=60)
            worker.stdout.close()
            assert worker.stderr is not None
            err = worker.stderr.read()
            worker.stderr.close()
            assert worker.returncode in (0, -signal.SIGKILL), err
            with ledger.engine.connect() as conn:
                states = Counter(conn.execute(select(Batch.state)).scalars())
            killed_after.append(f"{lines[-1] if lines else 'start'} -> {dict(states)}")
        # the restart: the operator's two commands
        resumed = run_cli(ledger, "resume")
        assert resumed.returncode == 0, resumed.stderr
        continued = run_cli(ledger, "continue", str(source), "-d", "CRASH", "--batch-size", "3")
        assert continued.returncode == 0, continued.stderr
        assert_anchored_exactly_once(ledger, "CRASH", {r["id"] for r in records})
        print("\n".join(["kills:", *killed_after]))


def test_continue_of_a_fully_issued_file_issues_nothing(ledger: Ledger, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "twice.jsonl", make_records(4))
    issuance.issue_file(ledger, source, "MKT")
    with pytest.raises(InputError, match="already issued"):
        issuance.issue_file(ledger, source, "MKT")
    again = issuance.issue_file(ledger, source, "MKT", skip_issued=True)
    assert again.count == 0 and again.batches == []


def _confirmations_ledger(ledger: Ledger, confirmations: int) -> Ledger:
    """The session ledger's chain, database and keys, read with another confirmation depth."""
    return Ledger(
        settings=ledger.settings.with_(confirmations=confirmations),
        chain=ledger.chain,
        engine=ledger.engine,
        keystore=ledger.keystore,
        passphrase=PASSPHRASE,
    )


def test_nothing_is_verified_or_confirmed_before_the_configured_confirmations(ledger: Ledger) -> None:
    depth = 40  # blocks come once a second: far more than this test lasts, unless mined on purpose below
    deep = _confirmations_ledger(ledger, depth)
    records = [issuance.validate_record(r, i) for i, r in enumerate(make_records(2), 1)]
    built = issuance.build_batch(deep, records, "MKT")
    issuance.store_prepared(deep, built)
    issuance.submit(deep, built)
    with pytest.raises(ChainError, match="did not reach 40 confirmation"):
        issuance.confirm(deep, built.root, timeout=1.0)
    with deep.engine.connect() as conn:
        assert conn.execute(select(Batch.state).where(Batch.root == hex32(built.root))).scalar_one() == "submitted"
    with pytest.raises(InputError, match="not anchored yet"):
        issuance.export_document(deep, built.fields[0]["id"], "MKT")  # nothing to hand out yet
    event = issuance.anchor_event(deep, built.root)
    assert event is not None
    with deep.engine.connect() as conn:
        row = conn.execute(select(Batch).where(Batch.root == hex32(built.root))).first()
    doc = issuance.document_json(
        built.fields[0], built.salts[0], issuance.anchor_data(deep, {**row._mapping, **event}), built.tree.proof(0)
    )
    report = verify_certificate(doc, ChainView(deep.chain, depth))
    assert [c.name for c in report.failed] == ["confirmations"] and not report.ok
    mine(ledger, depth)
    anchor = issuance.confirm(deep, built.root, timeout=30)
    assert anchor["block_number"] == event["block_number"]
    assert verify_certificate(
        issuance.export_document(deep, built.fields[0]["id"], "MKT"), ChainView(deep.chain, depth)
    ).ok


def test_confirmations_come_from_configuration(ledger: Ledger, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "conf.jsonl", make_records(1))
    out = tmp_path / "conf-out.jsonl"
    done = run_cli(ledger, "issue", str(source), "-d", "MKT", "--out", str(out))
    assert done.returncode == 0, done.stderr
    (tmp_path / "c.json").write_text(out.read_text().splitlines()[0])
    strict = run_cli(ledger, "verify", str(tmp_path / "c.json"), "--json", LEDGER_CONFIRMATIONS="1000000")
    assert strict.returncode == 1 and '"name": "confirmations"' in strict.stdout
    assert run_cli(ledger, "verify", str(tmp_path / "c.json")).returncode == 0


def mine(ledger: Ledger, blocks: int) -> None:
    """Test only: mine ``blocks`` empty blocks at once (anvil's anvil_mine)."""
    ledger.chain.w3.provider.make_request("anvil_mine", [hex(blocks)])  # type: ignore[arg-type]
