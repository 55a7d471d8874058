"""The append-only, hash-chained audit log (a mixin of StateStore). Events carry ids and
counts, never content; each row's hash covers the previous hash, so an edit breaks the chain."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection, Engine

from ingest.models import RecordRef
from ingest.store.tables import audit_events
from ingest.timeutil import aware as _aware
from ingest.timeutil import utcnow

GENESIS = "0" * 64
AUDIT_CHAIN_LOCK = 727274002  # PostgreSQL advisory lock key (727274001: migrations)


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


class AuditLog:
    _engine: Engine
    _audit_lock: threading.Lock

    def audit(self, *events: AuditEvent) -> None:
        with self._audit_lock, self._engine.begin() as conn:
            self._append_audit(conn, events)

    @staticmethod
    def _append_audit(conn: Connection, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        if conn.dialect.name == "postgresql":
            # processes sharing the database (workers, API replicas) append one at a time: each
            # reads the last hash and chains onto it under this lock, held until its commit
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({AUDIT_CHAIN_LOCK})")
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

    def verify_audit_chain(self, tenants: Collection[str] | None = None) -> tuple[bool, int, int | None]:
        """(ok, events checked, id of the first bad event). The whole chain is always verified;
        with `tenants` (a tenant-scoped auditor) only those tenants' events are counted, and a bad
        event of another tenant is not named."""
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
                mine = tenants is None or row.tenant_id in tenants
                if row.prev_hash != prev or _event_hash(prev, ts, event) != row.hash:
                    return False, checked, int(row.id) if mine else None
                prev = row.hash
                checked += mine
        return True, checked, None
