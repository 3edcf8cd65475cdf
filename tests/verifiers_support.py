"""Helpers for setting the library and the court's standalone verifier (scripts/verify_evidence.py) side by side:
their two rule engines on one rule set and input, a checkpoint of a bundle's chain for a witness to cosign, and the
`witnessed` verdict of both on one bundle (from tests/test_redteam_round12b.py: no test module imports another)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from ledger.client import Ledger
from ledger.formats import rules
from ledger.services import evidence

from .evidence_support import SCRIPT_MODULE, standalone, standalone_many


def one_rule_set(when: dict[str, Any]) -> dict[str, Any]:
    """A pl-rules/1 rule set approving when ``when`` holds, else referring."""
    return {
        "engine": rules.ENGINE_VERSION,
        "rule_set_id": "one-rule",
        "version": "1",
        "service_item": "*",
        "title": "one rule",
        "default_outcome": "refer",
        "default_reason": "NOT_MET",
        "rules": [{"id": "the-rule", "outcome": "approve", "reason": "MET", "when": when}],
    }


def both_engines(document: dict[str, Any], decision_input: dict[str, Any]) -> tuple[str, str]:
    """The outcome of (the library's engine, the court's verifier's engine) for one rule set and input."""
    library = rules.evaluate(rules.load_rule_set(document), json.loads(json.dumps(decision_input))).outcome
    court = SCRIPT_MODULE.run_rules(json.loads(json.dumps(document)), json.loads(json.dumps(decision_input)))[0]
    return library, str(court)


def checkpoint_text(bundle: dict[str, Any]) -> str:
    """The c2sp.org/tlog-checkpoint text of the bundle's chain at its as_of block (what a witness cosigns)."""
    from ledger.services.witness.checkpoint import origin_for

    c = bundle["chain"]
    root = base64.b64encode(bytes.fromhex(bundle["as_of"]["block_hash"][2:])).decode()
    origin = origin_for(c["chain_id"], c["genesis_hash"], c["registry_contract"])
    return f"{origin}\n{bundle['as_of']['block_number'] + 1}\n{root}\n"


def witnessed_by_both(
    ledger: Ledger, bundle: dict[str, Any], tmp: Path, key: str
) -> tuple[tuple[bool, str], tuple[str, str]]:
    """The `witnessed` check of (the library, the court's verifier), each as (result, detail), with the court's
    witness key ``key``."""
    path = tmp / "witnessed.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    library = evidence.verify_bundle(path, ledger.chain, witness_keys=[key]).check("witnessed")
    _, result, stderr = standalone(ledger, path, "--witness-key", key)
    assert result is not None, stderr
    court = {c["name"]: (c["result"], c["detail"]) for c in result["checks"]}["witnessed"]
    return (library.ok, library.detail), court


def witnessed_by_both_many(
    ledger: Ledger,
    bundles: list[dict[str, Any]],
    tmp: Path,
    key: str | None,
    *,
    require_state_proof: bool = False,
) -> list[tuple[tuple[bool, str], tuple[str, str]]]:
    """:func:`witnessed_by_both` for each of ``bundles``, in order, the court's verifier verifying them one after
    the other in one interpreter of its own (evidence_support.standalone_many: a fresh call of its ``main`` each).
    ``key`` None: no witness key given to either; ``require_state_proof``: both verifiers asked to require one."""
    paths = []
    for i, bundle in enumerate(bundles):
        paths.append(tmp / f"witnessed-{i}.json")
        paths[-1].write_text(json.dumps(bundle), encoding="utf-8")
    extra = (("--witness-key", key) if key else ()) + (("--require-state-proof",) if require_state_proof else ())
    answers = standalone_many(ledger, paths, processes=1, extra=extra)
    both = []
    for path, (_, result, stderr) in zip(paths, answers, strict=True):
        library = evidence.verify_bundle(
            path, ledger.chain, witness_keys=[key] if key else [], require_state_proof=require_state_proof
        ).check("witnessed")
        assert result is not None, stderr
        court = {c["name"]: (c["result"], c["detail"]) for c in result["checks"]}["witnessed"]
        both.append(((library.ok, library.detail), court))
    return both
