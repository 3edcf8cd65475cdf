"""The ``Ledger``: one object holding the chain, the database and the keys, used by the CLI and the gateway.

``Ledger.open()`` with no settings runs embedded: it starts (or attaches to) the anvil node of the data
directory, deploys the contracts on first use with a 2-of-3 demo council whose keys it creates, and opens the
SQLite database. The three demo member keys are created each in its own keystore (``keys/council-N/``) under its
own passphrase (``LEDGER_DEMO_COUNCIL_PASSPHRASE_1`` .. ``_3``, which the demo script supplies): they live side by
side only for the demo's convenience. A real council never keeps its keys together (docs/governance.md).

With ``LEDGER_RPC_URL`` it talks to that chain and expects a deployment file written by ``ledger deploy``.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine

from .config import Settings
from .errors import ChainError, ConfigError, KeystoreError, LedgerError
from .onchain._node_http import node_location
from .storage import keycheck
from .storage.keys import Keystore
from .storage.store import open_engine, private_directory
from .storage.vault import VAULT_KDF_N, Vault

if TYPE_CHECKING:  # web3 and eth_account (most of a second to import) are imported where a chain is opened
    from eth_account.signers.local import LocalAccount

    from .onchain.chain import Chain, Deployment
    from .onchain.node import EmbeddedNode

COUNCIL_KEYS = ("council-1", "council-2", "council-3")  # the demo members' keystore folders under keys/
DEMO_MEMBER_KEY = "council"  # the key's name inside each member's keystore
EMBEDDED_THRESHOLD = 2


def demo_member_passphrase(index: int, settings: Settings | None = None) -> str:
    """The passphrase of demo council member ``index`` (1-3), from ``LEDGER_DEMO_COUNCIL_PASSPHRASE_<index>``
    (``settings.demo_council_passphrases``; without settings, those the environment gives now)."""
    secret = (settings or Settings(data_dir=Path("."))).demo_council_passphrases[index - 1]
    value = secret.get_secret_value() if secret is not None else None
    if not value:
        raise KeystoreError(
            f"the embedded demo council's member {index} has its own key and passphrase: set "
            "LEDGER_DEMO_COUNCIL_PASSPHRASE_1, _2 and _3 (three different passphrases; scripts/demo.sh does)"
        )
    return value


def demo_member_keystore(settings: Settings, index: int) -> Keystore:
    """The keystore of demo council member ``index``: one key, its own folder, its own passphrase."""
    return Keystore(
        settings.keys_dir / COUNCIL_KEYS[index - 1],
        kdf_n=settings.keystore_kdf_n,
        kdf_floor=settings.keystore_kdf_floor,
    )


_T = TypeVar("_T")


def department_key_name(code: str) -> str:
    return f"dept-{code}"


class Ledger:
    def __init__(
        self,
        *,
        settings: Settings,
        chain: Chain,
        engine: Engine,
        keystore: Keystore,
        node: EmbeddedNode | None = None,
        passphrase: str | None = None,
    ) -> None:
        self.settings = settings
        self.chain = chain
        self.engine = engine
        self.keystore = keystore
        self.node = node
        self._passphrase = passphrase
        self._accounts: dict[str, LocalAccount] = {}
        self._registered_signers: set[str] = set()  # department key names whose key the registry names its signer
        self._key_stamps: dict[str, tuple[int, int, int] | None] = {}  # each department key file as it was checked
        self._vault: Vault | None = None
        self._guard = threading.Lock()
        # the vault key's one unwrapping and check a process: apart from _guard, which what the check reads takes
        # (ledger.local: the erasures the chain attests)
        self._vault_guard = threading.Lock()
        self._state: dict[str, Any] = {}

    # -- opening and closing ---------------------------------------------------------------------------
    @classmethod
    def open(cls, settings: Settings | None = None, *, passphrase: str | None = None) -> Ledger:
        from .onchain.chain import Chain, Deployment, connect
        from .onchain.node import EmbeddedNode

        settings = settings or Settings.from_env()
        if passphrase is None and settings.passphrase is not None:
            passphrase = settings.passphrase.get_secret_value()
        private_directory(settings.data_dir)
        keystore = Keystore(settings.keys_dir, kdf_n=settings.keystore_kdf_n, kdf_floor=settings.keystore_kdf_floor)
        node = None
        if settings.embedded:
            node = EmbeddedNode(settings.chain_dir, anvil=settings.anvil, clock_carry=settings.node_clock_carry_seconds)
            url = node.start()
            gas_price: int | None = 0
        else:
            url = settings.rpc_url or ""
            gas_price = settings.gas_price
        try:
            w3 = connect(url)
            deployment = Deployment.load(settings.deployment_path)
            if settings.embedded and (deployment is None or not w3.eth.get_code(deployment.registry)):  # type: ignore[arg-type]
                deployment = cls._deploy_embedded(w3, keystore, settings, passphrase)
            if deployment is None:
                raise ConfigError(
                    f"no deployment at {settings.deployment_path}: run `ledger deploy` against the node of "
                    "LEDGER_RPC_URL first, or set LEDGER_DEPLOYMENT_FILE",
                    where=node_location(url),  # the operator's: the CLI prints it after the message
                )
            if int(w3.eth.chain_id) != deployment.chain_id:
                raise ConfigError(
                    f"the node is chain {w3.eth.chain_id}, the deployment is for chain "
                    f"{deployment.chain_id}; point LEDGER_RPC_URL at the right network",
                    where=node_location(url),
                )
            chain = Chain(
                w3,
                deployment,
                gas_price=gas_price,
                timeout=settings.chain_timeout,
                log_span=settings.log_span,
                verify_seconds=settings.verify_seconds,
            )
            chain.check_code()
            engine = open_engine(settings.db_url)
        except BaseException:
            if node is not None:
                node.stop()
            raise
        return cls(settings=settings, chain=chain, engine=engine, keystore=keystore, node=node, passphrase=passphrase)

    @staticmethod
    def _deploy_embedded(w3: Any, keystore: Keystore, settings: Settings, passphrase: str | None) -> Deployment:
        from .onchain.chain import Chain

        passphrases = [demo_member_passphrase(i, settings) for i in (1, 2, 3)]
        if len(set(passphrases)) != len(passphrases):
            raise KeystoreError(
                "the demo council members' passphrases must differ: one passphrase for all would "
                "make one person the whole council"
            )
        council = []
        for index, member_passphrase in enumerate(passphrases, start=1):
            member = demo_member_keystore(settings, index)
            if not member.exists(DEMO_MEMBER_KEY):
                member.create(DEMO_MEMBER_KEY, member_passphrase)
            council.append(member.address(DEMO_MEMBER_KEY))
        deployer = demo_member_keystore(settings, 1).unlock(DEMO_MEMBER_KEY, passphrases[0])
        deployment = Chain.deploy(w3, deployer, council, EMBEDDED_THRESHOLD, gas_price=0)
        deployment.save(settings.deployment_path)
        return deployment

    def close(self) -> None:
        self.engine.dispose()
        if self.node is not None:
            self.node.stop()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- state of the library's modules ------------------------------------------------------------------
    def local(self, name: str, factory: Callable[[], _T]) -> _T:
        """This ledger's own state ``name`` of a library module (a cache, a set of locks), made by ``factory`` on
        first use. It lives and dies with this object: nothing is kept in module globals keyed by ``id()``, which
        a later ledger may reuse and so inherit another database's secrets."""
        with self._guard:
            if name not in self._state:
                self._state[name] = factory()
            return self._state[name]  # type: ignore[no-any-return]

    # -- keys ------------------------------------------------------------------------------------------
    def passphrase(self) -> str:
        if not self._passphrase:
            raise KeystoreError("keys are locked: set LEDGER_PASSPHRASE or pass --passphrase-file")
        return self._passphrase

    def account(self, key_name: str) -> LocalAccount:
        """The unlocked key ``key_name`` (decrypted once per process, kept only in memory)."""
        with self._guard:
            if key_name not in self._accounts:
                self._accounts[key_name] = self.keystore.unlock(key_name, self.passphrase())
            return self._accounts[key_name]

    def department_account(self, code: str) -> LocalAccount:
        """Department ``code``'s unlocked key, checked against the signer the registry names for it once per process
        and again whenever its keystore file changes.

        A keystore file names no department (its file name does, which anyone who can write the keystore changes), and
        the contracts take the department from the signer: two departments' files swapped would sign one's batches as
        the other's, a retired key's older copy put back would sign for none. Refused (KeystoreError, nothing sent)
        when the registry names another signer; a code it does not know yet is left to the registry to refuse."""
        key_name = department_key_name(code)
        # The check is kept for the process's life only while the file is the one checked: a rotation promoted by
        # another process (`ledger council promote-key`, which renames the files) or a file replaced meanwhile is
        # unlocked and checked again. One stat a call, no registry read: issuance's cost is kept.
        stamp = self.keystore.stamp(key_name)
        with self._guard:
            if self._key_stamps.get(key_name, stamp) != stamp:
                self._accounts.pop(key_name, None)
                self._registered_signers.discard(key_name)
            self._key_stamps[key_name] = stamp
        account = self.account(key_name)
        with self._guard:
            if key_name in self._registered_signers:
                return account
        from .onchain.ids import department_id_bytes

        try:
            signer = str(self.chain.call(self.chain.registry.functions.department(department_id_bytes(code)))[2])
        except ChainError as exc:
            if exc.error_name != "RegistryUnknownDepartment":
                raise
            return account  # not registered (yet): the registry refuses whatever the key signs for the code
        if int(signer, 16) and signer.lower() != str(account.address).lower():
            raise KeystoreError(
                f"the keystore file {key_name}.json holds the key of {account.address}, but the registry names "
                f"{signer} as department {code}'s signer: the file was swapped for another department's, or an "
                "older copy of it was put back, and nothing was signed with it. Restore the file from a backup of "
                f"this department's current key; after a key rotation, `ledger council promote-key {code}`",
                where=self.keystore.directory,
            )
        with self._guard:
            self._registered_signers.add(key_name)
        return account

    @property
    def vault(self) -> Vault:
        with self._vault_guard:
            if self._vault is None:
                key = self.settings.vault_key
                # the key file's scrypt work factor: 2^15, or the keystore's where its floor was lowered on purpose
                # (LEDGER_INSECURE_KEYSTORE_KDF_FLOOR: the test suite, whose every process unwrapped it at 2^15)
                vault = Vault.from_env_or_file(
                    self.settings.keys_dir / "vault.key",
                    self._passphrase,
                    key_hex=key.get_secret_value() if key else None,
                    kdf_n=min(VAULT_KDF_N, self.settings.keystore_kdf_n),
                    kdf_floor=min(VAULT_KDF_N, self.settings.keystore_kdf_floor),
                )
                self._hold_vault_to_database(vault, "LEDGER_VAULT_KEY" if key else "the key file keys/vault.key")
                self._vault = vault
            return self._vault

    def _hold_vault_to_database(self, vault: Vault, source: str) -> None:
        """The vault key must be the one this database's bodies are sealed under: its check value (``keycheck``: an
        HMAC under the key, never the key) is recorded at its first use, and a key whose value differs is refused
        before anything is sealed or opened. Another deployment's ``vault.key`` under the same passphrase opened
        here, as did a KMS key of another deployment (round 57's open row)."""
        value = keycheck.check_value(vault.key(), "vault")
        if keycheck.recorded(self.engine, "vault") is None:
            self._vault_opens_the_store(vault, source)
        if not hmac.compare_digest(keycheck.record(self.engine, "vault", value), value):
            raise KeystoreError(
                f"the vault key from {source} is not the one this database's certificate bodies are sealed under "
                "(its check value differs from the one the database recorded at the key's first use): the key "
                "file was swapped for another deployment's, or the database is another deployment's. Nothing was "
                "sealed or opened with it. Restore this deployment's keys/vault.key (or LEDGER_VAULT_KEY) from a "
                "backup, or point LEDGER_DATABASE_URL at this key's database",
                where=self.settings.keys_dir,
            )

    _VAULT_SAMPLE = 8  # anchored bodies the key must open before it is recorded
    _VAULT_PROBES = 64  # random probes into the store's digest range, each one index seek

    def _vault_opens_the_store(self, vault: Vault, source: str) -> None:
        """Before a vault key is recorded as this database's (no check value yet: a database upgraded to migration
        0017, or its row deleted): it must open sealed bodies of the store that the chain anchors, each to the
        digest its row is stored under (the fields and salts the body holds hash to it). An insider deleting the
        row and putting another deployment's key file in place had that key recorded and every new body sealed
        under a key its other owner holds (red team round 62); rows the insider planted, sealed under their key,
        vouched for it (round 63), and so did a store whose every real body they had marked erased for a moment.

        Only a row whose proof, rebuilt from its batch's stored leaves, leads to a root its department anchored on
        chain is opened: a planted row is anchored by no one. The rows are found by random probes into the digest
        range (one index seek each, never a read of the whole table); when no probe meets an anchored body (rows
        planted by the million around the real ones), the batches the chain says this deployment anchored are
        sampled instead. A body marked erased is passed over only when its department's erasures log records its
        erasure as the chain attests it (:func:`witness_erasures_with`); a mark nothing backs is refused. A store
        holding no body the chain anchors (empty, or its first batch not anchored yet) has nothing to hold the key
        to, and records it, as before."""
        sample = _AnchoredSample(self, vault, source)
        for row in self._probed_rows():
            if sample.judge(row):
                return
        if sample.opened == 0 and sample.unanchored:
            for row in self._rows_of_anchored_batches():
                if sample.judge(row):
                    return
        # fewer than _VAULT_SAMPLE anchored bodies in the store, each opened; or none at all: nothing to hold it to

    _SAMPLE_COLUMNS = ("digest", "batch_root", "leaf_index", "department_id", "sealed")

    def _probed_rows(self) -> Iterator[Any]:
        """Up to :attr:`_VAULT_PROBES` rows of the store, each the first whose digest is at or after a random value
        (the lowest, past the last) in a generation of the digest index drawn by its rows: one index seek a probe,
        whatever the size of the store."""
        from sqlalchemy import select

        from .formats.canonical import hex32
        from .storage.models import CertificateGeneration
        from .storage.store import Certificate

        table = Certificate.__table__  # type: ignore[attr-defined]
        generations = CertificateGeneration.__table__  # type: ignore[attr-defined]
        columns = [table.c[name] for name in self._SAMPLE_COLUMNS]
        with self.engine.connect() as conn:
            counted = [
                (int(e), max(int(n), 0)) for e, n in conn.execute(select(generations.c.epoch, generations.c.rows))
            ]
            total = sum(n for _, n in counted)
            for _ in range(self._VAULT_PROBES):
                if not total:
                    return  # an empty store
                drawn = secrets.randbelow(total)
                epoch = next(e for e, n in counted if (drawn := drawn - n) < 0)
                row = None
                for bound in (secrets.token_bytes(32), bytes(32)):  # past the last digest: the first
                    probe = (
                        select(*columns)
                        .where(table.c.epoch == epoch, table.c.digest >= hex32(bound))
                        .order_by(table.c.digest)
                    )
                    if (row := conn.execute(probe.limit(1)).first()) is not None:
                        break
                if row is not None:  # None: a generation whose counted rows were all discarded
                    yield row

    def _rows_of_anchored_batches(self) -> Iterator[Any]:
        """A row of each of up to :attr:`_VAULT_PROBES` batches the chain says this deployment anchored (its
        ``BatchAnchored`` events, in random order), at a random place in the batch: found by the batch's root
        (an index), so rows planted around the real ones do not hide them."""
        from sqlalchemy import select

        from .onchain import trail
        from .storage.store import Certificate

        # checked against each department's anchoring trail: a batch a node left out would go unprobed
        events = trail.batch_events(self.chain, what="the anchored batches")
        secrets.SystemRandom().shuffle(events)
        table = Certificate.__table__  # type: ignore[attr-defined]
        columns = [table.c[name] for name in self._SAMPLE_COLUMNS]
        with self.engine.connect() as conn:
            for event in events[: self._VAULT_PROBES]:
                mine = select(*columns).where(table.c.batch_root == "0x" + event.root.hex())
                place = secrets.randbelow(max(event.count, 1))
                row = conn.execute(mine.where(table.c.leaf_index == place).limit(1)).first()
                row = row if row is not None else conn.execute(mine.limit(1)).first()
                if row is not None:
                    yield row


