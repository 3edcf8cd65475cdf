"""Provenance ledger: government certificates and approval decisions, anchored on a permissioned EVM chain.

The public surface: :class:`Ledger` (open the chain, store and keys), :class:`Settings`, the error hierarchy
rooted at :class:`LedgerError`, and the modules users call, importable from here as before the layer packages
(``from ledger import verify``): ``issuance``, ``verify``, ``status``, ``departments``, ``council`` (one council
member's side of governance), ``evidence``, ``erasure`` (domain services, ``ledger.services``), ``certificate``
and ``vc`` (formats, ``ledger.formats``).

The package's folders are its layers (docs/architecture.md; import-linter keeps them, ``lint-imports``):
``cli`` > ``services`` > ``client`` (the ``Ledger`` object) > ``onchain`` | ``storage`` > ``formats`` >
``config`` > ``errors``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    ChainError,
    ConfigError,
    ErasedError,
    FundsError,
    InputError,
    KeystoreError,
    LedgerError,
    NotFoundError,
    StateError,
    VerificationError,
)

if TYPE_CHECKING:
    from .client import Ledger
    from .config import Settings

__version__ = "0.1.0"

__all__ = [
    "ChainError",
    "ConfigError",
    "ErasedError",
    "FundsError",
    "InputError",
    "KeystoreError",
    "Ledger",
    "LedgerError",
    "NotFoundError",
    "Settings",
    "StateError",
    "VerificationError",
    "__version__",
]

# The public modules, imported on first use (``import ledger`` stays light: the court's tools and the CLI's
# start-up do not load every service).
_PUBLIC_MODULES = {
    "issuance": "ledger.services.issuance",
    "verify": "ledger.services.verify",
    "status": "ledger.services.status",
    "departments": "ledger.services.departments",
    "council": "ledger.services.council",
    "evidence": "ledger.services.evidence",
    "erasure": "ledger.services.erasure",
    "certificate": "ledger.formats.certificate",
    "vc": "ledger.formats.vc",
}


# ``Ledger`` and ``Settings`` load on first use too: a process that needs only the formats (an issuance worker
# process parsing and hashing records) does not import web3, the chain and the store (≈ 1.4 CPU-seconds).
_PUBLIC_CLASSES = {"Ledger": "ledger.client", "Settings": "ledger.config"}


def __getattr__(name: str) -> Any:
    if name in _PUBLIC_CLASSES:
        value = getattr(importlib.import_module(_PUBLIC_CLASSES[name]), name)
    else:
        target = _PUBLIC_MODULES.get(name)
        if target is None:
            raise AttributeError(f"module 'ledger' has no attribute {name!r}")
        value = importlib.import_module(target)
    globals()[name] = value
    return value
