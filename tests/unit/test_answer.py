from __future__ import annotations

from typing import Any

import pytest

from rag_service.answer import Passage, Quoted, render, sentence_spans
from rag_service.answer import extract_answer as quotes


def extract_answer(question: str, passages: list[Passage], **kw: Any) -> str:
    return render(quotes(question, passages, **kw))


def count(text: str) -> int:
    return len(text.split())


def test_answer_cites_the_passage_it_quotes() -> None:
    passages = [
        Passage(
            n=1,
            text="The customer wants SAML single sign-on with Okta before renewal. Weather was nice today.",
            score=0.6,
        ),
        Passage(n=2, text="Invoices for March were sent to the finance team on time.", score=0.3),
    ]
    answer = extract_answer(
        "Who wants SAML single sign-on with Okta?", passages, token_budget=100, count_tokens=count
    )
    assert answer.startswith("The customer wants SAML single sign-on with Okta before renewal. [1]")
    assert "[3]" not in answer


def test_budget_limits_the_answer() -> None:
    passages = [Passage(n=1, text="Alpha beta gamma delta epsilon zeta eta theta. " * 5, score=0.9)]
    answer = extract_answer("alpha beta gamma delta", passages, token_budget=5, count_tokens=count)
    assert answer == ""


def test_no_passages_no_answer() -> None:
    assert extract_answer("anything here at all", [], token_budget=100, count_tokens=count) == ""


def test_sentences_unrelated_to_the_question_are_left_out() -> None:
    passages = [
        Passage(
            n=1,
            text="Account note: Harbor Freight Lines quarterly. "
            "Harbor asked for SAML single sign-on with Okta.",
            score=0.6,
        ),
    ]
    answer = extract_answer(
        "Who asked for SAML single sign-on?", passages, token_budget=100, count_tokens=count
    )
    assert answer == "Harbor asked for SAML single sign-on with Okta. [1]"


def test_a_single_shared_word_is_not_enough() -> None:
    passages = [
        Passage(n=1, text="Harbor asked for SAML single sign-on with Okta before renewal.", score=0.6),
        Passage(n=2, text="S2 customer: thanks for joining the call today.", score=0.5),
    ]
    answer = extract_answer(
        "Which customer asked for SAML single sign-on with Okta?",
        passages,
        token_budget=100,
        count_tokens=count,
    )
    assert answer == "Harbor asked for SAML single sign-on with Okta before renewal. [1]"


def test_the_answer_quotes_content_not_the_title_line() -> None:
    passage = Passage(
        n=1,
        text="Ticket: Kestrel Aerospace support request\n\nPassword reset emails arrive after a long delay.",
        score=0.4,
    )
    out = extract_answer(
        "anything about rockets", [passage], token_budget=200, count_tokens=lambda s: len(s.split())
    )
    assert out.startswith("Password reset emails arrive") and "Ticket:" not in out


@pytest.mark.parametrize(
    "text",
    [
        "One two three. Four five six!  Seven?\n\nEight nine",
        "  leading space. and trailing   ",
        "no sentence end at all",
        "Line one\nLine two\r\nLine three.",
        "",
    ],
)
def test_sentence_offsets_cut_the_stored_text_exactly(text: str) -> None:
    spans = list(sentence_spans(text))
    for start, end in spans:
        piece = text[start:end]
        assert piece == piece.strip() and piece
    # every non-blank character belongs to exactly one sentence
    assert "".join("".join(text[s:e].split()) for s, e in spans) == "".join(text.split())


def test_every_quote_carries_offsets_into_its_passage() -> None:
    passages = [
        Passage(
            n=1,
            text="Title line here\n\nHarbor asked for SAML single sign-on with Okta. Other words.",
            score=0.6,
        ),
        Passage(n=2, text="Okta single sign-on was configured by the Harbor IT team last week.", score=0.5),
    ]
    out = quotes(
        "Who asked for SAML single sign-on with Okta?", passages, token_budget=200, count_tokens=count
    )
    assert out and out[0].n == 1
    for q in out:
        assert isinstance(q, Quoted)
        assert passages[q.n - 1].text[q.start : q.end] == q.text


def test_the_best_ranked_source_is_quoted_first_even_when_a_lower_one_overlaps_more() -> None:
    passages = [
        Passage(n=1, text="Rotate the device to switch the camera to landscape recording mode.", score=0.7),
        Passage(
            n=2, text="Camera settings: tap the camera icon, then tap settings for camera options.", score=0.5
        ),
    ]
    out = quotes("camera settings options", passages, token_budget=200, count_tokens=count, max_sentences=1)
    assert [q.n for q in out] == [1]
    both = quotes("camera settings options", passages, token_budget=200, count_tokens=count)
    assert [q.n for q in both] == [1, 2]


def test_the_best_ranked_source_is_quoted_even_without_shared_words() -> None:
    passages = [
        Passage(n=1, text="Turn on the hotspot from the quick panel of the phone.", score=0.6),
        Passage(n=2, text="Share your mobile data connection with other devices over wifi.", score=0.55),
    ]
    out = quotes("How can I share my mobile data connection?", passages, token_budget=200, count_tokens=count)
    assert [q.n for q in out] == [1, 2]


def test_the_lead_source_is_quoted_from_a_step_list_of_short_lines() -> None:
    passages = [
        Passage(n=1, text="Open Settings\nTap Privacy\nTap Delete account", score=0.6),
        Passage(n=2, text="Deleting an account removes every post you ever made on the site.", score=0.5),
    ]
    out = quotes("How do I delete my account?", passages, token_budget=200, count_tokens=count)
    assert [(q.n, q.text) for q in out] == [(1, "Tap Delete account"), (2, passages[1].text)]


def test_the_lead_source_is_quoted_with_a_sentence_that_fits_the_budget() -> None:
    long = "Delete account " + "words " * 60 + "end."
    passages = [
        Passage(n=1, text=f"{long} Open the privacy page of your profile first.", score=0.6),
        Passage(n=2, text="Deleting an account removes every post you ever made on the site.", score=0.5),
    ]
    out = quotes("How do I delete my account?", passages, token_budget=40, count_tokens=count)
    assert out[0].n == 1 and out[0].text == "Open the privacy page of your profile first."
