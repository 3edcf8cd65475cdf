"""Replay's worker processes: each re-runs whole chunks of a department's decision log, as the replaying process
would, and hands back what it found for that process to merge in log order.

The replaying process reads every log row in order and checks what only it can, in order: the hash chain, the
sequence, the anchors (``logchain.check_log``). It sends each chunk's rows - the very texts it hash-checks, never
a re-read - to an idle worker (or runs the chunk itself when none is idle). The worker does everything else a chunk
needs, with the same code (``replay._DepartmentRun``): parsing the bodies, comparing the index keys and mentions,
the earlier decisions of each case, loading and checking the stored inputs, re-establishing the facts, the credit
view, the engine's re-run and the input commitments. What it reads for that (stored inputs, certificates, the case
index, the chain) it reads from the database and the chain itself, as the replaying process would: it trusts
nothing more than the one-process replay does. Its findings come back per chunk and are merged in log order, so
the report is the same one (``tests/test_replay_parallel.py``).

A worker opens its own connection to the database and to the node the replaying process uses, and its own vault
(the vault key is sent through the pool's pipe to this process's own spawned children; they keep it in memory only).
No passphrase and no signing key is sent: a worker cannot unlock a keystore. Its caches (rule sets, chain view,
status events, block times, credit list) live for the one replay, as the replaying process's do.

What a chunk reads of the chain in the common case - the department's registry periods and the publication block of
each rule set it recorded - the replaying process reads once per replay and sends with every chunk (a few numbers;
``replay._DepartmentRun.chain_facts``); the block times a chunk judges its decisions' moments by are read over the
node's HTTP transport without web3 (``onchain._node_http.BlockTimes``). The chain's client (web3, eth_account: about
0.75 CPU-s to import) is made only when a chunk needs more: a cited certificate to verify, a rule set not handed
over, a lawfully erased certificate's remains to check (the attested erasures themselves come with the first chunks,
as the credit book does) (``_WorkerLedger``).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from ..client import Ledger

if TYPE_CHECKING:
    from ..config import Settings
    from ..onchain.chain import Chain

# this worker's ledger and replay state, for the life of the pool (one replay)
_STATE: dict[str, Any] = {}


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to open the ledger the replaying process has open (its settings without their secrets,
    the node's URL, the deployment it checked, the vault key)."""

    settings: Settings
    rpc_url: str
    deployment: dict[str, Any]  # onchain.chain.Deployment's fields: unpickling the class would import web3
    vault_key: bytes
    # the replaying process's: web3's import raised it (py_ecc sets 100,000), and a worker that imports no web3
    # must not fail a deep value the replaying process would re-run (the same answers with workers or without)
    recursion_limit: int = 1000

    def __repr__(self) -> str:  # never the key, nor the node URL's path (a hosted node's access key)
        from ..onchain._node_http import node_location

        return f"WorkerSpec(node={node_location(self.rpc_url)!r})"


def can_open(ledger: Ledger) -> bool:
    """Whether a worker can open what ``ledger`` has open: a database another process can reach (not SQLite in
    memory) and a node over HTTP."""
    url = ledger.settings.db_url
    memory = url.startswith("sqlite") and (url in ("sqlite://", "sqlite:///") or ":memory:" in url)
    endpoint = getattr(ledger.chain.w3.provider, "endpoint_uri", None)
    return not memory and isinstance(endpoint, str) and endpoint.startswith(("http://", "https://"))


def spec_of(ledger: Ledger) -> WorkerSpec:
    settings = dataclasses.replace(
        ledger.settings,
        passphrase=None,
        council_passphrase=None,
        demo_council_passphrases=(None, None, None),
        api_secret=None,
        import_key=None,
        vault_key=None,
    )
    url = str(getattr(ledger.chain.w3.provider, "endpoint_uri", ""))
    return WorkerSpec(
        settings, url, dataclasses.asdict(ledger.chain.deployment), ledger.vault.key(), sys.getrecursionlimit()
    )


class _WorkerLedger(Ledger):
    """A worker's ledger: the database, the vault, and the chain's client made on first use (web3's import is most
    of a worker's start, and a chunk of decisions that cite no certificate to verify needs none of it)."""

    def __init__(self, spec: WorkerSpec, **opened: Any) -> None:
        self._spec = spec
        self._chain: Chain | None = None
        super().__init__(chain=None, **opened)  # type: ignore[arg-type]

    @property  # type: ignore[override]
    def chain(self) -> Chain:
        if self._chain is None:
            from ..onchain.chain import Chain, Deployment, connect

            settings = self.settings
            self._chain = Chain(
                connect(self._spec.rpc_url),
                Deployment(**self._spec.deployment),
                gas_price=settings.gas_price,
                timeout=settings.chain_timeout,
                log_span=settings.log_span,
                verify_seconds=settings.verify_seconds,
            )
        return self._chain

    @chain.setter
    def chain(self, value: Chain | None) -> None:
        self._chain = value


def start(spec: WorkerSpec) -> None:
    """The pool's initializer: open the ledger (no node of its own: the replaying process's)."""
    from multiprocessing import util

    from .._gc import pause_for_this_process
    from ..onchain._node_http import BlockTimes
    from ..storage.keys import Keystore
    from ..storage.store import open_engine

    sys.setrecursionlimit(max(sys.getrecursionlimit(), spec.recursion_limit))
    settings = dataclasses.replace(spec.settings, vault_key=SecretStr(spec.vault_key.hex()))
    engine = open_engine(settings.db_url, migrate=False)
    keystore = Keystore(settings.keys_dir, kdf_n=settings.keystore_kdf_n, kdf_floor=settings.keystore_kdf_floor)
    _STATE["ledger"] = _WorkerLedger(spec, settings=settings, engine=engine, keystore=keystore)
    _STATE["block_times"] = BlockTimes(spec.rpc_url)  # the request timeout connect() gave the worker's web3
    util.Finalize(None, engine.dispose, exitpriority=10)
    # a process of its own for one run: its cycles are freed once per chunk (ledger._gc), as the CLI's replay does
    pause_for_this_process()


def run_chunk(
    department: str,
    ranges: list[Any],
    selection: Any,
    rows: list[tuple[int, str, str, str | None]],
    credit: Any = None,
    chain_facts: Any = None,
    erasures: Any = None,
) -> Any:
    """One chunk of ``department``'s log re-run here: ``replay._Chunk``. ``credit``: the department's credit book as
    the replaying process read it for this replay (``supervision.CreditBook``), sent with a department's first
    chunks so that no worker scans the log for it again; a worker that was sent none reads its own, as before.
    ``chain_facts``: the department's registry periods and rule set publications as the replaying process read them
    for this replay (``replay._DepartmentRun.chain_facts``), sent with every chunk. ``erasures``: the attested
    erasures it read (``replay._Facts.erasure_record``), sent with the first chunks as the credit book is."""
    from .._gc import free_chunk_cycles
    from . import replay

    runs: dict[str, Any] = _STATE.setdefault("runs", {})
    run = runs.get(department)
    if run is None:
        ledger = _STATE["ledger"]
        rule_sets, facts = _STATE.setdefault(
            "shared", (replay._RuleSets(ledger), replay._Facts(ledger, block_time=_STATE["block_times"].timestamp))
        )
        run = runs[department] = replay._DepartmentRun(ledger, department, ranges, rule_sets, facts, selection)
    if credit is not None:
        run.share_credit(credit)
    if chain_facts is not None:
        run.share_chain_facts(chain_facts)
    if erasures is not None:
        run.facts.take_erasures(erasures)
    found = run.chunk(rows)
    del rows
    free_chunk_cycles()
    return found
