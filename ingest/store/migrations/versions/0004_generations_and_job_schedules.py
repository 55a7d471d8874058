"""index generations, their ledgers and cursors in the state store (no local pointer file);
typed job schedules (kind + target) replace the per-source schedule rows

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _ledger_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=256), nullable=False),
        sa.Column("record_type", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("source_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("access_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("redaction_policy", sa.String(length=64), nullable=True),
        sa.Column("consent_policy", sa.String(length=64), nullable=True),
        sa.Column("model_id", sa.String(length=256), nullable=True),
        sa.Column("last_run_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "index_generations",
        sa.Column("index_name", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("switched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("index_name", "generation"),
    )
    op.create_table(
        "generation_ledgers",
        sa.Column("generation", sa.String(length=64), nullable=False),
        *_ledger_columns(),
        sa.PrimaryKeyConstraint("generation", "tenant_id", "source", "record_id"),
    )
    op.create_table(
        "generation_cursors",
        sa.Column("generation", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("watermark", sa.String(length=128), nullable=True),
        sa.Column("last_id", sa.String(length=256), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("generation", "source"),
    )
    op.create_table(
        "job_schedules",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kind", "target"),
    )
    # sync schedules carry over (same key and interval); reconcile and reprocess-stale rows are
    # registered by the first process that starts
    op.execute(
        "INSERT INTO job_schedules (kind, target, interval_seconds, next_run_at, claimed_by, claimed_at) "
        "SELECT 'sync', source, interval_seconds, next_run_at, claimed_by, claimed_at FROM schedules"
    )
    op.drop_table("schedules")


def downgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source"),
    )
    op.execute(
        "INSERT INTO schedules (source, interval_seconds, next_run_at, claimed_by, claimed_at) "
        "SELECT target, interval_seconds, next_run_at, claimed_by, claimed_at FROM job_schedules "
        "WHERE kind = 'sync'"
    )
    op.drop_table("job_schedules")
    op.drop_table("generation_cursors")
    op.drop_table("generation_ledgers")
    op.drop_table("index_generations")