ErasureWitness = Callable[[Ledger, str, str], bool]
_erasure_witnesses: list[ErasureWitness] = []


def witness_erasures_with(witness: ErasureWitness) -> None:
    """Install the services layer's answer to "does department D's erasures log record the erasure of certificate
    X as the chain attests it" (``erasure.attested_erased``, installed when that module is imported: this layer
    cannot import it). Until it is, every body marked erased that a vault key's first record meets is unexplained
    and refused: failing closed."""
    _erasure_witnesses[:] = [witness]


class _AnchoredSample:
    """What a vault key's first record met in the store (:meth:`Ledger._vault_opens_the_store`): the anchored
    bodies the key opened, the rows no batch anchored on chain holds, and each batch's stored tree when its
    department anchored it (None otherwise), read once."""

    def __init__(self, ledger: Ledger, vault: Vault, source: str) -> None:
        self.ledger, self.vault, self.source = ledger, vault, source
        self.seen: set[str] = set()
        self.opened = 0
        self.unanchored = 0
        self.batches: dict[tuple[str, str], tuple[bytes, bytes] | None] = {}

    def judge(self, row: Any) -> bool:
        """Take ``row`` (digest, batch root, leaf index, department, sealed body) into the sample: whether the sample
        is complete. KeystoreError when the key does not open a body the chain anchors, or such a body is marked
        erased with no erasure the chain attests."""
        from .storage.store import stored_blob
        from .storage.vault import ERASED

        digest, root, leaf_index, department, sealed = row
        if digest in self.seen:
            return False
        self.seen.add(digest)
        if not self._anchored(str(digest), str(root), leaf_index, str(department)):
            self.unanchored += 1
            return False
        if stored_blob(sealed) == ERASED:
            if not self._erasure_attested(str(digest), str(department)):
                raise KeystoreError(
                    f"the body of certificate {digest}, which {department} anchored, is marked erased in this "
                    f"database, but {department}'s erasures log records no erasure of it that the chain attests, "
                    "and the database records no vault key yet (its key_check row is missing): bodies set aside "
                    "for a moment leave another deployment's key nothing to be held to. Nothing was recorded, "
                    f"sealed or opened with the key from {self.source}. If that erasure is pending (its log entry "
                    f"not anchored yet), `ledger anchor-logs --department {department} --log erasures` and try "
                    "again; otherwise restore the certificate's row from a backup (`ledger reconcile` names it)",
                    where=self.ledger.settings.keys_dir,
                )
            return False
        if not self._opens(str(digest), stored_blob(sealed)):
            raise KeystoreError(
                f"the vault key from {self.source} does not open the sealed body of certificate {digest} in this "
                "database, and the database records no vault key yet (its key_check row is missing): the key "
                "file is another deployment's, or the row was deleted and the file swapped. Nothing was sealed "
                "or opened with it, and nothing was recorded. Restore this deployment's keys/vault.key (or "
                "LEDGER_VAULT_KEY) from a backup; if that key is refused too, the row of certificate "
                f"{digest} was edited (`ledger reconcile` names it): restore the row from a backup",
                where=self.ledger.settings.keys_dir,
            )
        self.opened += 1
        return self.opened >= Ledger._VAULT_SAMPLE

    def _anchored(self, digest: str, root: str, leaf_index: Any, department: str) -> bool:
        """Whether the row's proof, rebuilt from its batch's stored leaves and run roots, leads to a root its
        department anchored on chain (as verification by digest requires)."""
        from .formats.canonical import parse_hex32
        from .formats.merkle import verify_proof
        from .storage.store import batch_proof

        key = (department, root)
        if key not in self.batches:
            self.batches[key] = self._anchored_tree(root, department)
        tree = self.batches[key]
        if tree is None:
            return False
        try:
            return verify_proof(parse_hex32(digest), batch_proof(*tree, leaf_index), parse_hex32(root))
        except (LedgerError, ValueError):
            return False

    def _anchored_tree(self, root: str, department: str) -> tuple[bytes, bytes] | None:
        from sqlalchemy import select

        from .formats.canonical import parse_hex32
        from .onchain.ids import department_id_bytes
        from .storage.store import Batch, stored_blob

        table = Batch.__table__  # type: ignore[attr-defined]
        with self.ledger.engine.connect() as conn:
            row = conn.execute(
                select(table.c.leaves, table.c.nodes, table.c.department_id).where(table.c.root == root)
            ).first()
        if row is None or row[2] != department:
            return None
        try:
            anchored_by = department_id_bytes(department)
            root_bytes = parse_hex32(root)
        except (LedgerError, ValueError):  # a row naming no department code: altered, anchored by no one
            return None
        chain = self.ledger.chain
        block = chain.call(chain.anchor.functions.batch(anchored_by, root_bytes))[1]
        return (stored_blob(row[0]), stored_blob(row[1])) if int(block) else None

    def _erasure_attested(self, digest: str, department: str) -> bool:
        witness = _erasure_witnesses[0] if _erasure_witnesses else None
        try:
            return witness is not None and bool(witness(self.ledger, digest, department))
        except LedgerError:
            return False

    def _opens(self, digest: str, sealed: bytes) -> bool:
        from .formats.canonical import hex32, parse_hex32
        from .formats.certificate import CertificateDocument, read_sealed_body

        try:
            fields, salts = read_sealed_body(self.vault.open(sealed, parse_hex32(digest)))
            return hex32(CertificateDocument(fields, salts, {}, {}).digest()) == digest
        except (LedgerError, ValueError, KeyError, TypeError, AttributeError):
            return False
