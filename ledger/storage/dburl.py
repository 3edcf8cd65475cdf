"""The database URL as errors and output may show it: never with its password.

``LEDGER_DATABASE_URL`` carries the database's password, in the URL's user part
(``postgresql://user:password@host/db``) or as libpq's ``password`` parameter (``...?password=...``).
SQLAlchemy's ``render_as_string(hide_password=True)`` hides the first only, and a URL it cannot read (a typo:
``postgresql//...``) or reads wrongly (an ``@`` in the password, not percent-encoded, is taken for the host's start)
cannot be shown at all: what an error quotes of it, the whole text or the host the driver failed to resolve, is
the password or part of it.
"""

from __future__ import annotations

from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

HIDDEN = "***"
SETTING = "LEDGER_DATABASE_URL"


def parse(url: str | URL) -> tuple[URL | None, str | None]:
    """(the parsed URL, None), or (None, what is wrong with it) for a URL that cannot be shown or opened safely."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None, (
            f"the database URL is not one SQLAlchemy reads; write {SETTING} as "
            "dialect+driver://user:password@host:port/database"
        )
    # Only the host is checked: a user name may hold an '@' (percent-encoded, as a managed server's
    # "user@server" names are written: it is decoded here), and an '@' the password did not encode ends the
    # password early, leaving the rest of it in what is read as the host.
    if "@" in (parsed.host or ""):
        return None, (
            f"the database URL in {SETTING} has more than one '@' before its host: an '@' in the user name or "
            "password must be percent-encoded (%40)"
        )
    return parsed, None


def secrets(url: str | URL) -> list[str]:
    """The password (the URL's own and any ``password`` parameter) as it may appear in a driver's message."""
    parsed, _ = parse(url)
    if parsed is None:
        return []
    found = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if key.lower() == "password":
            found += [value] if isinstance(value, str) else list(value)
    return [str(s) for s in found if s]


def location(url: str | URL) -> str:
    """The URL without its password, or the setting's name when the URL cannot be shown safely."""
    parsed, _ = parse(url)
    if parsed is None:
        return f"the URL in {SETTING} (not shown: it cannot be read safely)"
    hidden = {k: HIDDEN for k in parsed.query if k.lower() == "password"}
    shown = parsed.update_query_dict(hidden).render_as_string(hide_password=True)
    return shown.replace("=%2A%2A%2A", "=" + HIDDEN)  # the parameter's value as the URL's own password is shown


def scrub(text: str, url: str | URL) -> str:
    """``text`` (a driver's message) with the URL's password replaced."""
    for secret in sorted(secrets(url), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text
