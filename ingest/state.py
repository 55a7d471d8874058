"""State store (SQLAlchemy Core): cursors, record ledger, quarantine, job runs, source locks and
the append-only, hash-chained audit log. SQLite file by default; PostgreSQL by URL."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection, Engine

from ingest.history import HistoryEvent, write_history
from ingest.models import Cursor, RecordFailure, RecordRef, RunReport, SourceRecord
from ingest.privacy import write_links
from ingest.tables import audit_events, cursors, job_runs, ledger, metadata, quarantine, source_locks

LedgerStatus = Literal["indexed", "excluded", "deleted", "erased"]

GENESIS = "0" * 64


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we store is UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def lock_owner(tag: str) -> str:
    """host:pid:tag, so a lock left by a dead process on this host can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{tag}"


def _owner_is_dead(owner: str) -> bool:
    parts = owner.split(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False  # another host, or not ours to judge: wait for the TTL
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    source: str
    record_id: str
    record_type: str
    version: str
    source_updated_at: datetime
    content_hash: str
    fingerprint: str
    access_hash: str
    status: LedgerStatus
    reason: str | None = None
    chunk_count: int = 0
    redaction_policy: str | None = None
    consent_policy: str | None = None
    model_id: str | None = None
    last_run_id: str | None = None

    @property
    def ref(self) -> RecordRef:
        return RecordRef(tenant_id=self.tenant_id, source=self.source, record_id=self.record_id)


class AuditEvent(BaseModel):
    """What happened, who did it, to which ids, how many. Never content."""

    model_config = ConfigDict(frozen=True)

    actor: str
    action: str
    tenant_id: str | None = None
    source: str | None = None
    record_id: str | None = None
    run_id: str | None = None
    details: dict[str, Any] = {}

    @classmethod
    def for_record(
        cls, ref: RecordRef, action: str, *, actor: str, run_id: str, details: dict[str, Any]
    ) -> AuditEvent:
        return cls(
            actor=actor,
            action=action,
            tenant_id=ref.tenant_id,
            source=ref.source,
            record_id=ref.record_id,
            run_id=run_id,
            details=details,
        )


def _event_hash(prev: str, ts: datetime, event: AuditEvent) -> str:
    body = json.dumps(
        {"prev": prev, "ts": ts.isoformat(), **event.model_dump()}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(body.encode()).hexdigest()


class StateStore:
    def __init__(self, url: str) -> None:
        self._engine = self._make_engine(url)
        self._audit_lock = threading.Lock()
        with self._engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # several replicas and workers start at once: one migrates, the rest wait
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727274001)")
                from ingest.migrate import upgrade

                upgrade(conn)  # Alembic migrations (ingest/migrations)
            else:
                metadata.create_all(conn)  # the embedded SQLite file: created from the table definitions

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
        done = conn.execute(sa.update(cursors).where(cursors.c.source == source).values(**values))
        if done.rowcount == 0:
            conn.execute(sa.insert(cursors).values(source=source, **values))

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

    @staticmethod
    def _entry(row: Any) -> LedgerEntry:
        data = dict(row._mapping)
        data["source_updated_at"] = _aware(data["source_updated_at"])
        data.pop("updated_at", None)
        return LedgerEntry.model_validate(data)

    @staticmethod
    def _upsert_ledger(conn: Connection, entries: Iterable[LedgerEntry]) -> None:
        now = utcnow()
        for entry in entries:
            values = {**entry.model_dump(), "updated_at": now}
            key = (
                (ledger.c.tenant_id == entry.tenant_id)
                & (ledger.c.source == entry.source)
                & (ledger.c.record_id == entry.record_id)
            )
            done = conn.execute(sa.update(ledger).where(key).values(**values))
            if done.rowcount == 0:
                conn.execute(sa.insert(ledger).values(**values))

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
            partition_cursors = sa.or_(*(cursors.c.source.like(f"{name}#%") for name in sources))
            conn.execute(sa.delete(cursors).where(cursors.c.source.in_(list(sources)) | partition_cursors))
            self._upsert_ledger(conn, entries)
            for name, cursor in cursors_now.items():
                if cursor is not None:
                    self._save_cursor(conn, name, cursor)

    # ------------------------------------------------------------------ quarantine

    @staticmethod
    def _quarantine(conn: Connection, failures: Sequence[RecordFailure], run_id: str) -> None:
        now = utcnow()
        for f in failures:
            key = (
                (quarantine.c.source == f.source)
                & (quarantine.c.locator == f.locator)
                & (quarantine.c.raw_sha256 == f.raw_sha256)
            )
            done = conn.execute(sa.update(quarantine).where(key).values(last_seen=now, last_run_id=run_id))
            if done.rowcount == 0:
                conn.execute(
                    sa.insert(quarantine).values(
                        source=f.source,
                        locator=f.locator,
                        record_id=f.record_id,
                        reason=f.reason,
                        raw_sha256=f.raw_sha256,
                        first_seen=now,
                        last_seen=now,
                        last_run_id=run_id,
                    )
                )

    def list_quarantine(self, *, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = sa.select(quarantine).order_by(quarantine.c.id.desc()).limit(limit)
        if source:
            query = query.where(quarantine.c.source == source)
        with self._engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # ------------------------------------------------------------------ job runs

    def start_run(self, *, source: str, kind: str, actor: str) -> str:
        run_id = uuid.uuid4().hex
        with self._engine.begin() as conn:
            conn.execute(
                sa.insert(job_runs).values(
                    run_id=run_id,
                    source=source,
                    kind=kind,
                    actor=actor,
                    status="running",
                    started_at=utcnow(),
                    counts="{}",
                )
            )
        return run_id

    def finish_run(self, report: RunReport) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(job_runs)
                .where(job_runs.c.run_id == report.run_id)
                .values(
                    status=report.status,
                    finished_at=report.finished_at,
                    counts=json.dumps(report.counts, sort_keys=True),
                    error=report.error,
                )
            )

    def list_runs(self, *, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = sa.select(job_runs).order_by(job_runs.c.started_at.desc()).limit(limit)
        if source:  # a partitioned source's runs are named "<source>#<p>"
            query = query.where((job_runs.c.source == source) | job_runs.c.source.like(f"{source}#%"))
        with self._engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["counts"] = json.loads(row["counts"] or "{}")
            row["started_at"] = _aware(row["started_at"])
            row["finished_at"] = _aware(row["finished_at"])
        return rows

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(job_runs).where(job_runs.c.run_id == run_id)).first()
        if row is None:
            return None
        data = dict(row._mapping)
        data["counts"] = json.loads(data["counts"] or "{}")
        return data

    # ------------------------------------------------------------------ source locks

    def try_lock(self, source: str, owner: str, ttl: timedelta) -> bool:
        """Cross-process mutual exclusion per source (sync vs reindex vs reconcile).

        A lock expires after `ttl` unless refreshed (runs refresh it every page). A lock whose
        owner process died on this host (kill -9, OOM) is taken over at once."""
        now = utcnow()
        with self._engine.begin() as conn:
            held = conn.execute(sa.select(source_locks).where(source_locks.c.source == source)).first()
            if held is not None and (_aware(held.expires_at) < now or _owner_is_dead(held.owner)):  # type: ignore[operator]
                conn.execute(
                    sa.delete(source_locks).where(
                        source_locks.c.source == source, source_locks.c.owner == held.owner
                    )
                )
                conn.execute(  # the run that held it never finished: say so
                    sa.update(job_runs)
                    .where(job_runs.c.run_id == held.owner.rsplit(":", 1)[-1], job_runs.c.status == "running")
                    .values(
                        status="failed",
                        finished_at=now,
                        error="interrupted: the process holding the lock died",
                    )
                )
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(source_locks).values(source=source, owner=owner, expires_at=now + ttl)
                    )
            except sa.exc.IntegrityError:
                return False
        return True

    def refresh_lock(self, source: str, owner: str, ttl: timedelta) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(source_locks)
                .where(source_locks.c.source == source, source_locks.c.owner == owner)
                .values(expires_at=utcnow() + ttl)
            )

    def unlock(self, source: str, owner: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                sa.delete(source_locks).where(source_locks.c.source == source, source_locks.c.owner == owner)
            )

    # ------------------------------------------------------------------ audit log

    def audit(self, *events: AuditEvent) -> None:
        with self._audit_lock, self._engine.begin() as conn:
            self._append_audit(conn, events)

    @staticmethod
    def _append_audit(conn: Connection, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        last = conn.execute(
            sa.select(audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1)
        ).first()
        prev = last.hash if last else GENESIS
        for event in events:
            ts = utcnow()
            digest = _event_hash(prev, ts, event)
            conn.execute(
                sa.insert(audit_events).values(
                    ts=ts,
                    actor=event.actor,
                    action=event.action,
                    tenant_id=event.tenant_id,
                    source=event.source,
                    record_id=event.record_id,
                    run_id=event.run_id,
                    details=json.dumps(event.details, sort_keys=True),
                    prev_hash=prev,
                    hash=digest,
                )
            )
            prev = digest

    def list_audit(
        self,
        *,
        action: str | None = None,
        record_id: str | None = None,
        actor: str | None = None,
        tenant_id: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        source: str | None = None,
    ) -> list[dict[str, Any]]:
        query = sa.select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
        for column, value in (
            (audit_events.c.action, action),
            (audit_events.c.record_id, record_id),
            (audit_events.c.actor, actor),
            (audit_events.c.tenant_id, tenant_id),
            (audit_events.c.source, source),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(audit_events.c.ts >= since)
        with self._engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["details"] = json.loads(row["details"])
            row["ts"] = _aware(row["ts"])
        return rows

    def verify_audit_chain(self) -> tuple[bool, int, int | None]:
        """(ok, events checked, id of the first bad event)."""
        prev = GENESIS
        checked = 0
        with self._engine.connect() as conn:
            for row in conn.execute(sa.select(audit_events).order_by(audit_events.c.id)):
                event = AuditEvent(
                    actor=row.actor,
                    action=row.action,
                    tenant_id=row.tenant_id,
                    source=row.source,
                    record_id=row.record_id,
                    run_id=row.run_id,
                    details=json.loads(row.details),
                )
                ts = _aware(row.ts)
                assert ts is not None
                if row.prev_hash != prev or _event_hash(prev, ts, event) != row.hash:
                    return False, checked, int(row.id)
                prev = row.hash
                checked += 1
        return True, checked, None
