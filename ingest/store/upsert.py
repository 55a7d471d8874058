"""INSERT ... ON CONFLICT DO UPDATE for the state store's two engines (SQLite embedded, PostgreSQL):
one statement per row instead of an UPDATE followed by an INSERT when nothing was updated."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def upsert(
    conn: Connection,
    table: sa.Table,
    *,
    key: Sequence[str],
    update: Sequence[str],
    where: sa.ColumnElement[bool] | None = None,
) -> sa.Insert:
    """An INSERT into `table` that, when a row with the same `key` (a primary key or unique
    constraint) exists, sets the `update` columns from the inserted values instead (only where
    `where` holds for the existing row). Add values (or pass rows to execute) as for any INSERT."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        insert: postgresql.Insert | sqlite.Insert = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:
        raise NotImplementedError(f"upsert on {dialect}: the state store runs on SQLite or PostgreSQL")
    return insert.on_conflict_do_update(
        index_elements=list(key), set_={name: insert.excluded[name] for name in update}, where=where
    )
