"""Shared CLI plumbing: opening the ledger from the arguments, printing, progress."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from ..client import Ledger
from ..config import Settings


def open_ledger(args: Any) -> Ledger:
    return Ledger.open(Settings.from_env(getattr(args, "data_dir", None)))


def print_json(value: Any, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout  # looked up per call: tests and callers may swap sys.stdout
    json.dump(value, stream, indent=2, ensure_ascii=False, default=str)
    stream.write("\n")


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


def print_report(report: Any, stream: TextIO | None = None) -> None:
    """Readable verification report: one line per check."""
    stream = stream or sys.stdout
    stream.write(f"certificate {report.digest or '(unreadable)'}\n")
    for check in report.checks:
        mark = "PASS" if check.ok else "SKIP" if check.skipped else "FAIL"
        stream.write(f"  [{mark}] {check.name:<15} {check.detail}\n")
    stream.write(("VERIFIED" if report.ok else "NOT VERIFIED: failed " + ", ".join(c.name for c in report.failed))
                 + (f" (chain as of block {report.as_of_block})" if report.as_of_block is not None else "") + "\n")
