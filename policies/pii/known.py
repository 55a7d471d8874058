"""What the CRM knows: every identifier it holds for the record's contacts, masked wherever it
appears. Pure.

Names become their full form plus each part ("Li", "Ana" too: the CRM says they are names);
e-mail addresses also match spelled or spaced out; phone numbers match by their digits whatever
the separators; other identifiers (usernames, account and order ids) match as whole words.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from policies.models import KnownContactsRule
from policies.pii.text import Candidate

SEP = r"[\s().\-+/]{0,3}"


def classify(value: str) -> str:
    if "@" in value:
        return "EMAIL_ADDRESS"
    digits = sum(c.isdigit() for c in value)
    if digits >= 7 and re.fullmatch(r"[\d\s().\-+/x]+", value.strip()):
        return "PHONE_NUMBER"
    if digits:
        return "ID_NUMBER"
    return "PERSON"


def name_variants(names: Sequence[str], min_token_length: int) -> list[str]:
    """Full names plus their individual parts (first / last names) long enough to be safe."""
    variants: set[str] = set()
    for name in names:
        clean = " ".join(name.split())
        if not clean:
            continue
        variants.add(clean)
        for token in re.split(r"[\s\-']+", clean):
            if len(token) >= min_token_length and token[0].isalpha():
                variants.add(token)
    # longest first so "Maria Gonzalez" wins over "Maria" in the alternation
    return sorted(variants, key=lambda v: (-len(v), v))


def _email_forms(address: str) -> list[str]:
    local, _, domain = address.strip().lower().partition("@")
    if not local or not domain:
        return []
    spelled_local = re.escape(local).replace(r"\.", r"\s*(?:\.|dot)\s*")
    spelled_domain = re.escape(domain).replace(r"\.", r"\s*(?:\.|dot)?\s*")
    forms = [rf"{spelled_local}\s*(?:@|at)\s*{spelled_domain}"]
    if re.search(r"[\d._\-]", local) or len(local) >= 8:  # "info" or "sales" alone are not personal
        forms.append(re.escape(local))
    return forms


def _pattern(parts: list[str]) -> re.Pattern[str] | None:
    if not parts:
        return None
    return re.compile(rf"(?<![\w@.])(?:{'|'.join(parts)})(?![\w@])", re.IGNORECASE)


class KnownIdentifiers:
    """Compiled from one record's known identifiers."""

    def __init__(self, known: Sequence[str], rule: KnownContactsRule) -> None:
        self._rule = rule
        by_kind: dict[str, list[str]] = {}
        for value in known:
            if value.strip():
                by_kind.setdefault(classify(value), []).append(value.strip())
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        names = name_variants(by_kind.get("PERSON", []), rule.min_token_length)
        # short name parts ("Li", "Bo") match only with their capital, never inside other words
        long_names = [re.escape(v) for v in names if len(v) >= 3]
        short_names = [v for v in names if len(v) < 3]
        for entity, parts in (
            ("PERSON", long_names),
            ("EMAIL_ADDRESS", [f for e in by_kind.get("EMAIL_ADDRESS", []) for f in _email_forms(e)]),
            ("ID_NUMBER", [re.escape(v) for v in by_kind.get("ID_NUMBER", [])]),
        ):
            compiled = _pattern(sorted(parts, key=len, reverse=True))
            if compiled:
                self._patterns.append((entity, compiled))
        if short_names:
            self._patterns.append(
                ("PERSON", re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, short_names))})(?!\w)"))
            )
        phones = [re.sub(r"\D", "", p) for p in by_kind.get("PHONE_NUMBER", [])]
        # the last 7+ digits of a known phone number, with any separators between digits
        tails = {p[-min(len(p), 10) :] for p in phones if len(p) >= 7}
        if tails:
            forms = [SEP.join(t) for t in sorted(tails, key=len, reverse=True)]
            self._patterns.append(("PHONE_NUMBER", re.compile(rf"(?<!\d)(?:{'|'.join(forms)})(?!\d)")))

    def detect(self, text: str) -> Iterator[Candidate]:
        if not self._rule.enabled:
            return
        for entity, pattern in self._patterns:
            out = self._rule.entity if entity == "PERSON" else entity
            for m in pattern.finditer(text):
                yield Candidate(m.start(), m.end(), out, self._rule.score, "known_contacts")
