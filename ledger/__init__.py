"""Provenance ledger: government certificates and approval decisions, anchored on a permissioned EVM chain.

The public surface: :class:`Ledger` (open the chain, store and keys), the modules ``issuance``, ``verify``,
``status``, ``departments``, ``council`` (one council member's side of governance), ``certificate``, ``erasure``,
``vc``, and the error hierarchy rooted at :class:`LedgerError`.
"""

from .client import Ledger
from .config import Settings
from .errors import (ChainError, ConfigError, ErasedError, InputError, KeystoreError, LedgerError, NotFoundError, StateError,
                     VerificationError)

__version__ = "0.1.0"

__all__ = ["ChainError", "ConfigError", "ErasedError", "InputError", "KeystoreError", "Ledger", "LedgerError", "NotFoundError",
           "Settings", "StateError", "VerificationError", "__version__"]
