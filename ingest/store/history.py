"""Per-record history for auditors: which versions were indexed, with which redaction summary,
policies and model; when a record was purged or deleted. Ids and counts only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection, Engine

from ingest.models import RecordRef
from ingest.store.audit_log import AuditEvent
from ingest.store.ledger import LedgerEntry
from ingest.store.tables import record_history


class HistoryEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: RecordRef
    action: Literal["indexed", "payload_update", "purged", "deleted"]
    version: str | None = None
    source_updated_at: datetime | None = None
    content_hash: str | None = None
    chunk_count: int | None = None
    redaction_counts: dict[str, int] | None = None
    redaction_policy: str | None = None
    consent_policy: str | None = None
    model_id: str | None = None
    run_id: str | None = None
    reason: str | None = None


_ACTIONS: dict[str, Literal["payload_update", "purged", "deleted"]] = {
    "payload_update": "payload_update",
    "purge": "purged",
    "delete": "deleted",
}


def history_of(
    entries: Sequence[LedgerEntry], events: Sequence[AuditEvent], written: dict[str, dict[str, int]]
) -> list[HistoryEvent]:
    """History rows for one page: records written (with their redaction counts), payload updates,
    purges and deletions; derived from the page's ledger rows and audit events."""
    by_key = {e.ref.key: e for e in entries}
    out: list[HistoryEvent] = []

    def row(
        key: str, action: Literal["indexed", "payload_update", "purged", "deleted"], **extra: Any
    ) -> None:
        entry = by_key.get(key)
        if entry is None:
            return
        out.append(
            HistoryEvent(
                ref=entry.ref,
                action=action,
                version=entry.version,
                source_updated_at=entry.source_updated_at,
                content_hash=entry.content_hash,
                chunk_count=entry.chunk_count,
                redaction_policy=entry.redaction_policy,
                consent_policy=entry.consent_policy,
                model_id=entry.model_id,
                run_id=entry.last_run_id,
                **extra,
            )
        )

    for key, counts in written.items():
        row(key, "indexed", redaction_counts=counts)
    for ev in events:
        action = _ACTIONS.get(ev.action)
        if action is not None and ev.record_id and ev.tenant_id and ev.source:
            reason = ev.details.get("reason")
            row(
                f"{ev.tenant_id}:{ev.source}:{ev.record_id}",
                action,
                reason=reason if isinstance(reason, str) else None,
            )
    return out


def write_history(conn: Connection, events: Sequence[HistoryEvent], now: datetime) -> None:
    for e in events:
        conn.execute(
            sa.insert(record_history).values(
                tenant_id=e.ref.tenant_id,
                record_key=e.ref.key,
                action=e.action,
                version=e.version,
                source_updated_at=e.source_updated_at,
                content_hash=e.content_hash,
                chunk_count=e.chunk_count,
                redaction_counts=json.dumps(e.redaction_counts) if e.redaction_counts is not None else None,
                redaction_policy=e.redaction_policy,
                consent_policy=e.consent_policy,
                model_id=e.model_id,
                run_id=e.run_id,
                reason=e.reason,
                ts=now,
            )
        )


def read_history(engine: Engine, ref: RecordRef, limit: int = 200) -> list[dict[str, Any]]:
    query = (
        sa.select(record_history)
        .where(record_history.c.tenant_id == ref.tenant_id, record_history.c.record_key == ref.key)
        .order_by(record_history.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row.pop("id")
        if row["redaction_counts"] is not None:
            row["redaction_counts"] = json.loads(row["redaction_counts"])
        for key in ("ts", "source_updated_at"):
            if isinstance(row[key], datetime) and row[key].tzinfo is None:
                row[key] = row[key].replace(tzinfo=UTC)
    return rows
