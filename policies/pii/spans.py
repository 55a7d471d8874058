"""Precision rules, overlap resolution and replacement for candidate spans. Pure.

- A marker never crosses a line break and never covers a speaker label.
- Allow-listed terms (products, UI labels, greetings) are never redacted.
- Overlapping detections are united (nothing of either survives); the longer detection names
  the entity, so an e-mail address that contains a known first name stays an EMAIL_ADDRESS.
- Markers replace the merged spans through presidio-anonymizer (`Replacer`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from policies.models import RedactedSpan
from policies.pii.text import Candidate


# hand-written: the anonymizer has no notion of lines or speaker labels
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


# hand-written: the anonymizer resolves conflicts between detections, it has no allow list
def allowed(text: str, candidates: Iterable[Candidate], allow: frozenset[str]) -> list[Candidate]:
    """Drop detections that are an allowed term, or made only of allowed terms ("Trello Gmail")."""

    def is_allowed(value: str) -> bool:
        value = value.strip(" .,;:!?'\"()").lower()
        return value in allow or all(w in allow for w in value.split())

    return [c for c in candidates if not is_allowed(text[c.start : c.end])]


# hand-written: the anonymizer unites only same-type overlaps and keeps the container (or trims by
# score) otherwise; we unite every overlap and let a typed entity name it over a generic one
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


class Replacer:
    """Markers in place of merged spans: presidio-anonymizer's "replace" operator, one marker per
    span (`spans` do not overlap: see `merge`)."""

    def __init__(self, replacement: str) -> None:
        from presidio_anonymizer import AnonymizerEngine

        self._engine = AnonymizerEngine()  # type: ignore[no-untyped-call]  # its __init__ is unannotated
        self._replacement = replacement

    def apply(self, text: str, spans: Sequence[Candidate]) -> tuple[str, tuple[RedactedSpan, ...]]:
        from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

        if not spans:
            return text, ()
        operators = {
            entity: OperatorConfig("replace", {"new_value": self._replacement.format(entity=entity)})
            for entity in {c.entity for c in spans}
        }
        result = self._engine.anonymize(
            text,
            [RecognizerResult(c.entity, c.start, c.end, c.score) for c in spans],
            operators=operators,
            merge_entities_with_spaces=False,  # "<PERSON> <PERSON>": each detection keeps its marker
        )
        items = sorted(result.items, key=lambda item: item.start)
        if len(items) != len(spans):  # spans come merged: the engine has nothing left to merge
            raise ValueError(f"anonymizer returned {len(items)} markers for {len(spans)} spans")
        return result.text, tuple(
            RedactedSpan(
                entity_type=c.entity,
                start=c.start,
                end=c.end,
                out_start=item.start,
                out_end=item.end,
                score=round(c.score, 3),
                detector=c.detector,
            )
            for c, item in zip(spans, items, strict=True)
        )
