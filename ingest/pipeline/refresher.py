"""Refresh one source: pages -> contract -> consent -> redaction -> chunks -> vectors -> index.

The cursor advances only after a page's chunks are durably written (index flush, then one
state-store transaction holding ledger rows, quarantine, audit events and the cursor). Each page
is read, planned (ingest/pipeline/plan.py, pure) and applied (ingest/pipeline/apply.py).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import ValidationError

from ingest.errors import SourceBusyError
from ingest.models import (
    Cursor,
    Page,
    RecordRef,
    RunCounts,
    RunReport,
    SourceRecord,
    Tombstone,
)
from ingest.partition import WHOLE, Partition
from ingest.pipeline.apply import apply_page, read_page, undo_late_suppressions
from ingest.pipeline.parts import PipelineParts, Progress
from ingest.pipeline.plan import fingerprint, plan_page
from ingest.sources.base import Source
from ingest.stages.deletion_guard import DeletionGuard
from ingest.stages.horizon import within_horizon
from ingest.store.locks import locked
from ingest.store.runs import SOURCE_BUSY
from ingest.store.state import AuditEvent, lock_owner, utcnow

log = logging.getLogger("ingest.pipeline")


def safe_error(exc: BaseException) -> str:
    """An error message for job runs and logs that cannot carry record content: validation errors
    keep only field locations, other messages lose anything that looks like an echoed value."""
    if isinstance(exc, ValidationError):
        where = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        return f"ValidationError: {len(exc.errors())} error(s) at {', '.join(where)[:200]}"
    text = re.sub(r"input_value=.*?(?=, input_type|$)", "input_value=<hidden>", str(exc), flags=re.S)
    return f"{type(exc).__name__}: {text[:300]}"


class Refresher:
    def __init__(self, parts: PipelineParts) -> None:
        self._p = parts

    def fingerprint(self, content_hash: str) -> str:
        return fingerprint(content_hash=content_hash, provenance=self._p.provenance)

    # -------------------------------------------------------------- runs

    def run(
        self,
        source: Source,
        *,
        kind: Literal["sync", "reindex"] = "sync",
        actor: str = "scheduler",
        progress: Progress | None = None,
        run_id: str | None = None,
        allow_mass_delete: bool = False,
        partition: Partition = WHOLE,
    ) -> RunReport:
        """Sync (incremental from the saved cursor) or reindex (from scratch, re-embedding all).
        `run_id` names a job run already registered with StateStore.start_run (queued by the API).
        With a partition, only its share of the records is processed, under its own cursor,
        lock and job run (ingest/partition.py)."""
        p = self._p
        key = partition.key(source.name)
        run_id = run_id or p.state.start_run(source=key, kind=kind, actor=actor)
        started = utcnow()
        counts = RunCounts()
        error: str | None = None
        t0 = time.perf_counter()
        try:  # the lock's owner names the run: its refresh is the run's sign of life
            with locked(p.state, [key], tag=kind, ttl=p.lock_ttl, owner=lock_owner(run_id)) as owner:
                error = self._pages(
                    source, key, owner, kind, actor, run_id, counts, progress, allow_mass_delete, partition
                )
        except SourceBusyError:
            self._finish(run_id, key, kind, utcnow(), RunCounts(), SOURCE_BUSY)
            raise
        report = self._finish(run_id, key, kind, started, counts, error)
        log.info(
            "run finished",
            extra={
                "run_id": run_id,
                "source": key,
                "status": report.status,
                "seconds": round(time.perf_counter() - t0, 3),
                **report.counts,
            },
        )
        return report

    def _pages(
        self,
        source: Source,
        key: str,
        owner: str,
        kind: Literal["sync", "reindex"],
        actor: str,
        run_id: str,
        counts: RunCounts,
        progress: Progress | None,
        allow_mass_delete: bool,
        partition: Partition,
    ) -> str | None:
        """The pages of one run, under its lock; returns the error that ended it, if any."""
        p = self._p
        try:
            if kind == "reindex":
                p.state.audit(
                    AuditEvent(actor=actor, action="reindex_source", source=source.name, run_id=run_id)
                )
            cursor = None if kind == "reindex" else p.state.get_cursor(key)
            guard = DeletionGuard(
                state=p.state,
                source=source.name,
                allow=allow_mass_delete,
                max_share=p.max_delete_share,
                min_records=p.guard_min_records,
            )
            for full_page in source.pages(cursor=cursor):
                page = self._within_horizon(partition.filter(full_page), cursor)
                cursor = page.next_cursor
                guard.check(page, actor=actor, run_id=run_id)
                counts.add(
                    self._process_page(
                        source=source,
                        page=page,
                        run_id=run_id,
                        actor=actor,
                        force=kind == "reindex",
                        cursor_key=key,
                    )
                )
                p.state.refresh_lock(key, owner, p.lock_ttl)
                if progress is not None:
                    progress(source.name, counts)
                if p.stop is not None and p.stop.is_set():
                    return "interrupted: the service is shutting down; the next run resumes after this page"
        except Exception as exc:  # the run fails visibly; the cursor stays at the last durable page
            log.error(
                "run failed",
                extra={"run_id": run_id, "source": key, "error_type": type(exc).__name__},
            )
            return safe_error(exc)
        return None

    def reindex_record(
        self, source: Source, record_id: str, *, actor: str, run_id: str | None = None
    ) -> RunReport:
        """Re-read one record from its source and re-process it (re-embedding it)."""
        return self.reprocess(source, [record_id], actor=actor, run_id=run_id, force=True)

    def reprocess(
        self,
        source: Source,
        record_ids: Sequence[str],
        *,
        actor: str,
        force: bool,
        run_id: str | None = None,
        kind: Literal["reindex_record", "reprocess_stale"] = "reindex_record",
    ) -> RunReport:
        """Re-read records from their source and process them again; a record the source no longer
        has is deleted. force=False re-embeds only what the current policies/model change."""
        p = self._p
        run_id = run_id or p.state.start_run(source=source.name, kind=kind, actor=actor)
        started = utcnow()
        counts = RunCounts()
        error: str | None = None
        try:
            for start in range(0, len(record_ids), 100):
                records: list[SourceRecord] = []
                gone: list[Tombstone] = []
                found = source.get_many(record_ids[start : start + 100])  # one batched read
                for rid in record_ids[start : start + 100]:
                    record = found.get(rid)
                    if record is None:
                        ref = RecordRef(tenant_id=source.tenant_id, source=source.name, record_id=rid)
                        gone.append(Tombstone(ref=ref, deleted_at=utcnow()))
                    else:
                        records.append(record)
                p.state.audit(
                    AuditEvent(
                        actor=actor,
                        action=kind,
                        tenant_id=source.tenant_id,
                        source=source.name,
                        run_id=run_id,
                        details={"record_ids": list(record_ids[start : start + 100])},
                    )
                )
                page = Page(records=tuple(records), deletions=tuple(gone), next_cursor=Cursor())
                page = self._within_horizon(page, None)
                counts.add(
                    self._process_page(
                        source=source, page=page, run_id=run_id, actor=actor, force=force, save_cursor=False
                    )
                )
        except Exception as exc:
            error = safe_error(exc)
        return self._finish(run_id, source.name, kind, started, counts, error)

    def stale_record_ids(self, source: str, consent_version: str) -> list[str]:
        """Records processed under another redaction policy, detector, model or chunker (fingerprint),
        or under another consent policy version (their admission may change)."""
        stale: list[str] = []
        for entry in self._p.state.ledger_for_source(source):
            model_or_policy = entry.status == "indexed" and entry.fingerprint != self.fingerprint(
                entry.content_hash
            )
            consent = entry.status in ("indexed", "excluded") and entry.consent_policy != consent_version
            if model_or_policy or consent:
                stale.append(entry.record_id)
        return stale

    def _finish(
        self,
        run_id: str,
        source: str,
        kind: Literal["sync", "reindex", "reindex_record", "reprocess_stale"],
        started: datetime,
        counts: RunCounts,
        error: str | None,
    ) -> RunReport:
        report = RunReport(
            run_id=run_id,
            source=source,
            kind=kind,
            status="failed" if error else "succeeded",
            started_at=started,
            finished_at=utcnow(),
            counts=counts.totals(),
            redacted=dict(sorted(counts.redacted.items())),
            error=error,
        )
        if counts.unaccounted():
            log.error(
                "run counts do not add up",
                extra={"run_id": run_id, "source": source, "unaccounted": counts.unaccounted()},
            )
        self._p.state.finish_run(report)
        if self._p.on_run is not None:
            self._p.on_run(report)
        return report

    # -------------------------------------------------------------- one page

    def _process_page(
        self,
        *,
        source: Source,
        page: Page,
        run_id: str,
        actor: str,
        force: bool,
        save_cursor: bool = True,
        cursor_key: str | None = None,
    ) -> RunCounts:
        """Read, plan, apply; returns the page's tally. The page's records are announced on the
        write fence before suppressions are read and withdrawn only after the commit, so an
        erasure or revocation racing this page waits for it (ingest/store/fence.py) or is seen by
        it (undo_late_suppressions)."""
        p = self._p
        refs = [r.ref for r in page.records]
        self._hook("fetched", refs)
        owner = lock_owner(f"page:{run_id}:{uuid.uuid4().hex[:8]}")
        p.privacy.fence.hold(source.tenant_id, [r.key for r in refs], owner, p.lock_ttl)
        try:
            read = read_page(page=page, state=p.state, privacy=p.privacy, consent=p.consent)
            plan = plan_page(
                page=page,
                read=read,
                provenance=p.provenance,
                source=source.name,
                tenant_id=source.tenant_id,
                run_id=run_id,
                actor=actor,
                force=force,
                cursor_key=cursor_key or source.name,
                save_cursor=save_cursor,
            )
            applied = apply_page(
                plan=plan,
                index=p.index,
                state=p.state,
                privacy=p.privacy,
                parts=p,
                stager=p.stager,
                provenance=p.provenance,
                on_staged=lambda: self._hook("staged", refs),
            )
            counts = applied.counts
            counts.chunks_deleted += undo_late_suppressions(
                records=page.records, entries=applied.entries, index=p.index, state=p.state, privacy=p.privacy
            )
            self._hook("committed", refs)
        finally:
            p.privacy.fence.release(owner)
        return counts

    def _hook(self, point: str, refs: Sequence[RecordRef]) -> None:
        if self._p.page_hook is not None:
            self._p.page_hook(point, refs)

    def _within_horizon(self, page: Page, previous: Cursor | None) -> Page:
        return within_horizon(page, now=utcnow(), skew=self._p.future_skew, previous=previous)
