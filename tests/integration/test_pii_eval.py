"""PII recall floors on the generated labeled set (real Presidio + policy + known contacts)."""

from __future__ import annotations

from typing import Any

from bench.pii_eval import evaluate, generate

FLOORS = {
    "EMAIL_ADDRESS": 0.98,
    "PHONE_NUMBER": 0.98,
    "CREDIT_CARD": 0.98,
    "IBAN_CODE": 0.98,
    "US_SSN": 0.98,
    "PERSON": 0.90,
}


def test_recall_floors_with_the_contact_list(redactor: Any) -> None:
    tallies = evaluate(redactor, generate(400, seed=11), use_contacts=True)
    report = {k: (round(t.recall(), 3), round(t.precision(), 3)) for k, t in tallies.items()}
    print(f"pii eval (recall, precision): {report}")
    for entity, floor in FLOORS.items():
        assert tallies[entity].gold > 30, entity
        assert tallies[entity].recall() >= floor, f"{entity} recall {tallies[entity].recall():.3f} < {floor}"
        assert tallies[entity].precision() >= 0.9, f"{entity} precision {tallies[entity].precision():.3f}"


def test_generated_spans_point_at_the_values() -> None:
    for ex in generate(50, seed=3):
        for start, end, kind in ex.spans:
            value = ex.text[start:end]
            assert value.strip() == value and value, kind
