"""Shared CLI plumbing: opening the ledger from the arguments, printing, progress."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, overload

from ..client import Ledger
from ..config import Settings
from ..errors import InputError
from ..storage._files import replace_private

# the spellings the standalone verifier reads too (its --now): a date, or a date-time with seconds and a zone
_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)


def open_ledger(args: Any) -> Ledger:
    return Ledger.open(Settings.from_env(getattr(args, "data_dir", None)))


def open_private(path: Path) -> TextIO:
    """``path`` opened for writing text (created or truncated), readable and writable by its owner only (0600),
    whatever the umask: what the CLI writes there holds certificate contents (fields and salts), and the data
    directory's protection (0700) does not reach a file written elsewhere. A file that existed keeps its owner and
    gets mode 0600; a device (``/dev/stdout``) is left as it is. A symbolic link at ``path`` (planted in a shared
    output directory) is replaced by the file, never followed: the file it points to is left as it was; only the
    system's own links in /dev, /dev/fd and /proc (``/dev/stdout``, ``/dev/fd/1``) are written through."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        if os.path.islink(path) and not _system_link(path):
            os.unlink(path)  # a link elsewhere: replaced; O_EXCL below refuses one planted again meanwhile
            flags |= os.O_EXCL
        elif not os.path.islink(path):
            flags |= os.O_NOFOLLOW
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return os.fdopen(fd, "w", encoding="utf-8")


def _system_link(path: Path) -> bool:
    """Whether ``path`` is where the system keeps its links to a process's streams (/dev/stdout, /dev/fd/N,
    /proc/self/fd/N), none of which another user can plant (unlike /dev/shm or /tmp)."""
    where = os.path.dirname(os.path.abspath(path))
    return where in ("/dev", "/dev/fd") or where.startswith("/proc/")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as :func:`open_private` opens it (owner only)."""
    with open_private(path) as handle:
        handle.write(text)


def distinct_files(written: dict[str, Path | None], read: dict[str, Path | None]) -> None:
    """InputError, naming both options, when a file a command writes (``written``: option -> path) is one it reads or
    writes under another option (``read``, ``written``), however spelt (``a/../b``, a link, a hard link): written first,
    it truncated the other before it was read, or was overwritten by it (red team round 63: ``ledger demo-data
    --rules-out`` over its --licences destroyed them). Devices (``/dev/stdout``, ``/dev/null``) are not compared."""
    given = [(option, path) for option, path in (*written.items(), *read.items()) if path is not None]
    for option, path in given:
        if option not in written:
            continue
        for other, other_path in given:
            if other != option and _same_file(path, other_path):
                raise InputError(
                    f"{option} {path} is the file {other} names ({other_path}): writing it would destroy the "
                    "other; give each its own file",
                    field=option,
                )


def _same_file(a: Path, b: Path) -> bool:
    try:
        first, second = os.stat(a), os.stat(b)
    except OSError:  # one does not exist yet: the same file only if both names lead to the same place
        return os.path.realpath(a) == os.path.realpath(b)
    if not (stat.S_ISREG(first.st_mode) and stat.S_ISREG(second.st_mode)):
        return False
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` to the file ``path`` whole, owner only (0600 whatever the umask), replacing what is there:
    for the reports and files a command writes into a directory others may share. A symbolic link planted at
    ``path`` is replaced by the file, never followed (the file it points to is left as it was)."""
    try:
        replace_private(path, text.encode("utf-8"))
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None


@overload
def identity_argument(value: str, option: str = ...) -> str: ...
@overload
def identity_argument(value: None, option: str = ...) -> None: ...
def identity_argument(value: str | None, option: str = "--applicant") -> str | None:
    """A person's identity the command was given: ``-`` reads it from standard input (one line), so that it is in
    no command line, which every user of the machine reads (/proc/PID/cmdline) while the command runs and the
    shell keeps in its history; any other value is the identity as given."""
    if value != "-":
        return value
    line = sys.stdin.readline() if sys.stdin is not None else ""
    identity = line.removesuffix("\n").removesuffix("\r")
    if not identity:
        raise InputError(f"{option} -: standard input held no identity; give it as one line there", field=option)
    return identity


