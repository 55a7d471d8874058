"""Every job run ends in a final state (issue 19, defect 9)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ingest.store.runs import ABANDONED, SOURCE_BUSY
from ingest.store.state import StateStore, lock_owner
from rag_service.services import Services, build_services
from tests.conftest import ROOT, headers
from tests.integration.acme import PageGate, settings_for


def wait_final(services: Services, run_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = services.state.get_run(run_id)
        assert run is not None
        if run["status"] != "running" or time.monotonic() > deadline:
            return run
        time.sleep(0.05)


def hold_source(services: Services, name: str) -> str:
    owner = lock_owner(f"test:{uuid.uuid4().hex}")
    assert services.state.try_lock(name, owner, timedelta(minutes=5))
    return owner


def test_record_reindex_queued_while_the_source_is_busy_fails_visibly(
    env: tuple[Services, TestClient, Path],
) -> None:
    services, client, _ = env
    owner = hold_source(services, "acme-notes")  # a sync of the source is running
    try:
        queued = client.post(
            "/admin/reindex", json={"source": "acme-notes", "record_id": "N-1"}, headers=headers("admin")
        )
        assert queued.status_code == 409  # busy answers 409 without wait too (issue 20)
        run = services.state.list_runs(source="acme-notes", limit=1)[0]
        assert run["status"] == "failed" and run["error"] == SOURCE_BUSY
        waited = client.post(
            "/admin/reindex",
            json={"source": "acme-notes", "record_id": "N-1", "wait": True},
            headers=headers("admin"),
        )
        assert waited.status_code == 409
        runs = services.state.list_runs(source="acme-notes", limit=10)
        assert [r["status"] for r in runs if r["kind"] == "reindex_record"] == ["failed", "failed"]
        synced = client.post("/admin/sources/acme-notes/sync", headers=headers("admin"))
        assert synced.status_code == 409
        assert services.state.list_runs(source="acme-notes", limit=1)[0]["error"] == SOURCE_BUSY
    finally:
        services.state.unlock("acme-notes", owner)
    again = client.post(
        "/admin/reindex",
        json={"source": "acme-notes", "record_id": "N-1", "wait": True},
        headers=headers("admin"),
    )
    assert again.status_code == 200 and again.json()["status"] == "succeeded"
    assert again.json()["counts"]["indexed"] == 1


def test_runs_of_a_process_that_died_are_abandoned(tmp_path: Path, embedder: Any, redactor: Any) -> None:
    """A kill between registering a run and taking its lock (or between releasing the lock and
    finishing): the run's owner is gone, so the run ends "abandoned"."""
    settings = settings_for(tmp_path)
    services = build_services(settings, embedder=embedder, redactor=redactor)
    services.close()
    script = (
        "import sys; from ingest.store.state import StateStore; "
        "s = StateStore(sys.argv[1]); print(s.start_run(source='acme-notes', kind='sync', actor='t'))"
    )
    died = subprocess.run(
        [sys.executable, "-c", script, settings.state.url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    ).stdout.strip()
    with StateStore(settings.state.url) as state:
        assert state.get_run(died)["status"] == "running"  # type: ignore[index]
    restarted = build_services(settings, embedder=embedder, redactor=redactor)
    try:
        run = restarted.state.get_run(died)
        assert run is not None and run["status"] == "abandoned" and run["error"] == ABANDONED
        mine = restarted.state.start_run(source="acme-notes", kind="sync", actor="t")
        assert restarted.state.get_run(mine)["status"] == "running"  # type: ignore[index]
    finally:
        restarted.close()


def test_a_second_concurrent_rebuild_gets_409_and_both_are_recorded(
    env: tuple[Services, TestClient, Path],
) -> None:
    services, client, _ = env
    gate = PageGate("staged")
    original = services.parts
    services.parts = dataclasses.replace(original, page_hook=gate)  # hold the first rebuild's build
    try:
        first = client.post("/admin/rebuild", headers=headers("admin"))
        assert first.status_code == 202 and first.json()["status"] == "running"
        accepted = first.json()
        assert first.headers["location"] == accepted["location"] == f"/admin/runs/{accepted['run_id']}"
        assert gate.reached.wait(60)
        second = client.post("/admin/rebuild", headers=headers("admin"))
        assert second.status_code == 409
        waited = client.post("/admin/rebuild?wait=true", headers=headers("admin"))
        assert waited.status_code == 409
    finally:
        gate.release.set()
        services.parts = original
    run = wait_final(services, first.json()["run_id"], timeout=300)
    assert run["status"] in ("succeeded", "failed") and run["kind"] == "rebuild"
    runs = client.get("/admin/runs", params={"source": "*"}, headers=headers("admin")).json()
    rebuilds = [r for r in runs if r["kind"] == "rebuild"]
    assert len(rebuilds) == 3 and all(r["status"] != "running" for r in rebuilds)
    assert sum(r["error"] == "a rebuild or rollback is already running" for r in rebuilds) == 2
