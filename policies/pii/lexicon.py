"""What a word probably is: a given name, a family name, a common English word or an unknown word.

Name lists come from the `names` package (US Census 1990 first and last names, MIT); word
frequencies from `wordfreq` (Zipf scale: 7 = "the", 3 = once per million words, 0 = unseen).
Both load from installed package data, never from the network. Policy data decides which common
words are never names ("will", "may", "grace").
"""

from __future__ import annotations

import importlib.resources
from functools import lru_cache

from policies.models import NameLayer


@lru_cache(maxsize=1)
def census_names() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names), lower-cased."""
    root = importlib.resources.files("names")

    def load(name: str) -> list[str]:
        text = (root / name).read_text(encoding="utf-8")
        return [line.split()[0].lower() for line in text.splitlines() if line.strip()]

    first = frozenset(load("dist.male.first") + load("dist.female.first"))
    return first, frozenset(load("dist.all.last"))


@lru_cache(maxsize=200_000)
def zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))


class NameLexicon:
    def __init__(self, rule: NameLayer) -> None:
        first, last = census_names()
        not_names = {w.lower() for w in rule.not_names}
        self._first = (first | {w.lower() for w in rule.extra_first_names}) - not_names
        self._last = last - not_names
        self._not_names = frozenset(not_names)
        self._rule = rule

    def is_first(self, word: str) -> bool:
        return word in self._first

    def is_last(self, word: str) -> bool:
        return word in self._last and zipf(word) < self._rule.last_name_max_zipf

    def is_unknown(self, word: str) -> bool:
        """Not an English word we know: a rare name, a handle, or a typo."""
        return (
            len(word) >= 3
            and word.isalpha()
            and word not in self._not_names
            and zipf(word) < self._rule.unknown_max_zipf
        )

    def is_namelike(self, word: str) -> bool:
        return self.is_first(word) or self.is_last(word) or self.is_unknown(word)

    def is_common(self, word: str) -> bool:
        return word in self._not_names or (not self.is_first(word) and zipf(word) >= self._rule.common_min_zipf)
