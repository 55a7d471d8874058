"""The state store's schema comes from the Alembic migrations (ingest/store/migrations), on SQLite and
PostgreSQL alike: `upgrade` brings a database to the newest revision on the connection it is given.

Before the embedded SQLite store used migrations, its file was created by `metadata.create_all`
(no alembic_version table; tables only ever added, never altered; a table missing when the code
that defined it first opened the file was created then). Such a file is adopted once: stamped at
the earliest revision whose tables include all of its tables, after the tables of that revision it
lacks are created as that revision defines them, then upgraded like any other database.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NamedTuple

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from ingest.errors import IngestError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
# the per-source schedules that create_all files kept after job_schedules replaced them (0004)
_LEGACY_SCHEDULES = "schedules"
# Alembic's `context` and `op` are process-wide proxies: one migration run at a time per process
# (taken after the database's own lock, so two stores opening at once cannot deadlock)
_ALEMBIC = threading.RLock()


class TableSchema(NamedTuple):
    columns: list[str]
    ddl: list[str]  # CREATE TABLE, then its CREATE INDEX statements


class SchemaError(IngestError):
    """The state store holds tables that no migration describes: it is not adopted blindly."""


def alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def upgrade(connection: Connection) -> None:
    """Apply the migrations this database lacks (on SQLite, adopting a create_all file first).
    Runs inside the caller's transaction, which serialises concurrent starts."""
    with _ALEMBIC:
        if connection.dialect.name == "sqlite":
            adopt_unversioned_sqlite(connection)
        command.upgrade(alembic_config(connection), "head")


def adopt_unversioned_sqlite(connection: Connection) -> str | None:
    """Stamp a SQLite file created by create_all at the revision its tables match (creating what
    that revision has and the file lacks); the revision, or None if there was nothing to adopt."""
    with _ALEMBIC:
        return _adopt(connection)


def _adopt(connection: Connection) -> str | None:
    tables = _table_names(connection)
    if VERSION_TABLE in tables or not tables:
        return None  # versioned already, or a new file: the migrations create everything
    if _LEGACY_SCHEDULES in tables and "job_schedules" in tables:
        # dead since job_schedules replaced it (the code that created job_schedules read only that)
        connection.exec_driver_sql(f"DROP TABLE {_LEGACY_SCHEDULES}")
        tables.discard(_LEGACY_SCHEDULES)
    match = next(((rev, schema) for rev, schema in _schemas_by_revision() if tables <= set(schema)), None)
    if match is None:
        raise SchemaError(f"state store tables no migration describes: {sorted(tables)}")
    revision, schema = match
    for name in sorted(tables):
        if set(_columns(connection, name)) != set(schema[name].columns):
            raise SchemaError(f"state store table {name} does not match migration {revision}")
    for name in sorted(set(schema) - tables):
        for ddl in schema[name].ddl:
            connection.exec_driver_sql(ddl)
    command.stamp(alembic_config(connection), revision)
    return revision


def _table_names(connection: Connection) -> set[str]:
    return {t for t in sa.inspect(connection).get_table_names() if not t.startswith("sqlite_")}


def _columns(connection: Connection, table: str) -> list[str]:
    return [c["name"] for c in sa.inspect(connection).get_columns(table)]


def _schemas_by_revision() -> list[tuple[str, dict[str, TableSchema]]]:
    """(revision, table -> its columns and DDL), oldest first: each revision applied in turn to a
    scratch in-memory SQLite database and read back."""
    scripts = ScriptDirectory(str(MIGRATIONS))
    revisions = [r.revision for r in reversed(list(scripts.walk_revisions()))]
    found: list[tuple[str, dict[str, TableSchema]]] = []
    scratch = sa.create_engine("sqlite://")
    try:
        with scratch.begin() as conn:
            for revision in revisions:
                command.upgrade(alembic_config(conn), revision)
                ddl: dict[str, list[str]] = {}
                rows = conn.exec_driver_sql(
                    "SELECT tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name != ? "
                    "ORDER BY type DESC, name",  # a table before its indexes
                    (VERSION_TABLE,),
                )
                for table, statement in rows:
                    ddl.setdefault(table, []).append(statement)
                schema = {name: TableSchema(_columns(conn, name), sql) for name, sql in ddl.items()}
                found.append((revision, schema))
    finally:
        scratch.dispose()
    return found
