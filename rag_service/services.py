"""Wiring: build every component once from the settings tree and hand it to the app / CLI."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from ingest.chunking import Chunker
from ingest.embedding import Embedder, make_embedder
from ingest.erasure import replay_suppressions
from ingest.errors import SourceBusyError, UnknownSourceError
from ingest.index.generations import Generations, open_generations
from ingest.index.switchable import SwitchableIndex
from ingest.index_check import purge_unlisted, unconfigured_sources
from ingest.lexical import LexicalEncoder, make_lexical
from ingest.models import RunReport
from ingest.partition import Partition, combine_reports, partitions, split_key
from ingest.partition import keys as partition_keys
from ingest.pipeline import PipelineParts, Progress, Refresher, safe_error
from ingest.privacy import PrivacyLedger, Receipt
from ingest.rebuild import RebuildReport, rebuild, rollback
from ingest.reconcile import ReconcileReport, reconcile
from ingest.retire import retire_source
from ingest.runs import SOURCE_BUSY
from ingest.schedule_store import ScheduleStore
from ingest.scheduler import Schedule, SyncScheduler
from ingest.sources.base import Source
from ingest.sources.registry import build_source
from ingest.state import AuditEvent, StateStore, lock_owner
from policies.consent import ConsentPolicy
from policies.redaction import PresidioRedactor, Redactor
from rag_service.config import Settings
from rag_service.generator import Generator, build_generator
from rag_service.metrics import Metrics

log = logging.getLogger("rag_service.services")

REBUILD_LOCK = "*rebuild"  # not a valid source name: one rebuild at a time


@dataclass
class Services:
    settings: Settings
    state: StateStore
    index: SwitchableIndex
    gens: Generations
    parts: PipelineParts
    embedder: Embedder
    redactor: Redactor
    consent: ConsentPolicy
    chunker: Chunker
    sources: dict[str, Source]
    refresher: Refresher
    privacy: PrivacyLedger
    metrics: Metrics
    scheduler: SyncScheduler | None = None
    generator: Generator | None = None  # settings.generator; None: extractive answers only
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="sync")
    )
    _closed: threading.Event = field(default_factory=threading.Event)

    @property
    def lexical(self) -> LexicalEncoder | None:
        return self.parts.lexical

    def source(self, name: str) -> Source:
        try:
            return self.sources[name]
        except KeyError:
            raise UnknownSourceError(f"no source named {name!r}") from None

    def partition_count(self, name: str) -> int:
        return next((s.partitions for s in self.settings.sources if s.name == name), 1)

    def lock_keys(self, name: str) -> list[str]:
        """The lock (and cursor, schedule, run) names of a source: one per partition."""
        return partition_keys(name, self.partition_count(name))

    def run(
        self,
        name: str,
        *,
        kind: Literal["sync", "reindex"] = "sync",
        actor: str = "scheduler",
        progress: Progress | None = None,
        run_id: str | None = None,
        allow_mass_delete: bool = False,
        partition: int | None = None,
    ) -> RunReport:
        """One partition, or every partition of the source in turn (`run_id`, registered by the
        API, names the first). A partitioned source's report adds up its partitions' runs."""
        source = self.source(name)
        count = self.partition_count(name)
        parts = partitions(count) if partition is None else [Partition(partition, count)]
        reports = [
            self.refresher.run(
                source,
                kind=kind,
                actor=actor,
                progress=progress,
                run_id=run_id if i == 0 else None,
                allow_mass_delete=allow_mass_delete,
                partition=part,
            )
            for i, part in enumerate(parts)
        ]
        return reports[0] if len(reports) == 1 else combine_reports(name, reports)

    @contextmanager
    def _locked(self, name: str, tag: str) -> Iterator[None]:
        """Whole-source work (reconcile, reprocess): holds every partition's lock."""
        owner = lock_owner(f"{tag}:{uuid.uuid4().hex}")
        ttl = timedelta(seconds=self.settings.scheduler.lock_ttl_seconds)
        held: list[str] = []
        try:
            for key in self.lock_keys(name):
                if not self.state.try_lock(key, owner, ttl):
                    raise SourceBusyError(SOURCE_BUSY)
                held.append(key)
            yield
        finally:
            for key in held:
                self.state.unlock(key, owner)

    def reconcile(
        self, name: str, *, confirm: bool = False, actor: str = "scheduler", dry_run: bool = False
    ) -> ReconcileReport:
        source = self.source(name)
        with self._locked(name, "reconcile"):
            return reconcile(
                source,
                self.state,
                self.index,
                max_delete_share=self.settings.reconcile.max_delete_share,
                min_records=self.settings.reconcile.guard_min_records,
                confirm=confirm,
                actor=actor,
                dry_run=dry_run,
                reprocess=lambda ids, force: self.refresher.reprocess(
                    source, list(ids), actor=actor, force=force, kind="reindex_record"
                ),
            )

    def retire_source(self, name: str, *, actor: str) -> list[Receipt]:
        """Purge a source the configuration no longer names (ingest/retire.py), holding its lock."""
        owner = lock_owner(f"retire:{uuid.uuid4().hex}")
        ttl = timedelta(seconds=self.settings.scheduler.lock_ttl_seconds)
        if not self.state.try_lock(name, owner, ttl):
            raise SourceBusyError("a sync or reindex of this source is running")
        try:
            return retire_source(
                self.state,
                self.privacy,
                self.index,
                source=name,
                configured=self.settings.source(name) is not None,
                actor=actor,
            )
        finally:
            self.state.unlock(name, owner)

    def reindex_record(
        self, name: str, record_id: str, *, actor: str, run_id: str | None = None
    ) -> RunReport:
        try:
            with self._locked(name, "reindex_record"):
                return self.refresher.reindex_record(self.source(name), record_id, actor=actor, run_id=run_id)
        except SourceBusyError:
            if run_id is not None:  # registered by the API: it ends now, not "running" forever
                self.state.end_run(run_id, status="failed", error=SOURCE_BUSY)
            raise

    def stale_records(self, name: str) -> list[str]:
        return self.refresher.stale_record_ids(name, self.consent.version)

    def reprocess_stale(self, name: str, *, actor: str, limit: int | None = None) -> RunReport | None:
        """Records indexed under an older redaction policy, detector, model, chunker or consent policy
        are processed again (re-embedded only where the text or model changed)."""
        ids = self.stale_records(name)[:limit]
        if not ids:
            return None
        with self._locked(name, "reprocess_stale"):
            return self.refresher.reprocess(
                self.source(name), ids, actor=actor, force=False, kind="reprocess_stale"
            )

    def begin_rebuild(self, *, actor: str) -> str:
        """Register a rebuild run and take the rebuild lock, or raise SourceBusyError (the run is
        then recorded as failed). The caller hands the run id to `rebuild`, which releases it."""
        run_id = self.state.start_run(source="*", kind="rebuild", actor=actor)
        ttl = timedelta(seconds=self.settings.scheduler.lock_ttl_seconds)
        if not self.state.try_lock(REBUILD_LOCK, lock_owner(f"rebuild:{run_id}"), ttl):
            busy = "a rebuild is already running"
            self.state.end_run(run_id, status="failed", error=busy)
            raise SourceBusyError(busy)
        return run_id

    def rebuild(self, *, actor: str, run_id: str | None = None) -> RebuildReport:
        """Blue/green: build, verify, swap; the previous generation stays for rollback. The run
        ends "succeeded" on a swap, "failed" otherwise (with the failed checks)."""
        run_id = run_id or self.begin_rebuild(actor=actor)
        error: str | None = "failed"
        try:
            report = rebuild(
                gens=self.gens,
                live=self.index,
                parts=self.parts,
                sources=list(self.sources.values()),
                canaries=self.settings.rebuild.canaries,
                actor=actor,
                lock_keys=self._all_lock_keys(),
                optimize=self.settings.rebuild.optimize,
            )
            failed = [c.name for c in report.checks if not c.ok]
            error = None if report.status == "swapped" else f"{report.status}: {', '.join(failed)}"[:1000]
            return report
        except Exception as exc:
            error = safe_error(exc)
            raise
        finally:
            self.state.end_run(run_id, status="failed" if error else "succeeded", error=error)
            self.state.unlock(REBUILD_LOCK, lock_owner(f"rebuild:{run_id}"))

    def rollback(self, *, actor: str) -> RebuildReport:
        return rollback(
            gens=self.gens,
            live=self.index,
            parts=self.parts,
            sources=list(self.sources.values()),
            actor=actor,
            lock_keys=self._all_lock_keys(),
        )

    def _all_lock_keys(self) -> list[str]:
        return [key for name in self.sources for key in self.lock_keys(name)]

    def run_due(self, worker: str) -> int:
        """Worker tick: claim and run due sources until none is due (shared schedule, one firing
        per run across all workers). Returns how many runs this worker did."""
        store = ScheduleStore(self.state.engine)
        done = 0
        while not self._closed.is_set():
            key = store.claim_due(worker, datetime.now(UTC))
            if key is None:
                return done
            name, partition = split_key(key)
            if name not in self.sources or key not in self.lock_keys(name):
                continue  # a row of another configuration (renamed, re-partitioned); now not due
            try:
                self.run(name, actor=f"worker:{worker}", partition=partition)
                if not partition:  # stale records are whole-source work: partition 0 triggers it
                    self.reprocess_stale(
                        name, actor=f"worker:{worker}", limit=self.settings.reconcile.reprocess_batch
                    )
            except SourceBusyError:
                pass  # someone (an admin reindex) holds the source; the next interval retries
            done += 1
        return done

    def start_worker(self, worker: str, tick_seconds: int) -> None:
        """Scheduler for a worker process: one tick job that claims due work from the shared schedule."""
        enabled = [s for s in self.settings.sources if s.enabled]
        ScheduleStore(self.state.engine).ensure(
            [(key, s.interval_seconds) for s in enabled for key in self.lock_keys(s.name)],
            datetime.now(UTC),
        )
        self.scheduler = SyncScheduler(
            [Schedule("tick", tick_seconds, jitter_seconds=0)], lambda _: self.run_due(worker)
        )
        self.scheduler.start()

    def submit(self, fn: Callable[[], object], *, run_id: str | None = None) -> Future[object]:
        """Run in the background. A failure is logged and ends the run `run_id` (if it is still
        running) as failed, so no submitted run stays "running"."""

        def guarded() -> object:
            try:
                return fn()
            except Exception as exc:
                log.warning(
                    "background job failed", extra={"run_id": run_id, "error_type": type(exc).__name__}
                )
                if run_id is not None:
                    error = SOURCE_BUSY if isinstance(exc, SourceBusyError) else safe_error(exc)
                    self.state.end_run(run_id, status="failed", error=error)
                return None

        return self._pool.submit(guarded)

    def start_scheduler(self) -> None:
        enabled = [s for s in self.settings.sources if s.enabled]
        every = self.settings.reconcile.interval_seconds
        schedules = [Schedule(s.name, s.interval_seconds) for s in enabled]
        schedules += [
            Schedule(f"reconcile:{s.name}", getattr(s, "reconcile_interval_seconds", None) or every)
            for s in enabled
        ]

        def job(name: str) -> None:
            try:
                if name.startswith("reconcile:"):
                    self.reconcile(name.removeprefix("reconcile:"), actor="scheduler")
                else:
                    self.run(name, actor="scheduler")
                    self.reprocess_stale(
                        name, actor="scheduler", limit=self.settings.reconcile.reprocess_batch
                    )
            except Exception as exc:  # a busy source is fine: the next tick retries
                log.warning(
                    "scheduled sync skipped", extra={"source": name, "error_type": type(exc).__name__}
                )

        self.scheduler = SyncScheduler(schedules, job)
        self.scheduler.start()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self.parts.stop is not None:
            self.parts.stop.set()  # runs in flight finish their current page, then stop
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
        self._pool.shutdown(wait=True)  # in-flight pages finish; nothing half-written
        self.index.close()
        self.state.close()
        if self.generator is not None:
            self.generator.close()


