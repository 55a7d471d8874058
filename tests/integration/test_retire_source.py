"""Issue 19, defect 12: a source removed from the configuration can be retired from the admin API
and the CLI: its chunks and ledger go, with an audit event and a verified receipt."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.config import FileSourceConfig
from rag_service.app import create_app
from rag_service.cli import cmd_retire_source
from rag_service.config import Settings
from rag_service.services import build_services
from tests.conftest import headers, make_settings


def write(folder: Path, prefix: str, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        {
            "record_id": f"{prefix}-{i}",
            "record_type": "note",
            "updated_at": f"2026-10-01T10:{i:02d}:00+00:00",
            "url": f"https://crm.example/{prefix}-{i}",
            "owner_id": "u-1",
            "consent": {"assistant_use": "granted"},
            "body": f"Note {i} about the warehouse lease renewal in {prefix}.",
        }
        for i in range(n)
    ]
    (folder / "notes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))


def two_sources(tmp_path: Path, embedder: Any, redactor: Any) -> tuple[Settings, Settings]:
    """Both sources synced; returns (settings with both, settings without old-files)."""
    write(tmp_path / "crm" / "new", "NEW", 4)
    write(tmp_path / "crm" / "old", "OLD", 3)
    both = make_settings(tmp_path / "var", tmp_path).model_copy(
        update={
            "sources": (
                FileSourceConfig(name="acme-files", tenant_id="acme", path=tmp_path / "crm" / "new"),
                FileSourceConfig(name="old-files", tenant_id="acme", path=tmp_path / "crm" / "old"),
            )
        }
    )
    services = build_services(both, embedder=embedder, redactor=redactor)
    try:
        assert [services.run(s.name, actor="t").counts["indexed"] for s in both.sources] == [4, 3]
        (tmp_path / "crm" / "old" / "notes.jsonl").write_text('{"record_id": "broken"\n')
        services.run("old-files", actor="t")  # a quarantine entry of the old source
    finally:
        services.close()
    return both, both.model_copy(update={"sources": both.sources[:1]})


def test_retire_a_removed_source_from_the_admin_api(tmp_path: Path, embedder: Any, redactor: Any) -> None:
    _, without = two_sources(tmp_path, embedder, redactor)
    services = build_services(without, embedder=embedder, redactor=redactor)
    try:
        assert services.index.source_tenants()["old-files"] == {"acme": 3}  # still searchable
        with TestClient(create_app(without, services=services, start_scheduler=False)) as client:
            still = client.post("/admin/sources/acme-files/retire", headers=headers("admin"))
            assert still.status_code == 409
            assert client.post("/admin/sources/no-such/retire", headers=headers("admin")).status_code == 404
            assert (
                client.post("/admin/sources/old-files/retire", headers=headers("auditor")).status_code == 403
            )
            resp = client.post("/admin/sources/old-files/retire", headers=headers("admin"))
            assert resp.status_code == 201, resp.text
            [receipt] = resp.json()
            assert receipt["kind"] == "source_retirement" and receipt["subject"] == "source:old-files"
            assert (receipt["chunks_deleted"], receipt["remaining_hits"], receipt["verified"]) == (3, 0, True)
            got = client.get(f"/audit/receipts/{receipt['receipt_id']}", headers=headers("auditor"))
            assert got.status_code == 200 and got.json()["verified"] is True
            again = client.post("/admin/sources/old-files/retire", headers=headers("admin"))
            assert again.status_code == 404
        assert "old-files" not in services.index.source_tenants()
        assert services.index.source_tenants()["acme-files"] == {"acme": 4}
        assert services.state.ledger_for_source("old-files") == []
        assert services.state.get_cursor("old-files") is None
        assert services.state.list_quarantine(source="old-files") == []
        event = services.state.list_audit(action="retire_source")[0]
        assert event["source"] == "old-files" and event["details"]["ledger_rows"] == 3
        assert event["details"]["receipt_id"] == receipt["receipt_id"]
    finally:
        services.close()


def test_retire_a_removed_source_from_the_cli(
    tmp_path: Path, embedder: Any, redactor: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    both, without = two_sources(tmp_path, embedder, redactor)
    assert cmd_retire_source(argparse.Namespace(name="old-files", yes=False), without) == 2
    assert cmd_retire_source(argparse.Namespace(name="old-files", yes=True), both) == 1  # still configured
    assert cmd_retire_source(argparse.Namespace(name="old-files", yes=True), without) == 0
    receipt = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert receipt["verified"] is True and receipt["chunks_deleted"] == 3
    services = build_services(without, embedder=embedder, redactor=redactor)
    try:
        assert "old-files" not in services.index.source_tenants()
        assert services.state.ledger_for_source("old-files") == []
    finally:
        services.close()
