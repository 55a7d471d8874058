"""Shared schedules in the state store: several worker processes, one firing per due run.

Each worker ticks (APScheduler interval job) and claims due sources with
SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL); the claim moves next_run_at forward in the same
transaction, so two workers never fire the same run, and busy sources are skipped, not waited on.
On SQLite (single process) the same statements run serialised by the database lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ingest.tables import schedules


class ScheduleStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def ensure(self, entries: Sequence[tuple[str, int]], now: datetime) -> None:
        """Register (source, interval) pairs; new sources are due at once."""
        with self._engine.begin() as conn:
            known = {r.source for r in conn.execute(sa.select(schedules.c.source))}
            for source, interval in entries:
                if source in known:
                    conn.execute(
                        sa.update(schedules)
                        .where(schedules.c.source == source)
                        .values(interval_seconds=interval)
                    )
                else:
                    try:
                        with conn.begin_nested():  # another worker may register it at the same moment
                            conn.execute(
                                sa.insert(schedules).values(
                                    source=source, interval_seconds=interval, next_run_at=now
                                )
                            )
                    except sa.exc.IntegrityError:
                        pass

    def claim_due(self, worker: str, now: datetime) -> str | None:
        """Claim one due source for this worker (or None); its next run moves one interval ahead."""
        with self._engine.begin() as conn:
            row = conn.execute(
                sa.select(schedules.c.source, schedules.c.interval_seconds)
                .where(schedules.c.next_run_at <= now)
                .order_by(schedules.c.next_run_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            conn.execute(
                sa.update(schedules)
                .where(schedules.c.source == row.source)
                .values(
                    next_run_at=now + timedelta(seconds=row.interval_seconds),
                    claimed_by=worker,
                    claimed_at=now,
                )
            )
            return str(row.source)
