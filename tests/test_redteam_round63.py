"""Red team round 63 against the last hour's merges: ``ledger demo-data --rules/--rules-out`` (round 60b), which
writes a screen for every item publishing the catalogue of the items it generates, and round 62's sample of the
store's sealed bodies a vault key recorded into an emptied key_check must open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main as cli_main
from ledger.client import Ledger
from ledger.errors import KeystoreError

from .insider_support import foreign_vault_key, reads_of_the_whole_store

ROOT = Path(__file__).resolve().parent.parent
COMMITMENT = ROOT / "rules" / "notify-and-commit.yaml"


@pytest.mark.parametrize(
    ("writer", "clash"),
    [("--rules-out", "--licences"), ("--rules-out", "--rules"), ("--rules-out", "--out"), ("--out", "--licences")],
)
def test_demo_data_writing_the_screen_over_one_of_its_own_inputs_is_refused_and_loses_nothing(
    tmp_path: Path, capsys: Any, writer: str, clash: str
) -> None:
    """(A department's operator scripting the demo, or a colleague handing them a command line) give ``ledger
    demo-data --rules-out`` the path of one of the command's other files: --licences (the business licences the
    applications cite), --rules (the screen it reads) or --out (the applications). The screen was written first,
    truncating that file: the licences were destroyed before they were read (then "holds no business-licence"), the
    source screen replaced by JSON, or the screen overwritten by the applications afterwards (exit 0, a "rule set"
    file of applications). --out over --licences replaced the licences with the applications. Refused before anything
    is written, naming the two options; every file as it was."""
    licences = tmp_path / "licences.jsonl"
    licences.write_text('{"digest": "00", "fields": {"type": "business-licence"}}\n', encoding="utf-8")
    screen = tmp_path / "screen.yaml"
    screen.write_text(COMMITMENT.read_text(encoding="utf-8"), encoding="utf-8")
    apps = tmp_path / "apps.jsonl"
    apps.write_text("kept\n", encoding="utf-8")
    screen_out = tmp_path / "screen.json"
    paths = {"--licences": licences, "--rules": screen, "--out": apps, "--rules-out": screen_out}
    before = {p: p.read_bytes() for p in paths.values() if p.exists()}
    args = ["demo-data", "--items", "3", "--applications", "5", "--seed", "7"]
    args += [f"{option}={path}" for option, path in paths.items() if option != writer]
    # the same file under another spelling: a relative path through a directory and back
    clashing = tmp_path / "sub" / ".." / paths[clash].name
    (tmp_path / "sub").mkdir()
    code = cli_main([*args, f"{writer}={clashing}"])
    err = capsys.readouterr().err
    assert code != 0 and writer in err and clash in err, err
    assert {p: p.read_bytes() for p in paths.values() if p.exists()} == before and not screen_out.exists()


def test_demo_data_with_distinct_files_still_writes_the_screen(tmp_path: Path, capsys: Any) -> None:
    """(The same operator's control) distinct files: the screen with the catalogue and the applications written."""
    from ledger.formats.rules import load_rule_set

    out, screen = tmp_path / "apps.jsonl", tmp_path / "screen.json"
    code = cli_main(
        [
            "demo-data",
            "--items",
            "3",
            "--applications",
            "5",
            "--seed",
            "7",
            "--out",
            str(out),
            "--rules",
            str(COMMITMENT),
            "--rules-out",
            str(screen),
        ]
    )
    assert code == 0, capsys.readouterr().err
    rules = load_rule_set(screen)
    assert rules.items is not None and len(rules.items) == 3 and len(out.read_text().splitlines()) == 5


def test_demo_data_keeps_the_screens_own_catalogue_and_refuses_an_item_it_lists_otherwise(
    tmp_path: Path, capsys: Any
) -> None:
    """(A department's operator running the demo against their own screen, which publishes their catalogue.)
    ``--rules`` replaced the screen's own ``items`` with the generated ones: the department's catalogue was gone from
    the screen they then published. The generated items are now added to it (mend6); an item both list with other
    attributes is refused, naming it, and nothing is written."""
    import json

    import yaml

    from ledger.formats.rules import load_rule_set
    from ledger.services.demo_data import catalogue, generate_service_items

    generated = catalogue(generate_service_items(3, 7))
    first = next(iter(generated))
    own = {"440300-999999": generated[first]}
    document = yaml.safe_load(COMMITMENT.read_text(encoding="utf-8"))
    screen, out, written = tmp_path / "screen.json", tmp_path / "apps.jsonl", tmp_path / "written.json"
    screen.write_text(json.dumps(document | {"items": own}), encoding="utf-8")
    args = ["demo-data", "--items", "3", "--applications", "5", "--seed", "7", "--out", str(out)]
    args += ["--rules", str(screen), "--rules-out", str(written)]
    assert cli_main(args) == 0, capsys.readouterr().err
    items = load_rule_set(written).items
    assert items is not None and set(items) == {*own, *generated}, items
    written.unlink()
    out.unlink()
    other = generated[first] | {"materials_required": int(generated[first]["materials_required"]) + 1}
    screen.write_text(json.dumps(document | {"items": {first: other}}), encoding="utf-8")
    assert cli_main(args) != 0
    err = capsys.readouterr().err
    assert f"already publishes item {first!r}" in err and not written.exists() and not out.exists(), err


def test_rows_planted_before_the_stores_first_bodies_do_not_vouch_for_another_deployments_vault_key(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: round 62's insider (writes the database and the data directory, holds another deployment's
    ``vault.key`` under the same passphrase), after round 62's fix. A key recorded into a store with no key_check row
    must open the store's sealed bodies, but only the first three by digest were tried: the insider deletes the row,
    plants three certificate rows of their own making whose digests sort before every real one (a few hundred
    hashes of varied salts), sealed under their key, and swaps the key file in: it opened the three, was recorded as
    this deployment's, and every new body was sealed under a key its other owner holds. Only bodies the chain anchors
    are sampled now (mend6): a planted row is anchored by no one, and vouches for nothing."""
    import json

    from sqlalchemy import delete, insert, select

    from ledger.formats.canonical import hex32
    from ledger.formats.certificate import CertificateDocument
    from ledger.storage import keycheck
    from ledger.storage.models import Certificate

    from .api_support import issue

    issue(ledger, fresh_department, 12)  # the store holds real sealed bodies
    table = Certificate.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        lowest = conn.execute(select(table.c.digest).order_by(table.c.digest).limit(1)).scalar_one()
        template = conn.execute(select(table).limit(1)).mappings().one()
    recorded = keycheck.recorded(ledger.engine, "vault")
    with foreign_vault_key(ledger, tmp_path) as other:
        planted: list[dict[str, Any]] = []
        attempt = 0
        while len(planted) < 3:
            attempt += 1
            fields = {"type": "planted", "n": str(attempt)}
            salts = {name: attempt.to_bytes(16, "big") + bytes(16) for name in fields}
            digest = CertificateDocument(fields, salts, {}, {}).digest()
            if hex32(digest) >= lowest:
                continue
            body = json.dumps({"fields": fields, "salts": {k: v.hex() for k, v in salts.items()}}).encode()
            planted.append(
                dict(template)
                | {
                    "digest": hex32(digest),
                    "certificate_id": f"PLANTED-{attempt}",
                    "department_id": "PLANTED-RT63",
                    "sealed": other.seal(body, digest),
                }
            )
        with ledger.engine.begin() as conn:
            conn.execute(insert(table), planted)
        try:
            with pytest.raises(KeystoreError, match="does not open"):
                _ = ledger.vault
            assert keycheck.recorded(ledger.engine, "vault") is None  # nothing recorded
        finally:
            with ledger.engine.begin() as conn:
                conn.execute(delete(table).where(table.c.department_id == "PLANTED-RT63"))
    assert ledger.vault is not None and keycheck.recorded(ledger.engine, "vault") == recorded


def test_bodies_marked_erased_for_a_moment_do_not_let_another_deployments_vault_key_in(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the same insider, who marks every real row's body erased (keeping the bodies aside), deletes the
    ``key_check`` row and swaps their key file in: the store then holds no body to hold the key to, so the key is
    recorded as this deployment's; the bodies are written back afterwards. A body the chain anchors that is marked
    erased is passed over only when its department's erasures log records its erasure as the chain attests it: a
    mark nothing backs is refused, and no key is recorded (mend6)."""
    from sqlalchemy import select, update

    from ledger.storage import keycheck
    from ledger.storage.models import Certificate
    from ledger.storage.vault import ERASED

    from .api_support import issue

    issue(ledger, fresh_department, 2)
    table = Certificate.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        kept = conn.execute(select(table.c.digest, table.c.sealed).where(table.c.sealed != ERASED)).all()
    recorded = keycheck.recorded(ledger.engine, "vault")
    with foreign_vault_key(ledger, tmp_path):
        with ledger.engine.begin() as conn:
            conn.execute(update(table).where(table.c.sealed != ERASED).values(sealed=ERASED))
        try:
            with pytest.raises(KeystoreError, match="is marked erased in this database"):
                _ = ledger.vault
            assert keycheck.recorded(ledger.engine, "vault") is None  # nothing recorded
        finally:
            with ledger.engine.begin() as conn:
                for digest, sealed in kept:
                    conn.execute(update(table).where(table.c.digest == digest).values(sealed=sealed))
    assert ledger.vault is not None and keycheck.recorded(ledger.engine, "vault") == recorded


def test_rows_planted_beside_every_anchored_row_do_not_hide_the_store_from_a_vault_keys_first_record(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the same insider, who plants a row just below every stored digest (digest - 1: rows need no real
    hash, as no key opens them) before swapping the key. A probe into the digest range lands on the first row at or
    after a random value, so it meets a planted row and never a real one, and a sample taking only anchored bodies
    found none to hold the key to. Then the batches the chain says this deployment anchored are sampled, by root:
    the real bodies are met, and another deployment's key does not open them. The check reads no whole table."""
    from sqlalchemy import delete, insert, select

    from ledger.formats.canonical import hex32, parse_hex32
    from ledger.storage import keycheck
    from ledger.storage.models import Certificate

    from .api_support import issue

    issue(ledger, fresh_department, 3)  # the store holds anchored bodies
    table = Certificate.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(table)).mappings().all()
    stored = {row["digest"] for row in rows}
    planted = []
    for n, row in enumerate(rows):
        below = hex32((int.from_bytes(parse_hex32(row["digest"]), "big") - 1).to_bytes(32, "big"))
        if below not in stored:
            planted.append(
                dict(row)
                | {"digest": below, "certificate_id": f"BESIDE-{n}", "department_id": "PLANTED-M6", "sealed": b"x"}
            )
    recorded = keycheck.recorded(ledger.engine, "vault")
    with foreign_vault_key(ledger, tmp_path):
        with ledger.engine.begin() as conn:
            conn.execute(insert(table), planted)
        try:
            with reads_of_the_whole_store(ledger) as full_reads, pytest.raises(KeystoreError, match="does not open"):
                _ = ledger.vault
            assert keycheck.recorded(ledger.engine, "vault") is None and full_reads == [], full_reads
        finally:
            with ledger.engine.begin() as conn:
                conn.execute(delete(table).where(table.c.department_id == "PLANTED-M6"))
    assert ledger.vault is not None and keycheck.recorded(ledger.engine, "vault") == recorded


def test_a_vault_keys_first_record_reads_no_whole_table(ledger: Ledger, fresh_department: str) -> None:
    """(The operator upgrading a store of ten million certificates to migration 0017, whose first process records
    the vault key.) The sample was drawn with ``ORDER BY random()`` over every row not marked erased: a read of the
    whole table, once per missing key_check row. Each probe is now one index seek into the digest range, and this
    deployment's own key is recorded again, as at the upgrade."""
    from sqlalchemy import delete

    from ledger.storage import keycheck
    from ledger.storage.models import KeyCheck

    from .api_support import issue

    issue(ledger, fresh_department, 3)
    recorded = keycheck.recorded(ledger.engine, "vault")
    with ledger.engine.begin() as conn:
        conn.execute(delete(KeyCheck.__table__).where(KeyCheck.__table__.c.purpose == "vault"))  # type: ignore[attr-defined]
    ledger._vault = None
    with reads_of_the_whole_store(ledger) as full_reads:
        _ = ledger.vault
    assert full_reads == [] and keycheck.recorded(ledger.engine, "vault") == recorded, full_reads


def test_a_lawfully_erased_body_is_passed_over_and_a_bare_erased_mark_is_refused(
    ledger: Ledger, fresh_department: str
) -> None:
    """(The insider of the test above, marking one anchored body erased.) A vault key's first record passes over a
    body whose erasure its department's log records as the chain attests it (`ledger erase`), and refuses a body
    the chain anchors that is marked erased with nothing behind the mark."""
    from sqlalchemy import select

    from ledger.client import _AnchoredSample
    from ledger.services import erasure
    from ledger.storage.models import Certificate
    from ledger.storage.vault import ERASED

    from .api_support import issue
    from .insider_support import insider_edit

    lawful, marked = (doc["digest"] for doc in issue(ledger, fresh_department, 2))
    erasure.erase(ledger, lawful, basis="court-order", by="records-office")
    columns = [Certificate.__table__.c[name] for name in ledger._SAMPLE_COLUMNS]  # type: ignore[attr-defined]

    def row(digest: str) -> Any:
        with ledger.engine.connect() as conn:
            return conn.execute(select(*columns).where(Certificate.__table__.c.digest == digest)).one()  # type: ignore[attr-defined]

    sample = _AnchoredSample(ledger, ledger.vault, "the test")
    assert sample.judge(row(lawful)) is False and sample.opened == 0 and sample.unanchored == 0
    refused = f"the body of certificate {marked}, which {fresh_department} anchored, is marked erased"
    with (
        insider_edit(ledger, Certificate, Certificate.digest, marked, sealed=ERASED),
        pytest.raises(KeystoreError, match=refused),
    ):
        sample.judge(row(marked))


def test_a_live_certificate_hidden_by_an_unanchored_erasure_entry_says_which_entry_and_that_it_is_unanchored(
    ledger: Ledger, fresh_department: str
) -> None:
    """Adversary: an insider who can write the database (no keys) appends an entry to the department's ``erasures``
    log naming a live certificate, to hide it from its holder and from a court. Since round 62 an entry not anchored
    yet is believed (failing closed), so the holder's export and its evidence bundle are refused - but the refusal
    said the contents "were lawfully erased" and were "written back from a copy", and told the operator to run
    ``ledger erase`` again to destroy them: the forged entry's advice destroyed the live certificate's contents. The
    refusal now names the entry (its number and basis) and says it is not anchored yet: check that an erasure was
    ordered before erasing anything (an interrupted erasure completes with ``ledger erase``)."""
    from datetime import UTC, datetime

    from ledger.errors import ErasedError
    from ledger.services import erasure, evidence, issuance, logchain

    from .api_support import issue

    (doc,) = issue(ledger, fresh_department, 1)
    forged = {
        "certificate": doc["digest"],
        "basis": "forged-order",
        "by_ref": "0" * 64,
        "at": datetime.now(UTC).isoformat(),
    }
    entry = logchain.append(ledger, erasure.LOG, fresh_department, forged)
    for read in (
        lambda: issuance.holder_document(ledger, doc["digest"]),
        lambda: issuance.custodian_document(ledger, doc["digest"], fresh_department),
        lambda: evidence.bundle_for_stored(ledger, doc["digest"]),
    ):
        with pytest.raises(ErasedError) as refused:
            read()
        words = str(refused.value)
        assert "not anchored" in words and "forged-order" in words and f"entry {entry.seq}" in words, words
        assert "lawfully erased" not in words
