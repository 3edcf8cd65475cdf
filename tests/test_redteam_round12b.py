"""Red team, round 12b: a forger editing a bundle or a cosigned checkpoint, an applicant shaping a decision's input,
and the court's hostile expert comparing the library with the court's standalone verifier.

1. JSON equality in the rule engines: both compared values with Python's ``==`` plus a top-level bool check, so
   inside arrays and objects JSON true was 1 and false 0 (``[1] == [True]``, ``{"a": 1} == {"a": True}``): a
   ``ref`` comparison of two lists or objects fired where JSON says the values differ. Now both engines compare
   JSON values strictly at any depth (true is not 1; 1.0 is 1, one JSON number), one outcome for every case.
2. Signed notes split with ``str.splitlines()``: both verifiers read a note's signature block as lines split at
   \\x0b, \\x0c, \\x1c-\\x1e, \\x85, \\u2028 and \\u2029 too, where c2sp.org/signed-note (and Go's note.Open) split at
   "\\n" only and refuse any other control character below U+0020. A cosigned checkpoint with a trusted
   witness's cosignature glued to another line by such a character, which Go refuses as malformed, passed
   `witnessed`. Now both verifiers (and the witness's and the ledger's note parsers) read notes as Go does.
3. Duplicate JSON keys: refused by the bundle and document loaders, but not by five gateway routes (sign-in's
   challenge and token, revoke, supersede, grants), the consent CLI's assertion file nor a council approval file:
   each read the last of two equal keys, where a person or another parser may read the first. Now refused
   everywhere; the bundle loaders of both verifiers are shown to refuse one nested deep.
4. ``ledger evidence verify`` had no ``--now`` nor ``--confirmations``, which the court's verifier has: the expert
   could not judge a bundle with the library at the moment, or depth, the court's verifier was asked to. Now
   it has both, with the same meaning, and the two agree.

Each hole found was written first as a failing test, then closed.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.client import Ledger
from ledger.formats.canonical import canonical_json
from ledger.services import evidence, issuance

from .conftest import make_records, write_jsonl
from .evidence_support import cli_env, failed_names, standalone
from .verifiers_support import (
    both_engines,
    checkpoint_text,
    one_rule_set,
    witnessed_by_both,
    witnessed_by_both_many,
)


def _issue(ledger: Ledger, tmp: Path, department: str) -> dict[str, Any]:
    out = io.StringIO()
    issuance.issue_file(ledger, write_jsonl(tmp / f"{department}.jsonl", make_records(1)), department, out=out)
    return dict(json.loads(out.getvalue().splitlines()[0]))


# (x, y, whether JSON says x and y are the same value)
_PAIRS: list[tuple[Any, Any, bool]] = [
    (1, True, False),
    (0, False, False),
    (True, True, True),
    ([1], [True], False),
    ([0], [False], False),
    ([True], [True], True),
    ({"a": 1}, {"a": True}, False),
    ({"a": False}, {"a": 0}, False),
    ({"a": True}, {"a": True}, True),
    ([[1]], [[True]], False),
    ({"a": [0]}, {"a": [False]}, False),
    ([{"a": 1}], [{"a": True}], False),
    (1.0, 1, True),
    ([1.0], [1], True),
    ({"a": 1.0}, {"a": 1}, True),
    ([1, 2], [2, 1], False),
    ({"a": 1, "b": [True]}, {"b": [True], "a": 1}, True),
    ([], {}, False),
    ([None], [False], False),
    (None, False, False),
    ("1", 1, False),
    ([1], 1, False),
    (["a"], "a", False),
    ({"a": None}, {}, False),
]
# (condition on application.x, x, whether it holds)
_LITERALS: list[tuple[dict[str, Any], Any, bool]] = [
    ({"op": "==", "value": True}, 1, False),
    ({"op": "==", "value": True}, [True], False),
    ({"op": "==", "value": 1}, 1.0, True),
    ({"op": "!=", "value": 0}, False, True),
    ({"op": "in", "value": [True]}, 1, False),
    ({"op": "in", "value": [1]}, [1], False),
    ({"op": "in", "value": [1]}, 1.0, True),
    ({"op": "not_in", "value": [False]}, 0, True),
]


def test_the_rule_engines_compare_json_values_strictly_at_any_depth() -> None:
    """An applicant answers a rule comparing two of the input's lists or objects (``field: application.x, op:
    ==, ref: application.y``) with [1] where the other holds [true]. Both engines compared with Python's ``==``,
    which inside containers takes true for 1: the rule fired, though as JSON the values differ (a top-level true
    and 1 were already told apart). Every case of the table now gets JSON's answer, and the same from both; so does
    every pair of a few hundred random values built from the scalars Python confuses."""
    wrong = []
    for x, y, same in _PAIRS:
        for op in ("==", "!="):
            for a, b in ((x, y), (y, x)):
                document = one_rule_set({"field": "application.x", "op": op, "ref": "application.y"})
                outcomes = both_engines(document, {"application": {"x": a, "y": b}})
                expected = "approve" if same == (op == "==") else "refer"
                if outcomes != (expected, expected):
                    wrong.append(f"{a!r} {op} {b!r}: (library, court) = {outcomes}, JSON says {expected}")
    for condition, x, holds in _LITERALS:
        document = one_rule_set({"field": "application.x", **condition})
        outcomes = both_engines(document, {"application": {"x": x}})
        expected = "approve" if holds else "refer"
        if outcomes != (expected, expected):
            wrong.append(f"{x!r} {condition}: (library, court) = {outcomes}, JSON says {expected}")
    certificate = one_rule_set({"certificate": {"type": "licence", "verified": True, "expired": False}})
    for verified, expired, holds in ((True, False, True), (1, False, False), (True, 0, False)):
        data = {"certificates": [{"type": "licence", "verified": verified, "expired": expired}]}
        expected = "approve" if holds else "refer"
        if (outcomes := both_engines(certificate, data)) != (expected, expected):
            wrong.append(f"certificate verified={verified!r} expired={expired!r}: {outcomes}, JSON says {expected}")
    assert not wrong, "\n".join(wrong)
    same_json_values_agree()


# JSON values built from the few scalars Python's == confuses, so that random pairs often collide
_CONFUSABLE = st.recursive(
    st.sampled_from([0, 1, 2, 0.0, -0.0, 1.0, 1.5, True, False, None, "1", "true", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2),
    max_leaves=6,
)


def _confused(value: Any) -> Any:
    """``value`` with true and 1, false and 0 swapped, and 1.0 written 1, at every depth: the value Python's ``==``
    takes for it (the same JSON value only where nothing was swapped)."""
    if isinstance(value, dict):
        return {key: _confused(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_confused(inner) for inner in value]
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, bool):
        return int(value)
    return bool(value) if type(value) is int and value in (0, 1) else value


_PAIRS_OF_VALUES = _CONFUSABLE.flatmap(lambda x: st.tuples(st.just(x), st.just(_confused(x)) | _CONFUSABLE))


@settings(max_examples=300, deadline=None)
@given(_PAIRS_OF_VALUES)
def same_json_values_agree(pair: tuple[Any, Any]) -> None:
    """The property behind the table: for any two JSON values, both engines' `==` (and `!=`) is RFC 8785 equality
    (two values are the same JSON value when their canonical forms are the same text)."""
    x, y = pair
    same = canonical_json(x) == canonical_json(y)
    for op in ("==", "!="):
        document = one_rule_set({"field": "application.x", "op": op, "ref": "application.y"})
        expected = "approve" if same == (op == "==") else "refer"
        assert both_engines(document, {"application": {"x": x, "y": y}}) == (expected, expected), (x, op, y)


_SEPARATORS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def test_a_cosigned_checkpoint_is_read_as_go_reads_a_signed_note(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """A forger holds a checkpoint a witness the court trusts cosigned, and appends to its signature block a line
    of their own joined to the witness's cosignature by a character str.splitlines() splits at and "\\n" does not
    (\\x0b, \\x0c, \\x1c-\\x1e, \\x85, \\u2028, \\u2029), or ends the witness's line with one. Go's note.Open (and
    c2sp.org/signed-note, which splits at newlines only) refuses such a note: a control character other than
    newline anywhere, or a line whose base64 runs on into the next. Both verifiers split with splitlines(), found
    the witness's cosignature on a line of its own and passed `witnessed`. Now both refuse the note, as do the
    ledger's note parsers (the witness server reading a request, the ledger reading a witness's answer). Such a
    character in the checkpoint text itself, even cosigned by the witness, fails `witnessed` in both, each saying
    why (the court's verifier said "ValueError: string argument should contain only ASCII characters" for one
    ending the root hash line)."""
    from ledger.errors import InputError
    from ledger.services.witness.note import COSIGNATURE_V1, SignerKey, parse_note, parse_signature_lines

    bundle = evidence.certificate_bundle(ledger, _issue(ledger, tmp_path, fresh_department))
    text = checkpoint_text(bundle)
    witness = SignerKey.generate("court-witness-r12b", COSIGNATURE_V1)
    stranger = SignerKey.generate("stranger-r12b", COSIGNATURE_V1)
    theirs, mine = witness.cosign(text, 1_767_225_600).line(), stranger.cosign(text, 1_767_225_600).line()
    key = str(witness.verifier)
    honest = {**bundle, "witness": {"checkpoint": text + "\n" + mine + theirs}}
    library, court = witnessed_by_both(ledger, honest, tmp_path, key)
    assert library[0] and court[0] == "PASS", (library, court)  # the forger's line on its own does no harm
    wrong = []
    # every note first, then both verifiers on all of them: the court's verifier reads them in one interpreter
    cases: list[tuple[str, str, bool]] = []  # (what the note is, the note, whether it is a forger's signature block)
    for sep in _SEPARATORS:
        for block in (mine[:-1] + sep + theirs, theirs[:-1] + sep + "\n"):
            note = text + "\n" + block
            where = f"{sep!r} {'joining two lines' if block.endswith(theirs) else 'ending the line'}"
            cases.append((where, note, True))
            for parse, text_read in ((parse_note, note), (parse_signature_lines, block)):
                try:
                    parse(text_read)
                except InputError:
                    continue
                wrong.append(f"{where}: {parse.__name__} read it")
        # in the checkpoint text, cosigned by the witness itself: Go refuses the control characters, and no such
        # text is a checkpoint of the chain (an origin, a size and a base64 root hash, no other line)
        for body in (text[:-1] + sep + "\n", text.replace("\n", sep + "\n", 1), text + sep + "\n"):
            note = body + "\n" + witness.cosign(body, 1_767_225_600).line()
            cases.append((f"{sep!r} in the checkpoint {body[-50:]!r}", note, False))
    verdicts = witnessed_by_both_many(
        ledger, [{**bundle, "witness": {"checkpoint": note}} for _, note, _ in cases], tmp_path, key
    )
    for (where, _, forged_block), (library, court) in zip(cases, verdicts, strict=True):
        if forged_block and (library[0] or court[0] != "FAIL"):
            wrong.append(f"{where}: library witnessed={library[0]}, court's verifier {court[0]}")
        if not forged_block and (library[0] or court[0] != "FAIL" or "Error" in court[1]):
            wrong.append(f"{where}: library {library}, court's verifier {court}")
    assert not wrong, "\n".join(wrong)


def test_every_gateway_route_taking_a_json_body_refuses_a_duplicate_key(ledger: Ledger) -> None:
    """A client sends `{"department": "MKT", "department": "INS"}` to POST /auth/challenge, `{"reason":
    "error", "reason": "fraud"}` to a revocation, a grant naming its consent twice: the gateway read the last
    value, where a person reading the request (or the access log, or a proxy's parser) may read the first. Five
    routes lacked the duplicate-key refusal the others have. Now every route with a JSON body refuses one (422
    naming the key), before it signs in anyone or changes anything."""
    from .api_support import Clock, make_client

    with make_client(ledger, Clock()) as client:
        paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
        routes = [
            (method.upper(), path)
            for path, item in paths.items()
            for method, operation in item.items()
            if "application/json" in operation.get("requestBody", {}).get("content", {})
        ]
        assert len(routes) >= 10, routes
        accepted = []
        for method, route in routes:
            path = route.replace("{digest}", "0x" + "00" * 32).replace("{consent_id}", "c" * 24)
            answer = client.request(
                method, path, content=b'{"x": 1, "x": 2}', headers={"Content-Type": "application/json"}
            )
            if answer.status_code != 422 or "duplicate key 'x'" not in answer.text:
                accepted.append(f"{method} {route}: {answer.status_code} {answer.text[:120]}")
    assert not accepted, "\n".join(accepted)


def test_a_consent_assertion_or_council_approval_naming_a_key_twice_is_refused(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two files reach the ledger from outside: the authentication provider's signed assertion a person hands to
    `ledger consent`, and a council member's signed approval file (`ledger council approvals submit`). Both were
    read with json.loads, so a file naming a key twice (a second `signature`, a second `proposal_id`) was read
    with its last value, where the person checking it may read the first. Both are refused now, naming the key."""
    from ledger.cli import main as cli_main
    from ledger.errors import InputError
    from ledger.services.council import APPROVAL_FILE_FORMAT, read_approval

    signature = "0x" + "11" * 65
    assertion = tmp_path / "assertion.json"
    first = json.dumps({"assertion": {"type": "pl-subject-assertion/2"}, "signature": "0x" + "22" * 65})
    assertion.write_text(first[:-1] + f', "signature": "{signature}"}}', encoding="utf-8")
    code = cli_main([*cli_env(ledger, monkeypatch), "consent", "withdraw", "c" * 24, "--assertion", str(assertion)])
    err = capsys.readouterr().err
    assert code == 2 and "duplicate key 'signature'" in err, (code, err)
    approval = tmp_path / "approval.json"
    fields = f'"chain_id": 1, "registry": "0x{"00" * 20}", "member": "0x{"00" * 20}", "deadline": 1'
    approval.write_text(
        f'{{"format": "{APPROVAL_FILE_FORMAT}", "proposal_id": 7, {fields}, "signature": "{signature}", '
        '"proposal_id": 8}',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="duplicate key 'proposal_id'"):
        read_approval(approval)


def test_both_verifiers_refuse_a_bundle_naming_a_key_twice_at_any_depth(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """The forger's version of the same: a bundle whose certificate names a field's salt twice, deep inside it, so
    the court's verifier and the library might read different salts. Both refuse the bundle (the library's
    `bundle` check fails; the court's verifier stops with exit 2), naming the key."""
    bundle = evidence.certificate_bundle(ledger, _issue(ledger, tmp_path, fresh_department))
    text = json.dumps(bundle)
    name = next(iter(bundle["certificate"]["salts"]))
    twice = text.replace('"salts": {', f'"salts": {{"{name}": "{"00" * 16}", ', 1)
    assert twice != text
    path = tmp_path / "twice.json"
    path.write_text(twice, encoding="utf-8")
    report = evidence.verify_bundle(path, ledger.chain)
    assert not report.ok and "duplicate key" in report.check("bundle").detail, report.to_json()
    code, result, stderr = standalone(ledger, path)
    assert code == 2 and result is None and f"duplicate key {name!r}" in stderr, (code, stderr)


def test_ledger_evidence_verify_takes_now_and_confirmations_as_the_courts_verifier_does(
    ledger: Ledger, fresh_department: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The court asks whether a licence (valid until 2031-12-31) was valid on 2032-01-01, and for a bundle anchored
    at least a million blocks deep. The court's verifier takes `--now 2032-01-01` and `--confirmations 1000000`;
    `ledger evidence verify` had neither (argparse refused them: exit 2), so the expert could not check the
    court's question with the library. Now it takes both, with the same meaning, and the two give one verdict on
    each question (and refuse the same meaningless values: a negative depth, a moment without a time zone)."""
    from ledger.cli import main as cli_main

    data_dir = cli_env(ledger, monkeypatch)
    bundle = evidence.certificate_bundle(ledger, _issue(ledger, tmp_path, fresh_department))
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    report_file = tmp_path / "report.json"
    for options, failed in (
        ((), set()),
        (("--now", "2030-06-01"), set()),
        (("--now", "2032-01-01"), {"validity"}),
        (("--now", "2032-01-01T07:59:59+08:00"), set()),  # still 2031-12-31 in UTC
        (("--confirmations", "0"), set()),
        (("--confirmations", "1000000"), {"confirmations"}),
    ):
        with monkeypatch.context() as m, report_file.open("w") as out:
            m.setattr("sys.stdout", out)
            code = cli_main([*data_dir, "evidence", "verify", str(path), "--report", *options])
        checks = json.loads(report_file.read_text())["checks"]
        library = {c["name"] for c in checks if not c["ok"] and not c["skipped"]}
        court_code, result, stderr = standalone(ledger, path, *options)
        assert result is not None, stderr
        assert (code, library) == (1 if failed else 0, failed), (options, code, library)
        assert (court_code, failed_names(result)) == (code, library), (options, court_code, result)
    for options in (("--confirmations", "-1"), ("--now", "2032-01-01T00:00:00"), ("--now", "next week")):
        code = cli_main([*data_dir, "evidence", "verify", str(path), *options])
        court_code, result, stderr = standalone(ledger, path, *options)
        assert code == court_code == 2 and result is None, (options, code, court_code, stderr)
