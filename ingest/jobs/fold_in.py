"""The fold-in job: when the live embedded index has enough new points (or they have waited long
enough), index them in the background (ingest/index/fold_in.py) and record it as a job run of
kind `fold_in`. The scheduled check returns at once; the fold-in runs on its own thread, so the
syncs behind it in the schedule are not held up."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ingest.config import FoldInConfig
from ingest.errors import StoreBusyError
from ingest.index.fold_in import FoldInReport, MaintenanceStatus, fold_in_due
from ingest.index.optimize import optimize_in_subprocess
from ingest.index.switchable import SwitchableIndex
from ingest.jobs.model import EVERY_SOURCE
from ingest.models import RunReport
from ingest.store.runs import RunsAndLocks
from ingest.timeutil import utcnow

log = logging.getLogger("ingest.jobs.fold_in")


@runtime_checkable
class Foldable(Protocol):
    """An index store that can fold its new points in (the edge store)."""

    def maintenance_status(self) -> MaintenanceStatus: ...

    def fold_in(
        self, optimize: Callable[..., dict[str, float | int]], *, copy_rounds: int = ...
    ) -> FoldInReport: ...


class FoldInJob:
    def __init__(
        self,
        *,
        index: SwitchableIndex,
        runs: RunsAndLocks,
        config: FoldInConfig,
        on_run: Callable[[RunReport], None] | None = None,
    ) -> None:
        self._index = index
        self._runs = runs
        self._config = config
        self._on_run = on_run
        self._thread: threading.Thread | None = None

    def store(self) -> Foldable | None:
        current = self._index.current
        return current if isinstance(current, Foldable) else None

    def status(self) -> MaintenanceStatus | None:
        store = self.store()
        return store.maintenance_status() if store is not None else None

    def due(self) -> str | None:
        status = self.status()
        if status is None or not self._config.enabled:
            return None
        return fold_in_due(
            status,
            points=self._config.after_points,
            min_points=self._config.min_points,
            after_seconds=self._config.after_seconds,
            now=utcnow(),
        )

    def check(self, *, actor: str) -> str | None:
        """The scheduled job: start a fold-in in the background when one is due; its run id."""
        reason = self.due()
        if reason is None or (self._thread is not None and self._thread.is_alive()):
            return None
        log.info("fold-in due", extra={"reason": reason})
        return self.start(actor=actor)

    def start(self, *, actor: str) -> str:
        """A fold-in now, in the background (the admin API's trigger); its run id."""
        store = self.store()
        if store is None:
            raise StoreBusyError(
                "this index builds its vector index itself (Qdrant server): nothing to fold in"
            )
        if store.maintenance_status().running:
            raise StoreBusyError("a fold-in of this index is already running")
        run_id = self._runs.start_run(source=EVERY_SOURCE, kind="fold_in", actor=actor)
        self._thread = threading.Thread(target=self._run, args=(store, run_id), name="fold-in", daemon=True)
        self._thread.start()
        return run_id

    def run(self, *, actor: str) -> RunReport:
        """A fold-in now, on this thread (the CLI, tests)."""
        store = self.store()
        if store is None:
            raise StoreBusyError(
                "this index builds its vector index itself (Qdrant server): nothing to fold in"
            )
        return self._run(store, self._runs.start_run(source=EVERY_SOURCE, kind="fold_in", actor=actor))

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, store: Foldable, run_id: str) -> RunReport:
        started = utcnow()
        counts: dict[str, int] = {}
        error: str | None = None
        timeout = self._config.timeout_seconds
        try:
            report = store.fold_in(
                lambda path, cancel: optimize_in_subprocess(path, cancel, timeout_seconds=timeout)
            )
            counts = {
                "points": report.points,
                "folded_points": report.folded_points,
                "replayed_writes": report.replayed_writes,
                "copy_pause_ms": round(report.copy_pause_seconds * 1000),
                "swap_pause_ms": round(report.swap_pause_seconds * 1000),
                "build_ms": round(report.build_seconds * 1000),
                "segments": report.segments,
            }
        except Exception as exc:  # the live shard is untouched; the run says why
            error = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("fold-in failed", extra={"error_type": type(exc).__name__})
        done = RunReport(
            run_id=run_id,
            source=EVERY_SOURCE,
            kind="fold_in",
            status="failed" if error else "succeeded",
            started_at=started,
            finished_at=utcnow(),
            counts=counts,
            error=error,
        )
        self._runs.finish_run(done)
        if self._on_run is not None:
            self._on_run(done)
        return done
