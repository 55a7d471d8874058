"""Alembic environment: runs on the connection StateStore hands over (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from ingest.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    compare_type=True,
    # one set of scripts serves SQLite and PostgreSQL: autogenerate writes table changes as batch
    # operations, which SQLite runs as copy-and-move (it cannot ALTER most things) and PostgreSQL
    # as plain ALTER TABLE
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
