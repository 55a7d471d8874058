"""Wiring: build every component once from the settings tree and hand it to the app / CLI."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from ingest.errors import SourceBusyError
from ingest.governance.erasure import replay_suppressions
from ingest.index.generations import Generations, open_generations
from ingest.index.switchable import SwitchableIndex
from ingest.jobs.index_check import purge_unlisted, unconfigured_sources
from ingest.jobs.rebuild import RebuildReport
from ingest.jobs.reconcile import ReconcileReport
from ingest.jobs.runner import JobRunner, JobSettings
from ingest.jobs.scheduler import TickScheduler
from ingest.models import RunReport
from ingest.pipeline import PipelineParts, Progress, Refresher, safe_error
from ingest.sources.base import Source
from ingest.sources.registry import build_source
from ingest.stages.chunking import Chunker
from ingest.stages.embedding import Embedder, make_embedder
from ingest.stages.lexical import LexicalEncoder, make_lexical
from ingest.stages.staging import InProcessStager, Stager
from ingest.stages.staging_process import ChildProcessStager, StagerSpec
from ingest.store.privacy import PrivacyLedger, Receipt
from ingest.store.runs import SOURCE_BUSY
from ingest.store.state import AuditEvent, StateStore
from policies.consent import ConsentPolicy
from policies.redaction import PresidioRedactor, Redactor
from rag_service.config import Settings
from rag_service.generator import Generator, build_generator
from rag_service.logs import setup_logging
from rag_service.metrics import Metrics

log = logging.getLogger("rag_service.services")


@dataclass
class Services:
    """Everything built once from the settings. Jobs (syncs, reconcile, reprocess-stale, record
    reindex, rebuild and rollback) run through `jobs` (ingest/jobs/runner.py); the methods below
    hand over to it, so the API, the CLI, `serve` and `worker` take one path."""

    settings: Settings
    state: StateStore
    index: SwitchableIndex
    gens: Generations
    embedder: Embedder
    redactor: Redactor
    consent: ConsentPolicy
    chunker: Chunker
    sources: dict[str, Source]
    jobs: JobRunner
    privacy: PrivacyLedger
    metrics: Metrics
    generator: Generator | None = None  # settings.generator; None: extractive answers only
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="sync")
    )
    _closed: threading.Event = field(default_factory=threading.Event)

    @property
    def lexical(self) -> LexicalEncoder | None:
        return self.parts.lexical

    @property
    def parts(self) -> PipelineParts:
        return self.jobs.parts

    @parts.setter
    def parts(self, parts: PipelineParts) -> None:  # tests hold a rebuild's pages at named points
        self.jobs.parts = parts

    @property
    def refresher(self) -> Refresher:
        return self.jobs.refresher

    @refresher.setter
    def refresher(self, refresher: Refresher) -> None:  # tests hold pages at named points
        self.jobs.refresher = refresher

    @property
    def scheduler(self) -> TickScheduler | None:
        return self.jobs.scheduler

    def source(self, name: str) -> Source:
        return self.jobs.source(name)

    def lock_keys(self, name: str) -> list[str]:
        return self.jobs.lock_keys(name)

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
        return self.jobs.run(
            name,
            kind=kind,
            actor=actor,
            progress=progress,
            run_id=run_id,
            allow_mass_delete=allow_mass_delete,
            partition=partition,
        )

    def reconcile(
        self, name: str, *, confirm: bool = False, actor: str = "scheduler", dry_run: bool = False
    ) -> ReconcileReport:
        return self.jobs.reconcile(name, confirm=confirm, actor=actor, dry_run=dry_run)

    def retire_source(self, name: str, *, actor: str) -> list[Receipt]:
        return self.jobs.retire_source(name, actor=actor, configured=self.settings.source(name) is not None)

    def reindex_record(
        self, name: str, record_id: str, *, actor: str, run_id: str | None = None
    ) -> RunReport:
        return self.jobs.reindex_record(name, record_id, actor=actor, run_id=run_id)

    def stale_records(self, name: str) -> list[str]:
        return self.jobs.stale_records(name)

    def reprocess_stale(self, name: str, *, actor: str, limit: int | None = None) -> RunReport | None:
        return self.jobs.reprocess_stale(name, actor=actor, limit=limit)

    def begin_rebuild(self, *, actor: str) -> str:
        return self.jobs.begin_rebuild(actor=actor)

    def rebuild(self, *, actor: str, run_id: str | None = None) -> RebuildReport:
        return self.jobs.rebuild(actor=actor, run_id=run_id)

    def rollback(self, *, actor: str) -> RebuildReport:
        return self.jobs.rollback(actor=actor)

    def start_worker(self, worker: str, tick_seconds: int | None = None) -> None:
        """`crm-rag worker`: the shared schedule, new syncs due at once."""
        self.jobs.start(worker, tick_seconds or self.settings.scheduler.tick_seconds, sync_at_once=True)

    def start_scheduler(self) -> None:
        """`serve` with its scheduler: the same schedule and tick as a worker."""
        worker = f"serve-{socket.gethostname()}-{os.getpid()}"
        self.jobs.start(worker, self.settings.scheduler.tick_seconds, sync_at_once=False, actor="scheduler")

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

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self.parts.stop is not None:
            self.parts.stop.set()  # runs in flight finish their current page, then stop
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
        self._pool.shutdown(wait=True)  # in-flight pages finish; nothing half-written
        if self.parts.stager is not None:
            self.parts.stager.close()
        self.index.close()  # a fold-in in flight stops its child and discards its copy
        if self.jobs.fold_in is not None:
            self.jobs.fold_in.wait(timeout=60)  # ... and records its run before the state store closes
        self.state.close()
        if self.generator is not None:
            self.generator.close()


def job_settings(settings: Settings, consent_version: str) -> JobSettings:
    """The part of the settings tree that jobs read."""
    return JobSettings(
        sources=settings.sources,
        reconcile=settings.reconcile,
        lock_ttl=timedelta(seconds=settings.scheduler.lock_ttl_seconds),
        consent_version=consent_version,
        canaries=settings.rebuild.canaries,
        optimize=settings.rebuild.optimize,
        rebuild_interval_seconds=settings.rebuild.interval_seconds,
        fold_in=settings.index.fold_in if settings.index.backend == "edge" else None,
    )


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


def make_stager(settings: Settings, *, serving: bool, own_parts: bool) -> Stager | None:
    """Where syncs stage their pages (ingest.staging: auto is a child process for `serve`).
    `own_parts`: the redactor and embedder are built from the settings (not handed in by a
    test), which a child process needs, as it builds its own from the same settings."""
    mode = settings.ingest.staging
    if mode == "auto":
        mode = "child_process" if serving and own_parts else "in_process"
    if mode == "child_process":
        if not own_parts:
            raise ValueError(
                "ingest.staging: child_process builds its own redactor and embedder from the settings"
            )
        spec = StagerSpec(
            redaction_policy=settings.policies.redaction,
            embedding=settings.embedding,
            chunking=settings.chunking,
            lexical=settings.lexical,
            nice=settings.ingest.staging_nice,
            log_setup=setup_logging,
            log_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()),
        )
        return ChildProcessStager(spec, timeout=settings.ingest.staging_timeout_seconds)
    ingest = settings.embedding.for_role("ingest")
    if own_parts and ingest != settings.embedding.for_role("query"):
        return InProcessStager(make_embedder(ingest))  # ingest's own ONNX session and threads
    return None


def build_services(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    redactor: Redactor | None = None,
    qdrant_client: object | None = None,
    serving: bool = False,
) -> Services:
    """`qdrant_client`: share one client between several services in one process (tests of two
    instances over one qdrant-client backend); by default each builds its own from the settings.
    `serving`: built for `crm-rag serve` (ingest.staging: auto stages in a child process)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    consent = ConsentPolicy.from_file(settings.policies.consent)
    # first: a child process loads its models while this one loads its own
    stager = make_stager(settings, serving=serving, own_parts=embedder is None and redactor is None)
    try:
        return _build(settings, consent, stager, embedder, redactor, qdrant_client)
    except BaseException:
        if stager is not None:
            stager.close()
        raise


