"""Cited copies labelled as no certificate's are labelled again, by the reader that now finds their claims.

``citeddocument.digest`` is ``""`` for a copy from which the ledger could compute no certificate digest. Until red team
round 40 the reader of a cited W3C credential (``vc.carried``) found claims and salts only in one subject object and
one proof object, named by their terms: a credential with ``credentialSubject`` or ``proof`` as an array, with its
claims named by IRI, or in JSON-LD expanded form was sealed all the same, with the person's fields, but labelled
``""``, so ``ledger erase`` of its certificate never reached it. This sets every such label back to NULL, which is
what ``erasure.label_cited_copies`` works out again (with the vault key, which a migration does not hold) before the
next erasure: a copy of a certificate erased meanwhile is destroyed on the spot, the others labelled. A copy that
holds no certificate gets ``""`` again. Copies with a digest are left as they are.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    copies = sa.table("citeddocument", sa.column("digest", sa.String(length=66)))
    op.execute(sa.update(copies).where(copies.c.digest == "").values(digest=None))


def downgrade() -> None:
    """Nothing to undo: a NULL label is what the previous version works out again too."""
