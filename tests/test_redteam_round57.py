"""Red team round 57: against what landed in the last hour (ci3: key files unwrapped at the scrypt work factor they
state, forked test commands ending with ``os._exit``; rt56: files opened without waiting).

1. (Whoever can set a production process's environment variables) set only the explicitly insecure read floor,
   ``LEDGER_INSECURE_KEYSTORE_KDF_FLOOR=2``: ``wrap_secret`` wrote every new witness and checkpoint key file at the
   floor (scrypt N = 2), a stolen copy brute-forced at once, with no other variable set and no error; before ci3 it
   wrote N = 2^15 whatever the environment (the keystore needs ``LEDGER_KEYSTORE_KDF_N`` lowered as well). Fixed:
   the floor only lowers what is accepted when read; what is written follows ``LEDGER_KEYSTORE_KDF_N`` (at most
   2^15, never below the floor), as a keystore's does.
2. (A command whose output is lost: standard output on a full disk) the command server's forked command flushed its
   streams after the module ended and exited with ``os._exit`` whatever the flush raised: the output was lost and
   the exit status 0, where a fresh interpreter exits 120. Fixed: a stream that cannot be flushed is reported on
   standard error and the status is 120, as Py_FinalizeEx does.
3. (A command whose failure status is lost) ``sys.exit(2**64)``: the command server took the code's low byte and
   exited 0; a fresh interpreter reads a code past a C long as -1 and exits 255. Fixed: the server does the same.
4. (Whoever hands the ledger a file) a symlink loop, a directory, a socket, /proc/self/mem, a pipe, /dev/zero to
   ``open_without_waiting``: held (a clear InputError, or empty, or refused past the bound); pinned.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .cli_support import _same_interpreter, fork_command


@pytest.mark.parametrize("floor", ["2", "1024"])
def test_the_insecure_read_floor_alone_does_not_weaken_the_key_files_written(
    floor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Adversary: whoever can set a production gateway's or witness's environment, setting only
    LEDGER_INSECURE_KEYSTORE_KDF_FLOOR (the variable that lowers what is *accepted*). The witness and checkpoint
    key files written afterwards must still be wrapped at N = 2^15: writing cheaper needs the write factor,
    LEDGER_KEYSTORE_KDF_N, lowered too, as for a keystore."""
    from ledger.storage.vault import unwrap_secret, wrap_secret

    monkeypatch.setenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", floor)
    monkeypatch.delenv("LEDGER_KEYSTORE_KDF_N", raising=False)
    wrapped = wrap_secret(b"seed", "correct horse", purpose="witness", owner="w")
    assert wrapped["kdf"] == "scrypt-n15-r8-p1"
    assert unwrap_secret(wrapped, "correct horse", "the key", "VARIABLE", purpose="witness", owner="w") == b"seed"
    # the suite's setting (both variables, explicitly): cheap key files, still read back
    monkeypatch.setenv("LEDGER_KEYSTORE_KDF_N", "1024")
    cheap = wrap_secret(b"seed", "correct horse", purpose="witness", owner="w")
    assert cheap["kdf"] == "scrypt-n10-r8-p1"
    assert unwrap_secret(cheap, "correct horse", "the key", "VARIABLE", purpose="witness", owner="w") == b"seed"


def test_a_write_factor_below_the_floor_writes_no_key_file_that_its_reader_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Adversary: the same, setting LEDGER_KEYSTORE_KDF_N below the floor: the key file is never written weaker
    than the floor it is read with (it would be refused on the next start: a witness that cannot sign)."""
    from ledger.storage.vault import unwrap_secret, wrap_secret

    monkeypatch.setenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", "1024")
    monkeypatch.setenv("LEDGER_KEYSTORE_KDF_N", "2")
    wrapped = wrap_secret(b"seed", "correct horse", purpose="witness", owner="w")
    assert wrapped["kdf"] == "scrypt-n10-r8-p1"
    assert unwrap_secret(wrapped, "correct horse", "the key", "VARIABLE", purpose="witness", owner="w") == b"seed"


# standard output block-buffered whatever PYTHONUNBUFFERED says, so the line is written only at the ending's flush
FULL_DISK = """
import io, sys
sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), line_buffering=False)
print("a line the caller needs")
"""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_forked_command_whose_output_cannot_be_written_does_not_exit_0(tmp_path: Path) -> None:
    """Adversary: a command whose output is lost (standard output on a full disk, /dev/full): a fresh interpreter
    reports the failed flush and exits 120; the command server's forked command exited 0 with its output gone."""
    env = dict(os.environ)
    if not _same_interpreter(env):
        pytest.skip("the command server runs another interpreter's settings")
    (tmp_path / "fulldisk.py").write_text(FULL_DISK)
    with open("/dev/full", "w") as full:
        fresh = subprocess.run(
            [sys.executable, "-m", "fulldisk"], stdout=full, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=60
        )
    assert fresh.returncode == 120 and "No space left on device" in fresh.stderr
    err = tmp_path / "err"
    err.touch()
    forked = fork_command("cli", "fulldisk", [], env=env, cwd=tmp_path, stdout=Path("/dev/full"), stderr=err)
    try:
        code = forked.wait(60)
    finally:
        forked.close()
    assert (code, err.read_text()) == (120, fresh.stderr)


EXIT_WITH = """
import sys
sys.exit(eval(sys.argv[1]))
"""


@pytest.mark.parametrize("code", ["2**64", "2**63", "-2**63 - 1", "2**64 + 5", "2**40 + 256", "-1", "True"])
def test_a_forked_command_exiting_with_an_odd_code_has_a_fresh_interpreters_status(code: str, tmp_path: Path) -> None:
    """Adversary: a command whose failure status is lost: ``sys.exit(2**64)`` (a status past a C long, which the
    interpreter reads as -1, exit status 255) exited 0 from the command server, which took the code's low byte."""
    env = dict(os.environ)
    if not _same_interpreter(env):
        pytest.skip("the command server runs another interpreter's settings")
    (tmp_path / "exitwith.py").write_text(EXIT_WITH)
    fresh = subprocess.run([sys.executable, "-m", "exitwith", code], capture_output=True, cwd=tmp_path, timeout=60)
    forked = fork_command("cli", "exitwith", [code], env=env, cwd=tmp_path)
    try:
        status = forked.wait(60)
    finally:
        forked.close()
    assert status == fresh.returncode


def test_odd_files_handed_to_the_ledger_are_refused_with_a_clear_error(tmp_path: Path) -> None:
    """Adversary: whoever hands the ledger a file, giving round 56's ``open_without_waiting`` what is no file: a
    symlink loop, a directory, a listening socket, /proc/self/mem. Each is an InputError naming it (held already,
    pinned here); a pipe with no writer reads as empty, and /dev/zero is refused past the bound."""
    import socket

    from ledger.errors import InputError
    from ledger.formats.certificate import read_bounded

    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(tmp_path / "sock"))
        for name, why in [
            ("loop", "Too many levels of symbolic links"),
            ("dir", "Is a directory"),
            ("sock", "No such device or address"),
        ]:
            with pytest.raises(InputError, match=f"cannot read the approval file .*{name}: {why}"):
                read_bounded(tmp_path / name, 1000, "approval file")
    assert read_bounded(tmp_path / "fifo", 1000, "approval file") == b""
    with pytest.raises(InputError, match="cannot read the approval file /proc/self/mem"):
        read_bounded(Path("/proc/self/mem"), 1000, "approval file")
    with pytest.raises(InputError, match="is over 1000 bytes"):
        read_bounded(Path("/dev/zero"), 1000, "approval file")
