"""Mends of rows the red team rounds noticed and left (session of 2026-12-07 15:17 UTC).

1. An anonymous client asking ``POST /public/verify {"digest"}`` about a certificate whose batch is stored but not
   anchored (prepared, submitted, or a permit's batch held until its decision is recorded) was answered 422 "not
   anchored yet (batch held); run `ledger resume`": an input error for a well-formed digest, an operator's command,
   and the batch's state of a certificate nobody outside the ledger was given (noticed by red team round 80).
"""

from __future__ import annotations

import hashlib

import pytest

from ledger.client import Ledger
from ledger.formats.certificate import validate_record
from ledger.services import issuance

from .api_support import UNLIMITED, problem_body
from .conftest import make_records
from .gateway_process import Gateway, gateway

UNKNOWN_DIGEST = "0x" + hashlib.sha256(b"never issued: test_mends_round84").hexdigest()


@pytest.fixture(scope="module")
def gw(ledger: Ledger) -> Gateway:
    with gateway(ledger, **UNLIMITED) as g:
        yield g


@pytest.mark.parametrize("held", [False, True], ids=["prepared", "held"])
def test_a_digest_whose_batch_is_not_anchored_is_answered_as_an_unknown_one(
    gw: Gateway, ledger: Ledger, held: bool
) -> None:
    records = [validate_record(r, i) for i, r in enumerate(make_records(2), 1)]
    built = issuance.build_batch(ledger, records, "MKT")
    issuance.store_prepared(ledger, built, held=held)
    digest = "0x" + built.digests[0].hex()
    with gw.client() as c:
        pending = c.post("/public/verify", json={"digest": digest})
        unknown = c.post("/public/verify", json={"digest": UNKNOWN_DIGEST})
        assert unknown.status_code == 404, unknown.text
        assert pending.status_code == 404, pending.text
        said = problem_body(pending, 404)
        assert said["detail"] == problem_body(unknown, 404)["detail"].replace(UNKNOWN_DIGEST, digest)
        for leak in ("ledger ", "resume", "held", "prepared", "batch", "anchored yet"):
            assert leak not in said["detail"], said
    assert gw.alive(), gw.log()
