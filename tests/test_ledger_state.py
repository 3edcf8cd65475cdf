"""The Ledger owns its state; the library never switches the process-wide garbage collector.

Adversaries: a gateway serving concurrent requests — a library call that runs `gc.disable()` switches the
collector off under every other request of the process (and whichever finishes last decides whether it comes back
on); and a process that opens one ledger after another — state kept in module globals keyed by `id(engine)`
outlives its ledger, and a later ledger whose engine reuses that id inherits another database's secrets.
"""

from __future__ import annotations

import ast
import gc
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ledger._gc import cyclic_gc_paused
from ledger.client import Ledger
from ledger.formats.certificate import validate_record
from ledger.services import decisions
from ledger.services.issuance import issue_records
from ledger.services.verify import ChainView, verify_many
from ledger.storage.keys import Keystore
from ledger.storage.store import open_engine, private_directory

from .conftest import PASSPHRASE, make_records, make_settings

LEDGER = Path(__file__).resolve().parent.parent / "ledger"


def test_library_calls_the_gateway_makes_leave_the_collector_on(ledger: Ledger) -> None:
    seen: list[bool] = []
    out = io.StringIO()
    records = [validate_record(r, i + 1, department="MKT") for i, r in enumerate(make_records(3))]
    issue_records(ledger, records, "MKT", out=out, progress=lambda *_: seen.append(gc.isenabled()))
    docs = [json.loads(line) for line in out.getvalue().splitlines()]

    def sampled() -> Iterator[dict[str, Any]]:
        for doc in docs:
            seen.append(gc.isenabled())
            yield doc

    reports = verify_many(sampled(), ChainView(ledger.chain, ledger.settings.confirmations))
    assert all(r.ok for r in reports) and len(reports) == 3
    assert seen and all(seen), "a library call switched the process-wide cyclic collector off"


def test_a_one_shot_caller_pauses_the_collector_and_gets_it_back() -> None:
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
        with cyclic_gc_paused():  # nested: the inner block does not turn it back on early
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_no_gc_disable_and_no_id_keyed_globals_in_the_library() -> None:
    offenders = []
    for path in LEDGER.rglob("*.py"):
        if path.name == "_gc.py" or "/cli/" in path.as_posix():
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "disable"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "gc"
            ):
                offenders.append(f"{path.name}:{node.lineno} gc.disable()")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "id"
                and node.args
                and isinstance(node.args[0], ast.Attribute)
                and node.args[0].attr in ("engine", "chain")
            ):
                offenders.append(f"{path.name}:{node.lineno} id(...{node.args[0].attr}) as a key")
    assert offenders == []


def test_state_lives_on_its_ledger(ledger: Ledger, tmp_path: Path) -> None:
    """Two ledgers on two databases: each derives applicant references from its own secret, kept on itself."""
    settings = make_settings(tmp_path / "other")
    private_directory(settings.data_dir)
    other = Ledger(
        settings=settings,
        chain=ledger.chain,
        engine=open_engine(settings.db_url),
        keystore=Keystore(settings.keys_dir, kdf_n=settings.keystore_kdf_n, kdf_floor=settings.keystore_kdf_floor),
        passphrase=PASSPHRASE,
    )
    try:
        ours = decisions.applicant_reference(ledger, "INS", "applicant 42")
        theirs = decisions.applicant_reference(other, "INS", "applicant 42")
        assert ours != theirs  # two databases, two secrets
        assert decisions.applicant_reference(other, "INS", "applicant 42") == theirs  # stable, from its memo
        memo = other.local("decisions.secrets", dict)
        assert "INS" in memo.values and memo is not ledger.local("decisions.secrets", dict)
        assert other.local("decisions.secrets", dict) is memo  # made once, then the same object
    finally:
        other.engine.dispose()
