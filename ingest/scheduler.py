"""Periodic syncs with APScheduler. The only module that imports APScheduler; schedules are data."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("ingest.scheduler")


@dataclass(frozen=True, slots=True)
class Schedule:
    source: str
    interval_seconds: int
    jitter_seconds: int = 5


class SyncScheduler:
    """Runs `job(source_name)` per schedule; one instance of a source's job at a time."""

    def __init__(self, schedules: Sequence[Schedule], job: Callable[[str], object]) -> None:
        self._schedules = tuple(schedules)
        self._scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
        )
        for sched in self._schedules:
            self._scheduler.add_job(
                job,
                trigger=IntervalTrigger(seconds=sched.interval_seconds, jitter=sched.jitter_seconds),
                args=[sched.source],
                id=f"sync:{sched.source}",
                name=f"sync {sched.source}",
                misfire_grace_time=sched.interval_seconds,
                replace_existing=True,
            )

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        return self._schedules

    def job_ids(self) -> list[str]:
        return sorted(job.id for job in self._scheduler.get_jobs())

    def start(self) -> None:
        if self._schedules:
            self._scheduler.start()
            log.info("scheduler started", extra={"jobs": len(self._schedules)})

    def shutdown(self, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
