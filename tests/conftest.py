"""Shared fixtures: a real embedded anvil chain, the real compiler and a real database for the whole session.

Set LEDGER_TEST_DATABASE_URL (e.g. postgresql://...) to run the suite against PostgreSQL instead of SQLite;
.ci/run does both. Nothing here mocks the chain: tests talk to anvil over JSON-RPC like production code.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.client import Ledger
from ledger.config import Settings
from ledger.onchain.chain import ROLE_APPROVER, ROLE_AUDITOR, ROLE_ISSUER, ROLE_VERIFIER
from ledger.onchain.node import EmbeddedNode
from ledger.services.departments import Council

PASSPHRASE = "test-passphrase"
# keys stay scrypt-encrypted; tests need not wait on it. The vault key file follows (ledger/client.py): unwrapped
# at 2^15 it cost ~0.1-0.2 CPU-s in every process that opened a ledger's vault (each module's, each CLI command's,
# each gateway's)
os.environ.setdefault("LEDGER_KEYSTORE_KDF_N", "1024")
os.environ.setdefault("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", "1024")  # ...which needs the floor lowered explicitly
# No gateway of a test (in this process or its own) makes permits follow their licences in the background: on the
# shared ledger it would revoke or suspend another test's permits at a moment of its own. The test of that task
# sets its interval itself (tests/test_redteam_round77c.py).
os.environ.setdefault("LEDGER_PERMIT_FOLLOW_SECONDS", "0")
# Tests move their nodes' clocks on (``evm_increaseTime``, up to weeks: council proposals expiring) and restart those
# nodes: a restarted node carries its chain's clock on from its newest block however far ahead of the machine's clock
# it is (ledger/onchain/node.py, clock_flags). Its tests (tests/test_node_clock.py) give their nodes their own bound.
os.environ.setdefault("LEDGER_NODE_CLOCK_CARRY_SECONDS", str(10 * 366 * 24 * 3600))
# The embedded demo council: three members, each key in its own keystore under its own passphrase. Council(ledger)
# casts their votes from the test process (a convenience the CLI does not offer; docs/governance.md).
DEMO_COUNCIL_PASSPHRASES = ("member one's passphrase", "member two's passphrase", "member three's passphrase")
for _index, _value in enumerate(DEMO_COUNCIL_PASSPHRASES, start=1):
    os.environ.setdefault(f"LEDGER_DEMO_COUNCIL_PASSPHRASE_{_index}", _value)

# tests/evidence_support.py ``standalone`` forks the court's verifier from a server that has loaded it
# (tests/court_zygote.py); LEDGER_TEST_COURT_FORK=0 starts a fresh interpreter for every call instead.
COURT_FORK = os.environ.get("LEDGER_TEST_COURT_FORK") != "0"

# The certificate types the suite's issuers issue. The council's schedule (DepartmentRegistry.typeHistory) must name
# each type a department issues, so a test that registers an issuer grants it these (``register(..., types=)``, one
# proposal for all of them). A named list, never "every type": the red-team tests
# (tests/test_redteam_type_authority.py) register departments with their own types and issue others.
TEST_TYPES = (
    "business-licence",
    "birth-certificate",
    "permit",
    "licence",
    "tax-clearance",
    "id-card",
    "housing-permit",
    "food-business-permit",
    "food-permit",
    "business-licence-copy",
    "decision-notice",
)

# The service items the suite's approvers decide on: the council's schedule (DepartmentRegistry.serviceItemHistory)
# must name the item of each rule set a department publishes (BatchLog 3.0.0, red team round 85s), so a test that
# registers an approver grants it these (``register(..., items=)``, one proposal for all of them). "*" is every item
# (the shipped eligibility screen); "440300-XXXX-0001" is the other item red team round 39 publishes a rule set under.
TEST_ITEMS = ("*", "ITEM-1", "440300-SCJG-0042", "440300-SCJG-0107", "440300-XXXX-0001")

# Departments registered once per shared ledger (LEDGER_SCOPE); tests that suspend or rotate register their own
# (fresh_department).
DEPARTMENTS = {
    "MKT": ("Market Regulation Bureau", ROLE_ISSUER | ROLE_VERIFIER),
    "HOSP": ("City Hospital", ROLE_ISSUER),
    "PSB": ("Public Security Bureau", ROLE_VERIFIER | ROLE_AUDITOR),
    "INS": ("Medical Insurance Bureau", ROLE_VERIFIER | ROLE_APPROVER),
    "AUD": ("Audit Office", ROLE_AUDITOR),
}


def database_url(data_dir: Path, *, template: str | None = None) -> str | None:
    """The test database: PostgreSQL when LEDGER_TEST_DATABASE_URL is set (a fresh schema per data dir), made
    empty or, with ``template`` (the URL of another such database, which nothing may be connected to), as a copy
    of that one."""
    base = os.environ.get("LEDGER_TEST_DATABASE_URL")
    if not base:
        return None
    import sqlalchemy

    name = "t_" + data_dir.name.replace("-", "_").lower()[-40:]
    copy_of = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
    admin = sqlalchemy.create_engine(
        base.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"{copy_of}'))
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    """Drop the test database ``url`` names (made by :func:`database_url`), whoever is still connected to it."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(
        os.environ["LEDGER_TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url(data_dir), keystore_kdf_n=1024, **overrides)


# LEDGER_TEST_LEDGER_SCOPE=module gives each test module a ledger of its own instead of one for the session. Every
# block anvil mines costs it time in proportion to the chain's whole state (its state root is recomputed over every
# account and storage slot), so on one chain for the whole pass each transaction, and the empty block mined every
# second, grows slower as the pass goes on: two red-team modules (test_redteam_round4, test_redteam_round14b) took
# 29.1 CPU-s on the session chain as it stood four fifths into a pass (4,038 blocks, 26,707 storage slots) and 13.8
# on a fresh one, side by side. A fresh ledger costs ~0.2 s to open and five registrations on its new chain.
# scripts/test.sh (and so CI) runs both passes with module scope; a bare ``pytest`` keeps the one session ledger, so
# a test that leans on another module's data shows up in one of the two. "The shared chain" in the tests' comments
# is this fixture's, whichever the scope.
LEDGER_SCOPE = os.environ.get("LEDGER_TEST_LEDGER_SCOPE", "session")
assert LEDGER_SCOPE in ("session", "module"), "LEDGER_TEST_LEDGER_SCOPE is session or module"

# The shared chain's node writes its state file (the whole chain, history included) every 30 s, not every second as
# the ledger's own node does (ledger.onchain.node.STATE_INTERVAL): no test kills or restarts it, and a pass mines
# thousands of blocks into the session chain, whose writes every second cost anvil a growing share of a core for the
# rest of the pass. The tests of the state file and of a node killed and restarted (test_foundation,
# test_chain_faults, test_chain_identity, test_node_disk, test_crash) start their own nodes, with the ledger's interval.
SESSION_STATE_INTERVAL = 30


# fresh_department hands out these first, registered with DEPARTMENTS (in the template, once a pass): a registration
# is eight council transactions, and some 330 tests a pass ask for a fresh department, most one or two a module
FRESH_POOL = tuple(f"TP-{n}" for n in range(1, 7))
_FRESH_ROLES = ROLE_ISSUER | ROLE_VERIFIER | ROLE_APPROVER


def _register_departments(ledger: Ledger) -> None:
    council = Council(ledger)
    for code, (name, roles) in DEPARTMENTS.items():
        council.register(
            code,
            name,
            roles,
            types=TEST_TYPES if roles & (ROLE_ISSUER | ROLE_APPROVER) else (),
            items=TEST_ITEMS if roles & ROLE_APPROVER else (),
        )
    for code in FRESH_POOL:
        council.register(code, f"Test department {code}", _FRESH_ROLES, types=TEST_TYPES, items=TEST_ITEMS)


# What a module's ledger costs, and why it is copied (module scope): a ledger made from nothing deploys the contracts
# (the demo council's three keystores, the deployment transaction), creates the database (every migration) and
# registers DEPARTMENTS (five department keystores, eight council proposals of two votes each): 1-2 s of one core
# per module, some 150 modules per pass. With module scope the pass makes that ledger once (_ledger_template) and
# gives each module a copy of its data directory - the chain's state file (anvil's own dump at a clean stop), the
# keystores, the deployment record and the database (a SQLite file; on PostgreSQL a database made WITH TEMPLATE) -
# on which the module's own anvil starts, as a restarted embedded node does: ~0.3 s. Each module's chain and
# database are still its own: nothing one module writes is seen by another, and every check still runs against them.
# What the copy skips is repeated in every pass by the template itself and by the tests that open ledgers of their
# own (deployment, migrations from an empty database, registration).


@pytest.fixture(scope="session")
def _ledger_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str | None]]:
    """The data directory (and PostgreSQL database, if any) of a stopped ledger with DEPARTMENTS registered, which
    each module's ``ledger`` starts from a copy of (module scope only)."""
    data_dir = tmp_path_factory.mktemp("ledger-template")
    settings = make_settings(data_dir)
    node = EmbeddedNode(
        settings.chain_dir,
        anvil=settings.anvil,
        state_interval=SESSION_STATE_INTERVAL,
        clock_carry=settings.node_clock_carry_seconds,
    )
    node.start()
    try:
        with Ledger.open(settings, passphrase=PASSPHRASE) as instance:
            _register_departments(instance)
    finally:
        node.stop()  # a clean stop: anvil writes the whole chain to its state file
    # what names a running node (its process and address) is not copied: each copy starts a node of its own
    for name in ("node.json", "node.lock", "anvil.log"):
        (settings.chain_dir / name).unlink(missing_ok=True)
    try:
        yield data_dir, settings.database_url
    finally:
        if settings.database_url:
            drop_database(settings.database_url)