def note_versions(state: StateStore, current: dict[str, str]) -> bool:
    """Append a policy_change audit event when policies, detector, model or chunker differ from the
    last recorded ones. Affected records are then re-processed by reprocess_stale."""
    last = state.list_audit(action="versions", limit=1)
    previous = last[0]["details"] if last else None
    if previous == current:
        return False
    if previous is not None:
        changed = sorted(k for k in current if previous.get(k) != current[k])
        state.audit(
            AuditEvent(
                actor="system",
                action="policy_change",
                details={
                    "changed": changed,
                    "before": {k: previous.get(k) for k in changed},
                    "after": {k: current[k] for k in changed},
                },
            )
        )
    state.audit(AuditEvent(actor="system", action="versions", details=current))
    return True


def build_services(
    settings: Settings, *, embedder: Embedder | None = None, redactor: Redactor | None = None
) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    consent = ConsentPolicy.from_file(settings.policies.consent)
    redactor = redactor or PresidioRedactor.from_file(settings.policies.redaction)
    embedder = embedder or make_embedder(settings.embedding)
    chunker = Chunker(settings.chunking)
    lexical = make_lexical(settings.lexical)
    state = StateStore(settings.state.url)
    abandoned = state.abandon_orphan_runs()  # runs of a process that died stay "running" no more
    if abandoned:
        log.warning("runs of a dead process marked abandoned", extra={"runs": abandoned})
    gens = open_generations(settings.index, embedder.dimension, settings.data_dir / "index-generations")
    index = SwitchableIndex(gens.open_live(), gens.pointer().live)
    privacy = PrivacyLedger(state.engine)
    metrics = Metrics(state, index, [cfg.name for cfg in settings.sources])
    replayed = replay_suppressions(privacy, index)  # an old index restored: erased stays erased
    if replayed:
        log.warning("suppressed chunks removed at startup", extra={"chunks": replayed})
    for name, chunks in purge_unlisted(state, index).items():  # ... and deleted stays deleted
        log.warning("deleted or excluded records purged at startup", extra={"source": name, "chunks": chunks})
    unconfigured = unconfigured_sources(index, [cfg.name for cfg in settings.sources])
    for name, chunks in sorted(unconfigured.items()):
        log.warning(
            "the index holds a source the configuration does not name; retire it to purge it",
            extra={"source": name, "chunks": chunks},
        )
    parts = PipelineParts(
        state=state,
        index=index,
        embedder=embedder,
        redactor=redactor,
        consent=consent,
        chunker=chunker,
        privacy=privacy,
        lexical=lexical,
        lock_ttl=timedelta(seconds=settings.scheduler.lock_ttl_seconds),
        max_delete_share=settings.reconcile.max_delete_share,
        guard_min_records=settings.reconcile.guard_min_records,
        on_run=metrics.observe_run,
        stop=threading.Event(),
        future_skew=timedelta(seconds=settings.ingest.max_future_skew_seconds),
    )
    sources = {cfg.name: build_source(cfg) for cfg in settings.sources}
    note_versions(
        state,
        {
            "redaction_policy": redactor.policy_version,
            "detector": redactor.detector_version,
            "consent_policy": consent.version,
            "model": embedder.model_id,
            "chunker": chunker.signature,
            "lexical": lexical.signature if lexical is not None else "off",
        },
    )
    return Services(
        settings=settings,
        state=state,
        index=index,
        gens=gens,
        parts=parts,
        embedder=embedder,
        redactor=redactor,
        consent=consent,
        chunker=chunker,
        sources=sources,
        refresher=Refresher(parts),
        privacy=privacy,
        metrics=metrics,
        generator=build_generator(settings.generator),
    )
