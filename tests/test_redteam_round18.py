"""Red team, round 18: attacks on the day's speed changes (issue 18).

1. The view's shared checks (``ChainView.shared_check``, 65,536 of them, one view for every client of the gateway)
   were bounded in number but not in size: a check whose detail quotes a document's text (a malformed
   ``valid_from``, an invalid ``type``) kept that text, up to a megabyte per check. Such text reaches a check only
   in a certificate of an anchored tree (a department's own, anchored with its key outside the library, which
   refuses such records), so a hostile department could leave gigabytes in every gateway that verifies its
   documents. A detail longer than ``verify.DETAIL_KEPT`` (512) characters is now answered without being kept.
   The anchor section's values, which the new "chain" check memo and the signature memos key on, were checked
   and found bounded: the format refuses an address, signature or chain id of any other shape before any check
   runs (the parametrized test shows no memo keeps the long text, and the reports equal a fresh view's).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.services import verify as verify_mod
from ledger.services.verify import ChainView, verify_certificate

from .api_support import issue

_BIG = 200_000  # characters of hostile text per document (the gateway takes bodies of 1 MiB)


def _longest(value: Any, seen: set[int] | None = None) -> int:
    """The longest text (str or bytes) inside ``value``: tuples, lists, dicts, checks and windows walked."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, dict):
        return max((max(_longest(k, seen), _longest(v, seen)) for k, v in value.items()), default=0)
    if isinstance(value, (tuple, list)):
        return max((_longest(v, seen) for v in value), default=0)
    if isinstance(value, verify_mod.Check):
        return max(len(value.name), len(value.detail))
    return 0


def _kept_text(view: ChainView) -> int:
    """The longest text any memo of ``view`` holds."""
    return max(
        _longest(view._checks),
        _longest(view.chain_checks),
        _longest(view._windows),
        _longest(view._recovered),
        _longest(view._batch_checks[1]),
    )


@pytest.fixture(scope="module")
def genuine(ledger: Ledger) -> dict[str, Any]:
    return issue(ledger, "MKT", 1)[0]


def _edited(doc: dict[str, Any], section: str, name: str, value: Any) -> dict[str, Any]:
    edited = copy.deepcopy(doc)
    edited[section][name] = value
    return edited


@pytest.mark.parametrize(
    ("section", "name", "value"),
    [
        ("anchor", "contract", "0x" + "ab" * (_BIG // 2)),
        ("anchor", "registry", "r" * _BIG),
        ("anchor", "chain_id", "9" * _BIG),
        ("anchor", "department", "D" * _BIG),
        ("anchor", "signer", "0x" + "cd" * (_BIG // 2)),
        ("anchor", "signature", "0x" + "ef" * (_BIG // 2)),
        ("fields", "valid_from", "2026-01-01" + "x" * _BIG),
        ("fields", "valid_until", "y" * _BIG),
        ("fields", "type", "t" * _BIG),
    ],
)
def test_a_view_keeps_no_senders_long_text(
    ledger: Ledger, genuine: dict[str, Any], section: str, name: str, value: str
) -> None:
    """Verifying a document with a long hostile value leaves no memo of the shared view holding it (nor a detail
    quoting it), and the report is the one a view of its own gives."""
    doc = _edited(genuine, section, name, value)
    shared = ChainView(ledger.chain, ledger.settings.confirmations)
    verify_certificate(genuine, shared)  # the view's memos hold a genuine certificate's checks
    honest = _kept_text(shared)
    assert honest <= verify_mod.DETAIL_KEPT
    report = verify_certificate(doc, shared)
    assert not report.ok
    assert _kept_text(shared) <= verify_mod.DETAIL_KEPT, f"{section}.{name}: the view keeps the sender's text"
    alone = verify_certificate(doc, ChainView(ledger.chain, ledger.settings.confirmations))
    assert report.to_json() == alone.to_json()
    again = verify_certificate(genuine, shared)  # and an honest client after it gets the genuine answer
    assert again.ok and again.to_json() == verify_certificate(
        genuine, ChainView(ledger.chain, ledger.settings.confirmations)
    ).to_json() | {"as_of_block": again.as_of_block}


def test_the_shared_checks_keep_no_long_detail(ledger: Ledger) -> None:
    """A check whose detail quotes more text than a genuine certificate's (a department's own tree anchored with a
    megabyte of ``valid_from`` reaches the validity check, whose detail quotes it) is answered, not kept."""
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    detail = f"{'2026-01-01' + 'x' * _BIG!r} is not a date"
    found = view.shared_check(("validity", False, detail))
    assert (found.name, found.ok, found.detail) == ("validity", False, detail)
    assert _kept_text(view) == 0
    short = view.shared_check(("validity", True, "valid 2026-01-01 to no end date"))
    assert view.shared_check(("validity", True, "valid 2026-01-01 to no end date")) is short


def test_a_genuine_certificates_checks_are_still_shared(ledger: Ledger, genuine: dict[str, Any]) -> None:
    """The bound does not turn the memos off: a genuine certificate verified twice gets the same check objects."""
    shared = ChainView(ledger.chain, ledger.settings.confirmations)
    first = verify_certificate(genuine, shared)
    second = verify_certificate(genuine, shared)
    assert first.ok and second.ok
    for name in ("chain", "disclosure", "issuer", "validity"):
        assert first.check(name) is second.check(name), name
