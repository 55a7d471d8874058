"""The redaction layers on text shaped like what customers and CRMs really write (real Presidio,
the shipped policy). Each row names the layer it exercises; the real-data floors are in
tests/integration/test_pii_eval.py."""

from __future__ import annotations

import pytest

from policies.redaction import PresidioRedactor


def chat(*turns: str) -> str:
    """A rendered transcript: "S1 rep: ..." / "S2 customer: ..." lines."""
    out = []
    for turn in turns:
        role, _, said = turn.partition(": ")
        out.append(f"{'S1' if role == 'rep' else 'S2'} {role}: {said}")
    return "\n".join(out)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        # numbers: bare, spaced, dashed, glued to letters, spelled out
        (chat("customer: mani 4587"), ["4587"]),
        (chat("customer: 9324 8524 4625 1874"), ["9324 8524 4625 1874", "9324"]),
        (chat("customer: my zip is 2 1 9 -0 9"), ["2 1 9 -0 9"]),
        (chat("customer: two one nine zero nine"), ["two one nine zero nine"]),
        (chat("customer: pass raja145"), ["raja145"]),
        (chat("customer: 453 e 15"), ["453 e 15"]),
        (chat("customer: my pin is 145"), ["145"]),
        # names: cue phrases, lists, short answers, lower case
        (chat("customer: my name is alessia sconne and the ssn is 0044"), ["alessia", "sconne", "0044"]),
        (chat("customer: karthi velavan"), ["karthi", "velavan"]),
        (chat("customer: sure i am robert porter"), ["robert porter"]),
        (chat("customer: smith"), ["smith"]),
        ("Customer Zuzana Vehbija called about the invoice.", ["Zuzana", "Vehbija"]),
        # e-mails as customers type them
        (chat("customer: alex 45 gmailcom"), ["alex 45 gmailcom", "gmailcom"]),
        (chat("customer: it is john dot smith at gmail dot com"), ["john dot smith at gmail dot com"]),
        (chat("customer: robingmailcom"), ["robingmailcom"]),
        # addresses in any case, with city, state and zip after the street
        (chat("customer: 425 n buttonwood ave hayward ca 94545"), ["425 n buttonwood ave", "94545"]),
        ("Ship to Augsburger Strasse 36, Suite 960.", ["Augsburger Strasse 36", "Suite 960"]),
        # secrets and birth dates after a cue
        (chat("customer: password is hunter2"), ["hunter2"]),
        ("DOB: 03/04/1985, verified by phone.", ["03/04/1985"]),
        (
            "Pasted key AKIAIOSFODNN7EXAMPLE and ghp_abcdefghijklmnopqrstuvwxyz0123456789 in the ticket.",
            ["AKIAIOSFODNN7EXAMPLE", "ghp_abc"],
        ),
        # CRM "Field: value" text
        (
            "FirstName: Ana\\nLastName: Okafor\\nMailingPostalCode: 94110\\nBirthdate: 1988-02-11",
            ["Ana", "Okafor", "94110", "1988-02-11"],
        ),
    ],
)
def test_identifiers_as_people_write_them_are_masked(
    redactor: PresidioRedactor, text: str, values: list[str]
) -> None:
    out = redactor.redact(text.replace("\\\\n", "\\n"))
    for value in values:
        assert value.lower() not in out.text.lower(), (value, out.text)


@pytest.mark.parametrize(
    ("question", "answer", "entity"),
    [
        ("can i have the last four of your ssn", "sure its 2015", "US_SSN"),
        ("what is your zip code", "60601", "ZIP_CODE"),
        ("and your name please", "raj prasad", "PERSON"),
        ("may i have your email", "raj at example", "EMAIL_ADDRESS"),
        ("what is the card number", "four one one one", "CREDIT_CARD"),
    ],
)
def test_the_reps_question_types_the_answer(
    redactor: PresidioRedactor, question: str, answer: str, entity: str
) -> None:
    out = redactor.redact(chat(f"rep: {question}", f"customer: {answer}"))
    assert entity in out.counts(), out.text
    said = out.text.splitlines()[1]
    assert said.startswith("S2 customer: ") and f"<{entity}>" in said


def test_a_year_the_rep_did_not_ask_about_stays(redactor: PresidioRedactor) -> None:
    out = redactor.redact(chat("rep: which model year is the car", "customer: a 2015 corolla since 2019"))
    assert "2015" in out.text or "2019" in out.text


@pytest.mark.parametrize(
    "text",
    [
        "Order #48213 shipped on 2026-10-03 for $12,400.",
        "Version 4.2.1 of the Android app crashes on Pixel 8 devices.",
        "Invoice INV-2026-0042 totals 4,980.00 EUR, due in 30 days.",
        "Ticket 88231 was merged by the triage bot at 10:45 am.",
        "The webhook endpoint returned HTTP 502 for 14 minutes; uptime was 99.95% in 2025.",
        "We renewed 2500 seats for the Chicago office.",
    ],
)
def test_harmless_numbers_stay(redactor: PresidioRedactor, text: str) -> None:
    out = redactor.redact(text)
    assert "<ID_NUMBER>" not in out.text and not any(s.detector == "numbers" for s in out.spans), out.text


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Hi there, the sync is stuck again.", "there"),
        ("Good morning! Export to Gmail fails.", "Gmail"),
        ("They turned on Ambient Mode and asked Wolfram Alpha.", "Ambient Mode"),
        ("Call with Maple Grove Schools about the rollout.", "Maple Grove Schools"),
        ("Globex Telecom renewed; the Pinecrest team signs Friday.", "Pinecrest"),
    ],
)
def test_products_greetings_and_companies_are_not_people(
    redactor: PresidioRedactor, text: str, kept: str
) -> None:
    assert kept in redactor.redact(text).text


def test_markers_never_cross_a_line_or_swallow_a_speaker_label(redactor: PresidioRedactor) -> None:
    text = chat("customer: this is Maria Gonzalez", "rep: thanks Maria", "customer: bye")
    out = redactor.redact(text, known=["Maria Gonzalez"])
    lines = out.text.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["S2 customer", "S1 rep", "S2 customer"]
    assert all(s.entity_type == "PERSON" for s in out.spans)
    assert all("\\n" not in text[s.start : s.end] for s in out.spans)


def test_everything_the_crm_knows_is_masked(redactor: PresidioRedactor) -> None:
    known = ["Li Wei", "li.wei@acme.example", "+1 (415) 555-0132", "lwei_admin", "ACCT-88412"]
    text = (
        "Li called from 415.555.0132, login lwei_admin, account ACCT-88412; "
        "mail li dot wei at acme dot example."
    )
    out = redactor.redact(text, known=known)
    for value in ["Li ", "555.0132", "lwei_admin", "ACCT-88412", "li dot wei"]:
        assert value not in out.text, (value, out.text)
    assert "called from" in out.text


def test_a_tenants_allow_list_keeps_its_products_only_in_its_records() -> None:
    from policies.redaction import load_redaction_policy

    policy = load_redaction_policy().model_copy(update={"tenant_allow_lists": {"acme": ("Trello", "Quora")}})
    redactor = PresidioRedactor(policy)
    text = "Move the Trello board; Quora answers link to it. Ask Zuzana Vehbija."
    acme = redactor.redact(text, tenant="acme").text
    other = redactor.redact(text, tenant="globex").text
    assert "Trello" in acme and "Quora" in acme and "Zuzana" not in acme
    assert "Trello" not in other
