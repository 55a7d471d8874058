from __future__ import annotations

from rag_service.context import fit_budget


def words(text: str) -> int:
    return len(text.split())


def test_chunks_are_kept_whole_best_first_within_the_budget() -> None:
    ranked = [(1, "a b c d"), (2, "e f g h i j"), (3, "k l"), (4, "m")]
    kept, left_out = fit_budget(ranked, 7, words)
    assert [(f.n, f.text, f.tokens) for f in kept] == [(1, "a b c d", 4), (3, "k l", 2), (4, "m", 1)]
    assert left_out == 1
    assert fit_budget(ranked, 3, words)[0][0].n == 3
    assert fit_budget([], 10, words) == ([], 0)
