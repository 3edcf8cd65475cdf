"""Red team round 81: a forger, a holder editing their document and an anonymous client, against verification and
the public gateway.

The verification page (``api/static/verify.js``) read a dropped certificate file with the browser's ``JSON.parse``
and sent ``JSON.stringify`` of what it read: not the file. ``JSON.parse`` keeps the last of two members of one name
and reads ``1e999`` as Infinity, which ``JSON.stringify`` writes ``null``; so a file every other reader refuses (a
duplicate key, the lie first, where a person reading the file, and the library, see it) was shown "Verified" for
the genuine document the page made of it.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.errors import InputError
from ledger.formats.certificate import load_document, validate_record
from ledger.services.issuance import issue_records

from .api_support import Clock, assert_problem, issue, make_client
from .browser_support import (
    needs_chromium,
    page_fixture,  # noqa: F401 - fixtures
    server_fixture,  # noqa: F401 - fixtures
)
from .cli_support import cli_in_process
from .conftest import make_records
from .gateway_process import gateway


def _page_verdict(page: Any, server: str, path: Path) -> tuple[str, str]:
    """What the verification page shows for the file at ``path``: its state (done, error) and verdict or error."""
    page.goto(server + "/")
    page.set_input_files("#file", str(path))
    page.wait_for_selector("body[data-state=done], body[data-state=error]")
    state = str(page.get_attribute("body", "data-state"))
    return state, page.inner_text("#verdict" if state == "done" else "#error")


@needs_chromium
def test_the_page_verifies_the_file_dropped_not_its_own_reading_of_it(
    ledger: Ledger, server: str, page: Any, tmp_path: Path
) -> None:
    """Adversary: a holder editing their document. The file names ``subject.name`` twice, a name of their choosing
    first and the certified one last (where a person, a text viewer and the library read the first; the library
    refuses the file). The page sent the browser's re-serialisation, the last value alone, and showed "Verified".
    It now sends the file's text as it is: the gateway refuses the duplicate key and the page says so. A genuine
    file, pretty-printed or behind a byte order mark, is still verified."""
    doc = issue(ledger, "MKT", 1)[0]
    genuine = tmp_path / "genuine.json"
    genuine.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    assert _page_verdict(page, server, genuine) == ("done", "Verified")
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc).encode())
    assert _page_verdict(page, server, bom) == ("done", "Verified")

    text = json.dumps(doc, ensure_ascii=False, indent=2)
    lie = text.replace('"fields": {', '"fields": {\n    "subject.name": "Li Na",', 1)
    forged = tmp_path / "forged.json"
    forged.write_text(lie, encoding="utf-8")
    with pytest.raises(InputError, match=r"duplicate key 'subject\.name'"):
        load_document(forged)
    state, shown = _page_verdict(page, server, forged)
    assert (state, shown) != ("done", "Verified")
    assert state == "error" and "subject.name" in shown, shown

    # a certified null written 1e999: the browser read Infinity and wrote null, the certified value
    record = make_records(1)[0]
    record["subject"]["note"] = None
    out = io.StringIO()
    issue_records(ledger, [validate_record(record, 1, department="MKT")], "MKT", out=out)
    with_null = json.loads(out.getvalue())
    assert _page_verdict(page, server, _written(tmp_path / "null.json", json.dumps(with_null))) == ("done", "Verified")
    infinite = json.dumps(with_null).replace('"subject.note": null', '"subject.note": 1e999', 1)
    assert "1e999" in infinite
    state, shown = _page_verdict(page, server, _written(tmp_path / "infinite.json", infinite))
    assert (state, shown) != ("done", "Verified")


def _written(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_verify_with_status_lists_reads_the_file_once_and_never_waits_on_a_pipe(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Adversary: whoever hands a clerk the file to check (round 56's: a named pipe no process writes to). ``ledger
    verify FILE --status-list LIST`` opened FILE a second time with a plain ``open()`` to read the credential's status
    entries (round 56 made the first read, ``load_document``'s, wait for no writer): the command waited for ever.
    The credential is now read once, without waiting, and the same bytes are verified and their status entries
    checked (a pipe or a file changing between two reads could not show the entries of another text than the one
    verified)."""
    fifo = tmp_path / "credential.json"
    os.mkfifo(fifo)
    listed = tmp_path / "list.json"
    listed.write_text("{}", encoding="utf-8")
    answers: list[Any] = []

    def run() -> None:
        try:
            answers.append(
                cli_in_process(ledger, monkeypatch, capsys, "verify", str(fifo), "--status-list", str(listed))
            )
        except BaseException as exc:  # noqa: BLE001 - what the command raised is the test's subject
            answers.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(20)
    waited = worker.is_alive()
    if waited:  # let the reader go
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(30)
    assert not waited, "ledger verify --status-list waited for a writer of the pipe"
    (answer,) = answers
    assert not isinstance(answer, BaseException), answer
    code, out, _ = answer
    assert code == 1 and "format" in out, out


