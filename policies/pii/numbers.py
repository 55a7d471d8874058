"""Digit runs as customers type identifiers: bare, spaced, dashed or spelled out. Pure.

A run of `min_digits` or more digits is masked unless it has a harmless shape the policy keeps
(money, dates, times, versions, quantities, searchable ticket ids). A cue word before it ("ssn",
"card", "zip") types it, lowers the digit floor and overrides the keep rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import regex

from policies.models import NumberLayer
from policies.pii.text import Candidate, Line

RUN = re.compile(r"(?<![\d])\d+(?:(?:[ \t]{0,2}[-\u2013./][ \t]{0,2}|[ \t]{1,2}|[ \t][a-z][ \t])\d+)*")
TOKEN_EDGE = re.compile(r"[A-Za-z0-9_@]*")
SPELLED = (
    r"zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple|"
    r"ten|eleven|twelve|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred"
)
SPELLED_RUN = re.compile(rf"\b(?:(?:{SPELLED})[\s\-]+){{3,}}(?:{SPELLED})\b", re.IGNORECASE)
SENTENCE_END = re.compile(r"[.!?;]\s")
WORDS = re.compile(r"[A-Za-z][A-Za-z/]*")


class NumberDetector:
    def __init__(self, rule: NumberLayer) -> None:
        self._rule = rule
        self._keep = [regex.compile(k, regex.IGNORECASE) for k in rule.keep]
        self._cue = {w.lower(): entity for entity, words in rule.cues.items() for w in words}
        self._keep_after = {w.lower() for w in rule.keep_after_words}
        self._keep_before = {w.lower() for w in rule.keep_before_words}

    def _cue_before(self, text: str, line: Line, start: int) -> str | None:
        """The nearest cue word before the number, in the same sentence and within the window."""
        before = SENTENCE_END.split(text[line.body_start : start])[-1]
        words = WORDS.findall(before)[-self._rule.cue_window :]
        for word in reversed(words):
            entity = self._cue.get(word.lower().strip("#/"))
            if entity:
                return entity
        return None

    def _kept(self, text: str, line: Line, start: int, end: int) -> bool:
        before = WORDS.findall(text[line.body_start : start])
        if before and before[-1].lower() in self._keep_after:
            return True
        after = WORDS.findall(text[end : line.end])
        if after and after[0].lower() in self._keep_before and not text[end : end + 1].isalpha():
            return True
        window_start = max(line.body_start, start - 40)
        window = text[window_start : min(line.end, end + 40)]
        for pattern in self._keep:
            for m in pattern.finditer(window):
                if m.start() + window_start <= start and m.end() + window_start >= end:
                    return True
        return False

    def detect(self, text: str, lines: list[Line]) -> Iterator[Candidate]:
        rule = self._rule
        if not rule.enabled:
            return
        for line in lines:
            spans = [(m.start(), m.end()) for m in RUN.finditer(text, line.body_start, line.end)]
            if rule.spelled_digits:
                spans += [(m.start(), m.end()) for m in SPELLED_RUN.finditer(text, line.body_start, line.end)]
            for start, end in spans:
                digits = sum(c.isdigit() for c in text[start:end]) or _spelled_count(text[start:end])
                cue = self._cue_before(text, line, start)
                if digits < (rule.cue_min_digits if cue else rule.min_digits):
                    continue
                if cue is None and self._kept(text, line, start, end):
                    continue
                # a run glued to letters ("mohan123", "pvx752197308") takes the whole token
                left = start
                while left > line.body_start and (text[left - 1].isalnum() or text[left - 1] in "_@"):
                    left -= 1
                right = end
                while right < line.end and (text[right].isalnum() or text[right] in "_@"):
                    right += 1
                yield Candidate(left, right, cue or rule.entity, rule.score, "numbers")


def _spelled_count(value: str) -> int:
    return len(re.findall(SPELLED, value, re.IGNORECASE))
