"""Re-checking an answer's spans against the index as it is now: same record version and content
hash, and the same words at the same offsets of the chunk's stored text; for a generated sentence,
support by each cited chunk under the current thresholds. No content is logged or stored."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ingest import payload as P
from rag_service.config import GroundingConfig
from rag_service.grounding import Embed, check_support
from rag_service.schemas import CitationCheck, CitationVerdict


def verdict(check: CitationCheck, payload: dict[str, Any] | None) -> CitationVerdict:
    if payload is None:
        return CitationVerdict(chunk_id=check.chunk_id, status="no_such_chunk")
    version, digest = str(payload[P.RECORD_VERSION]), str(payload[P.CONTENT_HASH])
    seen = {"chunk_id": check.chunk_id, "record_version": version, "content_hash": digest}
    if (version, digest) != (check.record_version, check.content_hash):
        return CitationVerdict(**seen, status="changed", reason="the record changed since the answer")
    text = str(payload[P.TEXT])
    if not 0 <= check.start <= check.end <= len(text) or text[check.start : check.end] != check.text:
        return CitationVerdict(**seen, status="text_mismatch", reason="other words at those offsets")
    return CitationVerdict(**seen, status="verified")


def audit_citations(
    checks: Sequence[CitationCheck],
    payloads: Sequence[dict[str, Any] | None],
    *,
    claim: str | None,
    embed: Embed,
    grounding: GroundingConfig,
) -> list[CitationVerdict]:
    verdicts = [verdict(c, p) for c, p in zip(checks, payloads, strict=True)]
    if claim is None:
        return verdicts
    present = [(i, str(p[P.TEXT])) for i, p in enumerate(payloads) if p is not None]
    supports = check_support([(claim, text) for _, text in present], embed, grounding)
    for (i, _), sup in zip(present, supports, strict=True):
        verdicts[i] = verdicts[i].model_copy(
            update={"supports": sup.ok, "lexical": sup.lexical, "cosine": sup.cosine, "reason": sup.why}
        )
    return verdicts
