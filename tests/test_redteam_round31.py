"""Red team round 31: witnesses, the council, erasure and privacy, supervision, the CLI (docs/threat-model.md).

1. (Another local user, against an auditor or a department's officer using the CLI) read the full replay report
   `ledger replay --json FILE` writes into a shared directory (case ids, decision numbers, discrepancies: created
   with the umask, 0644 under the usual 022), or plant a symbolic link at FILE so that writing the report truncates
   and overwrites a file of the operator's choosing; the same link planted at a council member's
   `ledger council sign --out FILE`, and at the files holding certificate contents (`ledger issue --out`,
   `export`, `evidence`, ...: `cli/output.py` `open_private` truncated and wrote through the link). Round 15a
   closed this for `ledger report` alone.
2. (The chain's operator, colluding with one council member) show an honest member proposal N "register an
   office", then rewrite the chain from before it so that N is "rotate the victim's key to ours", before the
   member signs an approval file offline (`ledger council sign N`): round 25 bound `approve` and `reject` to the
   hash `council show` prints (`--hash`), but `sign` had no such option and signed whatever N named by then.
3. (An operator's slip, or a department's officer at the CLI) `ledger witness quorum K` wrote witnesses.json
   before checking K: a quorum above the witnesses trusted (or below 1, or a negative `--finality`) was saved,
   and every later command reading the configuration failed on it, `ledger witness quorum` itself included (only
   an edit of the JSON repaired it), as did every write's witness collection after the write succeeded on chain;
   `quorum 0` was saved and read as "a majority" without a word.
4. (Another local user of an officer's machine) read the identity of the person a department puts on its credit
   list from the process list: `ledger supervision credit add --applicant 110101199003071234` (and
   `record-decision --applicant`, `evidence --decision --applicant`) took the identity only as an argument, which
   every user of the machine reads in /proc/PID/cmdline while the command runs (and the shell keeps in its
   history); the ledger itself stores it only salted. `--applicant -` now reads it from standard input.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from eth_account import Account

from ledger.client import Ledger
from ledger.errors import StateError
from ledger.onchain.chain import ROLE_ISSUER, ROLE_VERIFIER
from ledger.services.council import Action, get_proposal
from ledger.services.decisions import applicant_reference
from ledger.services.departments import Council, get_department
from ledger.services.witness.note import COSIGNATURE_V1, SignerKey

from .cli_support import env_for, ledger_process, rpc, run_cli
from .conftest import TEST_TYPES, make_records, member_cli


def _private_and_only(path: Path, directory: Path, *others: Path) -> None:
    mode = os.lstat(path).st_mode
    assert stat.S_ISREG(mode) and stat.S_IMODE(mode) == 0o600, (path, oct(mode))
    left = sorted(p.name for p in directory.iterdir() if p != path and p not in others)
    assert not left, left  # no temporary file left behind


# -- 1. files the CLI writes: private, a planted link replaced and never followed -----------------------------------


def test_the_replay_report_file_is_private_and_does_not_follow_a_planted_link(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """Adversary: another local user reading `ledger replay --json FILE` in a shared directory, or planting a link
    at FILE. The report is 0600 whatever the umask; the link is replaced by the report, its target untouched."""
    # each command runs with the umask set below: the command server sets the test's umask of the moment in the
    # process it forks (tests/cli_zygote.py), as a fresh interpreter would inherit it
    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("the operator's own file\n", encoding="utf-8")
    out = shared / "replay.json"
    out.symlink_to(victim)
    fresh = shared / "fresh.json"
    old = os.umask(0o022)
    try:
        planted = run_cli(ledger, "replay", "-d", fresh_department, "--json", str(out))
        created = run_cli(ledger, "replay", "-d", fresh_department, "--json", str(fresh))
    finally:
        os.umask(old)
    assert planted.returncode == 0, planted.stderr
    assert created.returncode == 0, created.stderr
    assert victim.read_text(encoding="utf-8") == "the operator's own file\n"
    assert json.loads(out.read_text(encoding="utf-8"))["ok"] is True
    _private_and_only(out, shared, fresh)
    _private_and_only(fresh, shared, out)


def test_a_planted_link_at_a_council_members_approval_file_is_replaced_not_followed(
    ledger: Ledger, tmp_path: Path
) -> None:
    """The same link planted at `ledger council sign --out FILE`: the approval replaces the link (0600), and the
    operator's file it pointed to is left as it was."""
    council = Council(ledger)
    proposal = council.members[0].propose(
        Action.REGISTER, "R31-LINK", name="Link office", signer=Account.create().address, roles=ROLE_VERIFIER
    )
    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("the operator's own file\n", encoding="utf-8")
    out = shared / "approval.json"
    out.symlink_to(victim)
    args, env = member_cli(ledger, 2)
    signed = run_cli(ledger, "council", "sign", str(proposal), "--out", str(out), *args, **env)
    assert signed.returncode == 0, signed.stderr
    assert victim.read_text(encoding="utf-8") == "the operator's own file\n"
    assert json.loads(out.read_text(encoding="utf-8"))["proposal_id"] == proposal
    _private_and_only(out, shared)
    council.members[0].cancel(proposal)


