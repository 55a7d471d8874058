"""The bench's answer scoring (bench.answer_stats), on hand-made responses."""

from __future__ import annotations

from bench.answer_stats import AnswerStats


def test_cites_gold_counts_by_where_the_gold_record_ranks() -> None:
    stats = AnswerStats()
    gold = frozenset({"g"})
    stats.add("Quote one. [1]", ["g", "x", "y"], gold)  # gold first, cited
    stats.add("Quote two. [2]", ["g", "x", "y"], gold)  # gold first, not cited
    stats.add("Quote three. [3] Quote. [1]", ["x", "y", "g"], gold)  # gold third, cited
    stats.add("Quote four. [9]", ["x"] * 5 + ["g"], gold)  # out-of-range marker, gold sixth
    assert (stats.queries, stats.cites_gold) == (4, 2)
    assert (stats.gold_top5, stats.cites_gold_top5) == (3, 2)
    assert (stats.gold_first, stats.cites_gold_first) == (2, 1)
    assert stats.row().startswith("| 0.500 (2/4) | 0.667 (2/3) | 0.500 (1/2) | - | - |")


def test_gold_answer_words_and_span_round_trips() -> None:
    stats = AnswerStats()
    stats.add(
        "Tap Settings, then Location. [1]", ["g"], frozenset({"g"}), "From Settings, tap Location services."
    )
    assert stats.with_gold_answer == 1 and stats.gold_words == 0.75 and stats.gold_words_hit == 1
    stored = {"c1": "Title\nTap Settings, then Location."}
    sources = [{"chunk_id": "c1"}]
    good = {"n": 1, "chunk_id": "c1", "start": 6, "end": 34, "text": "Tap Settings, then Location."}
    shifted = good | {"start": 5}
    wrong_source = good | {"n": 2}
    stats.check_spans([good, shifted, wrong_source], sources, stored.get)
    assert (stats.spans, stats.spans_ok) == (3, 1)