@pytest.fixture(scope=LEDGER_SCOPE)
def ledger(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Ledger]:
    """An embedded ledger (anvil + database + keys) with the standard departments registered, shared by one module's
    tests (scripts/test.sh) or by the session's (a bare ``pytest``; LEDGER_SCOPE). With module scope it starts from
    a copy of the pass's template ledger (_ledger_template), a chain and a database of its own."""
    data_dir = tmp_path_factory.mktemp("ledger")
    template: tuple[Path, str | None] | None = None
    if LEDGER_SCOPE == "module":
        template = request.getfixturevalue("_ledger_template")
        shutil.copytree(template[0], data_dir, dirs_exist_ok=True)
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url(data_dir, template=template[1] if template else None),
        keystore_kdf_n=1024,
    )
    # The node is started here, to write its state file every SESSION_STATE_INTERVAL seconds; the ledger attaches to
    # it as to any running node of its data directory.
    node = EmbeddedNode(settings.chain_dir, anvil=settings.anvil, state_interval=SESSION_STATE_INTERVAL)
    node.start()
    _ledger_nodes[str(data_dir)] = node
    try:
        instance = Ledger.open(settings, passphrase=PASSPHRASE)
        try:
            if template is None:
                _register_departments(instance)
            yield instance
        finally:
            instance.close()
    finally:
        _ledger_nodes.pop(str(data_dir), None)
        node.stop()
        if settings.database_url and LEDGER_SCOPE == "module":
            drop_database(settings.database_url)  # one per module: none is left filling the disk


