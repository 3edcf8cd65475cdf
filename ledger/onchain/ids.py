"""Department ids and roles as the contracts encode them: plain values and functions, no web3 (``chain.py``
re-exports them), so that code which only names a department or tests a role - a replay worker's chunk - does not
import the chain's client."""

from __future__ import annotations

import hashlib

from ..errors import InputError

ROLE_ISSUER = 1
ROLE_VERIFIER = 2
ROLE_AUDITOR = 4
ROLE_APPROVER = 8


def department_id_bytes(code: str) -> bytes:
    """A department code ("MKT", "HOSP-01") as the bytes32 the contracts use (ASCII, right-padded)."""
    if not isinstance(code, str) or not code or len(code) > 32 or not code.isascii() or not code.isprintable():
        raise InputError(f"department id {code!r} must be 1 to 32 printable ASCII characters")
    return code.encode("ascii").ljust(32, b"\x00")


def department_code(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("ascii", errors="replace")


def service_item_bytes(code: str) -> bytes:
    """A service item code as the bytes32 ``BatchLog.publishRuleSet`` records: the ASCII code right-padded when it
    fits, else SHA-256 of its UTF-8."""
    if not isinstance(code, str) or not code:
        raise InputError("a service item code must be a non-empty string")
    raw = code.encode("utf-8")
    if len(raw) <= 32 and code.isascii():
        return raw.ljust(32, b"\x00")
    return hashlib.sha256(raw).digest()


def named_item(stated: object) -> bytes | None:
    """The bytes32 of the service item a decision record names (its ``service_item``: the item an officer's decision
    without a rule set decides), encoded as :func:`service_item_bytes` does (a lone surrogate kept, as the court's
    verifier reads it: no grant names it, so it is never held), or None when it names none (not a non-empty
    string)."""
    if not isinstance(stated, str) or not stated:
        return None
    raw = stated.encode("utf-8", "surrogatepass")
    return raw.ljust(32, b"\x00") if len(raw) <= 32 and stated.isascii() else hashlib.sha256(raw).digest()


def finding_withdrawal(body: object) -> bool:
    """Whether a decision record is a withdrawal after a supervision finding (``withdrawal``: a refusal overriding the
    case's approval, recorded by ``supervision.withdraw``): it takes back the department's own approval, on the
    finding's authority, so the item it names is not judged against the council's grants (round 86o; a department
    whose item was revoked withdraws the approvals it gave while it held it)."""
    return (
        isinstance(body, dict)
        and isinstance(body.get("withdrawal"), dict)
        and body.get("outcome") == "reject"
        and body.get("overrides") is not None
    )


# "*", every item, as the registry keeps it: a department holding it decides any item, by its screen or an officer's
# hand (docs/governance.md)
EVERY_ITEM = b"*".ljust(32, b"\x00")
# What both verifiers and replay say of an officer's decision that applies no rule set and names no service item
NO_ITEM_NAMED = (
    "the officer's decision applied no rule set and names no service item: it decides an item no grant of the "
    "council's can be judged for"
)


# How both verifiers and replay say an officer's decision came to decide the item it names: applying no rule set
# (round 86o), or the rules of another item (its own copy of the library: red team round 87)
NO_RULES = "it applied no rule set"
OTHER_RULES = "it applied the rules of another item"


# What both verifiers say of such a withdrawal's service item
WITHDRAWAL_ITEM = (
    "a withdrawal of the case's approval after a supervision finding: it takes back the department's own approval, "
    "so its item is not judged against the council's grants"
)


def item_text(item: bytes) -> str:
    """A published ``serviceItem`` (bytes32) in words: the code it pads, or its hex (the SHA-256 of a long code)."""
    code = item.rstrip(b"\x00")
    if code and code.isascii() and code.decode("ascii").isprintable():
        return repr(code.decode("ascii"))
    return "0x" + item.hex()
