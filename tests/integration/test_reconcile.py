"""Reconciliation (live ids vs ledger vs index), completeness, the mass-deletion guard, locks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest import payload as P
from ingest.config import FileSourceConfig, ReconcileConfig
from ingest.errors import SourceBusyError
from ingest.index.base import IndexPoint
from ingest.models import RecordRef
from rag_service.app import create_app
from rag_service.services import Services, build_services, job_settings
from tests.conftest import headers, make_settings
from tests.integration.helpers import rec


def write(folder: Path, ids: list[int]) -> None:
    (folder / "notes.jsonl").write_text("".join(json.dumps(rec(i)) + "\n" for i in ids))


@pytest.fixture
def env(tmp_path: Path, embedder: Any, redactor: Any) -> Iterator[tuple[Services, Path]]:
    folder = tmp_path / "crm"
    folder.mkdir()
    write(folder, list(range(10)))
    settings = make_settings(tmp_path / "var", tmp_path)
    settings = settings.model_copy(
        update={"sources": (FileSourceConfig(name="acme-files", tenant_id="acme", path=folder),)}
    )
    services = build_services(settings, embedder=embedder, redactor=redactor)
    assert services.run("acme-files", actor="t").counts["indexed"] == 10
    yield services, folder
    services.close()


def ref(i: int) -> RecordRef:
    return RecordRef(tenant_id="acme", source="acme-files", record_id=f"N-{i}")


def test_reconcile_removes_stale_and_orphans_and_repairs_missing(env: tuple[Services, Path]) -> None:
    services, folder = env
    clean = services.reconcile("acme-files", actor="t")
    assert clean.status == "clean"
    assert clean.completeness_before == 1.0

    write(folder, list(range(1, 10)))  # N-0 vanished without a tombstone (10% < 15%)
    services.index.upsert(
        [
            IndexPoint(
                id=P.point_id(ref(99), 0),
                vector=[0.1] * 384,
                payload={
                    P.TENANT_ID: "acme",
                    P.SOURCE: "acme-files",
                    P.RECORD_ID: "N-99",
                    P.RECORD_KEY: ref(99).key,
                    P.CHUNK_INDEX: 0,
                },
            )
        ]
    )  # a chunk the ledger never heard of (crash leftover)
    services.index.delete_record(ref(5))  # and one record lost its chunks
    report = services.reconcile("acme-files", actor="t")
    assert report.status == "repaired"
    assert (report.stale_records, report.orphan_records, report.missing_records) == (2, 0, 1) or (
        report.stale_records,
        report.orphan_records,
        report.missing_records,
    ) == (1, 1, 1)
    assert report.completeness_before == pytest.approx(8 / 9, abs=1e-3)
    assert report.completeness_after == 1.0
    assert report.reprocessed == 1
    assert services.index.count(ref=ref(0)) == 0
    assert services.index.count(ref=ref(99)) == 0
    assert services.index.count(ref=ref(5)) == 1
    assert services.state.ledger_get(ref(0)).status == "deleted"  # type: ignore[union-attr]
    events = services.state.list_audit(action="reconcile")
    assert events[0]["details"]["completeness_after"] == 1.0


def test_mass_deletion_needs_confirmation(env: tuple[Services, Path]) -> None:
    services, folder = env
    services.settings = services.settings.model_copy(
        update={"reconcile": ReconcileConfig(guard_min_records=5)}
    )
    services.jobs.settings = job_settings(services.settings, services.consent.version)
    write(folder, [0, 1, 2, 3])  # 60% of the source would go
    with TestClient(create_app(services.settings, services=services, start_scheduler=False)) as client:
        events = len(services.state.list_audit(limit=10_000))
        dry = client.post("/admin/sources/acme-files/reconcile?dry_run=true", headers=headers("admin")).json()
        assert dry["status"] == "dry_run" and dry["stale_records"] == 6
        assert dry["would_delete"] == sorted(f"N-{i}" for i in range(4, 10))
        assert services.index.count(tenant_id="acme") == 10  # a dry run changes nothing
        assert len(services.state.list_audit(limit=10_000)) == events
        resp = client.post("/admin/sources/acme-files/reconcile", headers=headers("admin"))
        assert resp.status_code == 200
        body = resp.json()
        assert body["status"] == "needs_confirmation"
        assert body["delete_share"] == 0.6
        assert services.index.count(tenant_id="acme") == 10  # nothing deleted
        assert services.state.list_audit(action="mass_deletion_blocked")
        resp = client.post("/admin/sources/acme-files/reconcile?confirm=true", headers=headers("admin"))
        assert resp.json()["status"] == "repaired"
        assert services.index.count(tenant_id="acme") == 4


def test_sync_and_reindex_of_one_source_exclude_each_other(env: tuple[Services, Path]) -> None:
    services, _ = env
    assert services.state.try_lock("acme-files", "someone-else", timedelta(minutes=5))
    try:
        with pytest.raises(SourceBusyError):
            services.run("acme-files", kind="reindex", actor="t")
        with pytest.raises(SourceBusyError):
            services.reconcile("acme-files", actor="t")
        with TestClient(create_app(services.settings, services=services, start_scheduler=False)) as client:
            resp = client.post("/admin/sources/acme-files/sync?wait=true", headers=headers("admin"))
            assert resp.status_code == 409
        failed = services.state.list_runs(source="acme-files", limit=1)[0]
        assert failed["status"] == "failed"
        assert "running" in failed["error"]
    finally:
        services.state.unlock("acme-files", "someone-else")
    assert services.run("acme-files", kind="reindex", actor="t").status == "succeeded"


def test_mass_tombstones_stop_the_sync_until_confirmed(tmp_path: Path, embedder: Any, redactor: Any) -> None:
    folder = tmp_path / "crm"
    folder.mkdir()
    write(folder, list(range(25)))
    settings = make_settings(tmp_path / "var", tmp_path)
    settings = settings.model_copy(
        update={"sources": (FileSourceConfig(name="acme-files", tenant_id="acme", path=folder, page_size=5),)}
    )
    services = build_services(settings, embedder=embedder, redactor=redactor)
    try:
        services.run("acme-files", actor="t")
        lines = [json.dumps(rec(i)) for i in range(25)]
        lines += [
            json.dumps({"record_id": f"N-{i}", "deleted": True, "updated_at": "2026-11-01T00:00:00+00:00"})
            for i in range(10)
        ]  # 40% of the source deleted in one go
        (folder / "notes.jsonl").write_text("\n".join(lines) + "\n")
        cursor = services.state.get_cursor("acme-files")
        blocked = services.run("acme-files", actor="t")
        assert blocked.status == "failed"
        assert "admin must confirm" in (blocked.error or "")
        assert services.state.get_cursor("acme-files") == cursor
        assert services.index.count(tenant_id="acme") == 25
        with TestClient(create_app(settings, services=services, start_scheduler=False)) as client:
            resp = client.post(
                "/admin/sources/acme-files/sync?wait=true&confirm_deletions=true", headers=headers("admin")
            )
            assert resp.json()["status"] == "succeeded"
        assert services.index.count(tenant_id="acme") == 15
    finally:
        services.close()


def test_records_restored_at_the_source_come_back(env: tuple[Services, Path]) -> None:
    """Issue 19, defect 11: a drop file removed (reconciled away), then put back."""
    services, folder = env
    (folder / "notes.jsonl").unlink()
    gone = services.reconcile("acme-files", confirm=True, actor="t")
    assert (gone.status, gone.stale_records) == ("repaired", 10)
    assert services.index.count(tenant_id="acme") == 0
    write(folder, list(range(10)))  # the file is restored
    assert services.run("acme-files", actor="t").counts["indexed"] == 0  # the cursor is past them
    back = services.reconcile("acme-files", actor="t")
    assert back.status == "repaired"
    assert (back.unindexed_records, back.reprocessed) == (10, 10)
    assert (back.completeness_before, back.completeness_after) == (0.0, 1.0)
    assert services.index.count(tenant_id="acme") == 10
    assert all(services.state.ledger_get(ref(i)).status == "indexed" for i in range(10))  # type: ignore[union-attr]
    assert services.reconcile("acme-files", actor="t").status == "clean"
