"""Refresh one source: pages -> contract -> consent -> redaction -> chunks -> vectors -> index.

The cursor advances only after a page's chunks are durably written (index flush, then one
state-store transaction holding ledger rows, quarantine, audit events and the cursor).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from ingest.errors import SourceBusyError
from ingest.index.base import IndexStore
from ingest.models import (
    Cursor,
    Page,
    RecordFailure,
    RecordRef,
    RunCounts,
    RunReport,
    SourceRecord,
    Tombstone,
)
from ingest.partition import WHOLE, Partition
from ingest.sources.base import Source
from ingest.stages.chunking import Chunker
from ingest.stages.deletion_guard import DeletionGuard
from ingest.stages.embedding import Embedder
from ingest.stages.horizon import within_horizon
from ingest.stages.lexical import LexicalEncoder
from ingest.stages.staging import Stager, stage_page
from ingest.stages.writer import Pending, access_of, ledger_entry, write_pending
from ingest.store.history import history_of
from ingest.store.locks import locked
from ingest.store.privacy import PrivacyLedger, Suppression, contact_keys
from ingest.store.runs import SOURCE_BUSY
from ingest.store.state import AuditEvent, LedgerEntry, StateStore, lock_owner, utcnow
from policies.consent import ConsentPolicy
from policies.models import Admit, Exclude
from policies.redaction import Redactor

log = logging.getLogger("ingest.pipeline")

Progress = Callable[[str, RunCounts], None]
# a test seam: called at named points of every page ("fetched": before its write intents are
# announced, "staged": redacted and embedded, nothing written yet, "committed": state committed,
# intents not yet withdrawn) with the page's record refs; a test can hold a page there
PageHook = Callable[[str, Sequence[RecordRef]], None]


@dataclass(frozen=True, slots=True)
class PipelineParts:
    state: StateStore
    index: IndexStore
    embedder: Embedder
    redactor: Redactor
    consent: ConsentPolicy
    chunker: Chunker
    privacy: PrivacyLedger
    lexical: LexicalEncoder | None = None  # the sparse vector beside the dense one (ingest/stages/lexical.py)
    lock_ttl: timedelta = timedelta(hours=1)
    max_delete_share: float = 0.15
    guard_min_records: int = 20
    on_run: Callable[[RunReport], None] | None = None  # observer (metrics); never raises into a run
    stop: threading.Event | None = None  # set on shutdown: runs end after the page in flight
    page_hook: PageHook | None = None
    future_skew: timedelta = timedelta(minutes=5)  # records dated later are held (ingest/stages/horizon.py)
    stager: Stager | None = None  # where redaction + embedding run (ingest/stages/staging.py); None: here


def safe_error(exc: BaseException) -> str:
    """An error message for job runs and logs that cannot carry record content: validation errors
    keep only field locations, other messages lose anything that looks like an echoed value."""
    if isinstance(exc, ValidationError):
        where = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        return f"ValidationError: {len(exc.errors())} error(s) at {', '.join(where)[:200]}"
    text = re.sub(r"input_value=.*?(?=, input_type|$)", "input_value=<hidden>", str(exc), flags=re.S)
    return f"{type(exc).__name__}: {text[:300]}"


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class Refresher:
    def __init__(self, parts: PipelineParts) -> None:
        self._p = parts

    # -------------------------------------------------------------- fingerprints

    def fingerprint(self, content_hash: str) -> str:
        p = self._p
        return _sha(
            [
                content_hash,
                p.redactor.policy_version,
                p.redactor.detector_version,
                p.embedder.model_id,
                p.chunker.signature,
                *([p.lexical.signature] if p.lexical is not None else []),
            ]
        )

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
            guard = DeletionGuard(p, source.name, allow=allow_mass_delete)
            for full_page in source.pages(cursor=cursor):
                page = self._within_horizon(partition.filter(full_page), cursor)
                cursor = page.next_cursor
                guard.check(page, actor=actor, run_id=run_id)
                self._process_page(
                    source,
                    page,
                    run_id=run_id,
                    actor=actor,
                    counts=counts,
                    force=(kind == "reindex"),
                    cursor_key=key,
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
                self._process_page(
                    source, page, run_id=run_id, actor=actor, counts=counts, force=force, save_cursor=False
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
        source: Source,
        page: Page,
        *,
        run_id: str,
        actor: str,
        counts: RunCounts,
        force: bool,
        save_cursor: bool = True,
        cursor_key: str | None = None,
    ) -> None:
        """The page's records are announced on the write fence before suppressions are read and
        withdrawn only after the commit, so an erasure or revocation racing this page waits for it
        (ingest/store/fence.py) or is seen by it."""
        p = self._p
        refs = [r.ref for r in page.records]
        self._hook("fetched", refs)
        owner = lock_owner(f"page:{run_id}:{uuid.uuid4().hex[:8]}")
        p.privacy.fence.hold(source.tenant_id, [r.key for r in refs], owner, p.lock_ttl)
        try:
            entries = self._write_page(
                source,
                page,
                run_id=run_id,
                actor=actor,
                counts=counts,
                force=force,
                save_cursor=save_cursor,
                cursor_key=cursor_key,
            )
            self._undo_late_suppressions(page.records, entries, counts)
            self._hook("committed", refs)
        finally:
            p.privacy.fence.release(owner)

    def _hook(self, point: str, refs: Sequence[RecordRef]) -> None:
        if self._p.page_hook is not None:
            self._p.page_hook(point, refs)

    def _undo_late_suppressions(
        self, records: Sequence[SourceRecord], entries: Sequence[LedgerEntry], counts: RunCounts
    ) -> None:
        """A suppression committed after this page read them (an erasure or revocation that gave up
        waiting for the page): its records are purged here, so no late write survives."""
        p = self._p
        indexed = {e.ref.key for e in entries if e.status == "indexed"}
        written = [r for r in records if r.ref.key in indexed]
        late = {key: s.reason for key, s in p.privacy.for_refs([r.ref for r in written]).items()}
        erased = self._erased_subjects(written)
        late.update({r.ref.key: "erasure" for r in written if erased & set(contact_keys(r))})
        if not late:
            return
        refs = [r.ref for r in written if r.ref.key in late]
        for ref in refs:
            counts.chunks_deleted += p.index.delete_record(ref)
        p.index.flush()
        for ref in refs:
            reason = late[ref.key]
            p.state.mark_ledger([ref], status="erased" if reason == "erasure" else "excluded", reason=reason)

    def _erased_subjects(self, records: Sequence[SourceRecord]) -> set[str]:
        if not records:
            return set()
        keys = sorted({k for r in records for k in contact_keys(r)})
        return self._p.privacy.erased_subjects(records[0].tenant_id, keys)

    def _write_page(
        self,
        source: Source,
        page: Page,
        *,
        run_id: str,
        actor: str,
        counts: RunCounts,
        force: bool,
        save_cursor: bool,
        cursor_key: str | None,
    ) -> list[LedgerEntry]:
        p = self._p
        counts.pages += 1
        counts.fetched += len(page.records) + len(page.deletions) + len(page.failures)
        refs = [r.ref for r in page.records] + [t.ref for t in page.deletions]
        known = p.state.ledger_get_many(refs)
        entries: list[LedgerEntry] = []
        events: list[AuditEvent] = []
        pending: list[Pending] = []
        failures = list(page.failures)

        for tomb in page.deletions:
            removed = p.index.delete_record(tomb.ref)
            counts.deleted += 1
            counts.chunks_deleted += removed
            prev = known.get(tomb.ref.key)
            if prev is not None:
                entries.append(
                    prev.model_copy(
                        update={
                            "status": "deleted",
                            "reason": "source_deleted",
                            "chunk_count": 0,
                            "last_run_id": run_id,
                        }
                    )
                )
            events.append(
                AuditEvent.for_record(
                    tomb.ref,
                    "delete",
                    actor=actor,
                    run_id=run_id,
                    details={"reason": "source_deleted", "chunks": removed},
                )
            )

        suppressed = p.privacy.for_refs([r.ref for r in page.records])
        erased_subjects = self._erased_subjects(page.records)
        linked: list[SourceRecord] = []
        for record in page.records:
            prev = known.get(record.ref.key)
            suppression = suppressed.get(record.ref.key)
            if suppression is not None and suppression.reason == "erasure":
                # erased: never re-indexed, whatever the source still holds
                counts.suppressed += 1
                counts.chunks_deleted += p.index.delete_record(record.ref)
                continue
            linked.append(record)
            content_hash = record.content_hash()
            fingerprint = self.fingerprint(content_hash)
            if erased_subjects & set(contact_keys(record)):
                # names an erased contact (id, e-mail or phone): not indexed until an admin lifts it
                counts.suppressed += 1
                counts.chunks_deleted += p.index.delete_record(record.ref)
                entries.append(
                    ledger_entry(
                        parts=self._p,
                        record=record,
                        content_hash=content_hash,
                        fingerprint=fingerprint,
                        access_hash="",
                        status="excluded",
                        reason="erased_subject",
                        chunk_count=0,
                        consent_version=p.consent.version,
                        run_id=run_id,
                    )
                )
                continue
            decision = self._decide(record, suppression)
            if isinstance(decision, Exclude):
                counts.excluded += 1
                removed = p.index.delete_record(record.ref)
                if removed or (prev is not None and prev.status == "indexed"):
                    counts.purged += 1
                    counts.chunks_deleted += removed
                    events.append(
                        AuditEvent.for_record(
                            record.ref,
                            "purge",
                            actor=actor,
                            run_id=run_id,
                            details={
                                "reason": decision.reason,
                                "chunks": removed,
                                "consent_policy": decision.policy_version,
                            },
                        )
                    )
                entries.append(
                    ledger_entry(
                        parts=self._p,
                        record=record,
                        content_hash=content_hash,
                        fingerprint=fingerprint,
                        access_hash="",
                        status="excluded",
                        reason=decision.reason,
                        chunk_count=0,
                        consent_version=decision.policy_version,
                        run_id=run_id,
                    )
                )
                continue
            access = access_of(record, decision)
            access_hash = _sha(access)
            if (
                not force
                and prev is not None
                and prev.status == "indexed"
                and prev.fingerprint == fingerprint
            ):
                if prev.access_hash != access_hash:
                    p.index.set_record_payload(record.ref, access)
                    counts.payload_updated += 1
                    events.append(
                        AuditEvent.for_record(
                            record.ref,
                            "payload_update",
                            actor=actor,
                            run_id=run_id,
                            details={"chunks": prev.chunk_count},
                        )
                    )
                else:
                    counts.unchanged += 1
                entries.append(
                    ledger_entry(
                        parts=self._p,
                        record=record,
                        content_hash=content_hash,
                        fingerprint=fingerprint,
                        access_hash=access_hash,
                        status="indexed",
                        reason=None,
                        chunk_count=prev.chunk_count,
                        consent_version=decision.policy_version,
                        run_id=run_id,
                    )
                )
                continue
            pending.append(
                Pending(
                    record,
                    decision,
                    content_hash,
                    fingerprint,
                    access_hash,
                    prev.chunk_count if prev is not None else 0,
                )
            )

        unstaged = stage_page(self._p, pending)
        failed = {id(item) for item, _ in unstaged}
        pending = [item for item in pending if id(item) not in failed]
        for item, exc in unstaged:
            # this record alone could not be redacted, chunked or embedded: quarantined, the page goes on
            failures.append(
                RecordFailure(
                    source=source.name,
                    locator=f"record {item.record.record_id}",
                    record_id=item.record.record_id,
                    reason=f"could not be redacted, chunked or embedded ({type(exc).__name__})",
                    raw_sha256=_sha([item.content_hash, item.record.version]),
                )
            )
        self._hook("staged", [r.ref for r in page.records])
        written = write_pending(
            self._p, pending, run_id=run_id, counts=counts, entries=entries, events=events, actor=actor
        )
        self._count_failures(failures, counts, events, source=source, run_id=run_id, actor=actor)
        p.index.flush()
        p.state.commit_page(
            source=cursor_key or source.name,
            cursor=page.next_cursor if save_cursor else None,
            entries=entries,
            failures=failures,
            events=events,
            run_id=run_id,
            linked=linked,
            history=history_of(entries, events, written),
        )
        return entries

    def _within_horizon(self, page: Page, previous: Cursor | None) -> Page:
        return within_horizon(page, now=utcnow(), skew=self._p.future_skew, previous=previous)

    def _count_failures(
        self,
        failures: Sequence[RecordFailure],
        counts: RunCounts,
        events: list[AuditEvent],
        *,
        source: Source,
        run_id: str,
        actor: str,
    ) -> None:
        """A failure the quarantine already holds unchanged is not counted (or audited) again."""
        if not failures:
            return
        known = self._p.state.quarantine_known(failures)
        counts.quarantine_unchanged += known
        counts.quarantined += len(failures) - known
        if known == len(failures):
            return
        events.append(
            AuditEvent(
                actor=actor,
                action="quarantine",
                tenant_id=source.tenant_id,
                source=source.name,
                run_id=run_id,
                details={
                    "count": len(failures),
                    "new": len(failures) - known,
                    "locators": [f.locator for f in failures[:100]],
                    "record_ids": [f.record_id for f in failures[:100] if f.record_id],
                },
            )
        )

    def _decide(self, record: SourceRecord, suppression: Suppression | None) -> Admit | Exclude:
        """Consent policy, plus a revocation received through the API. The revocation stands,
        whatever else the source edits, until the source's consent value itself changes after the
        revocation (the value first seen after it is the baseline), or an admin lifts it."""
        p = self._p
        decision = p.consent.decide(record.consent)
        if suppression is None:
            return decision
        if p.privacy.consent_changed(record, utcnow()):
            p.privacy.lift(record.ref)  # the source's own consent value decides from now on
            return decision
        return Exclude(reason="consent_revoked", policy_version=decision.policy_version)
