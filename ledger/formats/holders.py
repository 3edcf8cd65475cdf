"""Which field of a certificate names its holder.

An applicant holds a cited certificate when the one field its type names (:data:`HOLDER_FIELD_OF_TYPE`) is the
applicant's own identity. Any other disclosed identity names someone else: a business licence discloses its legal
representative's ID number, and that person is not its holder (red team round 69: when any disclosed holder field
counted, the representative held the company's licence and got its permit in their own name). A type not listed
holds for nobody. Every reader judges holding by this table: the decision engine's facts, replay's re-run and the
library's bundle verifier (``ledger.services.facts``), a rule set's ``produces`` (the permit it issues must carry its
holder in the field its type names); the court's standalone verifier keeps its own copy
(``scripts/verify_evidence.py``; a test keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["HOLDER_FIELDS", "HOLDER_FIELD_OF_TYPE"]

# The disclosed fields that may identify a certificate's holder (what an evidence bundle discloses of a cited one).
HOLDER_FIELDS = ("subject.credit_code", "subject.id_number", "subject.holder_id")
# The one field naming the holder of each certificate type.
HOLDER_FIELD_OF_TYPE: Mapping[str, str] = MappingProxyType(
    {
        "business-licence": "subject.credit_code",
        "business-licence-copy": "subject.credit_code",
        "food-business-permit": "subject.credit_code",
        "tax-clearance": "subject.credit_code",
        "birth-certificate": "subject.id_number",
        "id-card": "subject.id_number",
    }
)