def _issued(ledger: Ledger, record: dict[str, Any]) -> dict[str, Any]:
    out = io.StringIO()
    issue_records(ledger, [validate_record(record, 1, department="MKT")], "MKT", out=out)
    return json.loads(out.getvalue())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "said"),
    [("2019-01-01", "2020-12-31", "expired"), ("2090-01-01", "2095-12-31", "not yet valid")],
)
def test_a_digest_alone_does_not_verify_a_certificate_outside_its_validity(
    ledger: Ledger, valid_from: str, valid_until: str, said: str
) -> None:
    """Adversary: a holder whose licence expired in 2020 (or one not valid before 2090), handing a clerk its digest,
    which the verification page invites them to paste. ``POST /public/verify {"digest"}`` left the validity check
    out (its detail names the dates, which may be personal) and answered ``verified: true``, ``status: valid``:
    the page said "Verified ... status valid" for a certificate every other verifier, and the same gateway given
    the file, calls expired. The digest-only answer now has the validity check, its verdict in words naming no
    date: ``verified`` is false, and still no date or field of the certificate is in the answer."""
    record = make_records(1)[0]
    record["valid_from"], record["valid_until"] = valid_from, valid_until
    doc = _issued(ledger, record)
    client = make_client(ledger, Clock())
    by_file = client.post("/public/verify", json={"document": doc}).json()
    assert by_file["verified"] is False and by_file["status"] == "valid"
    answer = client.post("/public/verify", json={"digest": doc["digest"]})
    assert answer.status_code == 200, answer.text
    by_digest = answer.json()
    assert by_digest["verified"] is False, by_digest
    (validity,) = [c for c in by_digest["checks"] if c["name"] == "validity"]
    assert validity["ok"] is False and said in validity["detail"], validity
    assert not any(c.isdigit() for c in validity["detail"]), validity  # no date, no part of one
    for name, value in doc["fields"].items():
        if name.startswith("subject.") or name in ("id", "valid_from", "valid_until"):
            assert str(value) not in answer.text, name

    # a certificate within its validity is verified by its digest as before, its dates not named either
    current = _issued(ledger, make_records(1)[0])
    answer = client.post("/public/verify", json={"digest": current["digest"]})
    assert answer.json()["verified"] is True, answer.text
    for name in ("valid_from", "valid_until"):
        assert current["fields"][name] not in answer.text


_ATTACHED = {"sha256": "ab" * 32}


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            {"attachments": [{"name": "invoice\u202efdp.exe", **_ATTACHED}]},
            "attachments[0].name",
        ),  # shows invoiceexe.pdf
        ({"attachments": [{"name": "scan\u2066.pdf\u2069.exe", **_ATTACHED}]}, "attachments[0].name"),
        ({"attachments": [{"name": "plan\u200b.pdf", **_ATTACHED}]}, "attachments[0].name"),
        ({"attachments": [{"name": "a\x1b[8mhidden", **_ATTACHED}]}, "attachments[0].name"),
        ({"attachments": [{"name": "x.pdf", "media_type": "application/pdf\u034f", **_ATTACHED}]}, "attachments[0]"),
        ({"attachments": [{"name": "ok.pdf", **_ATTACHED}, {"name": "b\u2028c", **_ATTACHED}]}, "attachments[1].name"),
        (
            {"attachments": [{"name": "x.pdf", "media_type": {"type": "application/pdf"}, **_ATTACHED}]},
            "attachments[0]",
        ),
        ({"attachments": [{"name": "x.pdf", "media_type": 1e16, **_ATTACHED}]}, "attachments[0]"),
        ({"id": "LIC-2026-0001\u034f"}, "id"),  # a combining grapheme joiner: printable, shown as nothing
        ({"id": "LIC-2026-0001\u3164"}, "id"),  # a Hangul filler: a letter, shown as a blank
    ],
)
def test_attachment_names_and_the_certificate_id_display_as_they_state(change: dict[str, Any], where: str) -> None:
    """Adversary: a holder handing the department their details (an attachment's file name), or an issuing clerk
    preparing the records: round 71 refused characters that display as nothing or as other text in a certificate's
    subject fields, but an attachment's ``name`` and ``media_type`` (the text a clerk reads to know what the
    attached file is) took any text: ``invoice<U+202E>fdp.exe`` displays as ``invoiceexe.pdf``; and ``media_type``
    took any JSON value where docs/format.md says text (``1e16`` included, which round 60 found no verifier can read
    back). The certificate ``id``, held to ``isprintable()``, took a combining grapheme joiner or a Hangul filler,
    printable characters shown as nothing, so two certificate numbers displayed alike. Each is refused, naming the
    field; nothing is issued."""
    record: dict[str, Any] = {**make_records(1)[0], **change}
    with pytest.raises(InputError) as refused:
        validate_record(record, 1, department="MKT")
    assert refused.value.field is not None and refused.value.field.startswith(where), (
        refused.value.field,
        str(refused.value),
    )


