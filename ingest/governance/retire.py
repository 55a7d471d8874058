"""Retire a source removed from the configuration: its chunks leave the index, its ledger,
cursors, quarantine and schedule rows leave the state store, with an audit event and a receipt
per tenant that says what was removed and verifies that nothing of it is left in the index.

A source still named by the configuration is not retired: the next sync would bring it back.
"""

from __future__ import annotations

import time
import uuid

from ingest.errors import IngestError
from ingest.index.base import IndexStore
from ingest.store.privacy import PrivacyLedger, Receipt
from ingest.store.state import AuditEvent, StateStore, utcnow


class SourceStillConfiguredError(IngestError):
    """The configuration still names the source; remove it there first."""


class NothingToRetireError(IngestError):
    """Neither the index nor the state store holds anything of that source."""


def held_tenants(state: StateStore, index: IndexStore, source: str) -> set[str]:
    """The tenants a source has anything for, in the ledger or in the index."""
    return state.tenants_of_source(source) | set(index.source_tenants().get(source, {}))


def retire_source(
    state: StateStore,
    privacy: PrivacyLedger,
    index: IndexStore,
    *,
    source: str,
    configured: bool,
    actor: str,
) -> list[Receipt]:
    """Purge everything of `source`; one receipt per tenant it held (usually one)."""
    if configured:
        raise SourceStillConfiguredError(
            f"source {source!r} is still configured; remove it from the configuration first"
        )
    started = time.perf_counter()
    in_index = index.source_tenants().get(source, {})
    tenants = state.tenants_of_source(source) | set(in_index)
    if not tenants:
        raise NothingToRetireError(f"nothing is held for a source named {source!r}")
    deleted = index.delete_source(source)
    index.flush()
    remaining = sum(index.source_tenants().get(source, {}).values())
    forgotten = state.forget_source(source)
    now = utcnow()
    receipts: list[Receipt] = []
    for tenant_id in sorted(tenants):
        receipt = Receipt(
            receipt_id=uuid.uuid4().hex,
            kind="source_retirement",
            tenant_id=tenant_id,
            subject=f"source:{source}",
            actor=actor,
            created_at=now,
            records=[],
            chunks_deleted=in_index.get(tenant_id, 0),
            collections=[index.location],
            remaining_hits=remaining,
            verified=remaining == 0,
            seconds_to_zero_hits=round(time.perf_counter() - started, 4),
        )
        privacy.save_receipt(receipt)
        state.audit(
            AuditEvent(
                actor=actor,
                action="retire_source",
                tenant_id=tenant_id,
                source=source,
                details={
                    "receipt_id": receipt.receipt_id,
                    "chunks_deleted": deleted,
                    "remaining_chunks": remaining,
                    **forgotten,
                },
            )
        )
        receipts.append(receipt)
    return receipts
