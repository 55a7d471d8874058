"""Dialogue context: the rep's question types the customer's next answer. Pure.

"Can I have the last four of your SSN?" makes a bare "4587" in the next customer turn an SSN;
"and your name?" makes "raj prasad" a name even when no list knows it. Fillers ("sure", "it's",
"my name is") stay; everything else of the answer is masked as the asked-for type.
"""

from __future__ import annotations

from collections.abc import Iterator

import regex

from policies.models import DialogueLayer
from policies.pii.text import Candidate, Line

TOKEN = regex.compile(r"[\w@.+\-']+")
SPELLED = {"zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "double"}
NUMERIC = {"US_SSN", "CREDIT_CARD", "ACCOUNT_NUMBER", "ZIP_CODE", "PHONE_NUMBER", "ID_NUMBER"}


class DialogueDetector:
    def __init__(self, rule: DialogueLayer, fillers: tuple[str, ...]) -> None:
        self._rule = rule
        self._questions = [
            (entity, regex.compile("|".join(f"(?:{q})" for q in qs), regex.IGNORECASE))
            for entity, qs in rule.questions.items()
            if qs
        ]
        self._fillers = {w.lower() for w in fillers}

    def _asked(self, question: str) -> str | None:
        """The entity the rep's last question in the turn asks for (the last match wins)."""
        best: tuple[int, str] | None = None
        for entity, pattern in self._questions:
            for m in pattern.finditer(question):
                if best is None or m.start() > best[0]:
                    best = (m.start(), entity)
        return best[1] if best else None

    def detect(self, text: str, lines: list[Line]) -> Iterator[Candidate]:
        if not self._rule.enabled or not self._questions:
            return
        asked: str | None = None
        for line in lines:
            if line.role == "rep":
                asked = self._asked(text[line.body_start : line.end])
                continue
            if line.role != "customer" or asked is None:
                continue
            yield from self._answer(text, line, asked)
            asked = None

    def _answer(self, text: str, line: Line, entity: str) -> Iterator[Candidate]:
        numeric = entity in NUMERIC
        run: list[tuple[int, int]] = []
        for m in TOKEN.finditer(text, line.body_start, line.end):
            token = m.group().strip(".'-").lower()
            if numeric:
                masked = any(c.isdigit() for c in token) or token in SPELLED
            else:
                masked = bool(token) and token not in self._fillers
            if masked:
                run.append((m.start(), m.end()))
                continue
            if run:  # consecutive answer tokens become one marker
                yield Candidate(run[0][0], run[-1][1], entity, self._rule.score, "dialogue")
                run = []
        if run:
            yield Candidate(run[0][0], run[-1][1], entity, self._rule.score, "dialogue")
