"""A database URL's password reaches no error, log line or command output.

Adversary: whoever reads what the ledger prints or logs about its database (a shared terminal, a log shipped to a
collector, a support ticket the operator pastes it into). ``LEDGER_DATABASE_URL`` carries the database's
password (``postgresql://user:password@host/db``); a ledger that cannot open the database says what was wrong and
where to look (``LedgerError.where``: the URL without its password), never the password. It leaked where the URL
was mistyped (no ``://``: quoted whole), where the password was given as libpq's ``password`` parameter (quoted
whole; ``ledger db current`` printed it too) and where an ``@`` in the password was not percent-encoded (the
driver resolved the rest of the password as a host name and said so).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ledger.client import Ledger

from .cli_support import ledger_process
from .conftest import PASSPHRASE, database_url
from .node_support import closed_port

PASSWORD = "S3cret-DB-PASSWORD-42"

# LEDGER_DATABASE_URL as an operator may write it wrongly; each one names the password
WRONG = {
    "a typo in the scheme": "postgresql//alice:{pw}@127.0.0.1:{port}/ledger",
    "no scheme": "alice:{pw}@127.0.0.1:{port}/ledger",
    "libpq's password parameter": "postgresql://alice@127.0.0.1:{port}/ledger?password={pw}",
    "an @ in the password": "postgresql://alice:p@{pw}@127.0.0.1:{port}/ledger",
    "a server that is down": "postgresql://alice:{pw}@127.0.0.1:{port}/ledger",
}


def _environment(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k not in ("LEDGER_RPC_URL", "LEDGER_DEPLOYMENT_FILE")},
        "LEDGER_DATA_DIR": str(tmp_path / "data"),
        "LEDGER_PASSPHRASE": PASSPHRASE,
        "LEDGER_DATABASE_URL": url,
        **extra,
    }


@pytest.mark.parametrize("case", sorted(WRONG))
def test_a_database_that_cannot_be_opened_names_no_password_on_the_command_line(case: str, tmp_path: Path) -> None:
    url = WRONG[case].format(pw=PASSWORD, port=closed_port())
    run = ledger_process(["db", "current"], env=_environment(tmp_path, url), timeout=120)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert PASSWORD not in run.stdout + run.stderr, run.stderr
    assert "LEDGER_DATABASE_URL" in run.stderr, run.stderr  # what to do: where the URL is set


def test_the_gateway_logs_no_database_password(ledger: Ledger, tmp_path: Path) -> None:
    """The gateway cannot open its database when it starts: its log (uvicorn's, with the traceback) names
    what failed, not the password, whichever way the URL was written wrongly."""
    node = str(ledger.chain.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    for case in ("no scheme", "libpq's password parameter", "an @ in the password"):
        url = WRONG[case].format(pw=PASSWORD, port=closed_port())
        env = _environment(
            tmp_path,
            url,
            LEDGER_RPC_URL=node,  # the shared chain as an external node: no node of its own to start
            LEDGER_DEPLOYMENT_FILE=str(ledger.settings.deployment_path),
            LEDGER_KEYSTORE_KDF_N="1024",
            LEDGER_API_ANCHOR_INTERVAL_SECONDS="0",
        )
        # `python -m api`, forked from the gateway's command server (a fresh interpreter cost ~3.5 CPU-s of imports)
        run = ledger_process(
            ["--port", str(closed_port())],
            env={**env, "PYTHONUNBUFFERED": "1"},
            timeout=120,
            cwd=Path(__file__).resolve().parent.parent,
            module="api",
            kind="gateway",
        )
        assert run.returncode != 0 and "LEDGER_DATABASE_URL" in run.stderr, (case, run.stderr)
        assert PASSWORD not in run.stdout + run.stderr, (case, run.stderr)


@pytest.mark.skipif(not os.environ.get("LEDGER_TEST_DATABASE_URL"), reason="a PostgreSQL server (the PostgreSQL pass)")
def test_db_current_prints_no_password_parameter(tmp_path: Path) -> None:
    """``ledger db current`` and ``upgrade`` print the database they opened: without its password, also when the
    password is libpq's ``password`` parameter (SQLAlchemy's hide_password hides only the URL's own)."""
    url = f"{database_url(tmp_path / 'pgdb')}?password={PASSWORD}"  # a database of its own, which upgrade creates
    for command in ("current", "upgrade"):
        run = ledger_process(["db", command], env=_environment(tmp_path, url), timeout=120)
        assert run.returncode in (0, 1), run.stderr
        assert "database" in run.stdout and PASSWORD not in run.stdout + run.stderr, run.stdout


def test_a_user_name_holding_an_encoded_at_sign_is_read() -> None:
    """A managed server's user names are written ``user@server``, percent-encoded in the URL (``user%40server``):
    such a URL is read, and shown without its password; an '@' left unencoded in the password is refused."""
    from ledger.storage import dburl

    parsed, problem = dburl.parse(f"postgresql://alice%40db-server:{PASSWORD}@127.0.0.1:5432/ledger")
    assert problem is None and parsed is not None and parsed.username == "alice@db-server"
    shown = dburl.location(f"postgresql://alice%40db-server:{PASSWORD}@127.0.0.1:5432/ledger")
    assert PASSWORD not in shown and "db-server" in shown
    assert dburl.parse(f"postgresql://alice:p@{PASSWORD}@127.0.0.1:5432/ledger")[1] is not None
