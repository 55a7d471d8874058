"""State store (SQLAlchemy Core): cursors, record ledger, quarantine, job runs, source locks and
the append-only, hash-chained audit log. SQLite file by default; PostgreSQL by URL."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ingest.models import Cursor, RecordFailure, RecordRef, SourceRecord
from ingest.partition import key_like
from ingest.store.audit_log import GENESIS, AuditEvent, AuditLog
from ingest.store.history import HistoryEvent, write_history
from ingest.store.ledger import LedgerEntry, LedgerStatus
from ingest.store.migrate import upgrade
from ingest.store.privacy import write_links
from ingest.store.runs import RunsAndLocks, lock_owner
from ingest.store.tables import cursors, job_schedules, ledger, quarantine
from ingest.store.upsert import upsert
from ingest.timeutil import aware as _aware
from ingest.timeutil import utcnow


class StateStore(RunsAndLocks, AuditLog):
    """Cursors, ledger, page commits and quarantine here; job runs and source locks come from
    ingest.store.runs, the hash-chained audit log from ingest.store.audit_log."""

    def __init__(self, url: str) -> None:
        self._engine = self._make_engine(url)
        self._audit_lock = threading.Lock()
        with self._engine.begin() as conn:
            # several processes start at once: one migrates, the rest wait, then find nothing to do
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274001)")
            else:  # SQLite: take the write lock now, so the whole migration is one transaction
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            upgrade(conn)  # Alembic migrations (ingest/store/migrations), for both engines

    @staticmethod
    def _make_engine(url: str) -> Engine:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            return engine
        return sa.create_engine(url, pool_pre_ping=True)

    @property
    def engine(self) -> Engine:
        return self._engine

    def ping(self) -> None:
        with self._engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ cursors

    def get_cursor(self, source: str) -> Cursor | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(cursors).where(cursors.c.source == source)).first()
        return Cursor(watermark=row.watermark, last_id=row.last_id) if row else None

    def reset_cursor(self, source: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(sa.delete(cursors).where(cursors.c.source == source))

    @staticmethod
    def _save_cursor(conn: Connection, source: str, cursor: Cursor) -> None:
        values = {"watermark": cursor.watermark, "last_id": cursor.last_id, "updated_at": utcnow()}
        conn.execute(
            upsert(conn, cursors, key=["source"], update=list(values)).values(source=source, **values)
        )

    # ------------------------------------------------------------------ ledger

    def ledger_get_many(self, refs: Sequence[RecordRef]) -> dict[str, LedgerEntry]:
        result: dict[str, LedgerEntry] = {}
        if not refs:
            return result
        by_source: dict[tuple[str, str], list[str]] = {}
        for ref in refs:
            by_source.setdefault((ref.tenant_id, ref.source), []).append(ref.record_id)
        with self._engine.connect() as conn:
            for (tenant, source), ids in by_source.items():
                rows = conn.execute(
                    sa.select(ledger).where(
                        ledger.c.tenant_id == tenant, ledger.c.source == source, ledger.c.record_id.in_(ids)
                    )
                )
                for row in rows:
                    entry = self._entry(row)
                    result[entry.ref.key] = entry
        return result

    def ledger_get(self, ref: RecordRef) -> LedgerEntry | None:
        return self.ledger_get_many([ref]).get(ref.key)

    def ledger_for_source(self, source: str, status: LedgerStatus | None = None) -> list[LedgerEntry]:
        query = sa.select(ledger).where(ledger.c.source == source)
        if status is not None:
            query = query.where(ledger.c.status == status)
        with self._engine.connect() as conn:
            return [self._entry(r) for r in conn.execute(query.order_by(ledger.c.record_id))]

    def ledger_count(self, source: str, status: LedgerStatus) -> int:
        """How many ledger rows of a source have this status (without loading them)."""
        query = (
            sa.select(sa.func.count())
            .select_from(ledger)
            .where(ledger.c.source == source, ledger.c.status == status)
        )
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def ledger_ids_by_status(self, statuses: Sequence[LedgerStatus]) -> dict[tuple[str, str], set[str]]:
        """(tenant, source) -> ids of the records whose ledger status is one of `statuses`."""
        found: dict[tuple[str, str], set[str]] = {}
        query = sa.select(ledger.c.tenant_id, ledger.c.source, ledger.c.record_id).where(
            ledger.c.status.in_(list(statuses))
        )
        with self._engine.connect() as conn:
            for tenant, source, rid in conn.execute(query):
                found.setdefault((tenant, source), set()).add(rid)
        return found

    @staticmethod
    def _entry(row: Any) -> LedgerEntry:
        data = dict(row._mapping)
        data["source_updated_at"] = _aware(data["source_updated_at"])
        data.pop("updated_at", None)
        return LedgerEntry.model_validate(data)

    @staticmethod
    def _upsert_ledger(conn: Connection, entries: Iterable[LedgerEntry]) -> None:
        now = utcnow()
        rows = [{**entry.model_dump(), "updated_at": now} for entry in entries]
        if rows:  # rows of one key apply in order (executemany): the last one wins
            key = [c.name for c in ledger.primary_key]
            update = [c.name for c in ledger.columns if c.name not in key]
            conn.execute(upsert(conn, ledger, key=key, update=update), rows)

    # ------------------------------------------------------------------ page commit

    def commit_page(
        self,
        *,
        source: str,
        cursor: Cursor | None,
        entries: Sequence[LedgerEntry],
        failures: Sequence[RecordFailure],
        events: Sequence[AuditEvent],
        run_id: str,
        linked: Sequence[SourceRecord] = (),
        history: Sequence[HistoryEvent] = (),
    ) -> None:
        """One transaction: ledger rows, quarantine, audit events and (last) the cursor.
        Called only after the page's index writes are durable."""
        with self._audit_lock, self._engine.begin() as conn:
            self._upsert_ledger(conn, entries)
            self._quarantine(conn, failures, run_id)
            self._append_audit(conn, events)
            for record in linked:
                write_links(conn, record)
            write_history(conn, history, utcnow())
            if cursor is not None:
                self._save_cursor(conn, source, cursor)

    def mark_ledger(self, refs: Sequence[RecordRef], *, status: LedgerStatus, reason: str) -> None:
        with self._engine.begin() as conn:
            for ref in refs:
                conn.execute(
                    sa.update(ledger)
                    .where(
                        ledger.c.tenant_id == ref.tenant_id,
                        ledger.c.source == ref.source,
                        ledger.c.record_id == ref.record_id,
                    )
                    .values(status=status, reason=reason, chunk_count=0, updated_at=utcnow())
                )

    def copy_sources_to(self, other: StateStore, sources: Sequence[str]) -> None:
        """Make `other` hold exactly this store's ledger rows and cursors for these sources
        (blue/green: the ledger must describe the generation that is live)."""
        entries = [e for name in sources for e in self.ledger_for_source(name)]
        cursors_now = {name: self.get_cursor(name) for name in sources}
        with other._engine.begin() as conn:
            conn.execute(sa.delete(ledger).where(ledger.c.source.in_(list(sources))))
            # partition cursors ("<source>#<p>") restart: the next runs re-read and skip what matches
            partition_cursors = sa.or_(
                *(cursors.c.source.like(key_like(name), escape="\\") for name in sources)
            )
            conn.execute(sa.delete(cursors).where(cursors.c.source.in_(list(sources)) | partition_cursors))
            self._upsert_ledger(conn, entries)
            for name, cursor in cursors_now.items():
                if cursor is not None:
                    self._save_cursor(conn, name, cursor)

    def forget_source(self, source: str) -> dict[str, int]:
        """Delete a retired source's ledger rows, cursors, quarantine entries and schedule rows
        (its partitions' too). Suppressions, contact links, history, runs and the audit log stay:
        an erased record stays erased should the source ever come back."""
        partition_keys = sa.or_(
            cursors.c.source == source, cursors.c.source.like(key_like(source), escape="\\")
        )
        schedule_keys = sa.or_(
            job_schedules.c.target == source, job_schedules.c.target.like(key_like(source), escape="\\")
        )
        with self._engine.begin() as conn:
            return {
                "ledger_rows": conn.execute(sa.delete(ledger).where(ledger.c.source == source)).rowcount,
                "cursors": conn.execute(sa.delete(cursors).where(partition_keys)).rowcount,
                "quarantine_rows": conn.execute(
                    sa.delete(quarantine).where(quarantine.c.source == source)
                ).rowcount,
                "schedules": conn.execute(sa.delete(job_schedules).where(schedule_keys)).rowcount,
            }

    def tenants_of_source(self, source: str) -> set[str]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(ledger.c.tenant_id).where(ledger.c.source == source).distinct())
            return {r.tenant_id for r in rows}

    # ------------------------------------------------------------------ quarantine

    def quarantine_known(self, failures: Sequence[RecordFailure]) -> int:
        """How many of these failures the quarantine already holds unchanged (same source,
        locator and content digest): they are not counted again."""
        known = 0
        with self._engine.connect() as conn:
            for f in failures:
                row = conn.execute(
                    sa.select(quarantine.c.id).where(
                        quarantine.c.source == f.source,
                        quarantine.c.locator == f.locator,
                        quarantine.c.raw_sha256 == f.raw_sha256,
                    )
                ).first()
                known += row is not None
        return known

    @staticmethod
    def _quarantine(conn: Connection, failures: Sequence[RecordFailure], run_id: str) -> None:
        """A new failure is inserted; one already held (same source, locator and content digest:
        uq_quarantine_item) only gets its last sighting updated."""
        if not failures:
            return
        now = utcnow()
        rows = [
            {
                "source": f.source,
                "locator": f.locator,
                "record_id": f.record_id,
                "reason": f.reason,
                "raw_sha256": f.raw_sha256,
                "first_seen": now,
                "last_seen": now,
                "last_run_id": run_id,
            }
            for f in failures
        ]
        key = ["source", "locator", "raw_sha256"]
        conn.execute(upsert(conn, quarantine, key=key, update=["last_seen", "last_run_id"]), rows)

    def list_quarantine(self, *, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = sa.select(quarantine).order_by(quarantine.c.id.desc()).limit(limit)
        if source:
            query = query.where(quarantine.c.source == source)
        with self._engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


__all__ = ["GENESIS", "AuditEvent", "LedgerEntry", "LedgerStatus", "StateStore", "lock_owner", "utcnow"]
