"""Red team round 85b: council, supervision, consent, sharing, erasure, auth and keys at rest.

* (The issuer after a lawful erasure, or an insider with the database and the operator's passphrase) erase a food
  business permit that has ended: its ``permit_key`` row kept the permit's key, a hash of its holder and premises
  keyed with the department's decision secret, which the erasure does not touch. So the erased permit stayed linked
  to every other permit of the same holder and premises (the renewal that followed it: one equality, read from the
  database alone), and whoever holds the secret could confirm a guessed holder and premises for it, the premises as
  the applicant typed them being exactly what the erasure destroyed in ``sealed_input``. An ended permit's key is now
  blanked by its erasure (in the department's key tree, MACed as every row is); a permit erased while it still stands
  keeps it until it ends (the guard needs it), and ``ledger erase`` run again then blanks it.
* (Another local user, after a restore of key files from a backup under the usual umask) read a keystore file 0644,
  above all a council member's in a ``--member-keystore`` folder of their own, which nothing makes private: every
  command and the gateway used such files silently and ``ledger doctor`` said nothing. The doctor now names them, the
  gateway logs them at its start, and a council command warns of the member's folder.
"""

from __future__ import annotations

import logging
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.services import decisions, doctor, erasure, permits, status
from ledger.storage.keys import Keystore
from ledger.storage.models import PermitKey

from .cli_support import run_cli
from .conftest import PASSPHRASE, member_cli
from .permit_support import (
    SERVICE_ITEM,
    decide_premises,
    fresh_licence,
    premises_application,
    published_permit_rules,
    replay_checks,
)

_KEYS = PermitKey.__table__  # type: ignore[attr-defined]


def _key(ledger: Ledger, permit: str) -> str | None:
    with ledger.engine.connect() as conn:
        return conn.execute(select(_KEYS.c.key).where(_KEYS.c.digest == permit)).scalar()


def _permit(decision: decisions.Decision) -> str:
    return str(decision.body["issued"]["certificate"])


def test_an_erased_permit_that_ended_keeps_no_key_of_its_holder_and_premises(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: the issuer after a lawful erasure (or an insider with the database and the passphrase). The
    holder's permit for Shop 1 is revoked, a renewal for Shop 1 approved, and the first permit erased
    (retention-expired): its row no longer holds the key the renewal's row holds, and the department's key rows still
    check (no permit_key_altered, the renewal still stands in the way of a third permit for Shop 1)."""
    dept = fresh_department
    tag = "rt85b-ended"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    first = _permit(decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules))
    status.revoke(ledger, first, "fraud", department=dept)
    renewal = _permit(decide_premises(ledger, dept, f"{tag}-2", "Shop 1", licence, holder, rules))
    key = _key(ledger, renewal)
    assert key and _key(ledger, first) == key  # one holder, one premises: one key

    done = erasure.erase(ledger, first, dept, basis="retention-expired", by="clerk-1")

    assert _key(ledger, first) == "", "the erased permit is still linked to its holder and premises by its key"
    assert done["permit_key"] == "blanked"
    assert _key(ledger, renewal) == key
    again = premises_application("Shop 1", f"{tag}-3", licence)
    with pytest.raises(StateError, match="live permit for the same premises"):
        decisions.decide(ledger, dept, f"{tag}-3", SERVICE_ITEM, again, rules, applicant_ref=holder)
    assert _permit(decide_premises(ledger, dept, f"{tag}-4", "Shop 2", licence, holder, rules))
    assert not {c for c, _ in replay_checks(ledger, dept)} & {"permit_key_altered"}
    with ledger.engine.connect() as conn:
        problem, _ = permits.key_rows_problem(
            ledger, dept, decisions._secret(ledger, dept), [key], conn, ["food-business-permit"]
        )
    assert problem is None


def test_a_permit_erased_while_it_stands_keeps_its_key_until_it_ends(
    ledger: Ledger, fresh_department: str, tmp_path: Path
) -> None:
    """Adversary: a department erasing a live permit to get a second one for the same premises approved. Erased while
    it stands, the permit keeps its key (a second case for Shop 1 is refused); once it is revoked, erasing it again
    blanks the key, and a new case for Shop 1 is approved."""
    dept = fresh_department
    tag = "rt85b-standing"
    rules = published_permit_rules(ledger, dept, tag)
    licence, holder = fresh_licence(ledger, tmp_path, tag)
    first = _permit(decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules))
    key = _key(ledger, first)
    assert key

    done = erasure.erase(ledger, first, dept, basis="consent-withdrawn", by="clerk-1")

    assert _key(ledger, first) == key
    assert done["permit_key"].startswith("kept while the permit stands")
    again = premises_application("Shop 1", f"{tag}-2", licence)
    with pytest.raises(StateError, match="live permit for the same premises"):
        decisions.decide(ledger, dept, f"{tag}-2", SERVICE_ITEM, again, rules, applicant_ref=holder)

    status.revoke(ledger, first, "fraud", department=dept)
    assert erasure.erase(ledger, first, dept, basis="consent-withdrawn", by="clerk-1")["permit_key"] == "blanked"

    assert _key(ledger, first) == ""
    assert "permit_key" not in erasure.erase(ledger, first, dept, basis="consent-withdrawn", by="clerk-1")
    assert _permit(decide_premises(ledger, dept, f"{tag}-3", "Shop 1", licence, holder, rules))
    assert not {c for c, _ in replay_checks(ledger, dept)} & {"permit_key_altered"}


def test_an_erased_permit_past_its_validity_keeps_no_key(ledger: Ledger, fresh_department: str, tmp_path: Path) -> None:
    """Adversary: as the first test's. A permit that ended by its own validity (it rests on a licence ending two
    seconds after the approval), never revoked, is erased: its sealed end, read before the body goes, blanks its key,
    and a new case for the same premises is approved."""
    dept = fresh_department
    tag = "rt85b-expired"
    rules = published_permit_rules(ledger, dept, tag)
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    licence, holder = fresh_licence(ledger, tmp_path, tag, valid_until=ends.isoformat().replace("+00:00", "Z"))
    first = _permit(decide_premises(ledger, dept, f"{tag}-1", "Shop 1", licence, holder, rules))
    assert _key(ledger, first)
    time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 1.1)  # the wall clock: no node control moves it

    erasure.erase(ledger, first, dept, basis="retention-expired", by="clerk-1")

    assert _key(ledger, first) == ""
    assert not {c for c, _ in replay_checks(ledger, dept)} & {"permit_key_altered"}


def test_ledger_doctor_names_the_key_files_other_users_may_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Adversary: another local user of the ledger's machine, once the operator restored the keys from a backup (`cp
    -r`, `tar` under the usual umask 022: files 0644) or made the directory by hand open to others. Every command and
    the gateway used such files silently, so the wrapped keys could be copied and passphrases tried offline, and
    `ledger doctor`, the operator's check for insecure settings, said nothing. It now names each file and the
    directory (exit 1), and is quiet about the modes the ledger writes."""
    from ledger.cli import main

    monkeypatch.delenv("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", raising=False)  # the suite's own insecure setting
    data = tmp_path / "data"
    keys = data / "keys"
    Keystore(keys, kdf_n=1024, kdf_floor=1024).create("dept-MKT", PASSPHRASE)
    capsys.readouterr()
    assert main(["--data-dir", str(data), "doctor"]) == 0
    assert capsys.readouterr().out == "no insecure setting in effect or recorded\n"

    (keys / "dept-MKT.json").chmod(0o644)
    (keys / "vault.key").write_bytes(b"{}")  # as a restore writes it: with the umask's mode
    (keys / "vault.key").chmod(0o640)
    keys.chmod(0o777)
    try:
        assert main(["--data-dir", str(data), "doctor"]) == 1
        said = capsys.readouterr().out.splitlines()
    finally:
        keys.chmod(0o700)
    assert len(said) == 3, said
    assert said[0].startswith(f"in effect now: the key directory {keys} may be written by other users") and said[
        0
    ].endswith(f"`chmod 700 {keys}`")
    assert "dept-MKT.json may be opened by other users than its owner (mode 0644)" in said[1]
    assert "vault.key may be opened by other users than its owner (mode 0640)" in said[2]
    assert all(str(PASSPHRASE) not in line for line in said)

    (keys / "dept-MKT.json").chmod(0o600)
    (keys / "vault.key").chmod(0o600)
    assert main(["--data-dir", str(data), "doctor"]) == 0


