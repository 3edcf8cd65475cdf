"""Core tables: certificate batches, certificates, status changes, hash-chained logs and their anchors,
rule sets, decision inputs, cited documents, applicant secrets, produced certificates.

The schema the ledger had when migrations were introduced, as create_all made it on every open.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "batch",
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("schema_id", sa.String(length=66), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("signature", sa.String(length=132), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("nonce", sa.Integer(), nullable=True),
        sa.Column("block_number", sa.Integer(), nullable=True),
        sa.Column("block_hash", sa.String(length=66), nullable=True),
        sa.Column("block_time", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("root"),
    )
    op.create_index(op.f("ix_batch_department_id"), "batch", ["department_id"], unique=False)
    op.create_index(op.f("ix_batch_state"), "batch", ["state"], unique=False)
    op.create_table(
        "certificate",
        sa.Column("digest", sa.String(length=66), nullable=False),
        sa.Column("batch_root", sa.String(length=66), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.String(length=128), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("cert_type", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.String(length=40), nullable=False),
        sa.Column("valid_until", sa.String(length=40), nullable=True),
        sa.Column("proof", sa.LargeBinary(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("superseded_by", sa.String(length=66), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_root"],
            ["batch.root"],
        ),
        sa.PrimaryKeyConstraint("digest"),
        sa.UniqueConstraint("department_id", "certificate_id", name="uq_certificate_department_id"),
    )
    op.create_index(op.f("ix_certificate_batch_root"), "certificate", ["batch_root"], unique=False)
    op.create_index(op.f("ix_certificate_department_id"), "certificate", ["department_id"], unique=False)
    op.create_table(
        "statuschange",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=66), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=66), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note_sealed", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_statuschange_digest"), "statuschange", ["digest"], unique=False)
    op.create_table(
        "logentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log", sa.String(length=32), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("entry_hash", sa.String(length=66), nullable=False),
        sa.Column("prev_hash", sa.String(length=66), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch_root", sa.String(length=66), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.Column("proof", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("log", "department_id", "seq", name="uq_logentry_log_department_seq"),
    )
    op.create_index(op.f("ix_logentry_batch_root"), "logentry", ["batch_root"], unique=False)
    op.create_index(op.f("ix_logentry_state"), "logentry", ["state"], unique=False)
    op.create_table(
        "loganchor",
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("log", sa.String(length=32), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=66), nullable=False),
        sa.Column("signer", sa.String(length=42), nullable=False),
        sa.Column("signature", sa.String(length=132), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anchored_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("root"),
    )
    op.create_index(op.f("ix_loganchor_department_id"), "loganchor", ["department_id"], unique=False)
    op.create_index(op.f("ix_loganchor_log"), "loganchor", ["log"], unique=False)
    op.create_index(op.f("ix_loganchor_state"), "loganchor", ["state"], unique=False)
    op.create_table(
        "rulesetrecord",
        sa.Column("digest", sa.String(length=66), nullable=False),
        sa.Column("rule_set_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("service_item", sa.String(length=128), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.Integer(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_table(
        "decisioninput",
        sa.Column("digest", sa.String(length=66), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_table(
        "citeddocument",
        sa.Column("ref", sa.String(length=66), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("ref"),
    )
    op.create_table(
        "applicantsecret",
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("department_id"),
    )
    op.create_table(
        "producedcertificate",
        sa.Column("digest", sa.String(length=66), nullable=False),
        sa.Column("department_id", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.String(length=128), nullable=False),
        sa.Column("certificate_id", sa.String(length=128), nullable=False),
        sa.Column("decision_seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index(
        op.f("ix_producedcertificate_department_id"), "producedcertificate", ["department_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_producedcertificate_department_id"), table_name="producedcertificate")
    op.drop_table("producedcertificate")
    op.drop_table("applicantsecret")
    op.drop_table("citeddocument")
    op.drop_table("decisioninput")
    op.drop_table("rulesetrecord")
    op.drop_index(op.f("ix_loganchor_department_id"), table_name="loganchor")
    op.drop_index(op.f("ix_loganchor_log"), table_name="loganchor")
    op.drop_index(op.f("ix_loganchor_state"), table_name="loganchor")
    op.drop_table("loganchor")
    op.drop_index(op.f("ix_logentry_batch_root"), table_name="logentry")
    op.drop_index(op.f("ix_logentry_state"), table_name="logentry")
    op.drop_table("logentry")
    op.drop_index(op.f("ix_statuschange_digest"), table_name="statuschange")
    op.drop_table("statuschange")
    op.drop_index(op.f("ix_certificate_batch_root"), table_name="certificate")
    op.drop_index(op.f("ix_certificate_department_id"), table_name="certificate")
    op.drop_table("certificate")
    op.drop_index(op.f("ix_batch_department_id"), table_name="batch")
    op.drop_index(op.f("ix_batch_state"), table_name="batch")
    op.drop_table("batch")
