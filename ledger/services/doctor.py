"""What a service's operator is told of the insecure settings a command ran with (``ledger doctor``).

A command run at a terminal, or by systemd into the journal, prints the warning of an insecure setting (the lowered
key-derivation floor, ``config.insecure_kdf_floor_warning``) on standard error; one run by cron or another service
manager has no reader there that is known to be a person, and a script reading a command's error stream must read the
command's own. So every command run with such a setting also records its warning in the data directory
(``INSECURE_RECORD``: the last one, its command and time; never a key or a command's arguments), and ``ledger doctor``
reports it with the settings in effect now.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..config import insecure_kdf_floor_warning, kdf_floor_from_env
from ..formats.canonical import json_loads

__all__ = ["INSECURE_RECORD", "Finding", "findings", "key_file_findings", "record_insecure_setting"]

INSECURE_RECORD = "insecure-settings.json"
_MAX_RECORD_BYTES = 4096


@dataclass(frozen=True)
class Finding:
    """One insecure setting: in effect now (``when`` None) or recorded by an earlier command."""

    warning: str
    command: str | None = None
    when: str | None = None


def record_insecure_setting(data_dir: Path, warning: str, command: str) -> None:
    """Record ``warning`` of ``command`` (its name only) in ``data_dir``, replacing the record before: written whole
    under a temporary name (0600) and renamed. Nothing when the data directory does not exist (a command that uses
    none makes none) or cannot be written: the warning must never stop a command."""
    if not data_dir.is_dir():
        return
    body = json.dumps({"warning": warning, "command": command, "at": datetime.now(UTC).isoformat()}).encode()
    path = data_dir / INSECURE_RECORD
    tmp = data_dir / f".{INSECURE_RECORD}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    with contextlib.suppress(OSError):
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def findings(data_dir: Path) -> list[Finding]:
    """The insecure settings in effect now (the key files of ``data_dir`` open to other users among them:
    :func:`key_file_findings`), then the one an earlier command recorded in ``data_dir`` (if any)."""
    found = []
    now = insecure_kdf_floor_warning(kdf_floor_from_env())
    if now:
        found.append(Finding(now))
    found += key_file_findings(data_dir / "keys")
    recorded = _recorded(data_dir / INSECURE_RECORD)
    if recorded is not None:
        found.append(recorded)
    return found


def key_file_findings(keys_dir: Path) -> list[Finding]:
    """The key files in ``keys_dir`` (keystores, the vault key, the token secret, the checkpoint key) that other users
    than their owner may open (any group or other permission bit), and the directory itself when others may write in
    it. The ledger writes them 0600 in a 0700 directory, but a restore from a backup (`cp -r`, `tar` under the usual
    umask) or a hand-made directory leaves them 0644 and 0755, and every command and the gateway used them silently:
    any local user could copy the wrapped keys and try passphrases offline, at the scrypt work factor alone (red team
    round 85b; ssh refuses such a private key file). Said here, by ``ledger doctor``, and logged by the gateway at its
    start; nothing is refused (a restore must still run). Entries are looked at (their modes), never opened or read.

    A symbolic link is judged by what it leads to, as the keystore opens it: a ``keys`` directory linked to another
    volume, or a key file linked to a file elsewhere, is used through the link, and the data directory's 0700 (made at
    every start) does not guard the target. Both were passed over, so the case where the files' own modes matter
    most went unsaid (red team round 86)."""
    try:
        mode = os.stat(keys_dir).st_mode  # followed: the directory the keystore reads
    except OSError:
        return []
    if not stat.S_ISDIR(mode):
        return []
    found = []
    if mode & 0o022:
        found.append(
            Finding(
                f"the key directory {keys_dir} may be written by other users than its owner (mode "
                f"{stat.S_IMODE(mode):04o}): whoever can write it can put a key file of their own in place of one; "
                f"`chmod 700 {keys_dir}`"
            )
        )
    try:
        with os.scandir(keys_dir) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError:
        return found
    for entry in entries:
        try:
            held = entry.stat(follow_symlinks=True)  # a link: the file the keystore would open through it
        except OSError:
            continue
        if stat.S_ISREG(held.st_mode) and held.st_mode & 0o077:
            target = ""
            if entry.is_symlink():
                try:
                    target = f" (a link to {os.path.realpath(entry.path)})"
                except OSError:
                    target = " (a link)"
            found.append(
                Finding(
                    f"the key file {entry.path}{target} may be opened by other users than its owner (mode "
                    f"{stat.S_IMODE(held.st_mode):04o}): a copy of it can be tried against passphrases offline; "
                    f"`chmod 600 {entry.path}`"
                )
            )
    return found


def _recorded(path: Path) -> Finding | None:
    """The record at ``path``, read as a regular file only and without waiting (red team round 62: a FIFO planted
    there kept `ledger doctor` waiting for a writer for ever; one it may not read stopped it with a traceback)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:  # a symbolic link (ELOOP), a record it may not read
        return Finding(
            f"{path} cannot be read ({exc.strerror or exc}): an earlier command's record of an insecure setting "
            "should be there; delete it"
        )
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return Finding(f"{path} is not a regular file, so no command's record: delete it")
        raw = handle.read(_MAX_RECORD_BYTES + 1)
    try:
        data = json_loads(raw) if len(raw) <= _MAX_RECORD_BYTES else None
    except ValueError:
        data = None
    fields = [data.get(name) for name in ("warning", "command", "at")] if isinstance(data, dict) else []
    if len(fields) != 3 or not all(isinstance(value, str) for value in fields):
        return Finding(f"{path} is damaged: an earlier command recorded an insecure setting there; delete the file")
    warning, command, when = (str(value)[:600] for value in fields)
    # shown escaped unless printable: a planted warning's terminal controls reach no terminal (red team round 62)
    return Finding(
        warning if warning.isprintable() else repr(warning),
        command if command.isprintable() else repr(command),
        when if when.isprintable() else "?",
    )


def clear(data_dir: Path) -> bool:
    """Forget the recorded warning (the operator has removed the setting); True if there was one."""
    try:
        (data_dir / INSECURE_RECORD).unlink()
    except FileNotFoundError:
        return False
    return True
