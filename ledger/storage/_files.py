"""Creating secret files safely when several processes may start at once, and replacing private files whole."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def create_exclusive(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` (mode 0600) unless it exists; True if this call created it.

    The content is written whole and synced under a temporary name, then hard-linked into place: the link fails
    if another process got there first, so ``path`` never appears empty or half-written and an existing file is
    never replaced. Readers that lose the race read the winner's file.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def replace_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable and writable by its owner only (0600, whatever the umask), replacing
    what is there: written whole and synced under a temporary name created 0600 (so there is no moment when others
    may read it), then renamed into place. A symbolic link planted at ``path`` (in a shared output directory) is
    replaced by the file, never followed: the file it points to is left as it was."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
