"""One error hierarchy for the whole ledger.

Every error the library raises is a :class:`LedgerError`; the CLI maps it to exit code 2 and the gateway to a
problem-details response. Messages say what was wrong and what to do about it.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error raised by the ledger.

    ``where``: where on the machine running the ledger to look (a file, a directory, a node's URL), kept apart from
    the message: the CLI prints it after the message for the operator at that machine; the gateway logs it and
    never answers it, so no client learns the server's paths (or a node URL that may carry an access key)."""

    def __init__(self, *args: object, where: object | None = None) -> None:
        super().__init__(*args)
        self.where = None if where is None else str(where)

    def local_message(self) -> str:
        """The message with where to look, for whoever runs the ledger on this machine (the CLI, the gateway's
        log); a client of the gateway gets ``str(error)`` alone."""
        return f"{self} ({self.where})" if self.where else str(self)


class ConfigError(LedgerError):
    """The ledger is configured wrongly (missing toolchain, bad URL, unreadable data directory)."""


class InputError(LedgerError):
    """Input given to the ledger is malformed: bad JSON, missing fields, wrong types, oversize."""

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.line = line
        self.field = field
        where = []
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

    def __reduce__(self) -> tuple[object, ...]:
        # as raised, through a worker process's pipe: the message once, with its line and field
        return (_input_error, (str(self), self.line, self.field))


def _input_error(message: str, line: int | None, field: str | None) -> InputError:
    error = InputError(message)
    error.line, error.field = line, field
    return error


class NotAnchoredError(InputError):
    """A certificate in the store whose batch the chain does not hold yet (prepared, submitted, or held until its
    decision is recorded): nothing to hand out or verify until ``ledger resume`` anchors it."""


class KeystoreError(LedgerError):
    """A key could not be created, found or unlocked (wrong passphrase, missing keystore)."""


class ChainError(LedgerError):
    """The chain refused or could not process a request (revert, unreachable node, dropped transaction)."""

    def __init__(
        self, message: str, *, error_name: str | None = None, args: tuple[object, ...] = (), where: object = None
    ) -> None:
        self.error_name = error_name
        self.error_args = args
        super().__init__(message, where=where)


class FundsError(ChainError):
    """The node refused a transaction because its sender cannot pay for gas. Definitive until someone funds the
    address: waiting does not help, so nothing retries it (the batch or entry stays stored, unsent)."""


class NotFoundError(LedgerError):
    """A record the caller named does not exist (unknown department, certificate, batch or decision)."""


class VerificationError(LedgerError):
    """Strict verification failed; ``report`` holds every check that was run."""

    def __init__(self, message: str, *, report: object | None = None) -> None:
        self.report = report
        super().__init__(message)


class StateError(LedgerError):
    """An operation is not allowed in the current state (already revoked, batch not confirmed, ...)."""


class ErasedError(StateError):
    """The certificate's contents were erased (its data key destroyed): only its hashes and anchor remain."""


__all__ = [
    "ChainError",
    "ConfigError",
    "ErasedError",
    "InputError",
    "KeystoreError",
    "LedgerError",
    "NotAnchoredError",
    "NotFoundError",
    "StateError",
    "VerificationError",
]
