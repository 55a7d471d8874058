"""Query-adaptive fusion of the dense and lexical legs (rag_service/fusion.py)."""

from __future__ import annotations

from ingest.index.base import Hit, Legs
from rag_service.config import RetrievalConfig
from rag_service.fusion import fuse, lexical_weight

CFG = RetrievalConfig()


def hits(ids: str, scores: list[float]) -> tuple[Hit, ...]:
    return tuple(Hit(id=i, score=s, payload={}, cosine=0.5) for i, s in zip(ids, scores, strict=True))


DENSE = hits("abcdefghij", [0.8 - i * 0.01 for i in range(10)])


def test_a_lexical_leg_that_stands_out_promotes_its_best_hit() -> None:
    peaked = hits("zyxwvutsrq", [12.0, 3.0, 2.9, 2.8, 2.7, 2.6, 2.5, 2.4, 2.3, 2.2])
    assert lexical_weight(peaked, CFG) == CFG.lexical_weight_max
    ranked = fuse(Legs(dense=DENSE, lexical=peaked), "hybrid", CFG)
    assert ranked[0].hit.id == "z"
    assert (ranked[0].dense_rank, ranked[0].lexical_rank) == (None, 1)


def test_a_flat_lexical_leg_keeps_the_dense_order() -> None:
    flat = hits("zyxwvutsrq", [3.0, 2.99, 2.98, 2.97, 2.96, 2.95, 2.94, 2.93, 2.92, 2.91])
    assert lexical_weight(flat, CFG) < 0.1
    ranked = fuse(Legs(dense=DENSE, lexical=flat), "hybrid", CFG)
    assert [r.hit.id for r in ranked[:10]] == list("abcdefghij")


def test_agreement_between_the_legs_wins() -> None:
    lexical = hits("jzyxwvutsr", [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.5, 1.0])
    ranked = fuse(Legs(dense=DENSE, lexical=lexical), "hybrid", CFG)
    assert ranked[0].hit.id == "j"  # last in the dense leg, first in the lexical one
    assert ranked[0].dense_rank == 10 and ranked[0].lexical_rank == 1


def test_single_leg_modes_and_missing_lexical_leg() -> None:
    lexical = hits("zy", [2.0, 1.0])
    assert [r.hit.id for r in fuse(Legs(dense=DENSE, lexical=lexical), "lexical", CFG)] == ["z", "y"]
    assert [r.hit.id for r in fuse(Legs(dense=DENSE, lexical=lexical), "dense", CFG)] == list("abcdefghij")
    assert [r.hit.id for r in fuse(Legs(dense=DENSE), "hybrid", CFG)] == list("abcdefghij")
    assert lexical_weight((), CFG) == 0.0
