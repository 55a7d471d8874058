"""Names NER misses: after cue phrases, from name lists, and short answers in chats. Pure.

Chat text is often all lower-case, so casing says nothing there: a word counts as name-like when
it is a census first name (and not a common word the policy lists), a rare census last name, or a
word no English word list knows. In text that has casing, list names must be capitalised.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from policies.models import NameLayer
from policies.pii.lexicon import NameLexicon, zipf
from policies.pii.text import WORD, Candidate, Line, Word

MAX_NAME_WORDS = 3
SPREAD_MAX_ZIPF = 2.6
CALENDAR = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
)
# ", Rogers" / " and Torres" right after a name
COORDINATED = re.compile(r"(?:,\s*|\s+and\s+|\s*&\s*)(?P<word>[A-Z][a-z\u00C0-\u024F]+)\b")


class NameDetector:
    def __init__(self, rule: NameLayer, lexicon: NameLexicon) -> None:
        self._rule = rule
        self._lex = lexicon
        self._fillers = {w.lower() for w in rule.fillers}
        self._org_words = frozenset(w.lower() for w in rule.org_words)
        self._org_suffixes = tuple(w.lower() for w in rule.org_suffixes)

        def alternation(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
            if not phrases:
                return None
            parts = sorted(
                (re.escape(p.lower()).replace(r"\ ", r"\s+") for p in phrases), key=len, reverse=True
            )
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
        return self._lex.is_namelike(low, typos=False)

    def _continues(self, word: Word, lowercase: bool) -> bool:
        """The word after a name is its family name: name-like, or any census surname."""
        if self.namelike(word, lowercase):
            return True
        return (
            (lowercase or word.text[:1].isupper())
            and word.lower not in self._fillers
            and (self._lex.is_census(word.lower))
        )

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
                        w.lower not in self._fillers
                        and (strong or len(following) <= 2 or (not line.lowercase and w.text[:1].isupper()))
                        and not self._lex.is_common(w.lower)
                    ):
                        taken.append(w)
                    elif strong and not taken and (w.text[:1].isupper() or line.lowercase):
                        if w.lower in self._fillers:
                            break
                        taken.append(w)
                    else:
                        break
                if taken:
                    yield Candidate(
                        taken[0].start, taken[-1].end, self._rule.entity, self._rule.score, "name_cue"
                    )

    def _from_lists(self, line: Line, words: list[Word]) -> Iterator[Candidate]:
        """A first name, extended over the name-like words around it."""
        i = 0
        while i < len(words):
            w = words[i]
            first = self._lex.is_first(w.lower) and w.lower not in self._fillers
            # in cased text a list name needs its capital, unless it is rare as a word ("conor")
            if not first or (
                not line.lowercase and not w.text[:1].isupper() and self._lex.is_common_word(w.lower)
            ):
                i += 1
                continue
            j = i + 1
            while j < len(words) and j - i < MAX_NAME_WORDS and self._continues(words[j], line.lowercase):
                j += 1
            yield Candidate(w.start, words[j - 1].end, self._rule.entity, self._rule.score, "name_list")
            i = j

    def _capitalised_unknown(self, text: str, line: Line, words: list[Word]) -> Iterator[Candidate]:
        """A capitalised word no word list knows ("Vsevolod", "Zuzana") in cased text, unless a
        company word follows it ("Biolabs Inc")."""
        if line.lowercase:
            return
        for i, w in enumerate(words):
            low = w.lower
            if not (w.text[:1].isupper() and w.text[1:].islower() and self._lex.is_unknown(low, typos=False)):
                continue
            nxt = words[i + 1].lower if i + 1 < len(words) else ""
            if nxt in self._org_words or low in self._org_words or low.endswith(self._org_suffixes):
                continue
            yield Candidate(w.start, w.end, self._rule.entity, self._rule.score * 0.9, "name_unknown")

    def _unknown_in_chat(self, line: Line, words: list[Word]) -> Iterator[Candidate]:
        """In lower-case customer text, a word no list knows is a name (with the surname after it)."""
        if not line.lowercase or line.role not in ("customer", "other"):
            return
        i = 0
        while i < len(words):
            w = words[i]
            if w.lower in self._fillers or not self._lex.is_unknown(w.lower) or self._lex.is_common(w.lower):
                i += 1
                continue
            j = i + 1
            while j < len(words) and j - i < MAX_NAME_WORDS and self._continues(words[j], True):
                j += 1
            yield Candidate(
                w.start, words[j - 1].end, self._rule.entity, self._rule.score * 0.8, "name_unknown"
            )
            i = j

    def _capitalised_first(self, text: str, line: Line, words: list[Word]) -> Iterator[Candidate]:
        """In cased text, a capitalised given name that is also a word is a name when a
        capitalised surname follows it ("Crystal Murdock", "Frank Weber"); months are not."""
        if line.lowercase:
            return
        for i, w in enumerate(words[:-1]):
            low, nxt = w.lower, words[i + 1]
            if not (w.text[:1].isupper() and w.text[1:].islower()) or low in CALENDAR:
                continue
            if (
                not self._lex.is_any_first(low)
                or self._lex.is_first(low)
                or not self._lex.is_census_rare(low)
            ):
                continue  # plain first names are _from_lists' job; "My", "In", "So" are words
            if text[w.end : nxt.start] != " " or not nxt.text[:1].isupper():
                continue
            surname = nxt.lower
            if self._lex.is_census(surname) or self._lex.is_unknown(surname, typos=False):
                yield Candidate(w.start, nxt.end, self._rule.entity, self._rule.score * 0.9, "name_list")

    def spread(self, text: str, lines: list[Line], found: list[Candidate]) -> Iterator[Candidate]:
        """A name found once is masked wherever else it appears in the record; a capitalised
        surname joined to a found name by "and" or a comma is a name too ("Morrison, Rogers and
        Torres")."""
        if not self._rule.enabled:
            return
        person = [c for c in found if c.entity == self._rule.entity]
        tokens = {
            m.group()
            for c in person
            for m in WORD.finditer(text, c.start, c.end)
            if len(m.group()) >= 3 and self._spreadable(m.group().lower())
        }
        if tokens:
            lowered = sorted({t.lower() for t in tokens}, key=len, reverse=True)
            pattern = re.compile(
                rf"(?<![\w@.])(?:{'|'.join(map(re.escape, lowered))})(?![\w@])", re.IGNORECASE
            )
            found_lower = {t.lower() for t in tokens if not t[:1].isupper()}
            for line in lines:
                for m in pattern.finditer(text, line.body_start, line.end):
                    # in cased text a capitalised find does not make every lower-case use a name
                    if line.lowercase or m.group()[:1].isupper() or m.group().lower() in found_lower:
                        yield Candidate(
                            m.start(), m.end(), self._rule.entity, self._rule.score * 0.9, "name_repeat"
                        )
        for c in person:
            for m in COORDINATED.finditer(text, c.end, min(len(text), c.end + 80)):
                if m.start() != c.end:
                    break
                word = m.group("word")
                if word.lower() in CALENDAR or not (
                    self._lex.is_census(word.lower()) or self._lex.is_unknown(word.lower(), typos=False)
                ):
                    break
                yield Candidate(
                    m.start("word"), m.end("word"), self._rule.entity, self._rule.score * 0.9, "name_list"
                )
                break

    def _spreadable(self, word: str) -> bool:
        """Only words that are surely names travel: given names or words rare on the web."""
        if word in self._fillers or self._lex.is_common(word) or not word.isalpha():
            return False
        return self._lex.is_first(word) or zipf(word) < SPREAD_MAX_ZIPF

    def _short_answer(self, line: Line, words: list[Word]) -> Iterator[Candidate]:
        """A customer turn of a few words, all name-like once fillers are set aside: a name."""
        if line.role not in ("customer", "other"):
            return
        content = [w for w in words if w.lower not in self._fillers]
        if not content or len(content) > self._rule.answer_max_words:
            return
        names = [w for w in content if not self._lex.is_common(w.lower) or self._lex.is_census(w.lower)]
        if len(names) != len(content):
            return
        for w in names:
            yield Candidate(w.start, w.end, self._rule.entity, self._rule.score * 0.9, "name_answer")

    def looks_like_org(self, text: str, start: int, end: int) -> bool:
        """ "Maple Grove Schools", "Globex Telecom": a company word inside or right after."""
        words = [m.group().lower() for m in WORD.finditer(text, start, end)]
        pos = end
        for n, m in enumerate(WORD.finditer(text, end, min(len(text), end + 60))):
            # the next word ("Austin office"), then the capitalised run after it
            if text[pos : m.start()].strip(" &") or (n and not m.group()[:1].isupper()):
                break
            words.append(m.group().lower())
            pos = m.end()
        return any(w in self._org_words or (w.endswith("s") and w[:-1] in self._org_words) for w in words)

    def detect(self, text: str, lines: list[Line]) -> Iterator[Candidate]:
        if not self._rule.enabled:
            return
        for line in lines:
            words = line.words(text)
            if not words:
                continue
            found = [
                *self._after_cues(text, line, words),
                *self._from_lists(line, words),
                *self._capitalised_unknown(text, line, words),
                *self._capitalised_first(text, line, words),
                *self._unknown_in_chat(line, words),
                *self._short_answer(line, words),
            ]
            yield from (c for c in found if line.lowercase or not self.looks_like_org(text, c.start, c.end))

    def truecase(self, text: str, lines: list[Line]) -> str:
        """A copy of `text` (same length) with name-like lower-case words capitalised (in cased
        lines, given names only: "i swear freddie laughs"), so the NER model sees names the way it was
        trained to; shouted lines become Title Case."""
        if not self._rule.truecase:
            return text
        chars = list(text)
        for line in lines:
            if not line.lowercase and _shouting(text[line.body_start : line.end]):
                for w in line.words(text):  # "THANKS OBAMA": Title Case
                    tail = text[w.start + 1 : w.end].lower()
                    if len(tail) == w.end - w.start - 1:
                        chars[w.start + 1 : w.end] = list(tail)
                continue
            for w in line.words(text):
                if not line.lowercase and not (w.text.islower() and self._lex.is_first(w.lower)):
                    continue  # cased text: only lower-case given names ("salute to conor")
                if self.namelike(w, True) and not self._lex.is_common(w.lower):
                    upper = chars[w.start].upper()
                    if len(upper) == 1:  # keep offsets: "ß".upper() is two characters
                        chars[w.start] = upper
        return "".join(chars)


def _shouting(body: str) -> bool:
    letters = [c for c in body if c.isalpha()]
    return len(letters) >= 8 and sum(c.isupper() for c in letters) >= 0.7 * len(letters)
