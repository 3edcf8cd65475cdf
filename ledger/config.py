"""Settings: where the data lives and which chain and database to use.

With nothing configured the ledger runs embedded: its own anvil node with state persisted under the data
directory and a SQLite database beside it. ``LEDGER_RPC_URL`` and ``LEDGER_DATABASE_URL`` switch to any EVM
JSON-RPC chain (Besu/QBFT, geth) and PostgreSQL; nothing else changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import SecretStr

from .errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_KDF_N = 2**16
DEFAULT_KDF_FLOOR = 2**16
"""The lowest scrypt work factor (N) of a keystore this ledger creates or reads. Only the explicitly insecure
``LEDGER_INSECURE_KEYSTORE_KDF_FLOOR`` lowers it (the test suite does, to 1024, so keys are fast to create)."""
DEFAULT_NODE_CLOCK_CARRY_SECONDS = 60


def kdf_floor_from_env() -> int:
    """``LEDGER_INSECURE_KEYSTORE_KDF_FLOOR`` if set (tests and benchmarks only), else ``DEFAULT_KDF_FLOOR``."""
    floor = _int_env("LEDGER_INSECURE_KEYSTORE_KDF_FLOOR", DEFAULT_KDF_FLOOR, minimum=2)
    if floor & (floor - 1):
        raise ConfigError(f"LEDGER_INSECURE_KEYSTORE_KDF_FLOOR={floor} must be a power of two")
    return floor


def insecure_kdf_floor_warning(floor: int) -> str | None:
    """What a process started with the key files' floor lowered to ``floor`` (``LEDGER_INSECURE_KEYSTORE_KDF_FLOOR``)
    says once at its start, or None at the safe floor: the project has no production mode to refuse it in, so the
    gateway logs this and the CLI prints it, never a key (red team round 57's follow-up)."""
    if floor >= DEFAULT_KDF_FLOOR:
        return None
    return (
        f"LEDGER_INSECURE_KEYSTORE_KDF_FLOOR={floor} is set: keystores and key files wrapped with scrypt N as low as "
        f"{floor} (the safe floor is {DEFAULT_KDF_FLOOR}) are accepted, and a stolen copy of one is cheap to "
        "brute-force. It is meant for tests and benchmarks only: unset it"
    )


def data_dir_from_env(data_dir: str | Path | None = None) -> Path:
    """The data directory: ``data_dir`` (``--data-dir``), else ``LEDGER_DATA_DIR``, else ``./.ledger``."""
    return Path(data_dir or os.environ.get("LEDGER_DATA_DIR") or Path.cwd() / ".ledger").resolve()


def journal_stream() -> tuple[int, int] | None:
    """``JOURNAL_STREAM`` (``device:inode``), which systemd sets for a service whose standard output or error it
    connects to the journal (systemd.exec(5)): a process compares it with its standard error's to know that what
    it writes there is read by the service's operator, in the journal. None when unset or malformed."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    return (int(device), int(inode)) if device.isdigit() and inode.isdigit() else None


def kdf_n_from_env() -> int:
    """``LEDGER_KEYSTORE_KDF_N``: the scrypt work factor new key files are written with (``DEFAULT_KDF_N`` unset).
    Only this variable lowers what is written; the insecure floor lowers only what is accepted when read (red team
    round 57: the floor alone made every new witness and checkpoint key file cheap to brute-force)."""
    return _int_env("LEDGER_KEYSTORE_KDF_N", DEFAULT_KDF_N, minimum=2)


DEFAULT_GENERATION_ROWS = 1_000_000
"""Certificate rows a generation of the digest index holds before the next opens (ledger.storage.generations)."""


def generation_rows_from_env() -> int:
    """``LEDGER_CERTIFICATE_GENERATION_ROWS``: the rows after which a generation of certificate digests closes and
    the next opens (``DEFAULT_GENERATION_ROWS`` unset; the tests set a tiny one to meet several generations)."""
    return _int_env("LEDGER_CERTIFICATE_GENERATION_ROWS", DEFAULT_GENERATION_ROWS, minimum=1)


DEBUG_VARIABLE = "LEDGER_DEBUG"


def debug_tracebacks() -> bool:
    """``LEDGER_DEBUG=1``: a command's unexpected error prints its traceback as well as its one line (cli)."""
    return os.environ.get(DEBUG_VARIABLE) == "1"


def secret_env(name: str) -> SecretStr | None:
    """The secret in environment variable ``name`` (None when unset or empty), as a SecretStr: its repr and str
    hide the value, so a logged Settings or traceback shows ``**********``."""
    value = os.environ.get(name)
    return SecretStr(value) if value else None


def _optional_int_env(name: str) -> int | None:
    raw = os.environ.get(name)
    return None if raw is None or raw == "" else _int_env(name, 0)


def _int_env(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


@dataclass(frozen=True, kw_only=True)
class Settings:
    data_dir: Path
    rpc_url: str | None = None
    database_url: str | None = None
    confirmations: int = 0
    batch_size: int = 10_000
    max_record_bytes: int = 64 * 1024
    max_batch_size: int = 100_000
    chain_timeout: float = 60.0
    # A decision kept only in the database can be deleted (or backdated) without a trace until it is anchored:
    # replay reports un-anchored decisions older than this (`anchoring_overdue`) and decisions anchored later than
    # this after their decided_at (`anchored_late`). 0: no deadline.
    anchor_deadline_seconds: int = 900
    # The youngest a case with no certificate (refused, referred and abandoned, withdrawn) may be when its typed
    # fields are erased for the lapse of time (`ledger erase --case`, bases no-longer-necessary and
    # retention-expired): days since its latest decision. 0: no minimum. The records schedule sets it; the ledger
    # invents no legal period (docs/privacy.md, "Cases no certificate carries").
    case_erasure_min_age_days: int = 0
    keystore_kdf_n: int = DEFAULT_KDF_N
    keystore_kdf_floor: int = field(default_factory=kdf_floor_from_env)
    deployment_file: Path | None = None
    # How verification reads a certificate's status (docs/privacy.md): "herd" (the issuing department's whole
    # status event stream, so the node does not learn which certificate is checked) or "direct" (statusOf).
    status_lookup: str = "herd"
    log_span: int = 10_000  # blocks per eth_getLogs request (ledger.onchain.chainread); public providers cap the range
    # The longest one verification (a certificate, a digest, a bundle) may wait for the node in all, in seconds
    # (ledger.onchain.chain.DEFAULT_VERIFY_SECONDS): each read is bounded by chain_timeout, this bounds them together.
    verify_seconds: int = 120
    anvil: Path | None = None  # the anvil binary of the embedded chain; None: node_modules, then PATH
    extra: dict[str, str] = field(default_factory=dict)
    # Every other LEDGER_* variable, read here once (at construction: tests that build Settings directly see the
    # environment too). Secrets are SecretStr: printing these settings never shows them.
    passphrase: SecretStr | None = field(default_factory=lambda: secret_env("LEDGER_PASSPHRASE"), repr=False)
    council_passphrase: SecretStr | None = field(
        default_factory=lambda: secret_env("LEDGER_COUNCIL_PASSPHRASE"), repr=False
    )
    demo_council_passphrases: tuple[SecretStr | None, ...] = field(
        default_factory=lambda: tuple(secret_env(f"LEDGER_DEMO_COUNCIL_PASSPHRASE_{i}") for i in (1, 2, 3)), repr=False
    )
    vault_key: SecretStr | None = field(default_factory=lambda: secret_env("LEDGER_VAULT_KEY"), repr=False)
    api_secret: SecretStr | None = field(default_factory=lambda: secret_env("LEDGER_API_SECRET"), repr=False)
    import_key: SecretStr | None = field(default_factory=lambda: secret_env("LEDGER_IMPORT_KEY"), repr=False)
    gas_price: int | None = field(default_factory=lambda: _optional_int_env("LEDGER_GAS_PRICE"))
    # Consent (docs/privacy.md): the authentication providers believed, and which fields need the subject's consent
    consent_providers: str = field(default_factory=lambda: os.environ.get("LEDGER_CONSENT_PROVIDERS", ""))
    consent_policy: str = field(default_factory=lambda: os.environ.get("LEDGER_CONSENT_POLICY", ""))
    # The gateway's public URL (its own setting, read here too): where credentials' status list entries point
    api_public_url: str | None = field(default_factory=lambda: os.environ.get("LEDGER_API_PUBLIC_URL") or None)
    # Worker processes that build the batches of `ledger issue` (ledger/services/issuance.py): 0 = one per core (none
    # on one core), -1 = none (everything in one process).
    issue_workers: int = field(default_factory=lambda: _int_env("LEDGER_ISSUE_WORKERS", 0, minimum=-1))
    # How often the gateway makes every department's live permits follow the certificates they rest on (permits.py,
    # follow_bases; red team round 77c), in seconds: a permit falls within this (and one sweep) of its licence. 0: the
    # gateway does not (`ledger permits follow` still does, run by the department's own scheduler).
    permit_follow_seconds: int = field(default_factory=lambda: _int_env("LEDGER_PERMIT_FOLLOW_SECONDS", 300))
    # The most seconds the machine's clock may be behind the embedded chain's last block at the node's start for the
    # node to carry the chain's clock on from that block (ledger/onchain/node.py, ``clock_carry``); further behind,
    # the start is refused (the clock was set back, or was ahead when the blocks were stamped). The default is the
    # clock skew the ledger allows elsewhere (auth and consent: 60 s).
    node_clock_carry_seconds: int = field(
        default_factory=lambda: _int_env("LEDGER_NODE_CLOCK_CARRY_SECONDS", DEFAULT_NODE_CLOCK_CARRY_SECONDS)
    )

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None) -> Settings:
        """Read settings from ``LEDGER_*`` environment variables; ``data_dir`` overrides ``LEDGER_DATA_DIR``."""
        directory = data_dir_from_env(data_dir)
        deployment = os.environ.get("LEDGER_DEPLOYMENT_FILE")
        settings = cls(
            data_dir=directory,
            rpc_url=os.environ.get("LEDGER_RPC_URL") or None,
            database_url=os.environ.get("LEDGER_DATABASE_URL") or None,
            confirmations=_int_env("LEDGER_CONFIRMATIONS", 0),
            batch_size=_int_env("LEDGER_BATCH_SIZE", 10_000, minimum=1),
            anchor_deadline_seconds=_int_env("LEDGER_ANCHOR_DEADLINE_SECONDS", 900),
            case_erasure_min_age_days=_int_env("LEDGER_CASE_ERASURE_MIN_AGE_DAYS", 0),
            keystore_kdf_n=kdf_n_from_env(),
            deployment_file=Path(deployment) if deployment else None,
            status_lookup=os.environ.get("LEDGER_STATUS_LOOKUP") or "herd",
            log_span=_int_env("LEDGER_LOG_SPAN", 10_000, minimum=1),
            verify_seconds=_int_env("LEDGER_VERIFY_SECONDS", 120, minimum=1),
            anvil=Path(os.environ["LEDGER_ANVIL"]) if os.environ.get("LEDGER_ANVIL") else None,
        )
        settings.validate()
        return settings

    def with_(self, **changes: object) -> Settings:
        updated = replace(self, **changes)  # type: ignore[arg-type]
        updated.validate()
        return updated

    def validate(self) -> None:
        if not 1 <= self.batch_size <= self.max_batch_size:
            raise ConfigError(f"batch size {self.batch_size} must be between 1 and {self.max_batch_size}")
        n = self.keystore_kdf_n
        if n < 2 or n & (n - 1):
            raise ConfigError(f"keystore KDF work factor {n} must be a power of two")
        if n < self.keystore_kdf_floor:
            raise ConfigError(
                f"keystore KDF work factor LEDGER_KEYSTORE_KDF_N={n} is below the safe floor "
                f"{self.keystore_kdf_floor}; raise it (default {DEFAULT_KDF_N}). Only a test setup "
                "may lower the floor, explicitly: LEDGER_INSECURE_KEYSTORE_KDF_FLOOR"
            )
        if self.status_lookup not in ("herd", "direct"):
            raise ConfigError(
                f"LEDGER_STATUS_LOOKUP={self.status_lookup!r} must be 'herd' (read the issuer's whole "
                "status event stream) or 'direct' (ask the node for the one certificate)"
            )
        if self.rpc_url is not None and not self.rpc_url.startswith(("http://", "https://")):
            raise ConfigError(f"LEDGER_RPC_URL {self.rpc_url!r} must be an http(s) JSON-RPC URL")

    @property
    def embedded(self) -> bool:
        return self.rpc_url is None

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'ledger.sqlite3'}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def chain_dir(self) -> Path:
        return self.data_dir / "chain"

    @property
    def deployment_path(self) -> Path:
        return self.deployment_file or self.data_dir / "deployment.json"
