"""Audit log integrity (hash chain, export, CLI) and tenant-scoped keys on the demo index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from ingest.models import RecordRef
from rag_service.services import Services
from tests.conftest import ROOT, headers
from tests.integration.helpers import scoped_client


def test_audit_log_covers_the_actions_and_carries_no_content(demo_services: Services) -> None:
    actions = {e["action"] for e in demo_services.state.list_audit(limit=10_000)}
    assert {"index_write", "delete", "quarantine", "versions"} <= actions
    quarantine = demo_services.state.list_audit(action="quarantine", limit=1)[0]
    assert quarantine["details"]["count"] == 5
    assert all(":" in loc for loc in quarantine["details"]["locators"])


def test_tampering_is_detected_by_the_cli(tmp_path: Path, demo_services: Services) -> None:
    # work on a copy of the state database so the shared demo state stays intact
    url = demo_services.settings.state.url
    src = Path(url.removeprefix("sqlite:///"))
    copy = tmp_path / "state.db"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"VACUUM INTO '{copy}'")
    engine.dispose()
    assert src.exists()
    config = tmp_path / "cfg.yaml"
    config.write_text(json.dumps({"data_dir": str(tmp_path), "state": {"url": f"sqlite:///{copy}"}}))
    cli = [sys.executable, "-m", "rag_service.cli", "--config", str(config), "audit"]
    ok = subprocess.run([*cli, "verify"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    export = subprocess.run([*cli, "export"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    rows = [json.loads(line) for line in export.stdout.splitlines()]
    assert len(rows) == json.loads(ok.stdout)["events_checked"]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    tamper = sa.create_engine(f"sqlite:///{copy}")
    with tamper.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_events SET actor = 'someone-else' WHERE id = 3")
    tamper.dispose()
    bad = subprocess.run([*cli, "verify"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["first_bad_event_id"] == 3


def test_tenant_scoped_keys_cannot_cross_tenants(demo_services: Services, client: TestClient) -> None:
    body: dict[str, Any] = {
        "question": "renewal",
        "purpose": "sales_assistant",
        "user": {"user_id": "u", "team_ids": ["team-contoso-sales"]},
    }
    # a contoso chunk id, found with the all-tenant auditor key
    contoso_chunk = next(p for p in demo_services.index.scroll_payloads(tenant_id="contoso"))
    ref = RecordRef(tenant_id="contoso", source=contoso_chunk["source"], record_id=contoso_chunk["record_id"])
    chunk_id = demo_services.index.record_chunks(ref)[0].id
    with scoped_client(demo_services) as scoped:
        assert (
            scoped.post(
                "/query", json={**body, "tenant_id": "contoso"}, headers={"X-API-Key": "nw-assistant"}
            ).status_code
            == 403
        )
        assert (
            scoped.post(
                "/query", json={**body, "tenant_id": "northwind"}, headers={"X-API-Key": "nw-assistant"}
            ).status_code
            == 200
        )
        assert scoped.get(f"/audit/chunks/{chunk_id}", headers={"X-API-Key": "nw-auditor"}).status_code == 404
        assert client.get(f"/audit/chunks/{chunk_id}", headers=headers("auditor")).status_code == 200
        assert scoped.get("/audit/events", headers={"X-API-Key": "nw-auditor"}).status_code == 422
        assert (
            scoped.get(
                "/audit/events", params={"tenant_id": "contoso"}, headers={"X-API-Key": "nw-auditor"}
            ).status_code
            == 403
        )
        assert (
            scoped.post("/admin/sources/contoso-files/sync", headers={"X-API-Key": "nw-admin"}).status_code
            == 403
        )
        runs = scoped.get("/admin/runs", headers={"X-API-Key": "nw-admin"}).json()
        assert runs and all(r["source"] == "northwind-files" for r in runs)
        assert scoped.post("/admin/rebuild", headers={"X-API-Key": "nw-admin"}).status_code == 403


def test_forged_filters_are_rejected(client: TestClient) -> None:
    base = {
        "question": "renewal",
        "tenant_id": "northwind",
        "purpose": "sales_assistant",
        "user": {"user_id": "u"},
    }
    for forged in (
        {"filters": {"tenant_id": "contoso"}},
        {"filters": {"purposes": ["support_assistant"]}},
        {"user": {"user_id": "u", "acl_owner": "*"}},
        {"enforce_acl": False},
    ):
        resp = client.post("/query", json={**base, **forged}, headers=headers("assistant"))
        assert resp.status_code == 422, forged
