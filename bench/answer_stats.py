"""Answer quality beside recall: does the answer cite a gold record, and do its quotes hold the gold
answer's words? Read from a /query response only (the answer's `[n]` markers and the sources), so
the same numbers come out for any version of the service."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rag_service.answer import content_words

CITATION = re.compile(r"\[(\d+)\]")
GOLD_WORDS_FLOOR = 0.5  # "the quote contains the gold answer's words": at least this share of them


@dataclass
class AnswerStats:
    queries: int = 0
    cites_gold: int = 0
    gold_top5: int = 0  # queries with a gold record in the top 5 sources
    cites_gold_top5: int = 0
    gold_first: int = 0  # queries whose first source is a gold record
    cites_gold_first: int = 0
    with_gold_answer: int = 0  # queries that come with a gold answer text
    gold_words: float = 0.0  # sum over those of the share of gold-answer content words quoted
    gold_words_hit: int = 0  # ... quoting at least GOLD_WORDS_FLOOR of them
    spans: int = 0  # quotes returned (services that return them)
    spans_ok: int = 0  # ... citing the retrieved chunk, with offsets that cut its stored text exactly

    def add(
        self, answer: str, source_records: Sequence[str], gold: frozenset[str], gold_answer: str = ""
    ) -> None:
        """`source_records`: record id of source n at index n - 1."""
        cited = {
            source_records[n - 1]
            for n in (int(x) for x in CITATION.findall(answer))
            if 1 <= n <= len(source_records)
        }
        hit = bool(cited & gold)
        self.queries += 1
        self.cites_gold += hit
        if any(rid in gold for rid in source_records[:5]):
            self.gold_top5 += 1
            self.cites_gold_top5 += hit
        if source_records and source_records[0] in gold:
            self.gold_first += 1
            self.cites_gold_first += hit
        if gold_answer.strip():
            wanted = content_words(gold_answer)
            share = len(wanted & content_words(CITATION.sub(" ", answer))) / max(1, len(wanted))
            self.with_gold_answer += 1
            self.gold_words += share
            self.gold_words_hit += share >= GOLD_WORDS_FLOOR

    def check_spans(
        self,
        quotes: Sequence[dict[str, Any]],
        sources: Sequence[dict[str, Any]],
        stored_text: Callable[[str], str | None],
    ) -> None:
        """Each quote names source n's chunk, and the chunk's stored text [start:end] is its text."""
        for q in quotes:
            n, text = int(q["n"]), stored_text(str(q["chunk_id"]))
            cited = 1 <= n <= len(sources) and sources[n - 1]["chunk_id"] == q["chunk_id"]
            self.spans += 1
            self.spans_ok += cited and text is not None and text[q["start"] : q["end"]] == q["text"]

    def row(self) -> str:
        """`| cites gold | ... gold in top 5 | ... gold first | gold words quoted | spans round-trip |`"""

        def rate(k: int, n: int) -> str:
            return f"{k / n:.3f} ({k}/{n})" if n else "-"

        words = (
            f"{self.gold_words / self.with_gold_answer:.3f} mean, "
            f"{rate(self.gold_words_hit, self.with_gold_answer)} >= {GOLD_WORDS_FLOOR:.0%}"
            if self.with_gold_answer
            else "-"
        )
        return (
            f"| {rate(self.cites_gold, self.queries)} | {rate(self.cites_gold_top5, self.gold_top5)} "
            f"| {rate(self.cites_gold_first, self.gold_first)} | {words} "
            f"| {rate(self.spans_ok, self.spans)} |"
        )
