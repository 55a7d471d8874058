"""Extractive answers: the best sentences of the retrieved chunks, each cited. Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MIN_OVERLAP = 0.25  # share of the question's content words a quoted sentence must contain
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "them",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


@dataclass(frozen=True, slots=True)
class Passage:
    n: int  # citation number (1-based, position in the sources list)
    text: str
    score: float


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


def _is_title(line: str) -> bool:
    """ "Ticket: Kestrel Aerospace support request": short, and no sentence ending."""
    return not line.rstrip().endswith((".", "!", "?")) and len(line.split()) <= 12


def extract_answer(
    question: str,
    passages: Sequence[Passage],
    *,
    token_budget: int,
    count_tokens: Callable[[str], int],
    max_sentences: int = 3,
) -> str:
    if not passages:
        return ""
    wanted = content_words(question)
    scored: list[tuple[float, int, int, str]] = []
    for p in passages:
        sentences = [s.strip() for s in _SENTENCE.split(p.text) if s.strip()]
        for order, sentence in enumerate(sentences):
            if len(content_words(sentence)) < 4:  # greetings, short labels
                continue
            if order == 0 and len(sentences) > 1 and _is_title(sentence):
                continue  # a record's title line: the answer quotes what the record says
            overlap = len(wanted & content_words(sentence)) / max(1, len(wanted))
            scored.append(
                (p.score * (0.35 + overlap), p.n, order, sentence)
                if overlap >= MIN_OVERLAP
                else (0.0, p.n, order, sentence)
            )
    scored.sort(key=lambda s: -s[0])
    relevant = [s for s in scored if s[0] > 0]
    scored = relevant or scored[:1]  # nothing overlaps the question: the best passage's best sentence
    picked: list[tuple[int, int, str]] = []
    used = 0
    for _, n, order, sentence in scored:
        cost = count_tokens(sentence) + 3
        if used + cost > token_budget or any(sentence == s for _, _, s in picked):
            continue
        picked.append((n, order, sentence))
        used += cost
        if len(picked) >= max_sentences:
            break
    picked.sort(key=lambda s: (s[0], s[1]))
    return " ".join(f"{sentence} [{n}]" for n, _, sentence in picked)
