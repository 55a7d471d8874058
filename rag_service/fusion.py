"""Fuse the dense and lexical legs of one retrieval into one ranking. Pure.

Query-adaptive weighted reciprocal-rank fusion, chosen by measurement on
../shared/data/retrieval-dev (bench/README.md, "Hybrid retrieval"):

    score(chunk) = 1 / (k + dense_rank) + w_lex / (k + lexical_rank)      (ranks from 1)
    w_lex = min(lexical_weight_max, lexical_gap_scale * max(0, gap - lexical_gap_floor))
    gap   = (bm25_1 - bm25_n) / bm25_1     (how far the lexical leg's best hit stands out from
                                            its n-th, n = gap_rank)

A lexical leg whose best hit stands out (an exact term, a product name, a manual's wording) weighs
up to 1.5x the dense leg; a flat one (a paraphrase sharing only common words) weighs nothing, so
paraphrased questions keep the dense ranking. Plain RRF (w_lex = 1) cost the FAQ paraphrases 6
points R@1. Defaults (k 2, scale 3, floor 0.2, cap 1.5) come from a grid over both dev sets.

Why not the engine's fusion: the weight depends on the lexical leg's scores, which one engine
query cannot express, and qdrant-edge 0.9's weighted RRF does not weight per prefetch (a probe
with weights [3, 1] and [1, 3] ranked identically). The legs still run in the engine, as one
filtered batch; fusing at most 2 x candidates hits here costs microseconds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ingest.index.base import Hit, Legs
from rag_service.config import RetrievalConfig, RetrievalMode


class Ranked(BaseModel):
    model_config = ConfigDict(frozen=True)

    hit: Hit
    fused: float
    dense_rank: int | None  # 1-based rank in its leg, None = not in that leg's candidates
    lexical_rank: int | None


def lexical_weight(lexical: tuple[Hit, ...], config: RetrievalConfig) -> float:
    if not lexical or lexical[0].score <= 0:
        return 0.0
    top = lexical[0].score
    nth = lexical[min(config.gap_rank, len(lexical)) - 1].score if len(lexical) > 1 else 0.0
    gap = (top - nth) / top
    return min(config.lexical_weight_max, config.lexical_gap_scale * max(0.0, gap - config.lexical_gap_floor))


def fuse(legs: Legs, mode: RetrievalMode, config: RetrievalConfig) -> list[Ranked]:
    """The hits of the legs `mode` uses, best first."""
    if mode == "dense" or (mode == "hybrid" and not legs.lexical):
        return [
            Ranked(hit=h, fused=h.score, dense_rank=i, lexical_rank=None) for i, h in enumerate(legs.dense, 1)
        ]
    if mode == "lexical":
        return [
            Ranked(hit=h, fused=h.score, dense_rank=None, lexical_rank=i)
            for i, h in enumerate(legs.lexical, 1)
        ]
    k, w = config.rrf_k, lexical_weight(legs.lexical, config)
    hits: dict[str, Hit] = {}
    score: dict[str, float] = {}
    dense_rank: dict[str, int] = {}
    lexical_rank: dict[str, int] = {}
    for rank, hit in enumerate(legs.dense, 1):
        hits[hit.id], dense_rank[hit.id] = hit, rank
        score[hit.id] = 1.0 / (k + rank)
    for rank, hit in enumerate(legs.lexical, 1):
        if hit.id not in hits:
            hits[hit.id] = hit
        lexical_rank[hit.id] = rank
        score[hit.id] = score.get(hit.id, 0.0) + w / (k + rank)
    order = sorted(score, key=lambda i: (-score[i], dense_rank.get(i, 1 << 30)))
    return [
        Ranked(hit=hits[i], fused=score[i], dense_rank=dense_rank.get(i), lexical_rank=lexical_rank.get(i))
        for i in order
    ]
