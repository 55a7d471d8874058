"""Run history with filters (source, status, kind) and the progress of a run in flight.

Progress is read from what the run has written so far (ledger rows and quarantine entries whose
last run is this run), so it works for runs of any process (serve, worker, CLI)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ingest.partition import key_like
from ingest.store.tables import job_runs, ledger, quarantine
from ingest.timeutil import aware, utcnow
from rag_service.views.models import RunProgress, RunRow


def _duration(started: datetime, finished: datetime | None) -> float | None:
    return None if finished is None else round((finished - started).total_seconds(), 3)


def _row(r: Any) -> RunRow:
    started = aware(r.started_at)
    finished = aware(r.finished_at)
    assert started is not None
    return RunRow(
        run_id=r.run_id,
        source=r.source,
        kind=r.kind,
        actor=r.actor,
        status=r.status,
        started_at=started,
        finished_at=finished,
        duration_seconds=_duration(started, finished),
        counts=json.loads(r.counts or "{}"),
        error=r.error,
    )


def run_history(
    engine: Engine,
    *,
    sources: list[str] | None,
    source: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[RunRow]:
    """Newest first. `sources` limits to these sources (and their partitions, and "*" runs when
    listed); None means every run. `source` filters one source with its partitions."""
    query = sa.select(job_runs).order_by(job_runs.c.started_at.desc()).limit(limit)
    if source:
        query = query.where(
            (job_runs.c.source == source) | job_runs.c.source.like(key_like(source), escape="\\")
        )
    if sources is not None:
        scope = [job_runs.c.source.in_(sources)]
        scope += [job_runs.c.source.like(key_like(s), escape="\\") for s in sources if s != "*"]
        query = query.where(sa.or_(*scope))
    if status:
        query = query.where(job_runs.c.status == status)
    if kind:
        query = query.where(job_runs.c.kind == kind)
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def run_progress(engine: Engine, run: dict[str, Any]) -> RunProgress:
    run_id = run["run_id"]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ledger.c.status, sa.func.count())
            .where(ledger.c.last_run_id == run_id)
            .group_by(ledger.c.status)
        ).all()
        quarantined = conn.execute(
            sa.select(sa.func.count()).select_from(quarantine).where(quarantine.c.last_run_id == run_id)
        ).scalar_one()
    started = aware(run["started_at"])
    finished = aware(run["finished_at"]) or utcnow()
    assert started is not None
    return RunProgress(
        run_id=run_id,
        status=run["status"],
        elapsed_seconds=round((finished - started).total_seconds(), 3),
        records={str(status): int(n) for status, n in rows},
        quarantined=int(quarantined),
    )
