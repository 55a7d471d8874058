"""Job runs and cross-process source locks in the state store (a mixin of StateStore)."""

from __future__ import annotations

import json
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ingest.models import RunReport
from ingest.partition import key_like
from ingest.store.tables import job_runs, run_owners, source_locks
from ingest.timeutil import aware as _aware
from ingest.timeutil import utcnow

SOURCE_BUSY = "source busy: another sync, reindex or reconcile of this source is running"
ABANDONED = "interrupted: the process that owned this run is gone"
RUN_TTL = timedelta(hours=1)  # a run shows a sign of life (its lock refresh) at least this often


def lock_owner(tag: str) -> str:
    """host:pid:tag, so a lock left by a dead process on this host can be recognised."""
    return f"{socket.gethostname()}:{os.getpid()}:{tag}"


def owner_is_dead(owner: str) -> bool:
    parts = owner.split(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False  # another host, or not ours to judge: wait for the TTL
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class RunsAndLocks:
    _engine: Engine

    def start_run(self, *, source: str, kind: str, actor: str) -> str:
        """Register a run owned by this process. Runs whose owner is gone are closed on the way."""
        run_id = uuid.uuid4().hex
        now = utcnow()
        with self._engine.begin() as conn:
            conn.execute(
                sa.insert(job_runs).values(
                    run_id=run_id,
                    source=source,
                    kind=kind,
                    actor=actor,
                    status="running",
                    started_at=now,
                    counts="{}",
                )
            )
            conn.execute(
                sa.insert(run_owners).values(
                    run_id=run_id, owner=lock_owner(f"run:{run_id}"), expires_at=now + RUN_TTL
                )
            )
        self.abandon_orphan_runs()
        return run_id

    def end_run(self, run_id: str, *, status: str, error: str | None = None) -> None:
        """Close a run that never got to report (busy source, failed submission, rebuild)."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(job_runs)
                .where(job_runs.c.run_id == run_id, job_runs.c.status == "running")
                .values(status=status, finished_at=utcnow(), error=error)
            )
            conn.execute(sa.delete(run_owners).where(run_owners.c.run_id == run_id))

    def abandon_orphan_runs(self, *, older_than: timedelta = RUN_TTL) -> int:
        """Mark "abandoned" every running run whose owning process died (this host), whose owner
        showed no sign of life within its TTL, or that has no owner (older versions) and is older
        than `older_than`. Returns how many."""
        now = utcnow()
        query = (
            sa.select(job_runs.c.run_id, job_runs.c.started_at, run_owners.c.owner, run_owners.c.expires_at)
            .select_from(job_runs.outerjoin(run_owners, run_owners.c.run_id == job_runs.c.run_id))
            .where(job_runs.c.status == "running")
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        gone = [
            r.run_id
            for r in rows
            if (r.owner is None and (_aware(r.started_at) or now) < now - older_than)
            or (r.owner is not None and ((_aware(r.expires_at) or now) < now or owner_is_dead(r.owner)))
        ]
        for run_id in gone:
            self.end_run(run_id, status="abandoned", error=ABANDONED)
        return len(gone)

    def finish_run(self, report: RunReport) -> None:
        with self._engine.begin() as conn:
            conn.execute(sa.delete(run_owners).where(run_owners.c.run_id == report.run_id))
            conn.execute(
                sa.update(job_runs)
                .where(job_runs.c.run_id == report.run_id)
                .values(
                    status=report.status,
                    finished_at=report.finished_at,
                    counts=json.dumps(report.counts, sort_keys=True),
                    error=report.error,
                )
            )

    def list_runs(self, *, source: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = sa.select(job_runs).order_by(job_runs.c.started_at.desc()).limit(limit)
        if source:  # a partitioned source's runs are named "<source>#<p>"
            partitions = job_runs.c.source.like(key_like(source), escape="\\")
            query = query.where((job_runs.c.source == source) | partitions)
        with self._engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["counts"] = json.loads(row["counts"] or "{}")
            row["started_at"] = _aware(row["started_at"])
            row["finished_at"] = _aware(row["finished_at"])
        return rows

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(job_runs).where(job_runs.c.run_id == run_id)).first()
        if row is None:
            return None
        data = dict(row._mapping)
        data["counts"] = json.loads(data["counts"] or "{}")
        return data

    # ------------------------------------------------------------------ source locks

    def try_lock(self, source: str, owner: str, ttl: timedelta) -> bool:
        """Cross-process mutual exclusion per source (sync vs reindex vs reconcile).

        A lock expires after `ttl` unless refreshed (runs refresh it every page). A lock whose
        owner process died on this host (kill -9, OOM) is taken over at once."""
        now = utcnow()
        with self._engine.begin() as conn:
            held = conn.execute(sa.select(source_locks).where(source_locks.c.source == source)).first()
            if held is not None and (_aware(held.expires_at) < now or owner_is_dead(held.owner)):  # type: ignore[operator]
                conn.execute(
                    sa.delete(source_locks).where(
                        source_locks.c.source == source, source_locks.c.owner == held.owner
                    )
                )
                conn.execute(  # the run that held it never finished: say so
                    sa.update(job_runs)
                    .where(job_runs.c.run_id == held.owner.rsplit(":", 1)[-1], job_runs.c.status == "running")
                    .values(
                        status="abandoned",
                        finished_at=now,
                        error="interrupted: the process holding the lock died",
                    )
                )
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(source_locks).values(source=source, owner=owner, expires_at=now + ttl)
                    )
            except sa.exc.IntegrityError:
                return False
        return True

    def refresh_lock(self, source: str, owner: str, ttl: timedelta) -> None:
        """Also a sign of life of the run that holds the lock (owner "host:pid:<run id>")."""
        now = utcnow()
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(source_locks)
                .where(source_locks.c.source == source, source_locks.c.owner == owner)
                .values(expires_at=now + ttl)
            )
            conn.execute(
                sa.update(run_owners)
                .where(run_owners.c.run_id == owner.rsplit(":", 1)[-1])
                .values(expires_at=now + max(ttl, RUN_TTL))
            )

    def is_locked(self, source: str) -> bool:
        """Read-only: a live process holds the lock now (an expired or dead owner's lock does not count)."""
        with self._engine.connect() as conn:
            held = conn.execute(sa.select(source_locks).where(source_locks.c.source == source)).first()
        return held is not None and _aware(held.expires_at) >= utcnow() and not owner_is_dead(held.owner)  # type: ignore[operator]

    def unlock(self, source: str, owner: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                sa.delete(source_locks).where(source_locks.c.source == source, source_locks.c.owner == owner)
            )