def test_ordinary_attachments_and_ids_are_issued_as_before() -> None:
    """Guard: attachment names in any script (CJK, Arabic with its own marks, an emoji) and the usual media types,
    and ids of printable text, are accepted."""
    for change in (
        {"attachments": [{"name": "营业执照扫描件.pdf", "media_type": "application/pdf", **_ATTACHED}]},
        {
            "attachments": [
                {"name": "عقد.pdf", **_ATTACHED},
                {"name": "photo 📷.jpg", "media_type": "image/jpeg", **_ATTACHED},
            ]
        },
        {"id": "证-2026-0001"},
    ):
        validate_record({**make_records(1)[0], **change}, 1, department="MKT")


@pytest.mark.parametrize("coding", ["gzip", "GZIP", "deflate", "br", "gzip, identity", "x-unknown"])
def test_a_body_labelled_with_a_content_coding_is_refused_not_read_as_plain(ledger: Ledger, coding: str) -> None:
    """Adversary: an anonymous client, past a proxy or filter in front of the gateway that decodes a body by its
    ``Content-Encoding`` to inspect or log it. The gateway read every body as it came, whatever coding the request
    named: a plain JSON body labelled ``gzip`` was verified (200), while a filter decoding it found no gzip and
    (as many do) let it through uninspected, so the gateway and what stands in front of it read two bodies (round
    41b's principle, for the body). A request naming a content coding other than ``identity`` is refused (415)
    before its body is read; one naming ``identity``, or none, is answered as before."""
    import gzip

    doc = issue(ledger, "MKT", 1)[0]
    client = make_client(ledger, Clock())
    plain = json.dumps({"document": doc}).encode()
    for body in (plain, gzip.compress(plain)):
        answer = client.post(
            "/public/verify", content=body, headers={"Content-Type": "application/json", "Content-Encoding": coding}
        )
        problem = assert_problem(answer, 415)
        assert problem["type"] == "/problems/unsupported-encoding" and "identity" in problem["detail"], problem
    for headers in ({"Content-Encoding": "identity"}, {"Content-Encoding": " Identity "}, {"Content-Encoding": ""}, {}):
        answer = client.post("/public/verify", content=plain, headers={"Content-Type": "application/json", **headers})
        assert answer.status_code == 200 and answer.json()["verified"] is True, answer.text


def _raw_answer(url: str, request: bytes) -> bytes:
    """The status line of the gateway's answer to ``request``, written to its socket as it is."""
    host, port = url.split("//")[1].split(":")
    answer = b""
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        while b"\r\n" not in answer and (piece := connection.recv(4096)):
            answer += piece
    return answer.split(b"\r\n", 1)[0]


def test_a_body_with_a_transfer_coding_beside_chunked_is_refused_not_read_as_plain(ledger: Ledger) -> None:
    """Adversary: the same anonymous client, against the real gateway process (uvicorn's parser, which undoes the
    chunking and ignores every other transfer coding): ``Transfer-Encoding: gzip, chunked`` over a plain body was
    verified (200), where a proxy decoding by the header reads no gzip. Any transfer coding but ``chunked`` alone is
    refused (501, or the parser's own 400); ``chunked`` is answered as before."""
    doc = issue(ledger, "MKT", 1)[0]
    body = json.dumps({"document": doc}).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)

    def request(coding: bytes) -> bytes:
        return (
            b"POST /public/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: " + coding + b"\r\nConnection: close\r\n\r\n" + chunked
        )

    with gateway(ledger) as gw:
        for coding in (b"gzip, chunked", b"deflate, chunked", b"identity, chunked"):
            assert _raw_answer(gw.url, request(coding)).split(b" ")[1] in (b"400", b"501"), coding  # 400: the parser's
        assert _raw_answer(gw.url, request(b"chunked")).split(b" ")[1] == b"200"
        assert _raw_answer(gw.url, request(b"Chunked")).split(b" ")[1] == b"200"


def test_the_pages_scripts_are_revalidated_so_a_fixed_script_reaches_every_browser(ledger: Ledger) -> None:
    """The fix of the page's script (the first test) reaches a clerk's browser only if the browser asks again: the
    page assets said nothing of caching, so a browser kept the old ``verify.js`` (which verified its own reading of
    a file) for as long as its heuristic allowed (a tenth of the file's age: days or weeks). Assets now say
    ``Cache-Control: no-cache``: kept, but revalidated on each use, a 304 while unchanged. API answers stay
    ``no-store``."""
    client = make_client(ledger, Clock())
    for path in ("/static/verify.js", "/static/style.css", "/swagger-ui/swagger-ui-bundle.js"):
        first = client.get(path)
        assert first.status_code == 200 and first.headers.get("cache-control") == "no-cache", (path, first.headers)
        etag = first.headers["etag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, (path, again.status_code)
    assert client.get("/").headers.get("cache-control") == "no-store"
