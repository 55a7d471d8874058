"""Runs jobs (ingest/jobs/model.py): on demand for the API and the CLI, on schedule for `serve` and
`worker` (one path: claim due jobs from the shared schedule, run each under its locks). Every
job that starts a run ends it in a final state; every lock is taken through ingest/store/locks.py."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from ingest.config import FoldInConfig, ReconcileConfig, SourceConfig
from ingest.errors import SourceBusyError, UnknownSourceError
from ingest.governance.retire import retire_source
from ingest.index.generations import Generations
from ingest.index.switchable import SwitchableIndex
from ingest.jobs.fold_in import FoldInJob
from ingest.jobs.model import EVERY_SOURCE, Job, JobKind, JobSchedule, job_schedules
from ingest.jobs.rebuild import Canary, RebuildReport, rebuild, rollback
from ingest.jobs.reconcile import ReconcileReport, reconcile
from ingest.jobs.scheduler import TickScheduler
from ingest.jobs.schedules import ScheduleStore
from ingest.models import RunReport
from ingest.partition import Partition, combine_reports, partitions, split_key
from ingest.partition import keys as partition_keys
from ingest.pipeline import PipelineParts, Progress, Refresher, safe_error
from ingest.sources.base import Source
from ingest.store.locks import REBUILD_BUSY, REBUILD_LOCK, locked
from ingest.store.privacy import Receipt
from ingest.store.runs import SOURCE_BUSY, lock_owner
from ingest.timeutil import utcnow

log = logging.getLogger("ingest.jobs.runner")


@dataclass(frozen=True, slots=True)
class JobSettings:
    """The settings jobs need, taken from the one settings tree by the wiring."""

    sources: tuple[SourceConfig, ...]
    reconcile: ReconcileConfig
    lock_ttl: timedelta
    consent_version: str
    canaries: tuple[Canary, ...] = ()
    optimize: bool = True
    rebuild_interval_seconds: int | None = None
    fold_in: FoldInConfig | None = None  # the embedded (edge) index only


class JobRunner:
    def __init__(
        self,
        *,
        parts: PipelineParts,
        index: SwitchableIndex,
        gens: Generations,
        sources: dict[str, Source],
        settings: JobSettings,
    ) -> None:
        self.parts = parts
        self.state = parts.state
        self.index = index
        self.gens = gens
        self.sources = sources
        self.settings = settings
        self.refresher = Refresher(parts)
        self.scheduler: TickScheduler | None = None
        self.fold_in = (
            FoldInJob(index=index, runs=parts.state, config=settings.fold_in, on_run=parts.on_run)
            if settings.fold_in is not None
            else None
        )

    # ---------------------------------------------------------------- names and locks

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

    def all_lock_keys(self) -> list[str]:
        return [key for name in self.sources for key in self.lock_keys(name)]

    def _locked(self, name: str, tag: str) -> AbstractContextManager[str]:
        return locked(self.state, self.lock_keys(name), tag=tag, ttl=self.settings.lock_ttl)

    # ---------------------------------------------------------------- jobs on demand

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
        API, names the first). Each partition's run holds that partition's lock (the pipeline
        takes it through `locked`). A partitioned source's report adds up its partitions' runs."""
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

    def reconcile(
        self, name: str, *, confirm: bool = False, actor: str = "scheduler", dry_run: bool = False
    ) -> ReconcileReport:
        """Holds every partition's lock. A run that changes nothing (dry_run) records nothing;
        every other run is a job run of kind reconcile with an audit event, clean or not."""
        source = self.source(name)
        with self._locked(name, "reconcile"):
            run_id = None if dry_run else self.state.start_run(source=name, kind="reconcile", actor=actor)
            started = utcnow()
            try:
                report = reconcile(
                    source,
                    self.state,
                    self.index,
                    max_delete_share=self.settings.reconcile.max_delete_share,
                    min_records=self.settings.reconcile.guard_min_records,
                    confirm=confirm,
                    actor=actor,
                    dry_run=dry_run,
                    run_id=run_id,
                    reprocess=lambda ids, force: self.refresher.reprocess(
                        source, list(ids), actor=actor, force=force, kind="reindex_record"
                    ),
                )
            except Exception as exc:
                if run_id is not None:
                    self.state.end_run(run_id, status="failed", error=safe_error(exc))
                raise
            if run_id is not None:
                self._finish_reconcile(run_id, report, started)
            return report

    def _finish_reconcile(self, run_id: str, report: ReconcileReport, started: datetime) -> None:
        blocked = report.status == "needs_confirmation"
        done = RunReport(
            run_id=run_id,
            source=report.source,
            kind="reconcile",
            status="failed" if blocked else "succeeded",
            started_at=started,
            finished_at=utcnow(),
            counts={
                "live_records": report.live_records,
                "stale": report.stale_records,
                "orphans": report.orphan_records,
                "missing": report.missing_records,
                "unindexed": report.unindexed_records,
                "changed": report.changed_records,
                "chunks_deleted": report.chunks_deleted,
                "reprocessed": report.reprocessed,
            },
            error=f"needs confirmation: would delete {report.delete_share:.0%} of the source's records"
            if blocked
            else None,
        )
        self.state.finish_run(done)
        if self.parts.on_run is not None:
            self.parts.on_run(done)

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
        return self.refresher.stale_record_ids(name, self.settings.consent_version)

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

    def retire_source(self, name: str, *, actor: str, configured: bool) -> list[Receipt]:
        """Purge a source the configuration no longer names (governance/retire.py), holding its locks."""
        with locked(
            self.state,
            self.lock_keys(name),
            tag="retire",
            ttl=self.settings.lock_ttl,
            busy="a sync or reindex of this source is running",
        ):
            return retire_source(
                self.state, self.parts.privacy, self.index, source=name, configured=configured, actor=actor
            )

    def begin_rebuild(self, *, actor: str) -> str:
        """Register a rebuild run and take the rebuild lock, or raise SourceBusyError (the run is
        then recorded as failed). The caller hands the run id to `rebuild`, which releases it."""
        run_id = self.state.start_run(source=EVERY_SOURCE, kind=JobKind.REBUILD.value, actor=actor)
        if not self.state.try_lock(REBUILD_LOCK, lock_owner(f"rebuild:{run_id}"), self.settings.lock_ttl):
            self.state.end_run(run_id, status="failed", error=REBUILD_BUSY)
            raise SourceBusyError(REBUILD_BUSY)
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
                canaries=self.settings.canaries,
                actor=actor,
                lock_keys=self.all_lock_keys(),
                optimize=self.settings.optimize,
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
        """Holds the rebuild lock: no rebuild swaps while a rollback moves the pointer back."""
        with locked(
            self.state, [REBUILD_LOCK], tag="rollback", ttl=self.settings.lock_ttl, busy=REBUILD_BUSY
        ):
            return rollback(
                gens=self.gens,
                live=self.index,
                parts=self.parts,
                sources=list(self.sources.values()),
                actor=actor,
                lock_keys=self.all_lock_keys(),
            )

    # ---------------------------------------------------------------- scheduled jobs

    def plan(self) -> list[JobSchedule]:
        fold_in = self.settings.fold_in
        return job_schedules(
            self.settings.sources,
            self.settings.reconcile,
            rebuild_interval_seconds=self.settings.rebuild_interval_seconds,
            fold_in_check_seconds=fold_in.check_seconds if fold_in is not None and fold_in.enabled else None,
        )

    def execute(self, job: Job, *, actor: str) -> object:
        """Run one job of any kind (the scheduler's one entry point)."""
        name, partition = split_key(job.target)
        match job.kind:
            case JobKind.SYNC:
                return self.run(name, actor=actor, partition=partition)
            case JobKind.REINDEX:
                return self.run(name, kind="reindex", actor=actor)
            case JobKind.RECORD_REINDEX:
                if job.record_id is None:
                    raise ValueError("a record reindex job names its record")
                return self.reindex_record(name, job.record_id, actor=actor)
            case JobKind.RECONCILE:
                return self.reconcile(name, actor=actor)
            case JobKind.REPROCESS_STALE:
                return self.reprocess_stale(name, actor=actor, limit=self.settings.reconcile.reprocess_batch)
            case JobKind.REBUILD:
                return self.rebuild(actor=actor)
            case JobKind.FOLD_IN:  # starts one in the background when due; returns at once
                return self.fold_in.check(actor=actor) if self.fold_in is not None else None

    def run_due(self, worker: str, *, retry_seconds: int = 5, actor: str | None = None) -> int:
        """One tick: claim and run due jobs until none is due (one firing per run across every
        process sharing the state store). A job whose source is busy is due again after
        `retry_seconds`. Returns how many jobs this process ran."""
        store = ScheduleStore(self.state.engine)
        planned = {entry.job for entry in self.plan()}
        done = 0
        stop = self.parts.stop
        while stop is None or not stop.is_set():
            job = store.claim_due(worker, datetime.now(UTC))
            if job is None:
                return done
            if job not in planned:
                continue  # a row of another configuration (renamed, re-partitioned); now not due
            try:
                self.execute(job, actor=actor or f"worker:{worker}")
            except SourceBusyError:
                store.defer(job, datetime.now(UTC) + timedelta(seconds=retry_seconds))
            except Exception as exc:  # the job's run records the failure; the schedule goes on
                log.warning(
                    "scheduled job failed",
                    extra={"kind": job.kind.value, "target": job.target, "error_type": type(exc).__name__},
                )
            done += 1
        return done

    def start(
        self, worker: str, tick_seconds: int, *, sync_at_once: bool, actor: str | None = None
    ) -> TickScheduler:
        """Register this configuration's schedule in the state store and tick. `sync_at_once`:
        new sync jobs are due now (a worker), else one interval from now (`serve`). Runs are
        recorded with `actor` (default "worker:<worker>")."""
        ScheduleStore(self.state.engine).ensure(
            self.plan(), datetime.now(UTC), at_once=(JobKind.SYNC,) if sync_at_once else ()
        )
        self.scheduler = TickScheduler(
            tick_seconds,
            lambda: self.run_due(worker, retry_seconds=tick_seconds, actor=actor),
            name=worker,
        )
        self.scheduler.start()
        return self.scheduler