# The node each ``ledger`` above started, by data directory, and the data directories whose node a test took out of
# ANVIL_FLAGS' mixed mining (tests/cli_support.py ``rpc``). anvil has no call that gives mixed mining back:
# ``evm_setIntervalMining`` and ``evm_setAutomine`` each replace the mode, so a node paused and resumed by them
# mined only every second for the rest of its module (every later transaction waited ~0.5 s for its block: ci8,
# ~100 s of each pass) or only for transactions. Such a node is restarted when the test ends (a clean stop writes
# its state file, the restart reads it on the same port, as a restarted embedded node does): every test starts on
# the node the ledger runs.
_ledger_nodes: dict[str, EmbeddedNode] = {}
_mining_mode_changed: set[str] = set()
_own_ledgers: dict[str, Ledger] = {}  # module ledgers of a module's own whose node is restarted alike (below)
# data directory -> the depth of the open ``cli_support.mining_paused`` blocks on its node; forgotten when a test ends
# (a block a failed test left open is closed only when its generator is collected, perhaps in a later test)
paused_nodes: dict[str, list[int]] = {}


def mining_mode_changed(ledger: Ledger) -> None:
    """Say that a test changed the mining mode of ``ledger``'s node (tests/cli_support.py ``mining_paused``): its node
    is restarted with the ledger's own mode when the test ends."""
    _mining_mode_changed.add(str(ledger.settings.data_dir))


def keep_mixed_mining(ledger: Ledger) -> None:
    """A module's ledger of its own (``Ledger.open`` started its node) whose node is restarted in its mixed mode when a
    test that changed the mode ends, as the ``ledger`` fixture's is; other ledgers of a test's own are left as their
    fixtures set them (some mine only for transactions on purpose)."""
    _own_ledgers[str(ledger.settings.data_dir)] = ledger


_NEXT_ITEM = pytest.StashKey["pytest.Item | None"]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    item.stash[_NEXT_ITEM] = nextitem  # for _mixed_mining_back, which runs among the finalizers after this


