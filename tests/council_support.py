"""Shared helpers for tests of the council's approval files (no test module imports another)."""

from __future__ import annotations

from typing import Any

from ledger.services.council import APPROVAL_FILE_FORMAT


def approval_body(chain: Any, member: str, signature: str, *, proposal_id: int = 1) -> dict[str, Any]:
    """An approval file's members as a council member's ``ledger council approve`` writes them, for proposal
    ``proposal_id`` on ``chain``'s registry, signed ``signature`` (hex; the caller's, genuine or not)."""
    return {
        "format": APPROVAL_FILE_FORMAT,
        "chain_id": chain.chain_id,
        "registry": chain.deployment.registry,
        "proposal_id": proposal_id,
        "member": member,
        "deadline": 2**40,
        "signature": signature,
    }
