"""Hybrid retrieval through the real pipeline and /query: the lexical leg finds exact terms the
dense one ranks low, both legs obey the same filters, and an index created before lexical vectors
answers dense until a blue/green rebuild lays out the new generation with them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.config import FileSourceConfig
from ingest.index.edge import EdgeIndexStore
from rag_service.app import create_app
from rag_service.config import RebuildConfig
from rag_service.services import Services, build_services
from tests.conftest import headers, make_settings

FILLER = [
    "The customer asked how to schedule the firmware update for the warehouse robots overnight.",
    "Firmware updates for the robots can be rolled back from the fleet console.",
    "The robots stop during a firmware update; plan it outside shift hours.",
    "After the update the robots recalibrate their sensors before the next shift.",
]
CODE_NOTE = (
    "Ticket note: the log shows a thermistor fault on two robots; the vendor says it trips the cut-out."
)


def write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    bodies = [*FILLER, CODE_NOTE]
    lines = [
        json.dumps(
            {
                "record_id": f"N-{i}",
                "record_type": "note",
                "updated_at": f"2026-10-01T10:{i:02d}:00+00:00",
                "url": f"https://crm.example/{i}",
                "owner_id": "u-1",
                "consent": {"assistant_use": "granted"},
                "title": "Robot fleet",
                "body": body,
            }
        )
        for i, body in enumerate(bodies)
    ]
    (folder / "n.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture
def services(tmp_path: Path, embedder: Any, redactor: Any) -> Iterator[Services]:
    write(tmp_path / "crm")
    settings = make_settings(tmp_path / "var", tmp_path).model_copy(
        update={"sources": (FileSourceConfig(name="acme-files", tenant_id="acme", path=tmp_path / "crm"),)}
    )
    svc = build_services(settings, embedder=embedder, redactor=redactor)
    yield svc
    svc.close()


def ask(client: TestClient, question: str, **extra: Any) -> dict[str, Any]:
    body = {
        "question": question,
        "tenant_id": "acme",
        "purpose": "sales_assistant",
        "user": {"user_id": "u-1", "team_ids": []},
        "top_k": 5,
        "min_score": 0.0,
        **extra,
    }
    resp = client.post("/query", json=body, headers=headers("assistant"))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_an_exact_code_is_found_by_the_lexical_leg_and_ranked_first(services: Services) -> None:
    assert services.run("acme-files", actor="t").status == "succeeded"
    with TestClient(create_app(services.settings, services=services, start_scheduler=False)) as client:
        question = "what is a thermistor"
        lexical = ask(client, question, retrieval="lexical")
        assert lexical["retrieval"] == "lexical" and lexical["sources"][0]["record_id"] == "N-4"
        assert len(lexical["sources"]) == 1  # only that note has the code
        dense = ask(client, question, retrieval="dense")
        assert dense["retrieval"] == "dense" and all(s["lexical_rank"] is None for s in dense["sources"])
        dense_rank = [s["record_id"] for s in dense["sources"]].index("N-4") + 1
        hybrid = ask(client, question)
        assert hybrid["retrieval"] == "hybrid"
        top = hybrid["sources"][0]
        assert top["record_id"] == "N-4", (dense_rank, hybrid["sources"])
        assert top["lexical_rank"] == 1 and top["dense_rank"] == dense_rank
        assert top["rank_score"] > 0 and 0 <= top["score"] <= 1  # score stays the cosine
        # another user's view: the ACL applies to the lexical leg as well
        other = client.post(
            "/query",
            json={
                "question": "thermistor",
                "tenant_id": "acme",
                "purpose": "sales_assistant",
                "user": {"user_id": "u-2", "team_ids": []},
                "min_score": 0.0,
                "retrieval": "lexical",
            },
            headers=headers("assistant"),
        )
        assert other.status_code == 200 and other.json()["sources"] == []


def test_an_index_without_lexical_vectors_answers_dense_until_a_rebuild(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # the live generation laid out as before lexical vectors existed
    import qdrant_edge as qe

    def old_layout(self: EdgeIndexStore) -> Any:
        return qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=self._dimension, distance=qe.Distance.Cosine))

    services.close()
    settings = make_settings(tmp_path / "old", tmp_path).model_copy(
        update={
            "sources": services.settings.sources,
            "rebuild": RebuildConfig(canaries=()),
        }  # demo canaries ask about demo records
    )
    with monkeypatch.context() as patch:
        patch.setattr(EdgeIndexStore, "_config", old_layout)
        old = build_services(settings, embedder=services.embedder, redactor=services.redactor)
    try:
        assert old.run("acme-files", actor="t").status == "succeeded"
        assert not old.index.has_lexical
        with TestClient(create_app(old.settings, services=old, start_scheduler=False)) as client:
            before = ask(client, "what is a thermistor")
            assert before["retrieval"] == "dense" and before["sources"]
            index = client.get("/admin/index", headers=headers("admin")).json()
            assert (index["lexical_vectors"], index["retrieval_mode"]) == (False, "dense")
            report = old.rebuild(actor="t")
            assert report.status == "swapped", [c for c in report.checks if not c.ok]
            assert old.index.has_lexical
            after = ask(client, "what is a thermistor")
            assert after["retrieval"] == "hybrid"
            index = client.get("/admin/index", headers=headers("admin")).json()
            assert (index["lexical_vectors"], index["retrieval_mode"]) == (True, "hybrid")
            assert after["sources"][0]["record_id"] == "N-4"
    finally:
        old.close()