def print_json(value: Any, stream: TextIO | None = None) -> None:
    """``value`` as indented JSON, its text as written (Chinese stays readable) except each character that is not
    printable, written as a JSON escape: a lone surrogate (``\\ud800``, which JSON spells and no stream encodes) in a
    bundle's member echoed in a report stopped the output half-way with a UnicodeEncodeError, and a bidirectional
    override or a C1 control reached the terminal as written (red team round 58)."""
    stream = stream or sys.stdout  # looked up per call: tests and callers may swap sys.stdout
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    # the common case, nothing to escape, decided in one pass in C: every character but the indentation's line ends
    # printable (those in 0x20-0x7e all are); otherwise a Python call per character past ASCII (a large export of
    # Chinese names paid one per character)
    if not text.replace("\n", "").isprintable():
        text = _NOT_ASCII_TEXT.sub(_json_escape, text)
    stream.write(text)
    stream.write("\n")


_NOT_ASCII_TEXT = re.compile(r"[^\x20-\x7e\n]")  # the characters to look at: json.dumps escapes those below 0x20


def _json_escape(found: re.Match[str]) -> str:
    """A character of JSON text as written, or, when it is not printable, its JSON escape (a surrogate pair past
    U+FFFF)."""
    c = found.group()
    if c.isprintable():
        return c
    code = ord(c)
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


class ProgressBar:
    """Progress on stderr: a redrawn bar on a terminal, a line every 10% otherwise."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr  # None when the process was started with stderr closed
        self.start = time.monotonic()
        self.tty = self.stream is not None and self.stream.isatty()
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        if self.stream is None:
            return
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = done / elapsed
        if total:
            fraction = min(done / total, 1.0)
            if self.tty:
                bar = "#" * int(fraction * 30)
                self.stream.write(f"\r{self.label} [{bar:<30}] {done}/{total} ({rate:,.0f}/s)")
                if done >= total:
                    self.stream.write("\n")
            elif int(fraction * 10) != self._last_decile:
                self._last_decile = int(fraction * 10)
                self.stream.write(f"{self.label}: {done}/{total} ({fraction:.0%}, {rate:,.0f}/s)\n")
        else:
            self.stream.write(f"{self.label}: {done} ({rate:,.0f}/s)\n")
        self.stream.flush()


def shown(text: str) -> str:
    """``text`` as a terminal may print it: each character that is not printable (an escape, a carriage return, a
    C1 control, a bidirectional override, a lone surrogate) written as its Python escape (``\\x1b``), so that a value
    a document or bundle holds is named in a report, never acted on: an escape sequence in a failing check's detail
    would otherwise hide the verdict or write over the report (red team round 58)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def print_report(report: Any, stream: TextIO | None = None) -> None:
    """Readable verification report: one line per check, each detail :func:`shown`."""
    stream = stream or sys.stdout
    stream.write(f"certificate {shown(str(report.digest or '(unreadable)'))}\n")
    for check in report.checks:
        mark = "PASS" if check.ok else "SKIP" if check.skipped else "FAIL"
        stream.write(f"  [{mark}] {check.name:<15} {shown(check.detail)}\n")
    stream.write(
        ("VERIFIED" if report.ok else "NOT VERIFIED: failed " + ", ".join(c.name for c in report.failed))
        + (f" (chain as of block {report.as_of_block})" if report.as_of_block is not None else "")
        + "\n"
    )


def moment(option: str, value: str | None) -> datetime | None:
    """An ISO 8601 option value (``--now``, ``--since``, ``--until`` ...) as an aware datetime (a date: its
    00:00:00 UTC), or a clear InputError. A date-time must name its time zone, or its instant would depend on the
    machine the command runs on."""
    if value is None:
        return None
    try:
        if not _MOMENT.fullmatch(value):
            raise ValueError(value)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {value!r} is not an ISO 8601 date or date-time (e.g. 2030-01-31 or 2030-01-31T12:00:00Z)"
        ) from None
    if parsed.tzinfo is None and len(value) > 10:
        raise InputError(f"{option} {value!r} has no time zone: add Z or an offset such as +08:00")
    if parsed.tzinfo is not None:
        try:
            parsed.astimezone(UTC)  # every reader compares it in UTC
        except OverflowError:
            raise InputError(
                f"{option} {value!r} lies outside the calendar once converted to UTC; give a moment between years 1 "
                "and 9999 in UTC"
            ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
