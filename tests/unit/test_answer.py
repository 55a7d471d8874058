from __future__ import annotations

from rag_service.answer import Passage, extract_answer


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