def test_files_with_certificate_contents_replace_a_planted_link_and_still_write_to_standard_output(
    ledger: Ledger, tmp_path: Path, fresh_department: str
) -> None:
    """The same link planted at `ledger issue --out FILE` and `ledger export --out FILE`: every holder's fields and
    salts went into the file the link named (0600 by then, the operator's own file lost). The link is replaced by
    the file; `--out /dev/stdout`, a link of the system's, is still written through."""
    records = tmp_path / "records.jsonl"
    records.write_text(json.dumps(make_records(1, prefix="R31-OUT")[0]) + "\n", encoding="utf-8")
    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("the operator's own file\n", encoding="utf-8")
    issued, exported = shared / "issued.jsonl", shared / "exported.json"
    issued.symlink_to(victim)
    exported.symlink_to(victim)
    done = run_cli(ledger, "issue", str(records), "-d", fresh_department, "--out", str(issued))
    assert done.returncode == 0, done.stderr
    assert victim.read_text(encoding="utf-8") == "the operator's own file\n"
    document = json.loads(issued.read_text(encoding="utf-8").splitlines()[0])
    assert "Zhang Wei" in json.dumps(document, ensure_ascii=False)
    digest = document["digest"]
    done = run_cli(ledger, "export", digest, "--out", str(exported))
    assert done.returncode == 0, done.stderr
    assert victim.read_text(encoding="utf-8") == "the operator's own file\n"
    assert json.loads(exported.read_text(encoding="utf-8"))["digest"] == digest
    _private_and_only(issued, shared, exported)
    _private_and_only(exported, shared, issued)
    shown = run_cli(ledger, "export", digest, "--out", "/dev/stdout")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["digest"] == digest


# -- 2. an offline approval signs the content the member was shown, or nothing --------------------------------------


