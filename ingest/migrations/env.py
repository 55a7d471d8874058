"""Alembic environment: runs on the connection StateStore hands over (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from ingest.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
