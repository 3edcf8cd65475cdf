"""The ``ledger`` command: a thin layer over the library. Each command group lives in its own module and
registers its subcommands here; every LedgerError becomes a one-line message and exit code 2, and so does a query
the database refused (what differs from the migrations, if anything; never the statement or its values). Any other
exception is a fault of the ledger's: one line naming its class and where it was raised, exit code 70
(``EX_SOFTWARE``), its traceback only with ``LEDGER_DEBUG=1``. Its message is never printed: an error's text may
quote what it was handed (a passphrase, an applicant's field), and a traceback its frames' values too."""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from ..config import (
    DEBUG_VARIABLE,
    data_dir_from_env,
    debug_tracebacks,
    insecure_kdf_floor_warning,
    journal_stream,
    kdf_floor_from_env,
)
from ..errors import LedgerError

INTERNAL_ERROR = 70  # EX_SOFTWARE (sysexits.h): distinct from a refusal (2) and a failed check (1)
_PACKAGE = Path(__file__).resolve().parent.parent

GROUPS = (
    "ledger.cli.certificates",
    "ledger.cli.governance",
    "ledger.cli.decisions",
    "ledger.cli.evidence",
    "ledger.cli.operations",
    "ledger.cli.privacy",
    "ledger.cli.witness",
    "ledger.cli.report",
    "ledger.cli.consent",
    "ledger.cli.supervision",
    "ledger.cli.database",
    "ledger.cli.doctor",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledger", description="Provenance ledger for government certificates and approval decisions."
    )
    parser.add_argument("--data-dir", help="data directory (default $LEDGER_DATA_DIR or ./.ledger)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in GROUPS:
        importlib.import_module(name).register(commands)
    return parser


def _warn_the_operator(warning: str | None, args: argparse.Namespace) -> None:
    """Tell the operator who runs a command with an insecure setting. On standard error when a person reads it there:
    a terminal, or the journal of a systemd service (``JOURNAL_STREAM`` names standard error). A command's error
    stream read by a program (a script, the test suite, which sets the insecure floor on purpose) is left as the
    command writes it. Whatever runs it (cron, another service manager), the warning is recorded in the data
    directory (``doctor.INSECURE_RECORD``; a witness's store) for `ledger doctor` to report; a gateway says so in its
    log at its start. Not `ledger doctor`, which reports the setting as in effect now: recorded, it replaced the
    record of the earlier command the operator ran it to find, and reported the warning twice."""
    if not warning or args.command == "doctor":
        return
    if sys.stderr.isatty() or _to_the_journal():
        print(f"warning: {warning}", file=sys.stderr)
    from ..services.doctor import record_insecure_setting  # only with a warning: no command pays for the import

    # a witness's store is its data directory; the command named with its action (`db upgrade`, `witness serve`)
    directory = getattr(args, "store", None) or data_dir_from_env(getattr(args, "data_dir", None))
    actions = [value for name, value in vars(args).items() if name.endswith("_command") and isinstance(value, str)]
    record_insecure_setting(Path(directory), warning, " ".join([str(args.command), *actions]))


def _to_the_journal() -> bool:
    stream = journal_stream()
    if stream is None:
        return False
    try:
        found = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):  # no standard error, or one with no file descriptor
        return False
    return (found.st_dev, found.st_ino) == stream


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _warn_the_operator(insecure_kdf_floor_warning(kdf_floor_from_env()), args)
        return int(args.run(args) or 0)
    except LedgerError as exc:
        print(f"error: {exc.local_message()}", file=sys.stderr)
        return 2
    except DBAPIError as exc:
        print(f"error: {_refused(args, exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; pending batches complete with `ledger resume`", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of the output went away (`ledger ... | head`): nothing is wrong with the ledger, and Python's
        # flush at exit would fail again on the same pipe
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command the pipe ended
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, the traceback only when asked for
        debug = debug_tracebacks()
        if debug:
            traceback.print_exc()
        then = "its traceback is above" if debug else f"rerun with {DEBUG_VARIABLE}=1 for its traceback"
        print(f"internal error: {internal_error(exc)}; {then}, and report it", file=sys.stderr)
        return INTERNAL_ERROR


def internal_error(exc: BaseException) -> str:
    """An unexpected error in words that hold nothing it was handed: its class, the system's name and text for an
    OSError's code (never its file name or message), and the innermost place in the ledger's code it came from."""
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    # each part on its own: raised here, inside the handler, Python would print both tracebacks and the error's
    # message with them (an OSError's code past a C int made os.strerror raise: red team round 43)
    try:
        code = exc.errno if isinstance(exc, OSError) else None
        if type(code) is int:
            name += f" [{errno.errorcode.get(code, code)}: {os.strerror(code)}]"
    except Exception:  # noqa: BLE001, S110 - a code the system cannot name: the class alone
        pass
    try:
        ours = [
            frame
            for frame in traceback.extract_tb(exc.__traceback__)
            if Path(frame.filename).resolve().is_relative_to(_PACKAGE)
        ]
        if ours:
            place = ours[-1]
            where = Path(place.filename).resolve().relative_to(_PACKAGE.parent)
            name += f" at {where}:{place.lineno} in {place.name}"
    except Exception:  # noqa: BLE001, S110 - no place to name: the class alone
        pass
    return name


def _refused(args: argparse.Namespace, exc: DBAPIError) -> str:
    """A query the database refused, explained against a fresh look at its schema (a table renamed or a column
    retyped under the ledger: red team round 39b)."""
    from ..config import Settings
    from ..storage import migrations
    from ..storage.store import open_engine, refusal

    try:
        engine = open_engine(Settings.from_env(getattr(args, "data_dir", None)).db_url, migrate=False)
    except LedgerError:
        return f"{refusal(exc)}; check the database server and its log"
    try:
        return migrations.failed_query(engine, exc).local_message()
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
