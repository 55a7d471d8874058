from __future__ import annotations

import threading

from ingest.scheduler import Schedule, SyncScheduler


def test_schedules_fire_per_source() -> None:
    fired: list[str] = []
    done = threading.Event()

    def job(name: str) -> None:
        fired.append(name)
        if {"a", "b"} <= set(fired):
            done.set()

    sched = SyncScheduler([Schedule("a", 1, jitter_seconds=0), Schedule("b", 1, jitter_seconds=0)], job)
    assert sched.job_ids() == ["sync:a", "sync:b"]
    sched.start()
    try:
        assert done.wait(10), f"jobs fired: {fired}"
    finally:
        sched.shutdown()
