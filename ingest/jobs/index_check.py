"""Start-up checks of the index against the state store.

An index restored from a backup (or a generation left from before a purge) may hold chunks of
records the ledger has since deleted (tombstones, reconcile), excluded or erased. They are removed
before the service answers queries, as suppressions already are (ingest.governance.erasure), rather than at
the next hourly reconcile. Sources the index holds but the configuration no longer names are
reported, so an operator can retire them (ingest.governance.retire).
"""

from __future__ import annotations

from collections.abc import Collection

from ingest.index.base import IndexStore
from ingest.models import RecordRef
from ingest.store.state import AuditEvent, LedgerStatus, StateStore

DIRECT_LIMIT = 2_000  # ledger rows per source checked one by one rather than by a scroll
PURGED_STATUSES: tuple[LedgerStatus, ...] = ("deleted", "excluded", "erased")


def purge_unlisted(state: StateStore, index: IndexStore) -> dict[str, int]:
    """Delete chunks of records whose ledger row says deleted, excluded or erased; returns the
    chunks removed per source (only sources where something was removed) and audits them."""
    removed: dict[str, int] = {}
    for (tenant_id, source), ids in sorted(state.ledger_ids_by_status(PURGED_STATUSES).items()):
        # few ids: one indexed delete each (0 when absent); many: one scroll of what the source holds
        if len(ids) > DIRECT_LIMIT:
            ids = ids & set(index.record_chunk_counts(tenant_id, source))
        deleted = {
            rid: index.delete_record(RecordRef(tenant_id=tenant_id, source=source, record_id=rid))
            for rid in sorted(ids)
        }
        purged = [rid for rid, n in deleted.items() if n]
        if not purged:
            continue
        chunks = sum(deleted.values())
        removed[source] = removed.get(source, 0) + chunks
        state.audit(
            AuditEvent(
                actor="startup",
                action="purge",
                tenant_id=tenant_id,
                source=source,
                details={
                    "reason": "startup_check",
                    "records": len(purged),
                    "record_ids": purged[:100],
                    "chunks": chunks,
                },
            )
        )
    if removed:
        index.flush()
    return removed


def unconfigured_sources(index: IndexStore, configured: Collection[str]) -> dict[str, int]:
    """Sources with chunks in the index that the configuration does not name (chunks per source)."""
    held = index.source_tenants()
    return {name: sum(tenants.values()) for name, tenants in held.items() if name not in configured}
