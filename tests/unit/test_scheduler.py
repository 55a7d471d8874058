"""The job model's schedule plan (plain data) and the one tick that drives it."""

from __future__ import annotations

import threading
from pathlib import Path

from ingest.config import FileSourceConfig, ReconcileConfig, ZendeskSourceConfig
from ingest.jobs.model import EVERY_SOURCE, Job, JobKind, job_schedules
from ingest.jobs.scheduler import TickScheduler


def test_tick_fires() -> None:
    ticks: list[int] = []
    done = threading.Event()

    def tick() -> None:
        ticks.append(1)
        if len(ticks) >= 2:
            done.set()

    sched = TickScheduler(1, tick, name="t")
    assert sched.job_ids() == ["tick:t"]
    sched.start()
    try:
        assert done.wait(10), f"ticks: {len(ticks)}"
    finally:
        sched.shutdown()


def test_every_job_kind_has_its_own_schedule() -> None:
    sources = (
        FileSourceConfig(name="aa", tenant_id="tt", path=Path("/x"), interval_seconds=60, partitions=2),
        FileSourceConfig(name="off", tenant_id="tt", path=Path("/y"), enabled=False),
        ZendeskSourceConfig.model_validate(
            {"name": "zd", "tenant_id": "tt", "subdomain": "acme", "token": "a@b.c/token:x"}
        ),
    )
    plan = job_schedules(
        sources,
        ReconcileConfig(interval_seconds=900, reprocess_interval_seconds=120),
        rebuild_interval_seconds=None,
    )
    every = {(s.job.kind, s.job.target): s.interval_seconds for s in plan}
    assert every == {
        (JobKind.SYNC, "aa#0"): 60,
        (JobKind.SYNC, "aa#1"): 60,
        (JobKind.REPROCESS_STALE, "aa"): 120,
        (JobKind.RECONCILE, "aa"): 900,
        (JobKind.SYNC, "zd"): 300,
        (JobKind.REPROCESS_STALE, "zd"): 120,
        (JobKind.RECONCILE, "zd"): 86_400,  # Zendesk's own reconcile interval
    }
    with_rebuild = job_schedules(sources[:1], ReconcileConfig(), rebuild_interval_seconds=86_400)
    assert Job(kind=JobKind.REBUILD, target=EVERY_SOURCE) in {s.job for s in with_rebuild}
    # reprocess-stale defaults to the source's own interval
    assert {s.interval_seconds for s in with_rebuild if s.job.kind is JobKind.REPROCESS_STALE} == {60}
