"""CRM text written as "Field: value" pairs; the field name says what the value is. Pure.

"FirstName: Ana", "Mailing Postal Code = 94110", "Birthdate: 1988-02-11": the value is masked as
the field's entity whatever it looks like. A value runs to the end of the line, a ";" or "|", or
the next "Other Field:" on the same line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from policies.models import FieldLayer
from policies.pii.text import Candidate, Line

PAIR = re.compile(
    r"(?P<key>(?<![\w])[A-Za-z][A-Za-z0-9_ .\-]{0,40}?)\s*[:=]\s*"
    r"(?P<value>[^\n;|]+?)(?=\s*(?:[;|]|,?\s+[A-Za-z][A-Za-z0-9_ .\-]{0,40}?\s*[:=]\s|$))",
    re.MULTILINE,
)


def normalise_key(key: str) -> str:
    return re.sub(r"[\s_.\-]+", "", key).lower()


class FieldDetector:
    def __init__(self, rule: FieldLayer) -> None:
        self._rule = rule
        self._entity = {
            normalise_key(name): entity for entity, names in rule.fields.items() for name in names
        }

    def detect(self, text: str, lines: list[Line]) -> Iterator[Candidate]:
        if not self._rule.enabled or not self._entity:
            return
        for line in lines:
            for m in PAIR.finditer(text, line.body_start, line.end):
                key = normalise_key(m.group("key"))
                # "Contact Name" / "Customer FirstName": the last words of a longer key decide
                entity = self._entity.get(key) or next(
                    (e for k, e in self._entity.items() if len(k) >= 5 and key.endswith(k)), None
                )
                if entity and m.group("value").strip():
                    yield Candidate(m.start("value"), m.end("value"), entity, self._rule.score, "fields")
