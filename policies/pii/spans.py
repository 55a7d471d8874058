"""Precision rules and overlap resolution for candidate spans. Pure.

- A marker never crosses a line break and never covers a speaker label.
- Allow-listed terms (products, UI labels, greetings) are never redacted.
- Overlapping detections are united (nothing of either survives); the longer detection names
  the entity, so an e-mail address that contains a known first name stays an EMAIL_ADDRESS.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from policies.models import RedactedSpan
from policies.pii.text import Candidate


def clip(text: str, candidates: Iterable[Candidate], labels: Sequence[tuple[int, int]]) -> list[Candidate]:
    out: list[Candidate] = []
    for c in candidates:
        pos = c.start
        for piece in text[c.start : c.end].split("\n"):
            start, end = pos, pos + len(piece)
            pos = end + 1
            for ls, le in labels:
                if ls < end and start < le:  # cut the label out: keep what follows it
                    start = max(start, le)
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if end > start:
                out.append(c._replace(start=start, end=end))
    return out


def allowed(text: str, candidates: Iterable[Candidate], allow: frozenset[str]) -> list[Candidate]:
    """Drop detections that are an allowed term, or made only of allowed terms ("Trello Gmail")."""

    def is_allowed(value: str) -> bool:
        value = value.strip(" .,;:!?'\"()").lower()
        return value in allow or all(w in allow for w in value.split())

    return [c for c in candidates if not is_allowed(text[c.start : c.end])]


def merge(candidates: Sequence[Candidate], generic: frozenset[str] = frozenset()) -> list[Candidate]:
    """Unite overlaps; a typed entity names the result over a `generic` one ("ID_NUMBER")."""
    ordered = sorted(candidates, key=lambda c: (c.start, -c.end))
    merged: list[Candidate] = []

    def rank(c: Candidate) -> tuple[bool, int, float]:
        return (c.entity not in generic, c.end - c.start, c.score)

    for c in ordered:
        if merged and c.start < merged[-1].end:
            prev = merged[-1]
            keep_new = rank(c) > rank(prev)
            merged[-1] = Candidate(
                prev.start,
                max(prev.end, c.end),
                c.entity if keep_new else prev.entity,
                max(c.score, prev.score),
                c.detector if keep_new else prev.detector,
            )
        else:
            merged.append(c)
    return merged


def apply(text: str, spans: Sequence[Candidate], replacement: str) -> tuple[str, tuple[RedactedSpan, ...]]:
    out: list[str] = []
    result: list[RedactedSpan] = []
    cursor = 0
    length = 0
    for c in spans:
        out.append(text[cursor : c.start])
        length += c.start - cursor
        marker = replacement.format(entity=c.entity)
        out.append(marker)
        result.append(
            RedactedSpan(
                entity_type=c.entity,
                start=c.start,
                end=c.end,
                out_start=length,
                out_end=length + len(marker),
                score=round(c.score, 3),
                detector=c.detector,
            )
        )
        length += len(marker)
        cursor = c.end
    out.append(text[cursor:])
    return "".join(out), tuple(result)
