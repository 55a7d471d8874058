"""Deletion reconciliation: compare the source's live ids with the ledger and with what the index
actually holds; remove stale chunks; report index completeness. A mass-deletion guard stops a run
that would delete more than a configured share of a source's records until an admin confirms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ingest.index.base import IndexStore
from ingest.models import RecordRef
from ingest.sources.base import Source
from ingest.state import AuditEvent, StateStore


class ReconcileReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str
    status: Literal["clean", "repaired", "needs_confirmation"]
    live_records: int
    expected_indexed: int  # live records the ledger says are indexed
    stale_records: int  # indexed per the ledger but gone from the source
    orphan_records: int  # chunks in the index the ledger does not account for
    missing_records: int  # ledger says indexed, index holds fewer chunks than recorded
    chunks_deleted: int
    reprocessed: int
    delete_share: float
    completeness_before: float  # share of expected records fully present in the index
    completeness_after: float


def _completeness(expected: dict[str, int], held: dict[str, int]) -> float:
    if not expected:
        return 1.0
    ok = sum(1 for rid, n in expected.items() if held.get(rid, 0) == n)
    return round(ok / len(expected), 4)


def reconcile(
    source: Source,
    state: StateStore,
    index: IndexStore,
    *,
    max_delete_share: float,
    confirm: bool,
    min_records: int = 0,
    actor: str,
    reprocess: Callable[[str], object] | None = None,
) -> ReconcileReport:
    live = set(source.live_ids())
    entries = {e.record_id: e for e in state.ledger_for_source(source.name)}
    indexed = {rid: e.chunk_count for rid, e in entries.items() if e.status == "indexed"}
    held = index.record_chunk_counts(source.tenant_id, source.name)
    expected = {rid: n for rid, n in indexed.items() if rid in live}
    stale = set(indexed) - live  # the ledger believed these indexed; the source no longer has them
    orphans = set(held) - set(indexed)  # in the index, unaccounted for: always removed (fail closed)
    missing = {rid for rid, n in expected.items() if held.get(rid, 0) != n}
    before = _completeness(expected, held)
    share = round(len(stale) / max(1, len(indexed)), 4)

    def report(
        status: Literal["clean", "repaired", "needs_confirmation"], deleted: int, redone: int, after: float
    ) -> ReconcileReport:
        return ReconcileReport(
            source=source.name,
            status=status,
            live_records=len(live),
            expected_indexed=len(expected),
            stale_records=len(stale),
            orphan_records=len(orphans),
            missing_records=len(missing),
            chunks_deleted=deleted,
            reprocessed=redone,
            delete_share=share,
            completeness_before=before,
            completeness_after=after,
        )

    if share > max_delete_share and len(indexed) >= min_records and not confirm:
        state.audit(
            AuditEvent(
                actor=actor,
                action="mass_deletion_blocked",
                tenant_id=source.tenant_id,
                source=source.name,
                details={"would_delete": len(stale), "share": share, "limit": max_delete_share},
            )
        )
        return report("needs_confirmation", 0, 0, before)
    if not (stale or orphans or missing):
        return report("clean", 0, 0, before)
    deleted = 0
    refs = [
        RecordRef(tenant_id=source.tenant_id, source=source.name, record_id=rid)
        for rid in sorted(stale | orphans)
    ]
    for ref in refs:
        deleted += index.delete_record(ref)
    index.flush()
    state.mark_ledger([r for r in refs if r.record_id in entries], status="deleted", reason="reconciled")
    redone = 0
    if reprocess is not None:
        for rid in sorted(missing):
            reprocess(rid)
            redone += 1
    fresh = {e.record_id: e.chunk_count for e in state.ledger_for_source(source.name, status="indexed")}
    after = _completeness(
        {rid: n for rid, n in fresh.items() if rid in live},
        index.record_chunk_counts(source.tenant_id, source.name),
    )
    state.audit(
        AuditEvent(
            actor=actor,
            action="reconcile",
            tenant_id=source.tenant_id,
            source=source.name,
            details={
                "stale": len(stale),
                "orphans": len(orphans),
                "missing": len(missing),
                "chunks_deleted": deleted,
                "completeness_before": before,
                "completeness_after": after,
                "confirmed": confirm,
            },
        )
    )
    return report("repaired", deleted, redone, after)
