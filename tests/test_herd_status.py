"""Issue 16: status checks that reveal nothing (herd privacy).

Adversary: the chain's node operator, who sees every JSON-RPC request and would like to learn which certificate is
being checked, and when. With the herd lookup (the default) the library verifier, evidence bundles and the
standalone court verifier read the issuing department's whole status event stream and work the status out
locally; the direct lookup (statusOf / statusAt / statusHistory) stays available. Both must give the same answer
through every status change, and a hostile department emitting status events for someone else's digest (even
under the same root value, in its own namespace) must change neither. Real anvil; requests are observed through a
recording HTTP relay in front of it, never mocked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main as cli_main
from ledger.client import Ledger
from ledger.config import Settings
from ledger.errors import ConfigError
from ledger.formats.canonical import parse_hex32
from ledger.formats.certificate import batch_schema
from ledger.onchain.chain import Chain, connect
from ledger.services import evidence, status
from ledger.services.verify import ChainView, verify_certificate, verify_many

from .authority_support import fields_digest_of
from .conftest import make_records
from .evidence_support import SCRIPT, cli_env, failed_names, issue, rpc_url, standalone
from .foundation_support import reanchored
from .rpc_proxy import RpcProxy


def _where(doc: dict[str, Any]) -> tuple[str, bytes, bytes]:
    return doc["fields"]["issuer"], parse_hex32(doc["anchor"]["root"]), parse_hex32(doc["digest"])


def _views(ledger: Ledger) -> tuple[ChainView, ChainView]:
    return ChainView(ledger.chain, status_lookup="herd"), ChainView(ledger.chain, status_lookup="direct")


def assert_agree(ledger: Ledger, docs: list[dict[str, Any]]) -> list[str]:
    """Fresh herd and direct views give the same status (name, block of the change, detail) for every document."""
    herd, direct = _views(ledger)
    head = ledger.chain.block_number()
    names = []
    for doc in docs:
        h, d = herd.status(*_where(doc), None, head), direct.status(*_where(doc), None, head)
        assert (h[0], h[1], h[3]) == (d[0], d[1], d[3]), doc["digest"]
        names.append(h[0])
    return names


def test_herd_and_direct_agree_through_every_status_change(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    docs = issue(ledger, tmp_path, fresh_department, make_records(5))
    d = [doc["digest"] for doc in docs]
    first = ledger.chain.block_number()
    steps = [
        lambda: status.suspend(ledger, d[0], "under-investigation"),
        lambda: status.reinstate(ledger, d[0], "grounds-resolved"),
        lambda: status.suspend(ledger, d[0], "court-order"),
        lambda: status.revoke(ledger, d[1], "fraud"),
        lambda: status.suspend(ledger, d[2], "non-compliance"),
        lambda: status.supersede(ledger, d[2], d[3]),
        lambda: status.revoke(ledger, d[0], "data-error"),
    ]
    assert assert_agree(ledger, docs) == ["valid"] * 5
    for step in steps:
        step()
        assert_agree(ledger, docs)
    assert assert_agree(ledger, docs) == ["revoked", "revoked", "superseded", "valid", "valid"]

    herd, direct = _views(ledger)
    head = ledger.chain.block_number()
    for block in range(first - 1, head + 1):  # "as of block B", as evidence bundles state it
        for doc in docs:
            assert herd.status_history(*_where(doc), block) == direct.status_history(*_where(doc), block)
    stamps = sorted({int(ledger.chain.w3.eth.get_block(b)["timestamp"]) for b in range(first - 1, head + 1)})
    for at in sorted({t + delta for t in stamps for delta in (-1, 0, 1)}):  # "at time T", as statusAt answers
        for doc in docs:
            assert herd.status(*_where(doc), at)[0] == direct.status(*_where(doc), at)[0], (at, doc["digest"])
    # the same reports from the library verifier, and the successor still names what it replaced
    for doc in docs:
        by_herd, by_direct = verify_certificate(doc, herd), verify_certificate(doc, direct)
        assert by_herd.ok == by_direct.ok and by_herd.facts == by_direct.facts
    assert verify_certificate(docs[3], herd).facts["replaces"] == d[2]


def test_index_herd_and_direct_give_one_standing_for_copies_through_every_change(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """verify_many's status read (ChainView.standing from the status index, in one call) against the herd stream
    and the contract's own answers, for certificates and their copies anchored again under a second root (red team
    rounds 42 and 46): the status under the root named, the end or suspension under the other, through each kind
    of change, made through either root. Timestamps aside (the index and the stream give the block only)."""
    dept = fresh_department
    docs = issue(ledger, tmp_path, dept, make_records(3))
    copies = [reanchored(ledger, dept, docs[0]), reanchored(ledger, dept, docs[1])]
    d = [doc["digest"] for doc in docs]
    chain, account = ledger.chain, ledger.department_account(dept)

    def through_copy(change: str, copy: dict[str, Any], code: int) -> None:
        root, digest = parse_hex32(copy["anchor"]["root"]), parse_hex32(copy["digest"])
        proof = [parse_hex32(p) for p in copy["anchor"]["proof"]]
        chain.transact(account, getattr(chain.anchor.functions, change)(root, digest, proof, code))

    long_lived = ChainView(ledger.chain)  # brought up to each head incrementally, as verify_many's view is
    steps = [
        lambda: None,
        lambda: status.suspend(ledger, d[0], "under-investigation", dept),
        lambda: status.reinstate(ledger, d[0], "grounds-resolved", dept),
        lambda: through_copy("suspend", copies[1], 9),
        lambda: status.revoke(ledger, d[0], "fraud", dept),
        lambda: status.supersede(ledger, d[2], d[1], dept),
        lambda: through_copy("reinstate", copies[1], 10),
    ]
    seen = set()
    for step in steps:
        step()
        head = ledger.chain.block_number()
        long_lived.sync(head, recheck=True)
        fresh = ChainView(ledger.chain)
        fresh.sync(head)
        herd, direct = _views(ledger)
        for doc in [*docs, *copies]:
            where = _where(doc)
            answers = [view.standing(*where, None, head) for view in (long_lived, fresh, herd, direct)]
            plain = [  # a certificate never changed: no detail (index, stream) or 32 zero bytes (statusOf)
                (
                    (own[0], own[1], own[3].rstrip(b"\0")),
                    *(None if e is None else (e[0], e[1], e[3], e[4]) for e in rest),
                )
                for own, *rest in answers
            ]
            assert plain.count(plain[0]) == 4, (doc["anchor"]["root"], plain)
            seen.add(
                plain[0][0][0] + ("" if plain[0][1] is None else "/ended") + ("" if plain[0][2] is None else "/held")
            )
    assert long_lived._indexed and fresh._indexed  # the index answered
    assert {"valid", "suspended", "valid/held", "revoked", "valid/ended", "superseded"} <= seen, seen


def test_a_hostile_department_under_the_same_root_changes_nothing(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """HOSP anchors the victim's very leaves (so the same root value, in its own namespace) and revokes,
    suspends and supersedes the victim's digests there: the events carry the victim's digest and root topics,
    only the department differs. The contract keys status by (department, root, digest); so does the herd."""
    victims = issue(ledger, tmp_path, fresh_department, make_records(3))
    leaves = [parse_hex32(v["digest"]) for v in victims]
    root = parse_hex32(victims[0]["anchor"]["root"])
    proof = {leaf: [parse_hex32(p) for p in v["anchor"]["proof"]] for leaf, v in zip(leaves, victims, strict=True)}
    chain, hosp = ledger.chain, ledger.department_account("HOSP")
    chain.transact(
        hosp, chain.anchor.functions.anchorBatch(root, len(leaves), batch_schema("business-licence"))
    )  # its own namespace
    chain.transact(hosp, chain.anchor.functions.revoke(root, leaves[0], proof[leaves[0]], 2))
    chain.transact(hosp, chain.anchor.functions.suspend(root, leaves[1], proof[leaves[1]], 9))
    chain.transact(
        hosp,
        chain.anchor.functions.supersede(
            root, fields_digest_of(victims[2]), proof[leaves[2]], root, fields_digest_of(victims[1]), proof[leaves[1]]
        ),
    )
    # the forged events really are on chain, with the victim's digest and root
    events = ChainView(ledger.chain).status_events()
    assert {k[2] for k, *_ in events if k[0].rstrip(b"\x00") == b"HOSP" and k[1] == root} >= set(leaves)

    assert assert_agree(ledger, victims) == ["valid"] * 3
    for doc in victims:
        for lookup in ("herd", "direct"):
            report = verify_certificate(doc, ChainView(ledger.chain, status_lookup=lookup))
            assert report.ok, (lookup, report.to_json())
            assert "replaces" not in report.facts, (lookup, report.to_json())  # HOSP's supersession names no victim
    for report in verify_many(victims, ChainView(ledger.chain)):  # nor does the index
        assert report.ok and "replaces" not in report.facts, report.to_json()
    bundle = evidence.certificate_bundle(ledger, victims[0])
    assert bundle["status"]["status"] == "valid"
    for lookup in ("herd", "direct"):
        path = tmp_path / f"{lookup}.json"
        path.write_text(json.dumps(bundle), encoding="utf-8")
        assert evidence.verify_bundle(path, ledger.chain, status_lookup=lookup).ok
        code, result = _standalone(ledger, path, "--status-lookup", lookup)
        assert code == 0, result

    status.revoke(ledger, victims[0]["digest"], "fraud")  # the genuine issuer's change is seen by both
    assert assert_agree(ledger, victims) == ["revoked", "valid", "valid"]


def test_a_node_reordering_the_events_changes_no_named_predecessor(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """One certificate supersedes two (red team 17, on 342e50e). The operator's node answers every eth_getLogs with
    the events in reverse order: nothing obliges it to keep chain order, and every reader sorts what it is given
    (the herd read sorts the status events itself). The herd read did not sort the supersessions it kept, so its
    report said "replaces" the first certificate while the index and the scan said the second, and "replaces_all"
    came in the node's order. All three now name them in chain order, whatever order the node answers in."""
    first, second, merged = issue(ledger, tmp_path, fresh_department, make_records(3))
    status.supersede(ledger, first["digest"], merged["digest"])
    status.supersede(ledger, second["digest"], merged["digest"])

    def reverse(method: str, _params: Any, reply: Any) -> Any:
        if method == "eth_getLogs" and isinstance(reply.get("result"), list):
            return {**reply, "result": reply["result"][::-1]}
        return reply

    with RpcProxy(rpc_url(ledger), rewrite=reverse) as node:
        chain = Chain(connect(node.url), ledger.chain.deployment, gas_price=0, artifacts=ledger.chain.artifacts)
        reports = {how: verify_certificate(merged, ChainView(chain, status_lookup=how)) for how in ("herd", "direct")}
        reports["index"] = verify_many([merged], ChainView(chain))[0]
    for how, report in reports.items():
        assert report.ok, (how, report.to_json())
        assert report.facts["replaces"] == second["digest"], how
        assert report.facts["replaces_all"] == [first["digest"], second["digest"]], how


