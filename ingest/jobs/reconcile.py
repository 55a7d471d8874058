"""Reconciliation: compare what the source holds with the ledger and with what the index actually
holds; remove stale chunks, re-admit what is missing, re-process what changed; report index
completeness. "clean" means the index matches the source: the same live ids and, where the source
can list its records (LiveRecords), the same content. A mass-deletion guard stops a run that
would delete more than a configured share of a source's records until an admin confirms."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from ingest.index.base import IndexStore
from ingest.models import RecordRef, SourceRecord
from ingest.sources.base import Source
from ingest.store.state import AuditEvent, LedgerEntry, StateStore

# ledger states that account for a live record (indexed, or kept out on purpose)
_SETTLED = ("indexed", "excluded", "erased")


@runtime_checkable
class LiveRecords(Protocol):
    """A source that can list the current version of every record cheaply (a drop folder), so
    reconcile compares content, not only ids."""

    def live_records(self) -> Iterator[SourceRecord]: ...


# re-process these record ids; force=True re-embeds even when the fingerprint matches
Reprocess = Callable[[Sequence[str], bool], object]


class ReconcileReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str
    status: Literal["clean", "repaired", "needs_confirmation", "dry_run"]
    live_records: int
    expected_indexed: int  # live records the ledger says are indexed
    stale_records: int  # indexed per the ledger but gone from the source
    orphan_records: int  # chunks in the index the ledger does not account for
    missing_records: int  # ledger says indexed, index holds fewer chunks than recorded
    unindexed_records: int = 0  # live at the source, but the ledger has them deleted or not at all
    changed_records: int = 0  # live content (hash or version) differs from what the ledger recorded
    content_checked: bool = False  # whether the source could list content (LiveRecords)
    chunks_deleted: int
    reprocessed: int
    delete_share: float
    completeness_before: float  # share of live records fully accounted for by ledger and index
    completeness_after: float
    # dry_run only: the record ids whose chunks would be deleted / that would be re-processed
    would_delete: list[str] = []
    would_reprocess: list[str] = []


def _differs(entry: LedgerEntry, record: SourceRecord) -> bool:
    return entry.content_hash != record.content_hash() or entry.version != record.version


def _completeness(
    live: set[str],
    entries: dict[str, LedgerEntry],
    held: dict[str, int],
    records: dict[str, SourceRecord] | None,
) -> float:
    """A live record is accounted for when its ledger row is settled, its content matches (when
    known) and, if indexed, the index holds exactly its chunks."""
    if not live:
        return 1.0
    ok = 0
    for rid in live:
        entry = entries.get(rid)
        if entry is None or entry.status not in _SETTLED:
            continue
        if records is not None and entry.status != "erased" and _differs(entry, records[rid]):
            continue
        if entry.status == "indexed" and held.get(rid, 0) != entry.chunk_count:
            continue
        ok += 1
    return round(ok / len(live), 4)


def reconcile(
    source: Source,
    state: StateStore,
    index: IndexStore,
    *,
    max_delete_share: float,
    confirm: bool,
    min_records: int = 0,
    actor: str,
    reprocess: Reprocess | None = None,
    dry_run: bool = False,
    run_id: str | None = None,
) -> ReconcileReport:
    """Every run but a dry run ends with an audit event: "reconcile" (clean or repaired, with the
    completeness before and after, so the completeness metric reflects the last check) or
    "mass_deletion_blocked"."""
    records = {r.record_id: r for r in source.live_records()} if isinstance(source, LiveRecords) else None
    live = set(records) if records is not None else set(source.live_ids())
    entries = {e.record_id: e for e in state.ledger_for_source(source.name)}
    indexed = {rid: e.chunk_count for rid, e in entries.items() if e.status == "indexed"}
    held = index.record_chunk_counts(source.tenant_id, source.name)
    expected = {rid: n for rid, n in indexed.items() if rid in live}
    stale = set(indexed) - live  # the ledger believed these indexed; the source no longer has them
    orphans = set(held) - set(indexed)  # in the index, unaccounted for: always removed (fail closed)
    missing = {rid for rid, n in expected.items() if held.get(rid, 0) != n}
    # live again (restored at the source after a delete) or never admitted: re-read them
    unindexed = {rid for rid in live if rid not in entries or entries[rid].status not in _SETTLED}
    changed: set[str] = set()
    if records is not None:  # e.g. re-delivered with new text and an older updated_at
        changed = {
            rid
            for rid, rec in records.items()
            if rid in entries
            and entries[rid].status in ("indexed", "excluded")
            and _differs(entries[rid], rec)
        }
    before = _completeness(live, entries, held, records)
    share = round(len(stale) / max(1, len(indexed)), 4)

    def report(
        status: Literal["clean", "repaired", "needs_confirmation", "dry_run"],
        deleted: int,
        redone: int,
        after: float,
    ) -> ReconcileReport:
        return ReconcileReport(
            source=source.name,
            status=status,
            live_records=len(live),
            expected_indexed=len(expected),
            stale_records=len(stale),
            orphan_records=len(orphans),
            missing_records=len(missing),
            unindexed_records=len(unindexed),
            changed_records=len(changed),
            content_checked=records is not None,
            chunks_deleted=deleted,
            reprocessed=redone,
            delete_share=share,
            completeness_before=before,
            completeness_after=after,
        )

    if dry_run:  # lists what would go; nothing is written, not even an audit event
        return report("dry_run", 0, 0, before).model_copy(
            update={
                "would_delete": sorted(stale | orphans),
                "would_reprocess": sorted(missing | unindexed | changed),
            }
        )
    if share > max_delete_share and len(indexed) >= min_records and not confirm:
        state.audit(
            AuditEvent(
                actor=actor,
                action="mass_deletion_blocked",
                tenant_id=source.tenant_id,
                source=source.name,
                run_id=run_id,
                details={"would_delete": len(stale), "share": share, "limit": max_delete_share},
            )
        )
        return report("needs_confirmation", 0, 0, before)
    if not (stale or orphans or missing or unindexed or changed):
        _audit(state, source, actor, run_id, confirm, {}, 0, before, before, clean=True)
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
        if missing:  # the fingerprint matches: only a forced re-index rewrites the chunks
            reprocess(sorted(missing), True)
        again = sorted((unindexed | changed) - missing)
        if again:  # the fingerprint skip keeps this cheap where nothing really changed
            reprocess(again, False)
        redone = len(missing) + len(again)
    fresh = {e.record_id: e for e in state.ledger_for_source(source.name)}
    after = _completeness(live, fresh, index.record_chunk_counts(source.tenant_id, source.name), records)
    found = {"stale": len(stale), "orphans": len(orphans), "missing": len(missing)}
    found |= {"unindexed": len(unindexed), "changed": len(changed)}
    _audit(state, source, actor, run_id, confirm, found, deleted, before, after, clean=False)
    return report("repaired", deleted, redone, after)


def _audit(
    state: StateStore,
    source: Source,
    actor: str,
    run_id: str | None,
    confirm: bool,
    found: dict[str, int],
    deleted: int,
    before: float,
    after: float,
    *,
    clean: bool,
) -> None:
    state.audit(
        AuditEvent(
            actor=actor,
            action="reconcile",
            tenant_id=source.tenant_id,
            source=source.name,
            run_id=run_id,
            details={
                "status": "clean" if clean else "repaired",
                **{k: found.get(k, 0) for k in ("stale", "orphans", "missing", "unindexed", "changed")},
                "chunks_deleted": deleted,
                "completeness_before": before,
                "completeness_after": after,
                "confirmed": confirm,
            },
        )
    )
