"""Each key kept outside the database, bound to this deployment's database (table ``key_check``, migration 0017).

The passphrase wraps every key file alike, so one deployment's file opens in another's (same passphrase) and the
data directory has no identity of its own to bind it to. The database has: at a key's first use its check value is
recorded there, per purpose, and a key whose check value differs is refused before anything is sealed, opened or
signed with it. The check value of a secret key is ``HMAC-SHA256(key, "pl-key-check/1" 0x00 purpose)``: it names
the key without revealing it (the key is 256 random bits). Processes recording at once insert one row: the others'
inserts fail on its primary key and they compare with the row that won.
"""

from __future__ import annotations

import hmac

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from .models import KeyCheck, utcnow

__all__ = ["check_value", "record", "recorded", "replace"]

_LABEL = b"pl-key-check/1\x00"


def check_value(key: bytes, purpose: str) -> str:
    """What ``key_check`` records for the secret ``key`` kept for ``purpose``: an HMAC under it, never the key."""
    return hmac.digest(key, _LABEL + purpose.encode(), "sha256").hex()


def recorded(engine: Engine, purpose: str) -> str | None:
    """The check value recorded for ``purpose``, or None before its first use."""
    with engine.connect() as conn:
        value = conn.execute(select(KeyCheck.check_value).where(KeyCheck.purpose == purpose)).scalar()  # type: ignore[call-overload]
    return str(value) if value is not None else None


def record(engine: Engine, purpose: str, value: str) -> str:
    """Record ``value`` for ``purpose`` unless a value is recorded already; the recorded value (``value`` itself at
    the first use, or when it agrees). Of processes recording at once, one row wins and every one returns it."""
    held = recorded(engine, purpose)
    if held is not None:
        return held
    table = KeyCheck.__table__  # type: ignore[attr-defined]
    try:
        with engine.begin() as conn:
            conn.execute(table.insert().values(purpose=purpose, check_value=value, recorded_at=utcnow()))
    except IntegrityError:  # another process recorded first: its value is this database's
        pass
    held = recorded(engine, purpose)
    return value if held is None else held  # (a row the ledger never deletes: deleted meanwhile by hand)


def replace(engine: Engine, purpose: str, value: str) -> None:
    """Record ``value`` for ``purpose`` whatever was recorded (a key made anew, on purpose)."""
    table = KeyCheck.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        changed = conn.execute(
            update(table).where(table.c.purpose == purpose).values(check_value=value, recorded_at=utcnow())
        ).rowcount
    if not changed:
        record(engine, purpose, value)
