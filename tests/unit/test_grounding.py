"""Generated answers: sentences and their citations, and support checked with the real model."""

from __future__ import annotations

import pytest

from ingest.stages.embedding import Embedder
from rag_service.config import GroundingConfig
from rag_service.grounding import Draft, check_support, ground, split_claims

CHUNK = (
    "Call with <PERSON> from Harbor Freight Lines. They want SAML single sign-on with Okta before the "
    "renewal in March. Budget approved for 40 seats. Next step: security review with their IT team."
)
OTHER = "Invoices for March were sent to the finance team on time. A late fee of $120 was disputed."


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            "Harbor wants Okta SSO [1]. The budget is 40 seats [1][2].",
            [("Harbor wants Okta SSO.", (1,)), ("The budget is 40 seats.", (1, 2))],
        ),
        (
            "Harbor wants Okta SSO. [1] The budget is 40 seats. [2]",
            [("Harbor wants Okta SSO.", (1,)), ("The budget is 40 seats.", (2,))],
        ),
        ("Harbor wants Okta SSO [1, 3].", [("Harbor wants Okta SSO.", (1, 3))]),
        (
            "- Harbor wants Okta SSO [1]\n- Budget is 40 seats [2]",
            [("Harbor wants Okta SSO", (1,)), ("Budget is 40 seats", (2,))],
        ),
        ("Harbor wants Okta SSO.", [("Harbor wants Okta SSO.", ())]),
        ("Sure! Harbor wants Okta SSO [1].", [("Harbor wants Okta SSO.", (1,))]),
        ("Harbor wants Okta SSO.\n[1]", [("Harbor wants Okta SSO.", (1,))]),
        ("", []),
    ],
)
def test_split_claims(reply: str, expected: list[tuple[str, tuple[int, ...]]]) -> None:
    assert [(d.text, d.cited) for d in split_claims(reply)] == expected


@pytest.mark.parametrize(
    ("claim", "chunk", "ok"),
    [
        ("Harbor Freight Lines wants SAML single sign-on with Okta before renewal.", CHUNK, True),
        ("They need Okta single sign-on before their March renewal.", CHUNK, True),
        ("The budget covers 40 seats.", CHUNK, True),
        ("The budget covers 400 seats.", CHUNK, False),  # a number the chunk does not state
        ("Harbor Freight Lines wants SAML single sign-on with Okta before renewal.", OTHER, False),
        ("The customer asked for a 20% discount on the enterprise plan.", CHUNK, False),
        ("Harbor Freight Lines is moving its data warehouse to Snowflake next quarter.", CHUNK, False),
        ("A late fee was disputed.", OTHER, True),
    ],
)
def test_support_needs_words_meaning_and_numbers(
    embedder: Embedder, claim: str, chunk: str, ok: bool
) -> None:
    [support] = check_support([(claim, chunk)], embedder.embed_documents, GroundingConfig())
    assert support.ok is ok, support.why
    assert chunk[support.start : support.end] in chunk and support.end > support.start
    assert (support.why is None) is ok


def test_the_evidence_span_is_the_supporting_sentence(embedder: Embedder) -> None:
    [support] = check_support(
        [("The budget covers 40 seats.", CHUNK)], embedder.embed_documents, GroundingConfig()
    )
    assert CHUNK[support.start : support.end] == "Budget approved for 40 seats."


def test_citations_outside_the_offered_chunks_or_unsupported_are_rejected(embedder: Embedder) -> None:
    drafts = [
        Draft("Harbor wants SAML single sign-on with Okta before the renewal.", (1, 2, 7)),
        Draft("The customer asked for a 20% discount on the enterprise plan.", (1,)),
        Draft("Nothing cited here at all.", ()),
    ]
    out = ground(drafts, {1: CHUNK, 2: OTHER}, embedder.embed_documents, GroundingConfig())
    assert [n for n, _ in out[0].supports] == [1]
    assert out[0].reason is not None and "[7] is not a retrieved source" in out[0].reason
    assert "[2] does not support it" in out[0].reason
    assert out[1].supports == () and out[2].supports == () and out[2].reason == "no citation"
