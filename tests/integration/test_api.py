"""HTTP API through FastAPI's TestClient on the ingested demo set."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from rag_service.services import Services
from tests.conftest import headers
from tests.integration.demo_queries import ask, purpose_for, raw_record


def test_canary_questions_find_their_records(client: TestClient, truth: dict[str, Any]) -> None:
    found_top1 = 0
    for canary in truth["canaries"]:
        raw = raw_record(canary["tenant_id"], canary["record_id"])
        resp = ask(
            client,
            canary["question"],
            canary["tenant_id"],
            purpose_for(raw["consent"]),
            user=raw["owner_id"],
            teams=raw["team_ids"],
        )
        assert resp.status_code == 200, resp.text
        data = resp.json()
        ids = [s["record_id"] for s in data["sources"]]
        assert canary["record_id"] in ids, f"{canary['topic']} not retrieved for {canary['tenant_id']}"
        found_top1 += ids[0] == canary["record_id"]
        top = data["sources"][ids.index(canary["record_id"])]
        assert top["record_url"] == raw["url"]
        assert top["updated_at"].startswith(raw["updated_at"][:16])
        for n in {int(x) for x in __import__("re").findall(r"\[(\d+)\]", data["answer"])}:
            assert 1 <= n <= len(data["sources"]), "every citation must be a retrieved source"
    assert found_top1 >= 0.8 * len(truth["canaries"])


def test_tenant_and_acl_and_purpose_filters(client: TestClient, truth: dict[str, Any]) -> None:
    canary = truth["canaries"][0]
    raw = raw_record(canary["tenant_id"], canary["record_id"])
    purpose = purpose_for(raw["consent"])
    # another user without the team sees nothing of that record
    resp = ask(client, canary["question"], canary["tenant_id"], purpose, user="stranger", teams=["team-x"])
    assert resp.status_code == 200
    assert resp.json()["sources"] == []
    # the same question in another tenant never returns this tenant's records
    other = next(t for t in ("northwind", "contoso", "globex") if t != canary["tenant_id"])
    resp = ask(client, canary["question"], other, purpose, user=raw["owner_id"], teams=raw["team_ids"])
    assert all(s["record_id"].split("-")[1] == other[:3] for s in resp.json()["sources"])
    # purpose not covered by the record's consent: not returned
    if set(raw["consent"]) == {"sales_ai"} or set(raw["consent"]) == {"support_ai"}:
        wrong = "support_assistant" if "sales_ai" in raw["consent"] else "sales_assistant"
        resp = ask(
            client,
            canary["question"],
            canary["tenant_id"],
            wrong,
            user=raw["owner_id"],
            teams=raw["team_ids"],
        )
        assert canary["record_id"] not in [s["record_id"] for s in resp.json()["sources"]]


def test_excluded_records_never_surface(client: TestClient, truth: dict[str, Any]) -> None:
    excluded = {k.split(":")[1] for k, r in truth["records"].items() if r["consent"] != "granted"}
    for tenant in ("northwind", "contoso", "globex"):
        teams = [f"team-{tenant}-sales", f"team-{tenant}-support"]
        for purpose in ("sales_assistant", "support_assistant"):
            resp = ask(
                client, "account note call ticket renewal invoice", tenant, purpose, teams=teams, top_k=20
            )
            ids = {s["record_id"] for s in resp.json()["sources"]}
            assert ids and not (ids & excluded)


@pytest.mark.parametrize(
    ("role", "path", "method", "expected"),
    [
        (None, "/query", "post", 401),
        ("admin", "/query", "post", 403),
        ("auditor", "/query", "post", 403),
        ("assistant", "/admin/runs", "get", 403),
        ("auditor", "/admin/runs", "get", 403),
        ("assistant", "/audit/events", "get", 403),
        ("admin", "/audit/events", "get", 403),
        ("admin", "/admin/runs", "get", 200),
        ("auditor", "/audit/events", "get", 200),
    ],
)
def test_roles(client: TestClient, role: str | None, path: str, method: str, expected: int) -> None:
    body = {
        "question": "hello there",
        "tenant_id": "northwind",
        "purpose": "sales_assistant",
        "user": {"user_id": "u"},
    }
    kwargs: dict[str, Any] = {"headers": headers(role) if role else {}}
    if method == "post":
        kwargs["json"] = body
    resp = getattr(client, method)(path, **kwargs)
    assert resp.status_code == expected, resp.text


def test_wrong_key_is_rejected(client: TestClient) -> None:
    resp = client.get("/admin/runs", headers={"X-API-Key": "demo-admin-key-x"})
    assert resp.status_code == 401


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"purpose": "marketing"}, 422),
        ({"purpose": None}, 422),
        ({"top_k": 1000}, 422),
        ({"question": "x" * 5000}, 422),
        ({"tenant_id": "../../etc"}, 422),
        ({"filters": {"record_types": ["email"]}}, 422),
        ({"extra_field": 1}, 422),
    ],
)
def test_bad_queries_get_clear_4xx(client: TestClient, change: dict[str, Any], status: int) -> None:
    body = {
        "question": "renewal status",
        "tenant_id": "northwind",
        "purpose": "sales_assistant",
        "user": {"user_id": "u"},
        **change,
    }
    body = {k: v for k, v in body.items() if v is not None}
    resp = client.post("/query", json=body, headers=headers("assistant"))
    assert resp.status_code == status
    assert "Traceback" not in resp.text


def test_errors_do_not_echo_input(client: TestClient) -> None:
    secret = "maria.gonzalez@example.com"
    body = {
        "question": secret,
        "tenant_id": "northwind",
        "purpose": "sales_assistant",
        "user": {"user_id": "u"},
        "top_k": secret,
    }
    resp = client.post("/query", json=body, headers=headers("assistant"))
    assert resp.status_code == 422
    assert secret not in resp.text


def test_oversized_body_is_413(client: TestClient) -> None:
    resp = client.post(
        "/query",
        content=b"{" + b" " * 40_000 + b"}",
        headers={**headers("assistant"), "content-type": "application/json"},
    )
    assert resp.status_code == 413


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    spec = client.get("/openapi.json").json()
    assert {"/query", "/admin/runs", "/audit/chunks/{chunk_id}"} <= set(spec["paths"])


def test_admin_sync_and_runs(fresh_demo: tuple[Services, TestClient]) -> None:
    client = fresh_demo[1]
    resp = client.post("/admin/sources/contoso-files/sync?wait=true", headers=headers("admin"))
    assert resp.status_code == 200  # wait=true: the finished run with its counts (issue 20)
    run = resp.json()
    assert run["status"] == "succeeded"
    assert run["counts"]["fetched"] >= 0 and "unchanged" in run["counts"]
    for stamp in (run["started_at"], run["finished_at"]):  # RFC 3339 with a zone
        assert datetime.fromisoformat(stamp).tzinfo is not None
    runs = client.get("/admin/runs", params={"source": "contoso-files"}, headers=headers("admin")).json()
    assert runs[0]["run_id"] == run["run_id"] and runs[0]["actor"] == "admin:demo-admin"
    queued = client.post("/admin/sources/contoso-files/sync", headers=headers("admin"))
    assert queued.status_code == 202
    location = queued.headers["location"]
    assert location == queued.json()["location"] == f"/admin/runs/{queued.json()['run_id']}"
    deadline = time.monotonic() + 120
    while client.get(location, headers=headers("admin")).json()["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    stale = client.post("/admin/sources/contoso-files/reprocess-stale", headers=headers("admin"))
    assert stale.status_code == 200 and stale.json()["status"] == "nothing_to_do"
    assert client.post("/admin/sources/nope/sync", headers=headers("admin")).status_code == 404
    q = client.get("/admin/quarantine", params={"source": "contoso-files"}, headers=headers("admin")).json()
    assert len(q) == 5 and all(item["reason"] for item in q)


def test_admin_reindex_record(fresh_demo: tuple[Services, TestClient], truth: dict[str, Any]) -> None:
    client = fresh_demo[1]
    canary = truth["canaries"][1]
    resp = client.post(
        "/admin/reindex",
        json={"source": f"{canary['tenant_id']}-files", "record_id": canary["record_id"], "wait": True},
        headers=headers("admin"),
    )
    assert resp.status_code == 200 and resp.json()["status"] == "succeeded"
    run = client.get(f"/admin/runs/{resp.json()['run_id']}", headers=headers("admin")).json()
    assert run["counts"]["indexed"] == 1 and run["counts"]["embedded"] >= 1
    unknown = client.post(
        "/admin/reindex",
        json={"source": f"{canary['tenant_id']}-files", "record_id": "DOES-NOT-EXIST", "wait": True},
        headers=headers("admin"),
    )
    assert unknown.status_code == 404  # not a "succeeded" deletion of a record that never was


def test_auditor_provenance(client: TestClient, truth: dict[str, Any]) -> None:
    canary = truth["canaries"][2]
    raw = raw_record(canary["tenant_id"], canary["record_id"])
    resp = ask(
        client,
        canary["question"],
        canary["tenant_id"],
        purpose_for(raw["consent"]),
        user=raw["owner_id"],
        teams=raw["team_ids"],
    )
    source = next(s for s in resp.json()["sources"] if s["record_id"] == canary["record_id"])
    prov = client.get(f"/audit/chunks/{source['chunk_id']}", headers=headers("auditor"))
    assert prov.status_code == 200
    payload = prov.json()["payload"]
    assert payload["record_id"] == canary["record_id"] and payload["record_url"] == raw["url"]
    assert payload["redaction"]["policy_version"].startswith("redaction-")
    rec = client.get(
        f"/audit/records/{canary['tenant_id']}/{canary['tenant_id']}-files/{canary['record_id']}",
        headers=headers("auditor"),
    ).json()
    assert rec["ledger"]["status"] == "indexed"
    assert len(rec["chunks"]) == rec["ledger"]["chunk_count"]
    assert (
        client.get(
            "/audit/chunks/00000000-0000-0000-0000-000000000000", headers=headers("auditor")
        ).status_code
        == 404
    )
    verify = client.get("/audit/verify", headers=headers("auditor")).json()
    assert verify["ok"] is True and verify["events_checked"] > 0


def test_api_keeps_answering_during_a_reindex(
    fresh_demo: tuple[Services, TestClient], truth: dict[str, Any]
) -> None:
    import threading

    services, client = fresh_demo
    canary = next(c for c in truth["canaries"] if c["tenant_id"] == "globex")
    raw = raw_record("globex", canary["record_id"])
    done = threading.Event()
    result: dict[str, Any] = {}

    def reindex() -> None:
        result["report"] = services.run("globex-files", kind="reindex", actor="t")
        done.set()

    worker = threading.Thread(target=reindex)
    worker.start()
    answered = 0
    while not done.is_set():
        resp = ask(
            client,
            canary["question"],
            "globex",
            purpose_for(raw["consent"]),
            user=raw["owner_id"],
            teams=raw["team_ids"],
        )
        assert resp.status_code == 200
        assert canary["record_id"] in [s["record_id"] for s in resp.json()["sources"]]
        answered += 1
    worker.join()
    assert result["report"].status == "succeeded"
    assert result["report"].counts["embedded"] > 50
    assert answered >= 5


@pytest.mark.parametrize("store", ["memory", "state"])
def test_rate_limit_per_key(demo_services: Any, store: str) -> None:
    from rag_service.app import create_app

    api = demo_services.settings.api.model_copy(
        update={"rate_limit_per_minute": 2, "rate_limit_burst": 2, "rate_limit_store": store}
    )
    settings = demo_services.settings.model_copy(update={"api": api})
    apps = [create_app(settings, services=demo_services, start_scheduler=False) for _ in range(2)]
    with TestClient(apps[0]) as limited, TestClient(apps[1]) as replica:
        codes = [limited.get("/admin/runs", headers=headers("admin")).status_code for _ in range(2)]
        # a second replica: its own bucket in memory; the same bucket through the state store
        codes.append(replica.get("/admin/runs", headers=headers("admin")).status_code)
        assert codes == ([200, 200, 429] if store == "state" else [200, 200, 200])
        resp = limited.get("/admin/runs", headers=headers("admin"))
        assert resp.status_code == 429 and int(resp.headers["Retry-After"]) >= 1
        assert limited.get("/audit/events", headers=headers("auditor")).status_code == 200  # other key


def test_prometheus_metrics(fresh_demo: tuple[Services, TestClient]) -> None:
    services, client = fresh_demo
    assert services.run("northwind-files", kind="reindex", actor="test").status == "succeeded"
    ask(client, "renewal budget", "northwind", "sales_assistant", teams=["team-northwind-sales"])
    text = client.get("/metrics").text
    assert 'crm_rag_records_total{outcome="indexed",source="northwind-files"}' in text
    assert 'crm_rag_records_total{outcome="quarantine_unchanged",source="northwind-files"} 5.0' in text
    assert 'crm_rag_redactions_total{entity="EMAIL_ADDRESS",source="northwind-files"}' in text
    assert "crm_rag_run_duration_seconds_bucket" in text
    assert "crm_rag_query_duration_seconds_count" in text
    assert 'crm_rag_freshness_lag_seconds{source="globex-files"}' in text
    chunks = next(line for line in text.splitlines() if line.startswith("crm_rag_index_chunks "))
    assert float(chunks.split()[1]) > 200


def test_an_off_topic_question_gets_no_answer_and_the_reason(client: TestClient) -> None:
    body = {
        "question": "what is the boiling point of mercury in kelvin",
        "tenant_id": "northwind",
        "purpose": "sales_assistant",
        "user": {"user_id": "u", "team_ids": ["team-northwind-sales", "team-northwind-support"]},
    }
    resp = client.post("/query", json=body, headers=headers("assistant"))
    assert resp.status_code == 200
    data = resp.json()
    assert data["sources"] == [] and data["answer"] == ""
    assert data["no_answer"].startswith("nothing relevant: best score")
    # the floor is a request option too: at 0 every hit comes back
    low = client.post("/query", json={**body, "min_score": 0.0}, headers=headers("assistant")).json()
    assert low["sources"] and low["no_answer"] is None
