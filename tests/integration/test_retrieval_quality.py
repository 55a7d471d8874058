"""Retrieval quality floor on the labeled demo questions: catches chunking, redaction or
embedding changes that hurt retrieval."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from rag_service.evaluation import score
from tests.integration.test_api import ask, purpose_for, raw_record

RECALL_AT_5_FLOOR = 0.95
MRR_FLOOR = 0.85


def test_recall_at_5_and_mrr_over_the_demo_questions(client: TestClient, truth: dict[str, Any]) -> None:
    ranked: list[list[str]] = []
    expected: list[str] = []
    for canary in truth["canaries"]:
        raw = raw_record(canary["tenant_id"], canary["record_id"])
        resp = ask(
            client,
            canary["question"],
            canary["tenant_id"],
            purpose_for(raw["consent"]),
            user=raw["owner_id"],
            teams=raw["team_ids"],
            top_k=10,
        )
        ranked.append([s["record_id"] for s in resp.json()["sources"]])
        expected.append(canary["record_id"])
    result = score(ranked, expected, k=5)
    print(f"retrieval: {result}")
    assert result.questions == 24
    assert result.recall_at_k >= RECALL_AT_5_FLOOR
    assert result.mrr >= MRR_FLOOR


def test_score_math() -> None:
    result = score([["a", "b"], ["x", "y", "z"], []], ["b", "z", "q"], k=2)
    assert result.recall_at_k == round(1 / 3, 4)
    assert result.mrr == round((1 / 2 + 1 / 3) / 3, 4)
