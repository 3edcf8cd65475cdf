"""Issue 18: ``decide_many``'s shortcuts record exactly what this process computes: applicant references salted with
the HMAC key schedule done once, the rules' certificate condition as plain loops; and decisions recorded with and
without the worker are stored in this process's canonical form. (Writing the bodies' canonical form in the worker was
tried and reverted: the single worker became the busier process and the run waited for it, bench/analysis.md.)

Adversary: an application whose strings take canonical JSON's slow path (control characters, line separators,
non-ASCII, astral characters); an identity the salting must refuse; odd certificate lists."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest
from sqlalchemy import text

from ledger.errors import InputError
from ledger.formats.rules import load_rule_set
from ledger.services import decisions
from ledger.services.logchain import LOG_DECISIONS, canonical_body, compute_entry_hash
from ledger.services.replay import replay

from .decision_support import applications, unique_rule_set

HOSTILE = ["tab\there", "line\u2028separator", "ctrl\x01\x7f", "accents-éü", "astral-\U0001f600", 'quote"back\\']


def test_references_keyed_once_are_the_references_and_refuse_the_same_identities() -> None:
    secret = bytes(range(32))
    salted = decisions._References(secret, decisions.APPLICANT_PREFIX, "applicant_ref")
    for identity in ["a", "applicant-1", "身份证 110101", " padded ", *HOSTILE]:
        assert salted(identity) == decisions._reference(secret, decisions.APPLICANT_PREFIX, identity, "applicant_ref")
    for bad in ["", "   ", None, 7]:
        with pytest.raises(InputError) as fast:
            salted(bad)  # type: ignore[arg-type]
        with pytest.raises(InputError) as slow:
            decisions._reference(secret, decisions.APPLICANT_PREFIX, bad, "applicant_ref")  # type: ignore[arg-type]
        assert str(fast.value) == str(slow.value)


@pytest.mark.parametrize("workers", [1, 0])
def test_bodies_written_by_the_worker_are_this_process_canonical_form(
    ledger: Any, fresh_department: str, workers: int
) -> None:
    dept = fresh_department
    # a screen reading no attribute of the item, so publishing no catalogue: it takes any item code (a catalogue
    # lists printable ASCII codes only, and a screen reading item.* publishes one, red team round 60c)
    document = {k: v for k, v in unique_rule_set(dept).document.items() if k not in ("items", "reason_texts")}
    document["rules"] = [
        {"id": "online", "outcome": "approve", "reason": "ONLINE", "when": {"field": "application.online", "op": "==", "value": True}}
    ]  # fmt: skip
    rule_set = load_rule_set(document)
    decisions.publish_rule_set(ledger, rule_set, dept)
    apps = applications(120, seed=zlib.crc32(dept.encode()))
    # strings that take canonical JSON's slow path, in the body's service item (a case number is printable ASCII
    # without spaces since red team round 60; an item code a "*" rule set without a catalogue takes is any text)
    for i, odd in enumerate(HOSTILE):
        apps[10 * i + 5] = {**apps[10 * i + 5], "service_item": f"{apps[10 * i + 5]['service_item']}-{odd}"}
    result = decisions.decide_many(ledger, dept, apps, {"*": rule_set}, chunk=25, workers=workers)
    assert result.count == 120
    with ledger.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT seq, body, entry_hash, prev_hash FROM logentry WHERE log=:l AND department_id=:d ORDER BY seq"
            ),
            {"l": LOG_DECISIONS, "d": dept},
        ).all()
    assert len(rows) == 120
    for seq, body, entry_hash, prev_hash in rows:
        parsed = json.loads(body)
        assert body.encode("utf-8") == canonical_body(parsed), seq  # what this process would have written
        assert entry_hash == compute_entry_hash(LOG_DECISIONS, dept, seq, prev_hash, canonical_body(parsed))
    items = {json.loads(r[1])["service_item"] for r in rows}
    assert all(any(c.endswith(odd) for c in items) for odd in HOSTILE)
    report = replay(ledger, department=dept)
    assert report.ok, report.summary()


def test_the_certificate_condition_reads_as_before_on_odd_certificate_lists() -> None:
    """The rules' ``certificate`` condition rewritten as plain loops (no generator per certificate, plain dicts
    recognised first) against the expression it replaced, on certificate lists an application or a fact set could
    hold: non-mapping entries, read-only mappings, missing and wrongly typed properties, several specs."""
    import itertools
    import random
    from collections.abc import Mapping
    from types import MappingProxyType

    from ledger.formats import rules

    specs: list[dict[str, Any]] = [
        {"type": "business-licence"},
        {"type": "business-licence", "verified": True, "status": "valid", "holder": True},
        {"type": "id-card", "issuer": ["PSB", "MKT"], "expired": False},
        {"type": "id-card", "issuer": "PSB", "verified": False},
    ]
    values: dict[str, list[Any]] = {
        "type": ["business-licence", "id-card", None, 1],
        "issuer": ["PSB", "MKT", "HOSP", None, ["PSB"]],
        "verified": [True, False, 1, 0, None],
        "status": ["valid", "revoked", "unknown", None],
        "expired": [True, False, 0, None],
        "holder": [True, False, 1],
    }
    rng = random.Random(18)

    def certificate() -> Any:
        roll = rng.random()
        if roll < 0.08:
            return rng.choice([None, "0x" + "ab" * 32, ["type", "id-card"], 3])
        found = {k: rng.choice(v) for k, v in values.items() if rng.random() < 0.8}
        return MappingProxyType(found) if roll < 0.2 else found

    def before(spec: dict[str, Any], d: Mapping[str, Any]) -> bool:
        if "issuer" in spec:
            spec = {**spec, "issuer": tuple(spec["issuer"] if isinstance(spec["issuer"], list) else [spec["issuer"]])}
        wanted = tuple(spec.items())
        certificates = d.get("certificates")
        if not isinstance(certificates, (list, tuple)):
            return False
        return any(
            isinstance(c, Mapping)
            and all(
                c.get("issuer") in v if k == "issuer" else rules._same(c.get(k, rules._MISSING), v) for k, v in wanted
            )
            for c in certificates
        )

    compiled = [(spec, rules._compile_certificate(spec, "test")) for spec in specs]
    seen = set()
    for n in itertools.chain(range(6), [12] * 300):
        listed: Any = [certificate() for _ in range(n)] if n else rng.choice([[], None, "x", ()])
        d = {"certificates": tuple(listed) if isinstance(listed, list) and rng.random() < 0.3 else listed}
        for spec, check in compiled:
            assert check(d) == before(spec, d), (spec, d)
            seen.add(check(d))
    assert seen == {True, False}
