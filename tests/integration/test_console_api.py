"""The read endpoints the console is built on: roles, tenant scope, and the numbers themselves."""

from __future__ import annotations

from fastapi.testclient import TestClient

from rag_service.services import Services
from tests.conftest import headers


def test_me_names_the_role_of_any_key(client: TestClient) -> None:
    for role in ("assistant", "admin", "auditor"):
        resp = client.get("/me", headers=headers(role))
        assert resp.status_code == 200
        assert resp.json()["role"] == role
    assert client.get("/me").status_code == 401


def test_status_counts_what_the_index_holds(client: TestClient, demo_services: Services) -> None:
    assert client.get("/admin/status", headers=headers("auditor")).status_code == 403
    rows = client.get("/admin/status", headers=headers("admin")).json()
    assert [r["source"] for r in rows] == [s.name for s in demo_services.settings.sources]
    held = demo_services.index.source_tenants()
    for row in rows:
        assert row["chunks_indexed"] == held[row["source"]][row["tenant_id"]] > 0
        assert row["records_indexed"] == row["records"]["indexed"] > 0
        assert row["last_run"]["status"] == "succeeded"
        assert row["freshness_seconds"] is not None and row["next_run_due"] is not None
        assert row["partitions"] == []


def test_run_history_filters_and_progress(client: TestClient) -> None:
    rows = client.get("/admin/run-history?status=succeeded&kind=sync", headers=headers("admin")).json()
    assert rows and all(r["status"] == "succeeded" and r["kind"] == "sync" for r in rows)
    assert all(r["duration_seconds"] is not None and r["duration_seconds"] >= 0 for r in rows)
    one = client.get("/admin/run-history?source=northwind-files", headers=headers("admin")).json()
    assert one and {r["source"] for r in one} == {"northwind-files"}
    assert client.get("/admin/run-history?status=nosuch", headers=headers("admin")).json() == []
    first = rows[-1]
    progress = client.get(f"/admin/runs/{first['run_id']}/progress", headers=headers("admin")).json()
    assert progress["status"] == "succeeded"
    assert sum(progress["records"].values()) > 0 and progress["elapsed_seconds"] >= 0
    assert client.get("/admin/runs/nosuch/progress", headers=headers("admin")).status_code == 404


def test_redaction_summary_is_types_and_counts(client: TestClient) -> None:
    assert client.get("/audit/redaction-summary", headers=headers("assistant")).status_code == 403
    rows = client.get("/audit/redaction-summary", headers=headers("auditor")).json()
    assert {r["source"] for r in rows} == {"northwind-files", "contoso-files", "globex-files"}
    for row in rows:
        assert row["records"] > 0
        assert row["entities"] and all(k.isupper() and v > 0 for k, v in row["entities"].items())
    one = client.get("/audit/redaction-summary?tenant_id=northwind", headers=headers("admin")).json()
    assert [r["tenant_id"] for r in one] == ["northwind"]


def test_tenant_scoped_keys_see_their_tenants_only(demo_services: Services) -> None:
    from tests.integration.helpers import scoped_client

    nw_admin, nw_auditor = {"X-API-Key": "nw-admin"}, {"X-API-Key": "nw-auditor"}
    with scoped_client(demo_services) as scoped:
        assert [r["source"] for r in scoped.get("/admin/status", headers=nw_admin).json()] == [
            "northwind-files"
        ]
        runs = scoped.get("/admin/run-history", headers=nw_admin).json()
        assert runs and {r["source"] for r in runs} == {"northwind-files"}
        other = next(r for r in demo_services.state.list_runs(limit=500) if r["source"] == "contoso-files")
        assert scoped.get(f"/admin/runs/{other['run_id']}/progress", headers=nw_admin).status_code == 404
        summary = scoped.get("/audit/redaction-summary", headers=nw_auditor).json()
        assert [r["source"] for r in summary] == ["northwind-files"]
        assert scoped.get("/audit/redaction-summary?tenant_id=contoso", headers=nw_auditor).status_code == 403
        assert scoped.get("/me", headers=nw_auditor).json()["tenants"] == ["northwind"]
