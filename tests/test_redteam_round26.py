"""Red team round 26: the gateway's native public report (``_hashcore.public_report``) against its reference, and
values nested far past any parser's bound handed in by a library caller.

The native call was fuzzed against ``json_bytes(fast_public_report(...))`` with edited copies of issued documents
(hex case, hidden fields, salts, proofs, anchors, odd dates and text) under AddressSanitizer and UBSan: no answer
differed (tests/test_public_verify_native.py keeps the differential). What did break: a dict nested 100,000 deep
given to the library (``verify_certificate``, ``canonical_json``, a decision's cited document, a credential)
overflowed the C stack inside the standard library's recursive JSON encoders (SIGSEGV: the recursion limit is
100,000 once py_ecc is imported, so no RecursionError comes first). Every text the ledger parses is bounded before
parsing (canonical.check_json_depth); a caller's dict now is too (canonical.check_value_depth): an InputError.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.canonical import MAX_JSON_DEPTH, canonical_json, check_value_depth
from ledger.onchain.chainread import Finality
from ledger.services.verify import ChainView, verify_certificate

from .api_support import issue

REPO = Path(__file__).resolve().parents[1]


def _nested(kind: str, depth: int, leaf: Any = "x") -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def test_canonical_json_refuses_a_value_100000_deep_without_crashing() -> None:
    """In a process of its own: before the fix the encoder overflowed the C stack (exit -11), which would end the
    test run itself."""
    script = textwrap.dedent(
        """
        import ledger.client  # raises the recursion limit to 100,000 (py_ecc), as any user of the library has it
        from ledger.errors import InputError
        from ledger.formats.canonical import canonical_json
        for kind in ("list", "dict"):
            for leaf in ("x", 1.5):  # plain (json's encoder after orjson refuses) and not (rfc8785)
                value = leaf
                for _ in range(100_000):
                    value = [value] if kind == "list" else {"a": value}
                try:
                    canonical_json(value)
                except InputError as exc:
                    assert "levels deep" in str(exc), exc
                else:
                    raise SystemExit("hashed")
        print("refused")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "refused", (done.returncode, done.stderr[-2000:])


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_values_within_the_bound_hash_as_before(kind: str) -> None:
    """The bound is the parsers' (MAX_JSON_DEPTH): anything a parsed text can hold still hashes, and the same bytes
    as the encoder writes (orjson refuses past 254 levels: json's encoder writes those)."""
    for depth in (1, 254, 300, MAX_JSON_DEPTH - 1):
        value = _nested(kind, depth)
        assert canonical_json(value) == canonical_json(_nested(kind, depth))
        assert canonical_json(value).count(b"[" if kind == "list" else b"{") == depth
    with pytest.raises(InputError, match="levels deep"):
        canonical_json(_nested(kind, MAX_JSON_DEPTH + 1))
    with pytest.raises(InputError, match="levels deep"):
        canonical_json(_nested(kind, MAX_JSON_DEPTH + 1, leaf=1.5))


def test_a_value_that_contains_itself_is_refused_not_walked_for_ever() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InputError, match="levels deep"):
        check_value_depth(loop)
    with pytest.raises(InputError):
        canonical_json(loop)


def test_a_deep_document_from_a_library_caller_fails_verification_closed(ledger: Ledger) -> None:
    """``verify_certificate`` of a dict with a field nested 100,000 deep: not verified, with a clear reason, and no
    crash (run in this process: before the fix it ended the test run)."""
    document = issue(ledger, "MKT", 1)[0]
    view = ChainView(ledger.chain, ledger.settings.confirmations)
    deep = {**document, "fields": {**document["fields"], "subject.name": _nested("list", 100_000)}}
    try:
        report = verify_certificate(deep, view)
    except InputError as exc:  # refused outright is as clear
        assert "levels deep" in str(exc)
    else:
        assert not report.ok
        assert any("levels deep" in c.detail for c in report.checks if not c.ok), report.checks
    assert verify_certificate(document, view).ok


def test_a_deep_cited_document_or_credential_is_refused() -> None:
    from ledger.formats import vc
    from ledger.services.facts import document_ref

    for kind in ("list", "dict"):
        with pytest.raises(InputError, match="levels deep"):
            document_ref({"fields": {"x": _nested(kind, 100_000)}})
        with pytest.raises(InputError, match="levels deep"):
            vc.expand({"credentialSubject": _nested(kind, 100_000)})


def test_a_type_replaced_by_a_finalizer_mid_call_is_never_read_after_its_release(ledger: Ledger) -> None:
    """A library caller's document edited by a finalizer that a collection runs inside ``public_report`` (the
    allocation of the type-grant key): the type text it had read was borrowed from the document, so the edit freed
    it and the report went on to write freed memory (here: another string the finalizer made in its place, which
    read "not authorized"). The native call now holds what it reads; its answer is None or the reference's."""
    import gc

    from api import services

    document = issue(ledger, "MKT", 1)[0]
    document["hidden"] = {}
    for _ in range(Finality(ledger.settings.confirmations).reorg_depth + 2):  # final: the view keeps its anchor
        ledger.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    view = ChainView(ledger.chain, ledger.settings.confirmations, max_head_age=3600.0)
    view.refresh()
    verify_certificate(document, view)
    reference = services.fast_public_report(view, document)
    assert reference is not None and reference["verified"]
    kind = document["fields"]["type"]
    decoy = "z" * len(kind)
    for key in list(view._type_grants):
        if key[2] == kind:
            view._type_grants[(key[0], key[1], decoy, *key[3:])] = False  # a grant this view could hold
    kept: list[Any] = []

    class Edit:
        def __init__(self) -> None:
            self.cycle = self

        def __del__(self) -> None:
            fields = document["fields"]
            fields["type"] = "".join(kind)  # a fresh copy: the text read before is released
            kept.append("".join(decoy))  # made where the released text was
            Edit()  # the next collection edits again

    answers = []
    previous = gc.get_threshold()
    try:
        for _ in range(12):  # the freed text was read from the second call on; each full collection of a test
            # session's heap takes ~0.5 s (200 rounds took 80-107 s of CI)
            document["fields"]["type"] = "".join(kind)
            Edit()
            gc.set_threshold(1)
            answers.append(services.fast_public_bytes(view, document))
            gc.set_threshold(*previous)
            gc.collect()
            kept.clear()
    finally:
        gc.set_threshold(*previous)
        Edit.__del__ = lambda self: None  # type: ignore[method-assign]
        gc.collect()
    expected = services.json_bytes(reference)
    assert all(answer is None or answer == expected for answer in answers), next(
        a for a in answers if a is not None and a != expected
    )
