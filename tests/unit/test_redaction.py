from __future__ import annotations

import pytest

from policies.pii.known import name_variants
from policies.pii.spans import Replacer, merge
from policies.pii.text import Candidate
from policies.redaction import PresidioRedactor


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([(0, 5, "A", 0.5, "x"), (10, 12, "B", 0.9, "y")], [(0, 5, "A", 0.5, "x"), (10, 12, "B", 0.9, "y")]),
        ([(0, 30, "EMAIL", 0.9, "e"), (0, 5, "PERSON", 0.95, "k")], [(0, 30, "EMAIL", 0.95, "e")]),
        ([(0, 10, "A", 0.5, "x"), (5, 20, "B", 0.6, "y")], [(0, 20, "B", 0.6, "y")]),
    ],
)
def test_merge_spans(spans: list[tuple[int, int, str, float, str]], expected: list[object]) -> None:
    assert merge([Candidate(*s) for s in spans]) == [Candidate(*e) for e in expected]  # type: ignore[misc]


def test_replacer_keeps_one_marker_per_span_with_offsets() -> None:
    text = "Ann Lee\nBo Chu, 4111"
    spans = [
        Candidate(0, 3, "PERSON", 0.8, "n"),  # "Ann" and "Lee": space-separated, still two markers
        Candidate(4, 7, "PERSON", 0.81234, "n"),
        Candidate(8, 14, "PERSON", 0.9, "k"),  # a line break apart: never joined
        Candidate(16, 20, "ID_NUMBER", 0.5, "d"),
    ]
    redacted, result = Replacer("[{entity}]").apply(text, spans)
    assert redacted == "[PERSON] [PERSON]\n[PERSON], [ID_NUMBER]"
    assert [(s.start, s.end, s.entity_type, s.detector) for s in result] == [
        (c.start, c.end, c.entity, c.detector) for c in spans
    ]
    assert [redacted[s.out_start : s.out_end] for s in result] == [f"[{c.entity}]" for c in spans]
    assert result[1].score == 0.812
    assert Replacer("<{entity}>").apply(text, []) == (text, ())


def test_name_variants() -> None:
    assert name_variants(["Maria  Gonzalez", "Al Li"], 3) == ["Maria Gonzalez", "Gonzalez", "Al Li", "Maria"]
    assert "Li" in name_variants(["Al Li"], 2)


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        (
            "Email her at dana.whitfield@bluewater.example today.",
            "EMAIL_ADDRESS",
            "dana.whitfield@bluewater.example",
        ),
        ("Call (415) 555-0132 after lunch.", "PHONE_NUMBER", "(415) 555-0132"),
        ("Her London line is +44 20 7946 0958.", "PHONE_NUMBER", "+44 20 7946 0958"),
        ("Card 4111 1111 1111 1111 was declined.", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("Refund to DE89 3704 0044 0532 0130 00 please.", "IBAN_CODE", "DE89 3704 0044 0532 0130 00"),
        ("Verified with SSN 536-22-8145 on file.", "US_SSN", "536-22-8145"),
        ("Ship to 42 Elm Street, Springfield.", "STREET_ADDRESS", "42 Elm Street"),
    ],
)
def test_pattern_pii_is_redacted(redactor: PresidioRedactor, text: str, entity: str, value: str) -> None:
    out = redactor.redact(text)
    assert value not in out.text
    assert entity in out.counts()


def test_known_contacts_catch_lowercase_names(redactor: PresidioRedactor) -> None:
    text = "spoke with kwame mensah and later mensah confirmed the order"
    out = redactor.redact(text, known=["Kwame Mensah"])
    assert "kwame" not in out.text.lower() and "mensah" not in out.text.lower()
    assert out.counts()["PERSON"] == 2
    assert all(s.detector == "known_contacts" for s in out.spans)


def test_spans_carry_no_values(redactor: PresidioRedactor) -> None:
    out = redactor.redact("Reach Maria Gonzalez at maria@acme.example", known=["Maria Gonzalez"])
    dumped = out.model_dump_json(exclude={"text"})
    assert "Maria" not in dumped and "maria@" not in dumped
    assert out.policy_version.startswith("redaction-")


def test_allow_list_keeps_product_names(redactor: PresidioRedactor) -> None:
    out = redactor.redact("They want single sign-on with Okta.")
    assert "Okta" in out.text


def test_batched_redaction_equals_one_by_one(redactor: PresidioRedactor) -> None:
    items = [
        ("Spoke to Maria Gonzalez about the renewal.", ["Maria Gonzalez"]),
        ("", []),
        ("Verified with SSN 536-22-8145; call (415) 555-0132.", []),
        ("No personal data in this one.", []),
    ]
    batched = redactor.redact_many(items)
    assert [b.text for b in batched] == [redactor.redact(t, known=n).text for t, n in items]
    assert batched[1].text == "" and not batched[1].spans
    assert "<US_SSN>" in batched[2].text  # context words ("SSN") still count without the lemmatizer
    assert "[ner," in redactor.detector_version  # only the entity recognizer runs


def test_unknown_spacy_pipe_is_a_policy_error() -> None:
    from policies.errors import PolicyFileError
    from policies.redaction import load_redaction_policy

    policy = load_redaction_policy().model_copy(update={"spacy_pipes": ("ner", "no_such_pipe")})
    with pytest.raises(PolicyFileError, match="no_such_pipe"):
        PresidioRedactor(policy)
