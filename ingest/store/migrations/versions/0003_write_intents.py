"""write intents (pages in flight, awaited by erasures and revocations), run owners, erased subjects,
consent baselines of revoked records

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "write_intents",
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("record_key", sa.String(length=512), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", "record_key"),
    )
    op.create_index(op.f("ix_write_intents_tenant_id"), "write_intents", ["tenant_id"], unique=False)
    op.create_table(
        "run_owners",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id"),
    )
    op.create_table(
        "subject_suppressions",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("contact_key", sa.String(length=128), nullable=False),
        sa.Column("receipt_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "contact_key"),
    )
    op.create_table(
        "consent_baselines",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("record_key", sa.String(length=512), nullable=False),
        sa.Column("consent_hash", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "record_key"),
    )


def downgrade() -> None:
    op.drop_table("consent_baselines")
    op.drop_table("subject_suppressions")
    op.drop_table("run_owners")
    op.drop_index(op.f("ix_write_intents_tenant_id"), table_name="write_intents")
    op.drop_table("write_intents")
