"""The tick that drives scheduled jobs, with APScheduler: the only module that imports it.

One interval job calls `tick()` every few seconds; the tick claims due jobs from the shared
schedule (ingest/jobs/schedules.py) and runs them (ingest/jobs/runner.py). `serve` and `worker` use
the same tick: what runs, and when, is data in the state store."""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("ingest.jobs.scheduler")


class TickScheduler:
    """Calls `tick()` every `tick_seconds`, one call at a time (a long tick delays the next)."""

    def __init__(self, tick_seconds: int, tick: Callable[[], object], *, name: str = "jobs") -> None:
        self._scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
        )
        self._scheduler.add_job(
            tick,
            trigger=IntervalTrigger(seconds=tick_seconds),
            id=f"tick:{name}",
            name=f"tick {name}",
            misfire_grace_time=max(1, tick_seconds),
            replace_existing=True,
        )

    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs())

    def start(self) -> None:
        self._scheduler.start()
        log.info("scheduler started")

    def shutdown(self, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
