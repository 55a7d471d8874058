"""Odd input gets a clear 4xx and never an echo of itself (issue 19, defects 7 and 8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import headers

BASE = {
    "question": "renewal status",
    "tenant_id": "northwind",
    "purpose": "sales_assistant",
    "user": {"user_id": "u"},
}


@pytest.mark.parametrize("chunk_id", ["abc", "0", "-1", "' OR 1=1 --", "%00", "%2e%2e", "x" * 300])
def test_odd_chunk_ids_are_4xx_not_500(client: TestClient, chunk_id: str) -> None:
    resp = client.get(f"/audit/chunks/{chunk_id}", headers=headers("auditor"))
    assert resp.status_code in (404, 422), resp.text


def test_unknown_uuid_chunk_is_404(client: TestClient) -> None:
    resp = client.get("/audit/chunks/6f1c2a4e-9d1b-4c1e-8f1a-1b2c3d4e5f60", headers=headers("auditor"))
    assert resp.status_code == 404


def test_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def body() -> Iterator[bytes]:  # no content-length: transfer-encoding chunked
        yield b'{"question": "'
        for _ in range(40):
            yield b"x" * 1000
        yield b'"}'

    resp = client.post(
        "/query", content=body(), headers={**headers("assistant"), "content-type": "application/json"}
    )
    assert resp.status_code == 413, resp.text
    assert "content-length" not in {k.lower() for k in resp.request.headers}


SECRET_KEY = "someone@example.org"


@pytest.mark.parametrize(
    ("path", "role", "body"),
    [
        ("/query", "assistant", {**BASE, SECRET_KEY: 1}),
        ("/query", "assistant", {**BASE, "user": {"user_id": "u", SECRET_KEY: "x"}}),
        ("/query", "assistant", {**BASE, "filters": {SECRET_KEY: []}}),
        (
            "/admin/consent/revoke",
            "admin",
            {"tenant_id": "t", "source": "s", "record_id": "r", SECRET_KEY: 1},
        ),
        ("/admin/erasure", "admin", {"tenant_id": "t", SECRET_KEY: "x"}),
        ("/admin/reindex", "admin", {"source": "s", SECRET_KEY: True}),
    ],
)
def test_unknown_keys_are_named_without_repeating_them(
    client: TestClient, path: str, role: str, body: dict[str, Any]
) -> None:
    resp = client.post(path, json=body, headers=headers(role))
    assert resp.status_code == 422, resp.text
    assert SECRET_KEY not in resp.text and "someone" not in resp.text
    extra = [e for e in resp.json()["detail"] if e["type"] == "extra_forbidden"]
    assert extra and all(e["loc"][-1] == "<unknown field>" for e in extra)


def test_validation_messages_do_not_quote_the_input(client: TestClient) -> None:
    for chunk_id in ("' OR 1=1 --", "zz-secret-zz"):
        resp = client.get(f"/audit/chunks/{chunk_id}", headers=headers("auditor"))
        assert resp.status_code == 422
        assert "OR 1=1" not in resp.text and "secret" not in resp.text and "`'`" not in resp.text
    resp = client.post(
        "/query",
        json={**BASE, "filters": {"updated_from": "maria.gonzalez@example.com"}},
        headers=headers("assistant"),
    )
    assert resp.status_code == 422 and "maria" not in resp.text
    assert json.loads(resp.text)["detail"][0]["loc"] == ["body", "filters", "updated_from"]
