"""Gateway tables: sign-in challenges and revoked tokens, sharing grants, consent records, the grants'
consents and spent subject assertions.

Before migrations the gateway and the consent commands created these on first use, so a database that never
served them has only 0001's tables.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "auth_challenge",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "auth_revoked_token",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti"),
    )
    op.create_table(
        "certificate_grant",
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("reveal", sa.JSON(), nullable=True),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=66), nullable=False),
        sa.Column("issuer", sa.String(length=32), nullable=False),
        sa.Column("grantee", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.String(length=42), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=42), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_certificate_grant_digest"), "certificate_grant", ["digest"], unique=False)
    op.create_index(op.f("ix_certificate_grant_grantee"), "certificate_grant", ["grantee"], unique=False)
    op.create_index(op.f("ix_certificate_grant_issuer"), "certificate_grant", ["issuer"], unique=False)
    op.create_table(
        "consent_record",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=66), nullable=False),
        sa.Column("issuer", sa.String(length=32), nullable=False),
        sa.Column("subject_ref", sa.String(length=66), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("assurance", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("purpose_code", sa.String(length=64), nullable=False),
        sa.Column("purpose_text", sa.String(length=500), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("signature", sa.String(length=132), nullable=False),
        sa.Column("record_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_consent_record_digest"), "consent_record", ["digest"], unique=False)
    op.create_index(op.f("ix_consent_record_issuer"), "consent_record", ["issuer"], unique=False)
    op.create_index(op.f("ix_consent_record_subject_ref"), "consent_record", ["subject_ref"], unique=False)
    op.create_table(
        "consent_grant",
        sa.Column("grant_id", sa.String(length=32), nullable=False),
        sa.Column("consent_id", sa.String(length=32), nullable=False),
        sa.Column("purpose_code", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("grant_id"),
    )
    op.create_index(op.f("ix_consent_grant_consent_id"), "consent_grant", ["consent_id"], unique=False)
    op.create_table(
        "consent_assertion_spent",
        sa.Column("nonce_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce_hash"),
    )


def downgrade() -> None:
    op.drop_table("consent_assertion_spent")
    op.drop_index(op.f("ix_consent_grant_consent_id"), table_name="consent_grant")
    op.drop_table("consent_grant")
    op.drop_index(op.f("ix_consent_record_digest"), table_name="consent_record")
    op.drop_index(op.f("ix_consent_record_issuer"), table_name="consent_record")
    op.drop_index(op.f("ix_consent_record_subject_ref"), table_name="consent_record")
    op.drop_table("consent_record")
    op.drop_index(op.f("ix_certificate_grant_digest"), table_name="certificate_grant")
    op.drop_index(op.f("ix_certificate_grant_grantee"), table_name="certificate_grant")
    op.drop_index(op.f("ix_certificate_grant_issuer"), table_name="certificate_grant")
    op.drop_table("certificate_grant")
    op.drop_table("auth_revoked_token")
    op.drop_table("auth_challenge")
