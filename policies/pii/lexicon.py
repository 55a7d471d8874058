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


TYPO_MIN_LENGTH = 6  # shorter words are one edit away from too many names ("arun" / "run")


@lru_cache(maxsize=1)
def _typo_index() -> frozenset[str]:
    """Single-letter deletions of the 25,000 most frequent English words of 5+ letters (SymSpell)."""
    from wordfreq import top_n_list

    keys: set[str] = set()
    for word in top_n_list("en", 25_000):
        if len(word) >= TYPO_MIN_LENGTH - 1 and word.isalpha():
            keys.add(word)
            keys.update(word[:i] + word[i + 1 :] for i in range(len(word)))
    return frozenset(keys)


@lru_cache(maxsize=200_000)
def is_typo(word: str) -> bool:
    """One insertion, deletion, substitution or swap away from a frequent word ("laptob")."""
    if len(word) < TYPO_MIN_LENGTH:
        return False
    index = _typo_index()
    return word in index or any(word[:i] + word[i + 1 :] in index for i in range(len(word)))


COMPOUND_PART_MIN_ZIPF = 3.5


@lru_cache(maxsize=200_000)
def is_compound(word: str) -> bool:
    """Two everyday words run together are a product or UI term, not a name ("Stopwatch",
    "Autoplay", "Markdown", "Downloader")."""
    if any(
        zipf(word[:i]) >= COMPOUND_PART_MIN_ZIPF and zipf(word[i:]) >= COMPOUND_PART_MIN_ZIPF
        for i in range(3, len(word) - 2)
    ):
        return True
    # a prefix on an everyday word: "Unpair", "Recents", "Multitask"
    return any(
        word.startswith(prefix) and len(word) - len(prefix) >= 4 and zipf(word[len(prefix) :]) >= 4.0
        for prefix in ("un", "re", "multi", "auto")
    )


@lru_cache(maxsize=200_000)
def zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))


class NameLexicon:
    def __init__(self, rule: NameLayer) -> None:
        first, last = census_names()
        not_names = {w.lower() for w in rule.not_names}
        self._all_first = first | {w.lower() for w in rule.extra_first_names}
        self._first = self._all_first - not_names
        self._last = last - not_names
        self._not_names = frozenset(not_names)
        self._rule = rule

    def is_first(self, word: str) -> bool:
        return word in self._first

    def is_any_first(self, word: str) -> bool:
        """A census first name even if it is also an everyday word ("Frank", "Crystal")."""
        return word in self._all_first

    def is_last(self, word: str) -> bool:
        return word in self._last and zipf(word) < self._rule.last_name_max_zipf

    def is_census_rare(self, word: str) -> bool:
        """Not so frequent as a word that a capital could be a sentence's ("My", "In")."""
        return zipf(word) < self._rule.census_max_zipf

    def is_census(self, word: str) -> bool:
        """In either census list and not an everyday word ("smith", "jones", but not "morning")."""
        return (word in self._first or word in self._last) and self.is_census_rare(word)

    def is_unknown(self, word: str, *, typos: bool = True) -> bool:
        """Not an English word we know: a rare name or a handle. With `typos`, a typo of a
        frequent word ("laptob") is not unknown; a capital letter outweighs that doubt."""
        return (
            len(word) >= 3
            and word.isalpha()
            and word not in self._not_names
            and zipf(word) < self._rule.unknown_max_zipf
            and not (typos and is_typo(word))
            and not is_compound(word)
        )

    def is_namelike(self, word: str, *, typos: bool = True) -> bool:
        return self.is_first(word) or self.is_last(word) or self.is_unknown(word, typos=typos)

    def is_common_word(self, word: str) -> bool:
        """Frequent as an everyday word, name or not ("mason", "will", "grant")."""
        return word in self._not_names or zipf(word) >= self._rule.common_min_zipf

    def is_common(self, word: str) -> bool:
        if word in self._not_names:
            return True
        if self.is_first(word):
            return False
        return self.is_common_word(word) or self.is_common_word(squeeze(word)) or self._run_on(word)

    def _run_on(self, word: str) -> bool:
        """Chat run-ons of everyday words: "nothanks", "okthanks", "thankyou", "higood"."""
        if len(word) < 5 or len(word) > 24:
            return False
        return any(
            all(
                _part_ok(p) and zipf(p) >= COMPOUND_MIN_ZIPF and p not in self._first
                for p in (word[:i], word[i:])
            )
            for i in range(2, len(word) - 1)
        )


COMPOUND_MIN_ZIPF = 5.0  # both halves of a run-on are everyday words ("no"+"thanks"), not "sub"+"ash"
SHORT_PARTS = frozenset(
    [
        "no",
        "ok",
        "hi",
        "so",
        "my",
        "im",
        "is",
        "it",
        "to",
        "me",
        "of",
        "in",
        "on",
        "at",
        "go",
        "do",
        "be",
        "we",
        "us",
        "oh",
        "ur",
    ]
)


def _part_ok(part: str) -> bool:
    return len(part) >= 3 or part in SHORT_PARTS


def squeeze(word: str) -> str:
    """Chat elongations back to the word: "hiii" -> "hi", "byee" -> "bye", "okok" -> "ok"."""
    out: list[str] = []
    for ch in word:
        if len(out) >= 1 and out[-1] == ch and (len(out) < 2 or out[-2] == ch or ch in "iyeoh"):
            continue
        out.append(ch)
    squeezed = "".join(out)
    half = len(squeezed) // 2
    if len(squeezed) % 2 == 0 and squeezed[:half] == squeezed[half:]:
        return squeezed[:half]
    return squeezed
