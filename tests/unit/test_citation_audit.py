from __future__ import annotations

from typing import Any

import pytest

from ingest import payload as P
from rag_service.citation_audit import verdict
from rag_service.schemas import CitationCheck

TEXT = "Title\n\nHarbor wants SAML single sign-on with Okta."
PAYLOAD = {P.TEXT: TEXT, P.RECORD_VERSION: "3", P.CONTENT_HASH: "h3"}
ID = "6f1c1f4e-2b7a-5d7e-9c1a-3c6b2f0d9a11"


def check(**kw: Any) -> CitationCheck:
    start = TEXT.index("Harbor")
    base = {"chunk_id": ID, "start": start, "end": len(TEXT), "text": TEXT[start:], "record_version": "3"}
    return CitationCheck.model_validate(base | {"content_hash": "h3", "n": 1, "lexical": 0.9} | kw)


@pytest.mark.parametrize(
    ("changes", "payload", "status"),
    [
        ({}, PAYLOAD, "verified"),
        ({}, None, "no_such_chunk"),
        ({"record_version": "2"}, PAYLOAD, "changed"),
        ({"content_hash": "h2"}, PAYLOAD, "changed"),
        ({"start": 0}, PAYLOAD, "text_mismatch"),
        ({"end": len(TEXT) + 5}, PAYLOAD, "text_mismatch"),
        ({"text": "Harbor wants SAML single sign-on with Azure."}, PAYLOAD, "text_mismatch"),
    ],
)
def test_verdicts(changes: dict[str, Any], payload: dict[str, Any] | None, status: str) -> None:
    assert verdict(check(**changes), payload).status == status
