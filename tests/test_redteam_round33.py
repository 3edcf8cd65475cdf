"""Red team, round 33: a holder's credential at the gateway (selective disclosure and credentials).

Each test is one attack, named in its docstring with the adversary and what it tries. Real anvil, real database
(SQLite, or PostgreSQL with LEDGER_TEST_DATABASE_URL), the gateway in process and the CLI; no mocks.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.formats import vc
from ledger.services import issuance, statuslist

from .api_support import Clock, bearer, login, make_client
from .cli_support import run_cli
from .conftest import make_records, write_jsonl


@pytest.fixture(scope="module")
def batch(ledger: Ledger, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = io.StringIO()
    path = write_jsonl(tmp_path_factory.mktemp("rt33") / "rt33.jsonl", make_records(4))
    issuance.issue_file(ledger, path, "MKT", batch_size=4, out=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_gateway_refuses_a_credential_whose_status_entries_name_a_neighbours_leaf(
    ledger: Ledger, batch: list[dict[str, Any]], fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a holder whose licence is still valid re-points its credential's BitstringStatusListEntry
    entries at a valid neighbour's leaf of the same batch (statusListIndex, which the envelope check takes from the
    credential itself), so that after its own revocation a W3C verifier reading only the list keeps seeing
    "valid". `ledger verify` on the store holding the certificate refuses it (check `status_list`, red team round
    3); the gateway's `POST /verify` and `POST /public/verify`, which hold the same store and serve the lists
    themselves, verified it: the library's command and the gateway disagreed on one credential (and
    docs/threat-model.md said `POST /verify` compares the credential's own bit)."""
    client = make_client(ledger, Clock())
    base = client.app.state.settings.public_url  # type: ignore[attr-defined]
    mine, neighbour = batch[0], batch[1]
    index = statuslist.leaf_index(ledger, mine["digest"])
    other = statuslist.leaf_index(ledger, neighbour["digest"])
    assert index != other
    forged = vc.to_credential(mine, status_list=(base, other))
    genuine = vc.to_credential(mine, status_list=(base, index))

    path = tmp_path / "neighbour.json"
    path.write_text(json.dumps(forged))
    done = run_cli(ledger, "verify", str(path), "--json")
    assert done.returncode == 1, done.stdout  # the library's verifier refuses it

    token = login(client, ledger, fresh_department)
    for route, headers in (("/verify", bearer(token)), ("/public/verify", {})):
        answer = client.post(route, json={"document": forged}, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        checks = {c["name"]: c for c in body["checks"]}
        assert not body["verified"], (route, body)
        assert "status_list" in checks and not checks["status_list"]["ok"], (route, body)
        assert f"not this certificate's leaf in its batch ({index})" in checks["status_list"]["detail"]
        honest = client.post(route, json={"document": genuine}, headers=headers).json()
        assert honest["verified"], (route, honest)
        assert {c["name"]: c["ok"] for c in honest["checks"]}["status_list"], (route, honest)
