"""Red team, round 4: attacks on this afternoon's merges (per-batch proofs, Hex32 columns, duplicate-key proofs,
Chain.call's fast path, documents validated by the pydantic model, issuance workers).

Holes found (each test failed at c0d16f9; fixed since: Hex32 reads another SQL type as the zero hash, Chain.call
leaves non-JSON-RPC-2.0 answers to web3, export_documents leaves out a row whose proof does not reach its root):
- an insider with database access writes a TEXT or REAL value into a Hex32 column (SQLite keeps any type in a BLOB
  column): ``Hex32.process_result_value`` raises TypeError and ``reconcile`` crashes instead of naming the row;
- Chain.call's fast path reads eth_call answers past web3's response validation: an envelope web3 refuses
  (no "jsonrpc", no "id", a non-numeric id, jsonrpc 1.0) gives the ledger a value;
- an insider exchanging two rows' leaf_index: reconcile names it, but export_documents hands both holders a
  document whose proof is the other certificate's (fails verification) instead of leaving them out.
Held: duplicate keys (str, bytes, escapes, nested, spaced colon, BOM), anchor numbers edited by a holder, an
INTEGER or 31-byte digest, a file changed between the validation and build passes to repeat an id."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from ledger.client import Ledger
from ledger.errors import InputError, LedgerError
from ledger.formats.canonical import strict_json_loads
from ledger.onchain.chain import Chain, connect, department_id_bytes
from ledger.services import issuance
from ledger.services.reconcile import reconcile
from ledger.services.verify import ChainView, verify_certificate
from ledger.storage.store import Certificate

from .conftest import make_records, write_jsonl
from .rpc_proxy import RpcProxy


def _issue(ledger: Ledger, tmp_path: Path, department: str) -> list[str]:
    result = issuance.issue_file(
        ledger, write_jsonl(tmp_path / f"{department}.jsonl", make_records(3)), department, batch_size=3
    )
    return result.batches


def _text_digest(ledger: Ledger, root: str, value: Any = None) -> str:
    """The insider rewrites one certificate's digest as its own hex TEXT (what the column held before 0004), or as
    ``value`` (an INTEGER, a REAL, a BLOB of another length)."""
    with ledger.engine.connect() as conn:
        digest = (
            conn.execute(
                select(Certificate.digest).where(Certificate.batch_root == root).order_by(Certificate.leaf_index)
            )
            .scalars()
            .first()
        )
    if ledger.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite stores a TEXT value in a BLOB column")
    table = Certificate.__tablename__
    with ledger.engine.begin() as conn:
        conn.execute(
            text(f"UPDATE {table} SET digest = :t WHERE digest = :b"),
            {"t": digest if value is None else value, "b": bytes.fromhex(digest[2:])},
        )
    return digest


@pytest.mark.parametrize("value", [None, 32, 1.5, b"\x01" * 31], ids=["text", "integer", "real", "blob31"])
def test_text_in_a_hex32_column_is_reported_by_reconcile_not_a_crash(
    ledger: Ledger, tmp_path: Path, fresh_department: str, value: Any
) -> None:
    root = _issue(ledger, tmp_path, fresh_department)[0]
    digest = _text_digest(ledger, root, value)
    stored = digest if value is None else value
    crashed = None
    try:
        report = reconcile(
            ledger, departments=[fresh_department]
        )  # a TypeError from Hex32.process_result_value here is the hole
    except TypeError as exc:  # kept as text: a kept traceback holds the read connection (SQLite stays locked)
        crashed = f"{type(exc).__name__}: {exc}"
    finally:
        with ledger.engine.begin() as conn:  # put the row back for the tests after this one
            conn.execute(
                text(f"UPDATE {Certificate.__tablename__} SET digest = :b WHERE digest = :t"),
                {"t": stored, "b": bytes.fromhex(digest[2:])},
            )
    assert crashed is None, f"reconcile crashed on a digest of another SQL type instead of naming the row: {crashed}"
    assert not report.ok


def test_text_in_a_hex32_column_does_not_crash_export_documents(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    root = _issue(ledger, tmp_path, fresh_department)[0]
    digest = _text_digest(ledger, root)
    try:
        issuance.export_documents(ledger, [digest])
    except LedgerError:
        pass  # a clear error is fine; a TypeError traceback is not
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(
                text(f"UPDATE {Certificate.__tablename__} SET digest = :b WHERE digest = :t"),
                {"t": digest, "b": bytes.fromhex(digest[2:])},
            )


@pytest.mark.parametrize(
    "body",
    [
        '{"a":1,"a":2}',
        '{"a":"x:","a":2}',
        '{"a\\u003a":1,"a\\u003a":2,"b":"::"}',
        '{"a":1,"\\u0061":2}',
        '{"k":{"a":"\\":","a":1}}',
        '{"a" :1,"a":2}',
        '[{"a":1},{"b":{"c":":","c":":"}}]',
        '\ufeff{"a":1,"a":2}',
    ],
)
def test_held_duplicate_keys_are_refused_by_strict_json_loads(body: str) -> None:
    """Held: the colon count can only exceed the members when a key repeats (a dropped member takes its ':' and its
    strings' colons with it), and the str and bytes forms take the same path."""
    for form in (body, body.encode("utf-8")):
        with pytest.raises((InputError, ValueError)):  # the named duplicate, or json's own refusal (the BOM str)
            strict_json_loads(form)


# -- target 3: Chain.call's fast path reads the node's answer with provider.make_request, past web3's response
# validation (validate_rpc_response_and_raise_if_error). Adversary: the chain's operator, or a node in between,
# answering eth_call with an envelope web3 refuses as malformed (BadResponseFormat). The commit promised "whatever
# web3 raises, the ledger raises too"; for these the ledger returns a value instead.


def _no_jsonrpc(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k != "jsonrpc"}


def _no_id(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k != "id"}


def _id_not_a_number(reply: dict[str, Any]) -> dict[str, Any]:
    return {**reply, "id": "not-an-id"}


def _jsonrpc_1(reply: dict[str, Any]) -> dict[str, Any]:
    return {**reply, "jsonrpc": "1.0"}


@pytest.mark.parametrize("envelope", [_no_jsonrpc, _no_id, _id_not_a_number, _jsonrpc_1])
def test_a_malformed_eth_call_envelope_that_web3_refuses_is_refused_by_chain_call(
    ledger: Ledger, envelope: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    def lie(method: str, _params: Any, reply: Any) -> Any:
        return envelope(reply) if method == "eth_call" else reply

    upstream = str(ledger.chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    with RpcProxy(upstream, rewrite=lie) as proxy:
        chain = Chain(connect(proxy.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        fn = chain.registry.functions.department(department_id_bytes("MKT"))
        with pytest.raises(Exception) as web3_path:
            fn.call()
        with pytest.raises(Exception) as ledger_path:  # the hole: chain.call returns the department's row
            chain.call(fn)
        assert type(ledger_path.value) is type(web3_path.value), (ledger_path.value, web3_path.value)


# -- target 4: documents the pydantic model accepts (no upper bound on integers, any number of proof entries,
# extra anchor members). Adversary: a holder editing their document. Verification must give a verdict
# (report.ok False, or an InputError), never another exception.

_ODD_ANCHORS: dict[str, dict[str, Any]] = {
    "count_2_256": {"count": 2**256},
    "count_2_64": {"count": 2**64},
    "chain_id_2_256": {"chain_id": 2**256},
    "block_number_2_256": {"block_number": 2**256},
    "block_time_2_256": {"block_time": 2**256},
    "block_number_2_63": {"block_number": 2**63},
    "long_proof": {"proof": ["0x" + "11" * 32] * 300},
    "extra_member": {"extra": {"nested": [1, 2, 3]}, "schema_": "x"},
}


@pytest.mark.parametrize("case", sorted(_ODD_ANCHORS))
def test_a_holder_editing_anchor_numbers_gets_the_chains_facts_not_a_traceback(
    ledger: Ledger, tmp_path: Path, fresh_department: str, case: str
) -> None:
    out = io.StringIO()
    issuance.issue_file(
        ledger, write_jsonl(tmp_path / "odd.jsonl", make_records(1)), fresh_department, out=out, batch_size=1
    )
    doc = json.loads(out.getvalue().splitlines()[0])
    doc["anchor"] = {**doc["anchor"], **_ODD_ANCHORS[case]}
    try:
        report = verify_certificate(doc, ChainView(ledger.chain, ledger.settings.confirmations))
    except LedgerError:
        return  # a clear error names what is wrong
    # Held: the anchor's numbers are hints; verification reads the batch's facts from the chain's event, and the
    # verdict repeats the chain's values, never the edited ones.
    said = json.dumps(report.to_json())
    for value in _ODD_ANCHORS[case].values():
        if isinstance(value, int) and report.ok:  # refused (another chain's id) may name the claimed value
            assert str(value) not in said, case
    assert case != "chain_id_2_256" or not report.ok


# -- target 5: issuance workers re-read the file's lines for the build pass. Adversary: an applicant (or a
# process beside the CLI) changing the file between the validation pass and the build pass, so that the last
# record repeats the first one's certificate id (same length: every other byte stays where it was). The workers
# re-check each record alone; only the writer's validation pass knew the ids of the whole file.


def test_a_file_changed_after_validation_to_repeat_an_id_gets_a_clear_error(
    ledger: Ledger, tmp_path: Path, fresh_department: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "settings", ledger.settings.with_(issue_workers=2))
    records = make_records(300)
    path = write_jsonl(tmp_path / "changing.jsonl", records)
    first_id, last_id = records[0]["id"], records[-1]["id"]
    assert len(first_id) == len(last_id)
    changed: list[bool] = []

    def change_the_tail(done: int, _total: int) -> None:
        if not changed:  # after the first batch is anchored: the workers have not read the tail yet
            raw = path.read_bytes()
            cut = raw.rindex(last_id.encode())
            with path.open("r+b") as handle:
                handle.seek(cut)
                handle.write(first_id.encode())
            changed.append(True)

    raised: BaseException | None = None
    try:
        issuance.issue_file(ledger, path, fresh_department, batch_size=5, progress=change_the_tail)
    except BaseException as exc:  # noqa: BLE001 - the kind of error is what is tested
        raised = exc
    assert changed
    with ledger.engine.connect() as conn:
        ids = list(
            conn.execute(
                select(Certificate.certificate_id).where(Certificate.department_id == fresh_department)
            ).scalars()
        )
    assert len(ids) == len(set(ids)), "one certificate id issued twice"
    # the repeated id must be refused with the ledger's own error naming the line, not a database exception
    assert isinstance(raised, LedgerError), f"{type(raised).__name__}: {raised}"
    assert first_id in str(raised)  # held: InputError naming the id, nothing of that batch written


# -- target 1: per-batch proofs. Adversary: an insider with database access exchanging two certificates'
# leaf_index within one batch (no leaf, node or digest touched). export_documents recomputes each proof from the
# row's leaf_index: it must not hand a holder a document whose proof is another certificate's, and reconcile must
# name the rows.


def test_swapped_leaf_indexes_are_reported_and_not_exported_as_documents(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    out = io.StringIO()
    issuance.issue_file(
        ledger, write_jsonl(tmp_path / "swap.jsonl", make_records(4)), fresh_department, out=out, batch_size=4
    )
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    a, b = docs[0]["digest"], docs[1]["digest"]
    with ledger.engine.connect() as conn:
        index = dict(
            conn.execute(select(Certificate.digest, Certificate.leaf_index).where(Certificate.digest.in_([a, b]))).all()
        )
    with ledger.engine.begin() as conn:
        conn.execute(update(Certificate).where(Certificate.digest == a).values(leaf_index=index[b]))
        conn.execute(update(Certificate).where(Certificate.digest == b).values(leaf_index=index[a]))
    try:
        exported = issuance.export_documents(ledger, [a, b])
        view = ChainView(ledger.chain, ledger.settings.confirmations)
        handed_bad = [d for d, doc in exported.items() if not verify_certificate(doc, view).ok]
        report = reconcile(ledger, departments=[fresh_department])
    finally:
        with ledger.engine.begin() as conn:
            conn.execute(update(Certificate).where(Certificate.digest == a).values(leaf_index=index[a]))
            conn.execute(update(Certificate).where(Certificate.digest == b).values(leaf_index=index[b]))
    assert not report.ok, "reconcile missed two exchanged leaf indexes"
    assert not handed_bad, f"export_documents handed holders documents that fail verification: {handed_bad}"