def _build(
    settings: Settings,
    consent: ConsentPolicy,
    stager: Stager | None,
    embedder: Embedder | None,
    redactor: Redactor | None,
    qdrant_client: object | None,
) -> Services:
    redactor = redactor or PresidioRedactor.from_file(settings.policies.redaction)
    embedder = embedder or make_embedder(settings.embedding.for_role("query"))
    chunker = Chunker(settings.chunking)
    lexical = make_lexical(settings.lexical)
    state = StateStore(settings.state.url)
    abandoned = state.abandon_orphan_runs()  # runs of a process that died stay "running" no more
    if abandoned:
        log.warning("runs of a dead process marked abandoned", extra={"runs": abandoned})
    lock_ttl = timedelta(seconds=settings.scheduler.lock_ttl_seconds)
    try:  # the live generation: recorded in the state store (the first one created under the rebuild lock)
        gens = open_generations(
            settings.index,
            embedder.dimension,
            state,
            legacy_root=settings.data_dir / "index-generations",
            lock_ttl=lock_ttl,
            client=qdrant_client,
        )
        index = SwitchableIndex(gens.open_live(), gens.pointer().live)
    except Exception:
        state.close()
        raise
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
        lock_ttl=lock_ttl,
        max_delete_share=settings.reconcile.max_delete_share,
        guard_min_records=settings.reconcile.guard_min_records,
        on_run=metrics.observe_run,
        stop=threading.Event(),
        future_skew=timedelta(seconds=settings.ingest.max_future_skew_seconds),
        stager=stager,
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
        embedder=embedder,
        redactor=redactor,
        consent=consent,
        chunker=chunker,
        sources=sources,
        jobs=JobRunner(
            parts=parts,
            index=index,
            gens=gens,
            sources=sources,
            settings=job_settings(settings, consent.version),
        ),
        privacy=privacy,
        metrics=metrics,
        generator=build_generator(settings.generator),
    )