def test_the_gateway_logs_each_key_file_other_users_may_open(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    """Adversary: as above. The gateway, started over a keys directory holding a file others may read, logs it at its
    start (the key is used: a restore must still run)."""
    from api.config import ApiSettings
    from api.main import create_app

    exposed = ledger.settings.keys_dir / "dept-MKT.json"
    held = stat.S_IMODE(exposed.stat().st_mode)
    assert held & 0o077 == 0  # as the ledger writes it
    exposed.chmod(0o644)
    try:
        with caplog.at_level(logging.WARNING, logger="api"):
            create_app(ledger, settings=ApiSettings(anchor_interval_seconds=0))
    finally:
        exposed.chmod(held)
    said = [r.getMessage() for r in caplog.records if str(exposed) in r.getMessage()]
    assert said == [
        f"the key file {exposed} may be opened by other users than its owner (mode 0644): a copy of it can "
        f"be tried against passphrases offline; `chmod 600 {exposed}`"
    ], said


def test_a_council_members_keystore_open_to_others_is_told_to_the_member(ledger: Ledger) -> None:
    """Adversary: another local user of a council member's machine, once the member restored their keystore folder
    (`--member-keystore`, a folder of their own: nothing makes it private, as the data directory is made 0700 at
    every start) from a backup with its files 0644. Every council command used the key silently; now it warns, and a
    command no person watches (cron) records the warning for `ledger doctor`. The command still runs."""
    args, env = member_cli(ledger, 1)
    folder = Path(args[1])
    (council_key,) = sorted(folder.glob("council*.json"))
    held = stat.S_IMODE(council_key.stat().st_mode)
    assert held & 0o077 == 0  # as the ledger writes it
    council_key.chmod(0o644)
    try:
        # the member's key is opened (and used): the proposal number names none, which the registry says
        done = run_cli(ledger, "council", "cancel", "99999999", *args, **env)
    finally:
        council_key.chmod(held)
    assert done.returncode == 2 and "99999999" in done.stderr, done.stderr
    recorded = [f for f in doctor.findings(ledger.settings.data_dir) if f.when is not None]
    assert recorded and recorded[-1].command == "council cancel", recorded
    assert f"the key file {council_key} may be opened by other users than its owner (mode 0644)" in recorded[-1].warning
    assert str(PASSPHRASE) not in recorded[-1].warning
