"""POST /query: retrieval with tenant, ACL and purpose filters; read-only."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool

from ingest import payload as P
from ingest.index.base import IndexFilter
from rag_service.answer import Passage, extract_answer
from rag_service.deps import UNPROCESSABLE, AssistantCaller, ServicesDep, check_tenant
from rag_service.schemas import QueryRequest, QueryResponse, Source

router = APIRouter(tags=["query"])


@router.post(
    "/query",
    response_model=QueryResponse,
    responses={400: {}, 401: {}, 403: {}, 404: {"description": "no such tenant"}, 413: {}, 422: {}},
)
async def query(body: QueryRequest, caller: AssistantCaller, services: ServicesDep) -> QueryResponse:
    started = time.perf_counter()
    api = services.settings.api
    check_tenant(caller, body.tenant_id)
    if all(cfg.tenant_id != body.tenant_id for cfg in services.settings.sources):
        # not an empty answer: that would look like "nothing relevant" (issue 20)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such tenant")
    if len(body.question) > api.max_question_chars:
        raise HTTPException(UNPROCESSABLE, f"question longer than {api.max_question_chars} characters")
    top_k = body.top_k or api.default_top_k
    if top_k > api.max_top_k:
        raise HTTPException(UNPROCESSABLE, f"top_k must be at most {api.max_top_k}")
    if not services.consent.knows_purpose(body.purpose):
        raise HTTPException(UNPROCESSABLE, f"unknown purpose; known: {', '.join(services.consent.purposes)}")
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

    def retrieve() -> list[tuple[Source, str]]:
        vector = services.embedder.embed_query(body.question)
        # erased / revoked records are excluded even while their chunks are being purged
        blocked = services.privacy.suppressed_keys(body.tenant_id)
        hits = services.index.search(
            vector, where=where.model_copy(update={"exclude_record_keys": blocked}), limit=top_k
        )
        return [
            (
                Source(
                    n=i,
                    chunk_id=h.id,
                    record_id=h.payload[P.RECORD_ID],
                    record_type=h.payload[P.RECORD_TYPE],
                    record_url=h.payload[P.RECORD_URL],
                    source=h.payload[P.SOURCE],
                    system=h.payload[P.SYSTEM],
                    updated_at=h.payload[P.SOURCE_UPDATED_AT],
                    score=round(h.score, 4),
                    snippet=h.payload[P.TEXT][: api.snippet_chars],
                ),
                h.payload[P.TEXT],
            )
            for i, h in enumerate(hits, start=1)
        ]

    with services.metrics.time_query():
        retrieved = await run_in_threadpool(retrieve)
    answer = extract_answer(
        body.question,
        [Passage(n=src.n, text=text, score=src.score) for src, text in retrieved],
        token_budget=body.answer_token_budget,
        count_tokens=services.chunker.count_tokens,
    )
    return QueryResponse(
        answer=answer,
        sources=[src for src, _ in retrieved],
        tenant_id=body.tenant_id,
        purpose=body.purpose,
        took_ms=round((time.perf_counter() - started) * 1000, 2),
    )
