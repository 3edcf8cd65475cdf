"""Creating secret files safely when several processes may start at once, and replacing private files whole."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from ..errors import KeystoreError

KEY_FILE_MAX_BYTES = 64 * 1024
"""The most a wrapped key file is read to (one holds ~600 bytes): a file planted larger is refused, not read whole."""


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


def read_key_file(path: Path, what: str) -> bytes:
    """The bytes of the key file ``path`` (``what`` names it in errors): read from a regular file only, without
    waiting, and at most :data:`KEY_FILE_MAX_BYTES`. A FIFO planted in its place kept every process that opens the
    key waiting for a writer for ever, and a device or a huge file was read without end; each is now a KeystoreError
    saying to restore the file. FileNotFoundError passes through (the caller may create the file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise KeystoreError(f"{what} {path} is not a regular file, so no key file: restore it from a backup")
        raw = handle.read(KEY_FILE_MAX_BYTES + 1)
    if len(raw) > KEY_FILE_MAX_BYTES:
        raise KeystoreError(
            f"{what} {path} is larger than any key file ({KEY_FILE_MAX_BYTES} bytes at most; one holds ~600): "
            "restore it from a backup"
        )
    return raw
