"""Shared job schedules in the state store: every process that runs jobs (`serve` with its
scheduler, each `worker`) claims due jobs here, so each due run fires once.

Each process ticks (ingest/jobs/scheduler.py) and claims due jobs with SELECT ... FOR UPDATE SKIP
LOCKED (PostgreSQL); the claim moves next_run_at forward in the same transaction, so two
processes never fire the same run, and busy rows are skipped, not waited on. On SQLite (one
process) the same statements run serialised by the database lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ingest.jobs.model import Job, JobKind, JobSchedule
from ingest.store.tables import job_schedules as table
from ingest.store.upsert import upsert


class ScheduleStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def ensure(self, plan: Sequence[JobSchedule], now: datetime, *, at_once: Sequence[JobKind] = ()) -> None:
        """Register the plan's jobs and update the intervals of known ones. A new job of a kind in
        `at_once` is due now, any other one interval from now."""
        rows = [
            {
                "kind": entry.job.kind.value,
                "target": entry.job.target,
                "interval_seconds": entry.interval_seconds,
                "next_run_at": now
                if entry.job.kind in at_once
                else now + timedelta(seconds=entry.interval_seconds),
            }
            for entry in plan
        ]
        if not rows:
            return
        # a job known already (or registered by another process a moment ago) keeps its next run:
        # only its interval is updated
        with self._engine.begin() as conn:
            conn.execute(upsert(conn, table, key=["kind", "target"], update=["interval_seconds"]), rows)

    def claim_due(self, worker: str, now: datetime, kinds: Sequence[JobKind] | None = None) -> Job | None:
        """Claim one due job for this process (or None); its next run moves one interval ahead."""
        query = sa.select(table.c.kind, table.c.target, table.c.interval_seconds).where(
            table.c.next_run_at <= now
        )
        if kinds is not None:
            query = query.where(table.c.kind.in_([k.value for k in kinds]))
        with self._engine.begin() as conn:
            row = conn.execute(
                query.order_by(table.c.next_run_at).limit(1).with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            conn.execute(
                sa.update(table)
                .where(table.c.kind == row.kind, table.c.target == row.target)
                .values(
                    next_run_at=now + timedelta(seconds=row.interval_seconds),
                    claimed_by=worker,
                    claimed_at=now,
                )
            )
            return Job(kind=JobKind(row.kind), target=str(row.target))

    def defer(self, job: Job, until: datetime) -> None:
        """A claimed job that could not run (its source was busy) is due again at `until`."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(table)
                .where(table.c.kind == job.kind.value, table.c.target == job.target)
                .values(next_run_at=until)
            )

    def next_run(self, job: Job) -> datetime | None:
        with self._engine.connect() as conn:
            value: datetime | None = conn.execute(
                sa.select(table.c.next_run_at).where(
                    table.c.kind == job.kind.value, table.c.target == job.target
                )
            ).scalar_one_or_none()
        return value