def test_a_signed_approval_counts_only_for_the_proposal_the_member_was_shown(ledger: Ledger, tmp_path: Path) -> None:
    """Adversary: the chain's operator, colluding with one council member, rewriting history between what an
    honest member was shown (`council show N`: its hash) and the approval the member signs into a file. With the
    hash shown, `sign` refuses (exit 2, nothing written, the library a StateError); the file it writes names the
    content it was shown."""
    chain = ledger.chain
    council = Council(ledger)
    colluding, honest, _third = council.members
    victim = "R31-VICTIM"
    victim_key = council.register(victim, "Victim office", ROLE_ISSUER | ROLE_VERIFIER, types=TEST_TYPES)
    before = rpc(ledger, "evm_snapshot")
    shown_id = colluding.propose(
        Action.REGISTER, "R31-NEW", name="New office", signer=Account.create().address, roles=ROLE_VERIFIER
    )
    args, env = member_cli(ledger, 2)
    shown = json.loads(run_cli(ledger, "council", "show", str(shown_id), "--json", *args, **env).stdout)
    assert "R31-NEW" in shown["summary"]

    # the operator rewrites the chain from before the proposal: its number now names a rotation of the victim's key
    assert rpc(ledger, "evm_revert", before) is True
    attacker = Account.create()
    assert colluding.propose(Action.ROTATE_KEY, victim, signer=attacker.address) == shown_id
    now = get_proposal(chain, shown_id)
    assert now.proposal_hash != shown["proposal_hash"]

    with pytest.raises(StateError) as refused:
        honest.sign_approval(shown_id, shown["proposal_hash"])
    assert shown["proposal_hash"] in str(refused.value) and victim in str(refused.value), refused.value
    out = tmp_path / "approval.json"
    cli = run_cli(
        ledger, "council", "sign", str(shown_id), "--hash", shown["proposal_hash"], "--out", str(out), *args, **env
    )
    assert cli.returncode == 2 and "other content" in cli.stderr, cli.stderr
    assert not out.exists()
    assert get_department(chain, victim).signer == victim_key

    # what it does show is what an approval with its hash signs
    again = run_cli(
        ledger, "council", "sign", str(shown_id), "--hash", now.proposal_hash, "--out", str(out), *args, **env
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["proposal_hash"] == now.proposal_hash
    colluding.cancel(shown_id)


# -- 3. a witness quorum that cannot be met is refused before it is saved ------------------------------------------


def test_a_witness_quorum_outside_the_witnesses_trusted_is_refused_and_nothing_saved(
    ledger: Ledger, tmp_path: Path
) -> None:
    """`ledger witness quorum K` with K not between 1 and the witnesses trusted, or a negative `--finality`: exit 2
    saying what was wrong, witnesses.json as it was, and the configuration still usable."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    env = {"LEDGER_DATA_DIR": str(data)}
    for name in ("r31-w1", "r31-w2"):
        key = str(SignerKey.generate(name, COSIGNATURE_V1).verifier)
        trusted = run_cli(ledger, "witness", "trust", f"http://127.0.0.1:9/{name}", key, **env)
        assert trusted.returncode == 0, trusted.stderr
    assert run_cli(ledger, "witness", "quorum", "2", **env).returncode == 0
    saved = (data / "witnesses.json").read_text(encoding="utf-8")
    for args in (("3",), ("0",), ("-1",), ("1", "--finality", "-1")):
        refused = run_cli(ledger, "witness", "quorum", *args, **env)
        assert refused.returncode == 2, (args, refused.returncode, refused.stderr)
        assert "between 1 and" in refused.stderr or "finality" in refused.stderr, (args, refused.stderr)
        assert "Traceback" not in refused.stderr, refused.stderr
        assert (data / "witnesses.json").read_text(encoding="utf-8") == saved, args
    assert run_cli(ledger, "witness", "quorum", "1", **env).returncode == 0
    assert json.loads((data / "witnesses.json").read_text(encoding="utf-8"))["quorum"] == 1


# -- 4. an applicant's identity kept out of the process list --------------------------------------------------------


def test_a_credit_listing_takes_the_applicants_identity_from_standard_input_not_the_command_line(
    ledger: Ledger, fresh_department: str
) -> None:
    """`ledger supervision credit add --applicant -` reads the identity from standard input (one line), so it is
    in no process's command line: the listing names the same salted reference as the identity itself would. An
    empty standard input is refused, saying what was expected."""
    identity = "110101199003071234"
    args = [
        "supervision", "credit", "add", "-d", fresh_department, "--applicant", "-", "--reason", "FRAUD",
        "--since", "2026-01-01", "--until", "2027-01-01", "--officer", "officer-7", "--legal-basis", "REG-12",
    ]  # fmt: skip
    listed = ledger_process(args, env=env_for(ledger), input=identity + "\n")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["applicant_ref"] == applicant_reference(ledger, fresh_department, identity)
    empty = ledger_process(args, env=env_for(ledger), input="")
    assert empty.returncode == 2 and "standard input" in empty.stderr, empty.stderr
    assert identity not in listed.stderr + empty.stderr
