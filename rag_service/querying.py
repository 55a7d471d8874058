"""One query path for the API (`POST /query`) and the CLI (`crm-rag query`): the same checks,
tenant + purpose + ACL + filters, suppression of erased and revoked records, and answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ingest import payload as P
from ingest.index.base import IndexFilter
from rag_service.answer import Passage, extract_answer, render
from rag_service.config import RetrievalMode
from rag_service.context import fit_budget
from rag_service.fusion import fuse
from rag_service.generation import generate_answer
from rag_service.schemas import (
    Context,
    ContextChunk,
    Generation,
    QueryRequest,
    QueryResponse,
    Source,
    Span,
    chunk_ref,
)

if TYPE_CHECKING:
    from rag_service.services import Services


class QueryRefused(Exception):
    """The request cannot be answered as asked; `status` is the HTTP status the API answers."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def check_query(services: Services, body: QueryRequest) -> int:
    """Raise QueryRefused for an unknown tenant (404) or a request over the limits (422); else the
    top_k to use. The caller's tenant scope is checked before (403)."""
    api = services.settings.api
    if all(cfg.tenant_id != body.tenant_id for cfg in services.settings.sources):
        # not an empty answer: that would look like "nothing relevant" (issue 20)
        raise QueryRefused(404, "no such tenant")
    if len(body.question) > api.max_question_chars:
        raise QueryRefused(422, f"question longer than {api.max_question_chars} characters")
    top_k = body.top_k or api.default_top_k
    if top_k > api.max_top_k:
        raise QueryRefused(422, f"top_k must be at most {api.max_top_k}")
    if not services.consent.knows_purpose(body.purpose):
        raise QueryRefused(422, f"unknown purpose; known: {', '.join(services.consent.purposes)}")
    if body.context_token_budget is not None and body.context_token_budget > api.max_context_tokens:
        raise QueryRefused(422, f"context_token_budget must be at most {api.max_context_tokens}")
    if body.generate and services.generator is None:
        raise QueryRefused(422, "generate: no generator is configured (generator.enabled)")
    return top_k


class Retrieved(NamedTuple):
    """Sources (with snippets) and their full redacted texts, best first, and the mode used."""

    sources: list[tuple[Source, str]]
    mode: RetrievalMode


def retrieval_mode(services: Services, asked: RetrievalMode | None) -> RetrievalMode:
    """The mode a query runs in: asked, else configured; without lexical vectors (turned off, or
    an index created before them) only the dense leg exists."""
    mode = asked or services.settings.retrieval.mode
    if mode != "dense" and (services.lexical is None or not services.index.has_lexical):
        return "dense"
    return mode


def retrieve(services: Services, body: QueryRequest, top_k: int) -> Retrieved:
    f = body.filters
    where = IndexFilter(
        tenant_id=body.tenant_id,
        purpose=body.purpose,
        acl_user=body.user.user_id,
        acl_teams=tuple(body.user.team_ids),
        record_types=tuple(f.record_types),
        account_ids=tuple(f.account_ids),
        updated_from=f.updated_from,
        updated_to=f.updated_to,
    )
    config = services.settings.retrieval
    mode = retrieval_mode(services, body.retrieval)
    vector = services.embedder.embed_query(body.question)
    lexical = services.lexical.embed_query(body.question) if services.lexical and mode != "dense" else None
    # erased / revoked records are excluded even while their chunks are being purged; the same
    # filter applies to both legs
    blocked = services.privacy.suppressed_keys(body.tenant_id)
    legs = services.index.search_legs(
        vector,
        lexical,
        where=where.model_copy(update={"exclude_record_keys": blocked}),
        limit=max(top_k, config.candidates) if mode != "dense" else top_k,
    )
    ranked = fuse(legs, mode, config)[:top_k]
    snippet_chars = services.settings.api.snippet_chars
    return Retrieved(
        [
            (
                Source(
                    n=i,
                    chunk_id=r.hit.id,
                    record_id=r.hit.payload[P.RECORD_ID],
                    record_type=r.hit.payload[P.RECORD_TYPE],
                    record_url=r.hit.payload[P.RECORD_URL],
                    source=r.hit.payload[P.SOURCE],
                    system=r.hit.payload[P.SYSTEM],
                    updated_at=r.hit.payload[P.SOURCE_UPDATED_AT],
                    record_version=str(r.hit.payload[P.RECORD_VERSION]),
                    content_hash=r.hit.payload[P.CONTENT_HASH],
                    score=round(r.hit.cosine if r.hit.cosine is not None else 0.0, 4),
                    snippet=r.hit.payload[P.TEXT][:snippet_chars],
                    rank_score=round(r.fused, 4),
                    dense_rank=r.dense_rank,
                    lexical_rank=r.lexical_rank,
                ),
                r.hit.payload[P.TEXT],
            )
            for i, r in enumerate(ranked, start=1)
        ],
        mode,
    )