# -- what the node sees ----------------------------------------------------------------------------------------------


@pytest.fixture()
def relay(ledger: Ledger) -> Iterator[RpcProxy]:
    found = RpcProxy(rpc_url(ledger))
    yield found
    found.close()


def _standalone(ledger: Ledger, path: Path, *extra: str, url: str | None = None) -> tuple[int, dict[str, Any]]:
    code, result, stderr = standalone(ledger, path, *extra, rpc=url)
    assert result is not None, stderr
    return code, result


def test_the_node_never_sees_which_certificate_is_checked(
    ledger: Ledger, fresh_department: str, tmp_path: Path, relay: RpcProxy
) -> None:
    docs = issue(ledger, tmp_path, fresh_department, make_records(4))
    status.revoke(ledger, docs[1]["digest"], "fraud")
    target = docs[0]
    via_relay = Chain(connect(relay.url), ledger.chain.deployment, artifacts=ledger.chain.artifacts)

    # the library verifier (CLI, gateway before its index is warm), now and at a past time
    assert verify_certificate(target, ChainView(via_relay)).ok
    assert verify_certificate(target, ChainView(via_relay), at=target["fields"]["issued_at"]).check("status").ok
    assert relay.bodies and not relay.saw(target["digest"])
    # evidence bundles, produced and checked by the library
    bundle = evidence.certificate_bundle(ledger, target)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    relay.bodies.clear()
    assert evidence.verify_bundle(path, via_relay).ok
    assert relay.bodies and not relay.saw(target["digest"])
    # the standalone court verifier, on a bare Python
    relay.bodies.clear()
    code, result = _standalone(ledger, path, url=relay.url)
    assert code == 0 and result["verified"], result
    assert relay.bodies and not relay.saw(target["digest"])
    revoked = evidence.certificate_bundle(ledger, docs[1])
    path.write_text(json.dumps(revoked), encoding="utf-8")
    code, result = _standalone(ledger, path, url=relay.url)
    assert code == 1 and failed_names(result) == {"status"} and not relay.saw(docs[1]["digest"])

    # the direct lookup does tell the node (so this test can tell the two apart)
    relay.bodies.clear()
    assert verify_certificate(target, ChainView(via_relay, status_lookup="direct")).ok
    assert relay.saw(target["digest"])
    relay.bodies.clear()
    path.write_text(json.dumps(bundle), encoding="utf-8")
    code, result = _standalone(ledger, path, "--status-lookup", "direct", url=relay.url)
    assert code == 0 and relay.saw(target["digest"])


