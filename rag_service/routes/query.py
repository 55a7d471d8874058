"""POST /query: retrieval with tenant, ACL and purpose filters; read-only."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool

from rag_service.deps import AssistantCaller, ServicesDep, check_tenant
from rag_service.querying import QueryRefused, answer, check_query, retrieve
from rag_service.schemas import QueryRequest, QueryResponse

router = APIRouter(tags=["query"])


@router.post(
    "/query",
    response_model=QueryResponse,
    responses={400: {}, 401: {}, 403: {}, 404: {"description": "no such tenant"}, 413: {}, 422: {}},
)
async def query(body: QueryRequest, caller: AssistantCaller, services: ServicesDep) -> QueryResponse:
    started = time.perf_counter()
    check_tenant(caller, body.tenant_id)
    try:
        top_k = check_query(services, body)
    except QueryRefused as exc:
        raise HTTPException(exc.status, exc.detail) from None
    with services.metrics.time_query():
        retrieved = await run_in_threadpool(retrieve, services, body, top_k)
    took_ms = round((time.perf_counter() - started) * 1000, 2)  # retrieval; generation reports its own
    # off the event loop: a generator call may take seconds
    response = await run_in_threadpool(answer, services, body, retrieved, took_ms)
    services.metrics.observe_answer(
        response.answer_mode, response.generation.status if response.generation else None
    )
    return response
