"""Retrieval quality floor on the labeled demo questions: catches chunking, redaction or
embedding changes that hurt retrieval."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from bench.answer_stats import AnswerStats
from rag_service.evaluation import score
from tests.integration.demo_queries import ask, purpose_for, raw_record

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


def test_the_answer_cites_the_right_record(client: TestClient, truth: dict[str, Any]) -> None:
    """The answer quotes the best-ranked source first and cites it, so a right record ranked first
    is always cited; one in the top 5 nearly always (issue 16: 90% on the dev sets)."""
    stats = AnswerStats()
    for canary in truth["canaries"]:
        raw = raw_record(canary["tenant_id"], canary["record_id"])
        data = ask(
            client,
            canary["question"],
            canary["tenant_id"],
            purpose_for(raw["consent"]),
            user=raw["owner_id"],
            teams=raw["team_ids"],
            top_k=10,
        ).json()
        stats.add(data["answer"], [s["record_id"] for s in data["sources"]], frozenset({canary["record_id"]}))
    print(f"answers: {stats.row()}")
    assert stats.gold_first >= 20 and stats.cites_gold_first == stats.gold_first
    assert stats.cites_gold_top5 >= 0.9 * stats.gold_top5


def test_score_math() -> None:
    result = score([["a", "b"], ["x", "y", "z"], []], ["b", "z", "q"], k=2)
    assert result.recall_at_k == round(1 / 3, 4)
    assert result.mrr == round((1 / 2 + 1 / 3) / 3, 4)
