"""Extractive answers: sentences quoted from the retrieved chunks, each cited, with its offsets in
the chunk's stored text. Pure.

The best-ranked source is always quoted (its sentence sharing most words with the question); the
other sentences are the ones that share enough words with the question, weighted by their
source's score, within the token budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
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
    text: str  # the chunk's stored (redacted) text
    score: float


@dataclass(frozen=True, slots=True)
class Quoted:
    """One sentence of the answer: `text == passage.text[start:end]`."""

    n: int
    start: int
    end: int
    text: str


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence, without surrounding whitespace; `text[start:end]` is it."""
    pos = 0
    for sep in [*_SENTENCE.finditer(text), None]:
        stop = sep.start() if sep else len(text)
        piece = text[pos:stop]
        stripped = piece.strip()
        if stripped:
            start = pos + (len(piece) - len(piece.lstrip()))
            yield start, start + len(stripped)
        if sep:
            pos = sep.end()


def _is_title(line: str) -> bool:
    """ "Ticket: Kestrel Aerospace support request": short, and no sentence ending."""
    return not line.rstrip().endswith((".", "!", "?")) and len(line.split()) <= 12


@dataclass(frozen=True, slots=True)
class _Candidate:
    weight: float  # passage score x (0.35 + overlap); 0 when under MIN_OVERLAP
    overlap: float
    quoted: Quoted
    order: int


def _candidates(wanted: set[str], p: Passage, min_words: int = 4) -> list[_Candidate]:
    spans = list(sentence_spans(p.text))
    out: list[_Candidate] = []
    for order, (start, end) in enumerate(spans):
        sentence = p.text[start:end]
        if len(content_words(sentence)) < min_words:  # greetings, short labels
            continue
        if order == 0 and len(spans) > 1 and _is_title(sentence):
            continue  # a record's title line: the answer quotes what the record says
        overlap = len(wanted & content_words(sentence)) / max(1, len(wanted))
        weight = p.score * (0.35 + overlap) if overlap >= MIN_OVERLAP else 0.0
        out.append(_Candidate(weight, overlap, Quoted(p.n, start, end, sentence), order))
    return out


def extract_answer(
    question: str,
    passages: Sequence[Passage],
    *,
    token_budget: int,
    count_tokens: Callable[[str], int],
    max_sentences: int = 3,
) -> list[Quoted]:
    """Passages best first. The answer's sentences, in source order then text order."""
    if not passages:
        return []
    wanted = content_words(question)
    per_passage = [_candidates(wanted, p) for p in passages]
    # the best-ranked source is quoted, whatever its overlap: its sentence sharing most words with
    # the question that fits the budget; short lines too when it has nothing longer (step lists)
    lead = per_passage[0] or _candidates(wanted, passages[0], min_words=1)
    order = [
        c
        for c in sorted(lead, key=lambda c: (-c.overlap, c.order))
        if count_tokens(c.quoted.text) + 3 <= token_budget
    ][:1]
    rest = [c for cands in per_passage for c in cands if c.weight > 0 and c not in order]
    order += sorted(rest, key=lambda c: -c.weight)
    if not order:  # nothing overlaps the question: the first source with a quotable sentence
        order = [cands[0] for cands in per_passage if cands][:1]
    picked: list[_Candidate] = []
    used = 0
    for c in order:
        cost = count_tokens(c.quoted.text) + 3
        if used + cost > token_budget or any(c.quoted.text == p.quoted.text for p in picked):
            continue
        picked.append(c)
        used += cost
        if len(picked) >= max_sentences:
            break
    picked.sort(key=lambda c: (c.quoted.n, c.order))
    return [c.quoted for c in picked]


def render(quotes: Sequence[Quoted]) -> str:
    """The answer text: each sentence followed by its citation marker."""
    return " ".join(f"{q.text} [{q.n}]" for q in quotes)
