"""index record_contacts by record_key: a record's links are replaced on every write of it, and
the delete by record_key scanned the whole table (a per-record cost growing with the ledger)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 21:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # if_not_exists: a file whose tables were created from the current definitions has it already
    op.create_index(
        "ix_record_contacts_record_key", "record_contacts", ["record_key"], unique=False, if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_record_contacts_record_key", table_name="record_contacts")
