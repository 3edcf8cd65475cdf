"""Signatures a department puts on what it anchors (EIP-712 typed data).

The signed domain carries the chain id and the contract address, so a signature made for one chain or one
deployment cannot be replayed on another. Signatures are checked offline by recovering the signer's address
and comparing it with the department's registered key history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:  # eth_account (about half a CPU-second) is imported where a message is made or recovered
    from eth_account.signers.local import LocalAccount

DOMAIN_NAME = "ProvenanceLedger"
DOMAIN_VERSION = "1"

_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
BATCH_TYPES = {
    "AnchorBatch": [
        {"name": "root", "type": "bytes32"},
        {"name": "count", "type": "uint32"},
        {"name": "schema", "type": "bytes32"},
        {"name": "department", "type": "bytes32"},
    ]
}
LOG_TYPES = {
    "LogBatch": [
        {"name": "logId", "type": "bytes32"},
        {"name": "root", "type": "bytes32"},
        {"name": "firstSeq", "type": "uint64"},
        {"name": "lastSeq", "type": "uint64"},
        {"name": "department", "type": "bytes32"},
    ]
}


def _message(chain_id: int, contract: str, types: dict[str, Any], primary: str, data: dict[str, Any]) -> Any:
    from eth_account.messages import encode_typed_data

    return encode_typed_data(
        full_message={
            "types": {"EIP712Domain": _DOMAIN_TYPE, **types},
            "primaryType": primary,
            "domain": {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": chain_id,
                "verifyingContract": contract,
            },
            "message": data,
        }
    )


def batch_message(chain_id: int, contract: str, root: bytes, count: int, schema: bytes, department: bytes) -> Any:
    return _message(
        chain_id,
        contract,
        BATCH_TYPES,
        "AnchorBatch",
        {"root": root, "count": count, "schema": schema, "department": department},
    )


def log_message(
    chain_id: int, contract: str, log_id: bytes, root: bytes, first_seq: int, last_seq: int, department: bytes
) -> Any:
    return _message(
        chain_id,
        contract,
        LOG_TYPES,
        "LogBatch",
        {"logId": log_id, "root": root, "firstSeq": first_seq, "lastSeq": last_seq, "department": department},
    )


def sign(account: LocalAccount, message: Any) -> bytes:
    return bytes(account.sign_message(message).signature)


# a message signature's last byte: 27 or 28 (docs/format.md section 7), or the raw recovery id 0 or 1
_RECOVERY_BYTES = frozenset((0, 1, 27, 28))


def recover(message: Any, signature: bytes) -> str:
    """Address that made ``signature``; InputError when it is not a well-formed signature."""
    if len(signature) != 65:
        raise InputError(f"a signature is 65 bytes, got {len(signature)}")
    if signature[64] not in _RECOVERY_BYTES:
        # eth-account reads a byte of 35 or more as an EIP-155 transaction's chain id and parity, and recovered the
        # key from it where the court's verifier (docs/format.md section 7) refuses it: one bundle, two verdicts
        raise InputError(
            f"the signature's recovery id (its last byte) is {signature[64]}, neither 27 nor 28 (nor 0 or 1): "
            "not a signature of docs/format.md section 7"
        )
    from eth_account import Account

    try:
        return str(Account.recover_message(message, signature=signature))
    except Exception as exc:  # noqa: BLE001 - eth-keys raises several types for malformed signatures
        raise InputError(f"signature cannot be recovered: {exc}") from None
