"""The published vocabulary of status reasons (docs/format.md §8).

Only these codes go on chain, as one byte: a status reason can never carry a name, an ID number or any other
personal text. A free-text note stays off chain, sealed in the issuer's database (``ledger.status``).
"""

from __future__ import annotations

REASONS: dict[str, int] = {
    "data-error": 1,            # issued with wrong data
    "fraud": 2,                 # obtained by fraud or forged supporting documents
    "holder-request": 3,        # the holder asked for it
    "data-changed": 4,          # the facts changed (address, scope); usually followed by a successor
    "holder-deceased": 5,
    "entity-dissolved": 6,      # the business or organisation ceased to exist
    "non-compliance": 7,        # an inspection found the conditions not met
    "court-order": 8,
    "under-investigation": 9,   # typical for a suspension
    "grounds-resolved": 10,     # typical for a reinstatement
    "appeal-upheld": 11,
    "other": 12,                # see the sealed note
}
REASON_NAMES = {code: name for name, code in REASONS.items()}


def reason_name(detail: bytes | int) -> str:
    """The vocabulary name of an on-chain reason detail (a 32-byte word or the code itself)."""
    code = int.from_bytes(detail, "big") if isinstance(detail, bytes) else detail
    return REASON_NAMES.get(code, f"unknown-{code}")