def answer(services: Services, body: QueryRequest, found: Retrieved, took_ms: float) -> QueryResponse:
    """Relevant sources (at or above min_score), renumbered; the extractive answer with its quotes,
    or a verified generated answer; the context when asked."""
    floor = services.settings.api.min_score if body.min_score is None else body.min_score
    retrieved = found.sources
    relevant = [(src, text) for src, text in retrieved if src.score >= floor]
    context = _context(services, body, []) if body.context_token_budget is not None else None
    if not relevant:
        best = f"best score {retrieved[0][0].score:.3f}" if retrieved else "no hit"
        return QueryResponse(
            answer="",
            sources=[],
            context=context,
            no_answer=f"nothing relevant: {best} is under min_score {floor:.2f}",
            tenant_id=body.tenant_id,
            purpose=body.purpose,
            took_ms=took_ms,
            retrieval=found.mode,
        )
    retrieved = [(src.model_copy(update={"n": i}), text) for i, (src, text) in enumerate(relevant, start=1)]
    if body.context_token_budget is not None:
        context = _context(services, body, retrieved)
    generation: Generation | None = None
    if services.generator is not None and body.generate is not False:
        cfg = services.settings.generator
        question = services.redactor.redact(body.question, tenant=body.tenant_id).text
        generated = generate_answer(
            services.generator,
            cfg,
            question,
            retrieved,
            embed=services.embedder.embed_documents,
            count_tokens=services.chunker.count_tokens,
        )
        generation = generated.info
        if generated.answer:
            return QueryResponse(
                answer=generated.answer,
                answer_mode="generated",
                claims=generated.claims,
                generation=generation,
                sources=[src for src, _ in retrieved],
                context=context,
                tenant_id=body.tenant_id,
                purpose=body.purpose,
                took_ms=took_ms,
                retrieval=found.mode,
            )
    quotes = extract_answer(
        body.question,
        [Passage(n=src.n, text=text, score=src.score) for src, text in retrieved],
        token_budget=body.answer_token_budget,
        count_tokens=services.chunker.count_tokens,
    )
    by_n = {src.n: src for src, _ in retrieved}
    return QueryResponse(
        answer=render(quotes),
        quotes=[
            Span(
                **chunk_ref(by_n[q.n]),
                start=q.start,
                end=q.end,
                text=q.text,
            )
            for q in quotes
        ],
        generation=generation,
        sources=[src for src, _ in retrieved],
        context=context,
        tenant_id=body.tenant_id,
        purpose=body.purpose,
        took_ms=took_ms,
        retrieval=found.mode,
    )


def _context(services: Services, body: QueryRequest, ranked: list[tuple[Source, str]]) -> Context:
    budget = body.context_token_budget or 0
    fitted, left_out = fit_budget([(s.n, t) for s, t in ranked], budget, services.chunker.count_tokens)
    by_n = {s.n: s for s, _ in ranked}
    chunks = [
        ContextChunk(
            **chunk_ref(by_n[f.n]),
            tokens=f.tokens,
            text=f.text,
        )
        for f in fitted
    ]
    return Context(
        token_budget=budget, tokens=sum(c.tokens for c in chunks), chunks=chunks, left_out=left_out
    )
