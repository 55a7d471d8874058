"""The services fixture of the rebuild tests (edge and qdrant-local)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.config import FileSourceConfig, IndexConfig
from ingest.jobs.rebuild import Canary
from rag_service.config import RebuildConfig
from rag_service.services import Services, build_services
from tests.conftest import make_settings

TOPICS = ["lidar firmware patch for warehouse robots", "invoice credit note for March", "SAML single sign-on"]


def write(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {
                "record_id": f"N-{i}",
                "record_type": "note",
                "updated_at": f"2026-10-01T10:{i:02d}:00+00:00",
                "url": f"https://crm.example/{i}",
                "owner_id": "u-1",
                "consent": {"assistant_use": "granted"},
                "contacts": [{"contact_id": f"c-{i % 3}"}],
                "body": f"Customer {i} asked about {TOPICS[i % 3]}.",
            }
        )
        for i in range(n)
    ]
    (folder / "n.jsonl").write_text("\n".join(lines) + "\n")


def canary(expect: str = "N-0") -> Canary:
    return Canary(
        tenant_id="acme",
        question="lidar firmware patch robots",
        purpose="sales_assistant",
        user_id="u-1",
        expect_record_id=expect,
        top_k=10,
    )


@pytest.fixture(params=["edge", "qdrant-local"])
def services(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: Any, redactor: Any
) -> Iterator[Services]:
    write(tmp_path / "crm", 12)
    settings = make_settings(tmp_path / "var", tmp_path)
    index = (
        settings.index if request.param == "edge" else IndexConfig(backend="qdrant", qdrant_url=":memory:")
    )
    settings = settings.model_copy(
        update={
            "sources": (FileSourceConfig(name="acme-files", tenant_id="acme", path=tmp_path / "crm"),),
            "rebuild": RebuildConfig(canaries=(canary(),)),
            "index": index,
        }
    )
    svc = build_services(settings, embedder=embedder, redactor=redactor)
    svc.run("acme-files", actor="t")
    yield svc
    svc.close()