@pytest.fixture(autouse=True)
def _mixed_mining_back(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    paused_nodes.clear()
    # no test runs on a module's ledger after its module's last: its node is stopped next, not restarted first
    nextitem = request.node.stash.get(_NEXT_ITEM, None)
    same_module = nextitem is not None and getattr(nextitem, "module", None) is getattr(request.node, "module", None)
    while _mining_mode_changed:
        where = _mining_mode_changed.pop()
        node = _ledger_nodes.get(where)
        if node is not None:
            if nextitem is None or (LEDGER_SCOPE == "module" and not same_module):
                continue
        elif where in _own_ledgers:
            node = _own_ledgers[where].node
            if not same_module:
                continue
        if node is None or not node.owned:  # a ledger of the test's own, or one stopped since
            continue
        url = node.url
        # the restart carries the chain's clock on from its newest block (node.clock_flags), however far a test moved
        # it ahead of the machine's (round 75's verdict-at-a-moment test failed after test_state_proof without it)
        node.stop()
        node.start()
        assert node.url == url, f"the restarted node answers on {node.url}, not {url}: the ledger still asks {url}"


def member_cli(ledger: Ledger, member: int) -> tuple[list[str], dict[str, str]]:
    """Arguments and environment for `ledger council ...` run as demo council member ``member`` (1-3): that
    member's own keystore and passphrase, as on their own machine."""
    return (
        ["--member-keystore", str(ledger.settings.keys_dir / f"council-{member}")],
        {"LEDGER_COUNCIL_PASSPHRASE": DEMO_COUNCIL_PASSPHRASES[member - 1]},
    )


_codes = itertools.count(1)
_pool_taken: dict[str, int] = {}  # data directory -> how many of FRESH_POOL its ledger has handed out


@pytest.fixture()
def fresh_department(ledger: Ledger) -> str:
    """A newly registered issuer+verifier+approver department, for tests that suspend, rotate or revoke: one of
    FRESH_POOL that no test of this ledger has had yet (registered with it, untouched since), else registered now."""
    where = str(ledger.settings.data_dir)
    taken = _pool_taken.get(where, 0)
    # a ledger a module made itself (not from the template) has no pool: its keystore holds none of its keys
    if taken < len(FRESH_POOL) and f"dept-{FRESH_POOL[taken]}" in ledger.keystore.names():
        _pool_taken[where] = taken + 1
        return FRESH_POOL[taken]
    code = f"T{os.getpid() % 1000}-{next(_codes)}"
    Council(ledger).register(code, f"Test department {code}", _FRESH_ROLES, types=TEST_TYPES, items=TEST_ITEMS)
    return code


_ids = itertools.count(1)


def make_records(n: int, *, prefix: str | None = None, cert_type: str = "business-licence") -> list[dict[str, Any]]:
    """n valid input records with unique ids."""
    tag = prefix or f"R{next(_ids)}"
    return [
        {
            "id": f"{tag}-{i:06d}",
            "type": cert_type,
            "subject": {
                "name": f"Zhang Wei {i}",
                "credit_code": f"91440300MA5{i:07d}",
                "id_number": f"44030019800101{i:04d}",
            },
            "valid_from": "2026-01-01",
            "valid_until": "2031-12-31",
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, records: list[Any]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write((record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)) + "\n")
    return path


# Modules whose subject is the chain, the compiler, separate processes or the browser, not the database: .ci/run
# runs them once, in the SQLite pass, and leaves them out of the PostgreSQL pass (which exists to run everything that
# reads or writes the database against PostgreSQL). Set LEDGER_TEST_EVERYTHING_TWICE=1 to run them there too.
DATABASE_AGNOSTIC = {
    "test_toolchain": "compiles contracts; no database",
    "test_layers": "import-linter on the source tree",
    "test_properties": "pure functions (canonical JSON, parsers, hashes)",
    "test_chain_identity": "restarts of the embedded node and its state file",
    "test_council": "council keystores and votes on chain",
    "test_witness": "witness processes and their own stores",
    "test_browser": "the pages in Chromium (the gateway's database code is covered by the test_api_* modules)",
    "test_browser_i18n": "the pages in Chromium, in two languages",
    "test_node_disk": "the embedded node's files on disk; no database",
    "test_install": "the installed wheel runs the embedded default (SQLite) whatever the pass: its environment drops "
    "every LEDGER_ setting",
    "test_cli_zygote": "the suite's own command server against a fresh interpreter",
    "test_court_zygote": "the suite's court-verifier server against a fresh interpreter (one certificate issued)",
    # Pure modules: no test or fixture in them asks for the ledger, a settings object or a database (checked by
    # collecting the PostgreSQL pass: none of their tests' fixture closures holds `ledger`; no make_settings,
    # database_url or LEDGER_DATABASE_URL in their source).
    "test_rules": "the rule engine on rule-set files and generated applications; no ledger",
    "test_settings": "Settings read from the environment, and a scan of the source for os.environ; no ledger",
    "test_api_models": "the gateway's request models and their patterns, no request sent; no ledger",
    "test_bench_charts": "bench/charts.py's SVG from fixed figures; no ledger",
    "test_credit_book": "the credit book's index against its reference scans on generated entries; no ledger",
    "test_hashcore": "the native hashing core against the Python reference; no ledger",
    "test_chain_decode": "view-call outputs reshaped against web3's normalisers, from the ABIs; no ledger",
    "test_witness_files": "damaged key, state and witness files read back; no ledger",
    "test_sqlite_settings": "the SQLite settings of a file engine of its own (a SQLite subject); no ledger",
    "test_redteam_round6_applicant": "the shipped rule sets evaluated on incomplete applications; no ledger",
    "test_redteam_round57": "key file work factors, forked commands' exit statuses and odd files read; no ledger",
    # Single tests ("module::function", every parameter of it) in modules that otherwise read and write the
    # database: these ones ask for no ledger, or only read files and the chain.
    "test_redteam_round50::test_a_witness_key_of_small_order_is_refused_by_both_verifiers": "witness key texts "
    "read by the library and the court's verifier; no ledger",
    "test_redteam_round50::test_the_small_order_points_are_those_both_verifiers_refuse": "curve arithmetic of the "
    "court's verifier against the library's list; no ledger",
    "test_redteam_round51::test_ipv4_clients_written_in_an_ipv6_translation_prefix_do_not_share_one_rate_limit": (
        "the gateway's client keys of addresses; no ledger"
    ),
    "test_redteam_round51::test_a_spelling_that_reads_as_the_canonical_body_is_still_reported": "a pure function "
    "of texts; no ledger",
    "test_decision_rerun::test_standalone_engine_agrees_on_the_shipped_rule_sets": "the library's rule engine "
    "against scripts/rerun's on generated inputs (hypothesis); no ledger",
    "test_decision_rerun::test_standalone_engine_agrees_on_generated_rule_sets": "the same, on generated rule sets",
    "test_decision_rerun::test_flattened_input_comes_back_whole_in_the_standalone_verifier": "flatten/unflatten "
    "of generated values; no ledger",
    "test_redteam_round42r::test_both_engines_combine_rules_taken_as_recorded_with_the_engines_precedence": "the "
    "library's rule engine against the court verifier's, rules taken as given; no ledger",
    "test_redteam_round44::test_both_verifiers_take_the_same_rules_as_recorded_and_read_fired_alike": "the "
    "library's rules taken as recorded, engine and fired check against the court verifier's; no ledger",
    "test_erasure_typed_fields::test_any_rule_set_names_its_personal_fields_and_a_bad_declaration_is_refused": "rule "
    "set loading and seal_fields on a dict; no ledger",
    "test_redteam_round5::test_deep_json_is_refused_by_the_ledgers_parsers_not_a_crash": "the JSON parsers in a "
    "fresh interpreter; no ledger",
    "test_redteam_round5::test_bytes_in_utf16_or_utf32_cannot_hide_their_depth_from_the_scan": "the same parsers, "
    "on UTF-16/32 bytes",
    "test_court_verifier::test_recovery_agrees_with_eth_keys_on_many_random_signatures": "the court verifier's "
    "secp256k1 against eth_keys; no ledger",
    "test_redteam_round23::test_a_damaged_department_keystore_file_of_the_right_shape_is_a_clear_error": "damaged "
    "keystore files in tmp_path; no ledger",
    "test_redteam_round23::test_a_witness_state_with_a_damaged_origin_entry_stops_the_witness": "a witness's state "
    "file in tmp_path; no ledger",
    "test_redteam_round23::test_a_deployment_record_with_a_field_of_another_type_is_a_clear_error": "a deployment "
    "file in tmp_path; no ledger",
    "test_api_secret::test_workers_starting_at_once_share_one_full_secret": "processes racing to create a secret "
    "file in tmp_path; no ledger",
    "test_evidence::test_changing_an_element_fails_the_right_check_in_both_verifiers": "mutated copies of one "
    "bundle checked by evidence.verify_bundle(file, chain) and scripts/verify_evidence.py --rpc: files and the "
    "chain only (the bundle itself is made from the database by the module fixture, whose other tests still run "
    "in both passes)",
    "test_evidence::test_changing_a_decision_element_fails_the_right_check_in_both": "the same, for a decision bundle",
    # Key files, witness stores and files handed to the ledger, in tmp_path; no ledger (red team rounds 5, 56, 59 and
    # keybind; checked as above: no `ledger` in their fixture closures, no settings or database in their source).
    "test_redteam_keybind::test_the_vault_key_and_the_checkpoint_key_swapped_open_as_neither": "key files in "
    "tmp_path; no ledger",
    "test_redteam_keybind::test_a_witness_seed_and_the_checkpoint_key_do_not_open_as_each_other": "a witness store "
    "and a checkpoint key in tmp_path; no ledger",
    "test_redteam_keybind::test_another_deployments_checkpoint_key_does_not_open_as_this_chains": "checkpoint key "
    "files in tmp_path; no ledger",
    "test_redteam_keybind::test_a_key_files_stated_purpose_or_owner_edited_does_not_open": "key files in tmp_path; "
    "no ledger",
    "test_redteam_keybind::test_another_witness_key_file_in_a_witness_store_stops_the_witness": "a witness store in "
    "tmp_path; no ledger",
    "test_redteam_keybind::test_old_layout_key_files_open_and_are_rewrapped_bound_to_their_purpose": "key files of "
    "the old layout in tmp_path; no ledger",
    "test_redteam_keybind::test_an_old_layout_file_opened_with_the_wrong_passphrase_is_left_as_it_is": "a key "
    "file in tmp_path; no ledger",
    "test_redteam_keybind::test_processes_opening_an_old_layout_vault_key_at_once_end_with_one_key": "processes "
    "racing to open a vault key file in tmp_path; no ledger",
    "test_redteam_keybind::test_the_cli_warns_at_a_terminal_when_started_with_the_insecure_floor": "`ledger "
    "witness keygen` refused for want of a passphrase, its standard error; no ledger",
    "test_redteam_round59::test_two_witnesses_under_one_name_are_refused": "a witness configuration in memory and "
    "tmp_path; no ledger",
    "test_redteam_round59::test_trusting_a_key_under_a_trusted_witnesss_name_says_whom_it_replaces": "`ledger "
    "witness trust` on a data directory of its own (witnesses.json); no ledger",
    "test_redteam_round56::test_a_rule_set_file_padded_past_any_rule_set_is_refused_unread": "rule set files read "
    "with a bound; no ledger",
    "test_redteam_round56::test_a_fifo_handed_as_a_file_is_refused_not_waited_on": "named pipes handed to the file "
    "readers; no ledger",
    "test_redteam_round56::test_a_pipe_a_process_writes_to_is_read_as_before": "a pipe read by the rule set reader; "
    "no ledger",
    "test_redteam_round5::test_the_depth_limit_is_exact_and_applies_whichever_parser_reads_the_text": "the JSON "
    "parsers on texts; no ledger",
    "test_redteam_round5::test_a_body_of_escaped_quotes_is_scanned_in_one_pass_not_quadratic_time": "the JSON "
    "scanners of the library, the gateway and the court's verifier in a fresh interpreter; no ledger",
    # A module's bundle (made from the database by its module fixture, whose other tests still run in both passes)
    # or a witness, read by the verifiers and the witness client against hostile nodes and witnesses: files and the
    # chain only, as test_evidence's two above.
    "test_redteam_round58::test_a_node_answering_a_byte_at_a_time_holds_neither_verifier": "a certificate bundle "
    "verified through a node trickling its answers: a file and the chain only",
    "test_redteam_round58::test_a_verdict_with_nothing_failed_names_what_was_not_checked": "a certificate bundle "
    "verified with no node: a file only",
    "test_redteam_round58::test_a_node_answer_in_place_of_a_number_is_named_briefly": "a certificate bundle "
    "verified through a hostile node: a file only",
    "test_redteam_round58::test_a_node_answer_of_empty_objects_multiplies_in_neither_verifiers_memory": "a "
    "certificate bundle verified through a hostile node: a file and the chain only",
    "test_redteam_round58::test_a_named_pipe_for_the_bundle_or_the_scan_holds_no_verifier": "named pipes handed "
    "to both verifiers: files and the chain only",
    "test_redteam_round58::test_a_huge_scan_is_hashed_a_piece_at_a_time": "a sparse scan file hashed by both "
    "verifiers: files and the chain only",
    "test_redteam_round54::test_a_witness_answer_that_never_ends_is_read_up_to_a_bound": "the witness client "
    "against an endless witness, the chain's identity read: the chain only",
    "test_redteam_round54::test_a_witness_answer_trickled_a_byte_at_a_time_is_read_up_to_a_deadline": "the same, "
    "against a trickling witness",
    "test_redteam_round54::test_connections_held_open_from_one_host_do_not_keep_a_witness_from_answering": "a "
    "witness process (its own store) following the chain, held connections: the chain only",
    "test_redteam_round54::test_a_connection_trickling_its_request_is_cut_at_the_witness_deadline": "a witness "
    "server's request deadline; no ledger",
    # Pure functions in modules whose other tests read and write the database (no `ledger` in their fixture closures,
    # no settings or database in their source): the issuing worker's digests and slices against the reference, the
    # court verifier's own keccak, secp256k1, ABI and Ed25519 against the packages, the native input commitments, the
    # cyclic collector's use, and a node's memory over many blocks.
    **{
        f"test_issuance_fast_paths::{name}": "the issuing worker's fast paths against the reference digests, on bytes "
        "and generated records; no ledger"
        for name in (
            "test_hostile_values_get_the_reference_digest_or_its_error",
            "test_document_field_names_of_any_shape_get_the_reference_digest",
            "test_hostile_documents_do_not_grow_the_remembered_layouts_without_bound",
            "test_a_lone_surrogate_name_is_refused_the_same_way_on_every_path",
            "test_generated_records_get_the_reference_digest",
            "test_a_validated_record_gets_the_reference_fields_in_the_reference_order",
            "test_a_batch_built_by_unsigned_matches_the_reference_from_its_packed_salts",
            "test_a_slice_changed_after_validation_is_checked_again_in_full",
            "test_an_unchanged_slice_skips_the_second_check_and_gets_the_same_records",
            "test_a_validated_slice_with_lines_json_must_read_gets_json_values",
        )
    },
    **{
        f"test_court_verifier::{name}": "the court verifier's primitives against the library and the packages; no "
        "ledger"
        for name in (
            "test_keccak_known_answers",
            "test_keccak_is_not_sha3",
            "test_keccak_agrees_with_the_library_at_every_length_around_the_rate",
            "test_keccak_agrees_with_the_library",
            "test_recovery_agrees_with_eth_keys_on_random_and_edge_signatures",
            "test_high_s_twin_recovers_the_same_key_as_the_library_does",
            "test_a_wrong_length_signature_is_refused",
            "test_abi_decoding_agrees_with_eth_abi",
            "test_abi_encoding_agrees_with_eth_abi",
            "test_hostile_abi_data_is_refused_where_eth_abi_refuses_it",
            "test_the_bare_interpreter_really_has_no_site_packages",
            "test_ed25519_rfc8032_test_vector_1",
            "test_ed25519_agrees_with_the_cryptography_package",
            "test_the_court_verifier_reads_review_texts_as_the_library_does",
        )
    },
    "test_bundle_state_proof::test_the_courts_trie_walk_agrees_with_the_librarys_on_random_tries": "the court's "
    "trie walk against the library's on generated tries (hypothesis); no ledger",
    "test_bundle_state_proof::test_the_courts_trie_walk_agrees_with_the_librarys_on_real_and_mutated_proofs": "the "
    "same on the anchor's proofs read from the node at the head (the module fixture): the chain only",
    "test_redteam_round41b::test_generated_inputs_commit_natively_as_the_pure_python_reference_does": "the native "
    "input commitments against the Python reference (hypothesis); no ledger",
    "test_redteam_round41b::test_hand_picked_inputs_commit_natively_as_the_pure_python_reference_does": "the same, "
    "on hand-picked inputs",
    "test_ledger_state::test_a_one_shot_caller_pauses_the_collector_and_gets_it_back": "the cyclic collector's "
    "pause in this process; no ledger",
    "test_ledger_state::test_no_gc_disable_and_no_id_keyed_globals_in_the_library": "a scan of the library's "
    "source; no ledger",
    "test_node_memory::test_a_node_mining_hundreds_of_blocks_over_a_large_state_keeps_a_bounded_number_of_copies": "an "
    "embedded node of its own and its memory; no database",
    **{
        f"test_redteam_round16_depth::{name}": "deep JSON read by the parsers, node readers and file readers, some in a "
        "fresh interpreter (the JSON column's is a SQLite file of its own in either pass); no ledger"
        for name in (
            "test_a_nodes_answer_nested_too_deep_is_a_chain_failure_not_a_crash",
            "test_a_json_column_an_insider_nested_too_deep_fails_its_read_not_the_process",
            "test_a_record_whose_certificate_no_reader_could_read_back_is_refused_when_issued",
            "test_an_application_whose_decision_no_reader_could_read_back_is_refused_when_read",
            "test_the_gateway_cannot_be_set_to_take_bodies_deeper_than_the_ledger_takes_in",
            "test_a_rule_file_is_bounded_alike_in_json_and_in_yaml",
            "test_a_nodes_endless_answer_is_refused_at_a_bound_not_held_in_memory",
            "test_the_faster_depth_scan_of_unescaped_text_agrees_with_the_pattern_on_hostile_text",
            "test_a_forged_tokens_deep_payload_is_nothing_claimed_not_a_crash",
            "test_the_embedded_nodes_readiness_probe_survives_a_deep_answer",
        )
    },
}


def _agnostic(item: pytest.Item) -> bool:
    name = _module_name(item)
    function = getattr(item, "originalname", None) or item.name.split("[", 1)[0]
    return name in DATABASE_AGNOSTIC or f"{name}::{function}" in DATABASE_AGNOSTIC


# Database-agnostic modules that scripts/test.sh runs in the PostgreSQL pass instead of the SQLite pass, so the two
# passes running side by side end nearer together (the SQLite pass, with every other agnostic test, was the longer by
# minutes). Agnostic, they test the same whichever pass runs them; still exactly once. Only when both passes run
# (LEDGER_TEST_BOTH_PASSES=1, set by scripts/test.sh): a plain `pytest` on SQLite runs them as before.
# test_chain_identity (~16 s) went back to the SQLite pass on 2026-12-06: the PostgreSQL pass had become the longer
# (845 s against 815 s in a quiet CI run). test_toolchain (~15 s) followed it later that day, for the same reason
# (834 s against 800 s). test_chain_identity came back to the PostgreSQL pass with ci5 (2026-12-06), which took 122
# tests that open no database out of that pass (~55-70 s of it, against ~8 s of the SQLite pass's; the last quiet
# runs had the SQLite pass ~20 s the shorter): an estimate from alternated module runs, not a quiet CI run, which is
# the figure to move it by again.
AGNOSTIC_IN_PG_PASS = ("test_install", "test_cli_zygote", "test_chain_identity")
assert set(AGNOSTIC_IN_PG_PASS) <= set(DATABASE_AGNOSTIC), "only a database-agnostic module may change passes"


def _module_name(item: pytest.Item) -> str:
    module = getattr(item, "module", None)
    return module.__name__.rsplit(".", 1)[-1] if module else ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("LEDGER_TEST_EVERYTHING_TWICE"):
        return
    both = bool(os.environ.get("LEDGER_TEST_BOTH_PASSES"))
    kept, left = [], []
    for item in items:
        if not os.environ.get("LEDGER_TEST_DATABASE_URL"):  # the SQLite pass
            leave = both and _module_name(item) in AGNOSTIC_IN_PG_PASS
        else:
            leave = _agnostic(item) and not (both and _module_name(item) in AGNOSTIC_IN_PG_PASS)
        (left if leave else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept
        config.stash[_LEFT_TO_THE_OTHER_PASS] = not kept


_LEFT_TO_THE_OTHER_PASS = pytest.StashKey[bool]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A pass left with nothing because every test asked for runs in the other pass (say `scripts/test.sh
    tests/test_install.py`) succeeds: its tests ran there. Any other empty collection still fails."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and session.config.stash.get(_LEFT_TO_THE_OTHER_PASS, False):
        session.exitstatus = pytest.ExitCode.OK


def pytest_report_header(config: pytest.Config) -> str | None:
    if os.environ.get("LEDGER_TEST_EVERYTHING_TWICE"):
        return None
    moved = ", ".join(AGNOSTIC_IN_PG_PASS)
    both = os.environ.get("LEDGER_TEST_BOTH_PASSES")
    if os.environ.get("LEDGER_TEST_DATABASE_URL"):
        only = [name for name in DATABASE_AGNOSTIC if not (both and name in AGNOSTIC_IN_PG_PASS)]
        return (
            "PostgreSQL pass: database-agnostic modules and tests run in the SQLite pass only: "
            + ", ".join(only)
            + (f"; run here instead: {moved}" if both else "")
        )
    return f"SQLite pass: {moved} run in the PostgreSQL pass (LEDGER_TEST_BOTH_PASSES)" if both else None


def wait_for_state_dump(node: Any, block: int, bound: float = 60.0) -> None:
    """Wait until the embedded node has written its state file up to ``block`` (it does so every second, with
    ``--state-interval``): waits on the condition itself, not for a guessed time; ``bound`` only stops a node that
    never writes from hanging the suite."""
    deadline = time.monotonic() + bound
    while True:
        try:
            if int(json.loads(node.state_file.read_text())["best_block_number"]) >= block:
                return
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not written yet, or caught mid-write
        assert time.monotonic() < deadline, f"the node never saved block {block} to {node.state_file}"
        threading.Event().wait(0.05)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What the imports and the collection made (modules, the collected tests, hypothesis' strategies: most of the
    pass's heap, alive to its end) is moved out of the cyclic collector's sight (gc.freeze), so that each of the
    pass's full collections walks what the tests made, not the whole heap again. Objects a test makes, and so
    every collection a test asserts on, are unaffected."""
    gc.collect()
    gc.freeze()
