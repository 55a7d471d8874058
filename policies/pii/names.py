"""Names NER misses: after cue phrases, from name lists, and short answers in chats. Pure.

Chat text is often all lower-case, so casing says nothing there: a word counts as name-like when
it is a census first name (and not a common word the policy lists), a rare census last name, or a
word no English word list knows. In text that has casing, list names must be capitalised.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from policies.models import NameLayer
from policies.pii.lexicon import NameLexicon
from policies.pii.text import Candidate, Line, Word

MAX_NAME_WORDS = 3


class NameDetector:
    def __init__(self, rule: NameLayer, lexicon: NameLexicon) -> None:
        self._rule = rule
        self._lex = lexicon
        self._fillers = {w.lower() for w in rule.fillers}

        def alternation(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
            if not phrases:
                return None
            parts = sorted((re.escape(p.lower()).replace(r"\ ", r"\s+") for p in phrases), key=len, reverse=True)
            return re.compile(rf"(?<![\w'])(?:{'|'.join(parts)})(?![\w'])\s*[:,\-]?", re.IGNORECASE)

        self._cue = alternation(rule.cues)
        self._field_cue = alternation(rule.field_cues)

    def namelike(self, word: Word, lowercase: bool) -> bool:
        low = word.lower
        if low in self._fillers:
            return False
        if lowercase:
            return self._lex.is_namelike(low)
        if not word.text[:1].isupper():
            return False
        return self._lex.is_first(low) or self._lex.is_last(low) or self._lex.is_unknown(low)

    def _after_cues(self, text: str, line: Line, words: list[Word]) -> Iterator[Candidate]:
        for pattern, strong in ((self._field_cue, True), (self._cue, False)):
            if pattern is None:
                continue
            for m in pattern.finditer(text, line.body_start, line.end):
                following = [w for w in words if w.start >= m.end()][:MAX_NAME_WORDS]
                taken: list[Word] = []
                for i, w in enumerate(following):
                    if i and w.start - taken[-1].end > 2:  # punctuation between words ends the name
                        break
                    if self.namelike(w, line.lowercase) or (
                        strong and w.lower not in self._fillers and not self._lex.is_common(w.lower)
                    ):
                        taken.append(w)
                    elif strong and not taken and (w.text[:1].isupper() or line.lowercase):
                        if w.lower in self._fillers:
                            break
                        taken.append(w)
                    else:
                        break
                if taken:
                    yield Candidate(taken[0].start, taken[-1].end, self._rule.entity, self._rule.score, "name_cue")

    def _from_lists(self, line: Line, words: list[Word]) -> Iterator[Candidate]:
        """A first name, extended over the name-like words around it."""
        i = 0
        while i < len(words):
            w = words[i]
            first = self._lex.is_first(w.lower) and w.lower not in self._fillers
            if not first or (not line.lowercase and not w.text[:1].isupper()):
                i += 1
                continue
            j = i + 1
            while j < len(words) and j - i < MAX_NAME_WORDS and self.namelike(words[j], line.lowercase):
                j += 1
            yield Candidate(w.start, words[j - 1].end, self._rule.entity, self._rule.score, "name_list")
            i = j

    def _short_answer(self, line: Line, words: list[Word]) -> Iterator[Candidate]:
        """A customer turn of a few words, all name-like once fillers are set aside: a name."""
        if line.role not in ("customer", "other"):
            return
        content = [w for w in words if w.lower not in self._fillers]
        if not content or len(content) > self._rule.answer_max_words:
            return
        names = [w for w in content if self.namelike(w, True) and not self._lex.is_common(w.lower)]
        if len(names) != len(content):
            return
        for w in names:
            yield Candidate(w.start, w.end, self._rule.entity, self._rule.score * 0.9, "name_answer")

    def detect(self, text: str, lines: list[Line]) -> Iterator[Candidate]:
        if not self._rule.enabled:
            return
        for line in lines:
            words = line.words(text)
            if not words:
                continue
            yield from self._after_cues(text, line, words)
            yield from self._from_lists(line, words)
            yield from self._short_answer(line, words)

    def truecase(self, text: str, lines: list[Line]) -> str:
        """A copy of `text` (same length) with name-like words of lower-case lines capitalised,
        so the NER model sees names the way it was trained to."""
        if not self._rule.truecase:
            return text
        chars = list(text)
        for line in lines:
            if not line.lowercase:
                continue
            for w in line.words(text):
                if self.namelike(w, True) and not self._lex.is_common(w.lower):
                    upper = chars[w.start].upper()
                    if len(upper) == 1:  # keep offsets: "ß".upper() is two characters
                        chars[w.start] = upper
        return "".join(chars)
