"""Smaller API points of issue 19, defect 10: 404 for unknown tenants and sources in privacy
requests, tenant-scoped views of /admin/index and /audit/verify, unknown keys rate-limited."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag_service.app import create_app
from rag_service.services import Services
from tests.conftest import headers
from tests.integration.helpers import scoped_client


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/admin/consent/revoke", {"tenant_id": "northwind", "source": "no-such-source", "record_id": "N-1"}),
        (
            "/admin/consent/revoke",
            {"tenant_id": "nosuchtenant", "source": "northwind-files", "record_id": "X"},
        ),
        ("/admin/consent/revoke", {"tenant_id": "contoso", "source": "northwind-files", "record_id": "X"}),
        ("/admin/erasure", {"tenant_id": "nosuchtenant", "contact_id": "c-1"}),
    ],
)
def test_privacy_requests_for_unknown_tenants_or_sources_are_404(
    client: TestClient, demo_services: Services, path: str, body: dict[str, Any]
) -> None:
    before = len(demo_services.privacy.all())
    resp = client.post(path, json=body, headers=headers("admin"))
    assert resp.status_code == 404, resp.text
    assert len(demo_services.privacy.all()) == before  # nothing suppressed, no receipt
    assert demo_services.privacy.list_receipts(body["tenant_id"]) == []


def test_scoped_admin_sees_only_its_tenants_chunks(demo_services: Services, client: TestClient) -> None:
    total = client.get("/admin/index", headers=headers("admin")).json()["chunks"]
    with scoped_client(demo_services) as scoped:
        mine = scoped.get("/admin/index", headers={"X-API-Key": "nw-admin"}).json()
    assert mine["chunks"] == demo_services.index.count(tenant_id="northwind")
    assert 0 < mine["chunks"] < total
    assert set(mine["stale_records"]) == {"northwind-files"}


def test_scoped_auditor_verify_counts_only_its_tenants(demo_services: Services, client: TestClient) -> None:
    everything = client.get("/audit/verify", headers=headers("auditor")).json()
    with scoped_client(demo_services) as scoped:
        mine = scoped.get("/audit/verify", headers={"X-API-Key": "nw-auditor"}).json()
    own = len(demo_services.state.list_audit(tenant_id="northwind", limit=100_000))
    assert mine["ok"] is True and everything["ok"] is True
    assert mine["events_checked"] == own
    assert 0 < mine["events_checked"] < everything["events_checked"]


def test_unknown_keys_are_rate_limited_per_client_address(demo_services: Services) -> None:
    api = demo_services.settings.api.model_copy(update={"rate_limit_per_minute": 2, "rate_limit_burst": 2})
    settings = demo_services.settings.model_copy(update={"api": api})
    with TestClient(create_app(settings, services=demo_services, start_scheduler=False)) as limited:
        codes = [
            limited.get("/admin/runs", headers={"X-API-Key": f"guess-{i}"}).status_code for i in range(3)
        ]
        assert codes == [401, 401, 429]
        resp = limited.get("/admin/runs")  # no key at all: the same address bucket
        assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
        assert limited.get("/admin/runs", headers=headers("admin")).status_code == 200  # a valid key
