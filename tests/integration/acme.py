"""A small two-source tenant (acme notes and tickets) and the fixture that ingests it (privacy tests)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.config import FileSourceConfig
from ingest.models import RecordRef
from rag_service.app import create_app
from rag_service.config import Settings
from rag_service.services import Services, build_services
from tests.conftest import headers, make_settings

TEAM = ["team-a"]


def note(rid: str, ts: str, body: str, contacts: list[dict[str, str]], **kw: Any) -> dict[str, Any]:
    return {
        "record_id": rid,
        "record_type": "note",
        "updated_at": ts,
        "url": f"https://crm.example/{rid}",
        "owner_id": "u-1",
        "team_ids": TEAM,
        "consent": {"assistant_use": "granted"},
        "contacts": contacts,
        "body": body,
        **kw,
    }


def write(folder: Path, records: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


ANA_BY_ID = [{"contact_id": "c-ana", "name": "Ana Lindqvist"}]


ANA_BY_MAIL = [{"contact_id": "zd-991", "name": "Ana L", "email": "Ana.Lindqvist@Example.org"}]


OTHER = [{"contact_id": "c-bo", "name": "Bo Mensah"}]


def notes_a() -> list[dict[str, Any]]:
    return [
        note(
            "N-1", "2026-10-01T10:00:00+00:00", "Warehouse robots need a firmware patch for lidar.", ANA_BY_ID
        ),
        note("N-2", "2026-10-01T11:00:00+00:00", "Quarterly review of the lidar rollout went well.", OTHER),
    ]


def notes_b() -> list[dict[str, Any]]:
    return [
        note("T-7", "2026-10-02T09:00:00+00:00", "Ticket: lidar calibration fails on robot 7.", ANA_BY_MAIL)
    ]


def settings_for(tmp: Path) -> Settings:
    base = make_settings(tmp / "var", tmp / "crm")
    return base.model_copy(
        update={
            "sources": (
                FileSourceConfig(name="acme-notes", tenant_id="acme", path=tmp / "crm" / "a"),
                FileSourceConfig(
                    name="acme-tickets", tenant_id="acme", path=tmp / "crm" / "b", system="zendesk"
                ),
            )
        }
    )


@pytest.fixture
def env(tmp_path: Path, embedder: Any, redactor: Any) -> Iterator[tuple[Services, TestClient, Path]]:
    write(tmp_path / "crm" / "a", notes_a())
    write(tmp_path / "crm" / "b", notes_b())
    services = build_services(settings_for(tmp_path), embedder=embedder, redactor=redactor)
    for name in services.sources:
        assert services.run(name, actor="t").status == "succeeded"
    app = create_app(services.settings, services=services, start_scheduler=False)
    with TestClient(app) as client:
        yield services, client, tmp_path
    services.close()


def ask(client: TestClient, question: str = "lidar firmware calibration robots") -> set[str]:
    resp = client.post(
        "/query",
        headers=headers("assistant"),
        json={
            "question": question,
            "tenant_id": "acme",
            "purpose": "sales_assistant",
            "user": {"user_id": "u-9", "team_ids": TEAM},
            "top_k": 10,
        },
    )
    assert resp.status_code == 200, resp.text
    return {s["record_id"] for s in resp.json()["sources"]}


class PageGate:
    """Holds the first page that reaches `point` until released."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, point: str, refs: Sequence[RecordRef]) -> None:
        if point == self.point and not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(60), "the test never released the page"
