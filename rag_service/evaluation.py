"""Retrieval quality over labeled questions: recall@k and MRR. Pure, used by CI and bench/."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetrievalScore:
    questions: int
    recall_at_k: float
    mrr: float
    k: int


def score(ranked: Sequence[Sequence[str]], expected: Sequence[str], k: int) -> RetrievalScore:
    """ranked[i]: record ids returned for question i, best first; expected[i]: the right record."""
    if len(ranked) != len(expected):
        raise ValueError("one ranking per expected record")
    hits = 0
    reciprocal = 0.0
    for ids, want in zip(ranked, expected, strict=True):
        if want in ids[:k]:
            hits += 1
        if want in ids:
            reciprocal += 1.0 / (list(ids).index(want) + 1)
    n = max(1, len(expected))
    return RetrievalScore(
        questions=len(expected), recall_at_k=round(hits / n, 4), mrr=round(reciprocal / n, 4), k=k
    )
