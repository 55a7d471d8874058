"""Redaction summary per source (entity types and counts, never values) and receipts checked
again against the live index."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ingest.index.base import IndexStore
from ingest.models import RecordRef
from ingest.store.privacy import Receipt
from ingest.store.tables import record_history
from ingest.timeutil import utcnow
from rag_service.views.models import ReceiptCheck, RedactionSummary


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def redaction_summary(engine: Engine, tenant_id: str, source: str) -> RedactionSummary:
    """Sum of the redaction counts of each record's latest indexed version, for records whose
    latest history event is not a purge or deletion (payload updates keep the text)."""
    query = (
        sa.select(record_history.c.record_key, record_history.c.action, record_history.c.redaction_counts)
        .where(
            record_history.c.tenant_id == tenant_id,
            record_history.c.record_key.like(_like_prefix(f"{tenant_id}:{source}:"), escape="\\"),
        )
        .order_by(record_history.c.id)
    )
    latest: dict[str, dict[str, int] | None] = {}
    with engine.connect() as conn:
        for key, action, counts in conn.execute(query):
            if action == "indexed":
                latest[key] = json.loads(counts) if counts else {}
            elif action in ("purged", "deleted"):
                latest[key] = None
    entities: dict[str, int] = {}
    records = 0
    for counts in latest.values():
        if counts is None:
            continue
        records += 1
        for entity, n in counts.items():
            entities[entity] = entities.get(entity, 0) + int(n)
    return RedactionSummary(
        source=source, tenant_id=tenant_id, records=records, entities=dict(sorted(entities.items()))
    )


def _ref(key: str) -> RecordRef | None:
    parts = key.split(":", 2)
    if len(parts) != 3:
        return None
    return RecordRef(tenant_id=parts[0], source=parts[1], record_id=parts[2])


def check_receipt(index: IndexStore, receipt: Receipt) -> ReceiptCheck:
    refs = [ref for ref in (_ref(k) for k in receipt.records) if ref is not None]
    remaining = sum(index.count(ref=ref) for ref in refs)
    return ReceiptCheck(
        receipt_id=receipt.receipt_id,
        verified_at_issue=receipt.verified,
        remaining_chunks_now=remaining,
        verified_now=remaining == 0,
        checked_at=utcnow(),
    )