# -- settings, CLI and bad input ----------------------------------------------------------------------------------


def test_status_lookup_is_a_setting_a_cli_flag_and_refuses_anything_else(
    ledger: Ledger,
    fresh_department: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert Settings.from_env(tmp_path).status_lookup == "herd"
    monkeypatch.setenv("LEDGER_STATUS_LOOKUP", "direct")
    assert Settings.from_env(tmp_path).status_lookup == "direct"
    monkeypatch.setenv("LEDGER_STATUS_LOOKUP", "statusOf")
    with pytest.raises(ConfigError, match="LEDGER_STATUS_LOOKUP"):
        Settings.from_env(tmp_path)
    monkeypatch.delenv("LEDGER_STATUS_LOOKUP")
    with pytest.raises(ConfigError, match="herd"):
        ChainView(ledger.chain, status_lookup="nobody-knows")

    docs = issue(ledger, tmp_path, fresh_department, make_records(2))
    status.revoke(ledger, docs[1]["digest"], "fraud")
    data_dir = cli_env(ledger, monkeypatch)
    for i, doc in enumerate(docs):
        path = tmp_path / f"cert-{i}.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        for lookup in ("herd", "direct"):
            assert cli_main([*data_dir, "verify", str(path), "--status-lookup", lookup]) == i, lookup
            bundle_path = tmp_path / f"bundle-{i}-{lookup}.json"
            assert (
                cli_main([*data_dir, "evidence", str(path), "--status-lookup", lookup, "--out", str(bundle_path)]) == 0
            )
            assert cli_main([*data_dir, "evidence", "verify", str(bundle_path), "--status-lookup", lookup]) == i
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        cli_main([*data_dir, "verify", str(tmp_path / "cert-0.json"), "--status-lookup", "sideways"])
    assert refused.value.code == 2 and "invalid choice" in capsys.readouterr().err
    run = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            str(SCRIPT),
            str(tmp_path / "bundle-0-herd.json"),
            "--rpc",
            rpc_url(ledger),
            "--status-lookup",
            "sideways",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "invalid choice" in run.stderr


def test_the_gateway_verifies_herd_private_with_the_same_verdicts(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    from datetime import UTC, datetime

    from .api_support import Clock, bearer, login, make_client

    docs = issue(ledger, tmp_path, fresh_department, make_records(3))
    anchored = datetime.now(UTC).replace(microsecond=0).isoformat()
    status.suspend(ledger, docs[0]["digest"], "under-investigation")
    status.revoke(ledger, docs[1]["digest"], "fraud")
    client = make_client(ledger, Clock())
    view = client.app.state.view  # type: ignore[attr-defined]
    assert view.status_lookup == ledger.settings.status_lookup == "herd"
    token = login(client, ledger, fresh_department)
    direct = ChainView(ledger.chain, status_lookup="direct")
    for doc in docs:
        for at in (None, anchored):
            answer = client.post("/verify", json={"document": doc, "at": at}, headers=bearer(token))
            assert answer.status_code == 200, answer.text
            expected = verify_certificate(doc, direct, at=at)
            got = {c["name"]: c["ok"] for c in answer.json()["checks"]}
            assert answer.json()["verified"] == expected.ok and got["status"] == expected.check("status").ok, (at, doc)
            assert answer.json()["facts"]["status"] == expected.facts["status"]
    assert [
        client.post("/verify", json={"document": d}, headers=bearer(token)).json()["facts"]["status"] for d in docs
    ] == ["suspended", "revoked", "valid"]
