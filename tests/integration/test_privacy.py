"""Erasure and consent revocation: immediate exclusion, purge everywhere, receipts, no comeback."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ingest.models import RecordRef
from rag_service.app import create_app
from rag_service.services import Services, build_services
from tests.conftest import headers
from tests.integration.acme import (
    ANA_BY_ID,
    ask,
    note,
    notes_a,
    notes_b,
    settings_for,
    write,
)


def test_erasure_across_sources_with_receipt_and_no_comeback(
    tmp_path: Path, embedder: Any, redactor: Any
) -> None:
    write(tmp_path / "crm" / "a", notes_a())
    write(tmp_path / "crm" / "b", notes_b())
    settings = settings_for(tmp_path)
    first = build_services(settings, embedder=embedder, redactor=redactor)
    for name in first.sources:
        first.run(name, actor="t")
    first.close()
    backup = tmp_path / "index-backup"  # an old copy of the index, taken before the erasure
    shutil.copytree(settings.index.path, backup)

    services = build_services(settings, embedder=embedder, redactor=redactor)
    with TestClient(create_app(settings, services=services, start_scheduler=False)) as client:
        assert ask(client) == {"N-1", "N-2", "T-7"}
        subject = {"tenant_id": "acme", "contact_id": "c-ana", "email": "ana.lindqvist@example.org"}
        dry = client.post("/admin/erasure?dry_run=true", headers=headers("admin"), json=subject)
        assert dry.status_code == 200, dry.text
        assert dry.json()["status"] == "dry_run" and dry.json()["chunks"] >= 2
        assert dry.json()["records"] == ["acme:acme-notes:N-1", "acme:acme-tickets:T-7"]
        assert ask(client) == {"N-1", "N-2", "T-7"}  # a dry run erases nothing
        resp = client.post(
            "/admin/erasure",
            headers=headers("admin"),
            json={"tenant_id": "acme", "contact_id": "c-ana", "email": "ana.lindqvist@example.org"},
        )
        assert resp.status_code == 201, resp.text
        receipt = resp.json()
        assert receipt["verified"] is True
        assert receipt["remaining_hits"] == 0
        assert sorted(receipt["records"]) == ["acme:acme-notes:N-1", "acme:acme-tickets:T-7"]
        assert receipt["chunks_deleted"] >= 2
        assert "lindqvist" not in json.dumps(receipt).lower()
        assert ask(client) == {"N-2"}
        got = client.get(f"/audit/receipts/{receipt['receipt_id']}", headers=headers("auditor"))
        assert got.status_code == 200
        assert got.json()["records"] == receipt["records"]
        assert (
            client.get(f"/audit/receipts/{receipt['receipt_id']}", headers=headers("admin")).status_code
            == 403
        )

        # the CRM still holds the records and edits one: a later sync must not bring them back
        write(
            tmp_path / "crm" / "a",
            [
                note("N-1", "2026-10-05T10:00:00+00:00", "Edited: lidar patch shipped.", ANA_BY_ID),
                notes_a()[1],
            ],
        )
        report = services.run("acme-notes", actor="t")
        assert report.counts["suppressed"] == 1
        assert report.counts["embedded"] == 0
        assert ask(client) == {"N-2"}
    services.close()

    # restoring the pre-erasure index: the startup replay removes the erased records again
    shutil.rmtree(settings.index.path)
    shutil.copytree(backup, settings.index.path)
    restored = build_services(settings, embedder=embedder, redactor=redactor)
    try:
        count = restored.index.count
        assert count(ref=RecordRef(tenant_id="acme", source="acme-notes", record_id="N-1")) == 0
        assert count(ref=RecordRef(tenant_id="acme", source="acme-tickets", record_id="T-7")) == 0
        assert count(ref=RecordRef(tenant_id="acme", source="acme-notes", record_id="N-2")) > 0
    finally:
        restored.close()


def test_revocation_is_excluded_before_the_purge_finishes(env: tuple[Services, TestClient, Path]) -> None:
    services, client, _ = env
    assert "N-1" in ask(client)
    entered, release = threading.Event(), threading.Event()
    original = services.index.delete_record

    def slow_delete(ref: RecordRef) -> int:
        entered.set()
        release.wait(30)
        return original(ref)

    services.index.delete_record = slow_delete  # type: ignore[method-assign]
    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(
            client.post(
                "/admin/consent/revoke",
                headers=headers("admin"),
                json={"tenant_id": "acme", "source": "acme-notes", "record_id": "N-1"},
            ).json()
        )
    )
    worker.start()
    assert entered.wait(30)
    try:
        # chunks still in the index, yet the query must not return them
        assert services.index.count(ref=RecordRef(tenant_id="acme", source="acme-notes", record_id="N-1")) > 0
        assert "N-1" not in ask(client)
    finally:
        release.set()
        worker.join(30)
        services.index.delete_record = original  # type: ignore[method-assign]
    assert result["verified"] is True and result["kind"] == "consent_revocation"
    assert result["seconds_to_zero_hits"] < 30

    # same version synced again: stays excluded (what lifts a revocation: test_revocation_rule.py)
    services.state.reset_cursor("acme-notes")
    services.run("acme-notes", actor="t")
    assert "N-1" not in ask(client)
