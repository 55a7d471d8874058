"""The shape of the text being redacted: lines, speaker labels, roles and word tokens. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

WORD = re.compile(r"[^\W\d_](?:[\w'\u2019\-]*\w)?")


class Candidate(NamedTuple):
    """A detection: offsets in the original text, entity type, score and the detector's name."""

    start: int
    end: int
    entity: str
    score: float
    detector: str


class Word(NamedTuple):
    start: int
    end: int
    text: str  # as written

    @property
    def lower(self) -> str:
        return self.text.lower()


@dataclass(frozen=True)
class Line:
    """One line of the text. `body_start` skips a speaker label ("S2 customer: ")."""

    start: int
    end: int
    body_start: int
    role: str  # rep / customer / other for transcript turns, "" for plain text
    lowercase: bool  # no upper-case letter at all: casing carries no signal

    def words(self, text: str) -> list[Word]:
        return [Word(m.start(), m.end(), m.group()) for m in WORD.finditer(text, self.body_start, self.end)]


def split_lines(text: str, label: re.Pattern[str]) -> list[Line]:
    lines: list[Line] = []
    pos = 0
    for raw in text.split("\n"):
        end = pos + len(raw)
        m = label.match(raw)
        body = pos + m.end() if m else pos
        role = m.group("role") if m else ""
        body_text = text[body:end]
        lines.append(Line(pos, end, body, role, not any(c.isupper() for c in body_text)))
        pos = end + 1
    return lines


def label_spans(lines: list[Line]) -> list[tuple[int, int]]:
    return [(ln.start, ln.body_start) for ln in lines if ln.body_start > ln.start]
