"""create_app(settings): the FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from rag_service.auth import KeyRing
from rag_service.config import SAFE_ERROR_CONTEXT, Settings
from rag_service.console import mount_console
from rag_service.deps import UNPROCESSABLE
from rag_service.docs import mount_docs
from rag_service.limits import BodyLimitMiddleware
from rag_service.ratelimit import RateLimiter, SharedRateLimiter
from rag_service.routes import admin, audit, query, views
from rag_service.schemas import QueryFilters
from rag_service.services import Services, build_services

log = logging.getLogger("rag_service.app")


UNKNOWN_FIELD = "<unknown field>"
FILTER_KEYS = tuple(QueryFilters.model_fields)


def _safe_error(err: Mapping[str, Any]) -> dict[str, Any]:
    loc = list(err.get("loc", ()))
    kind = str(err.get("type", ""))
    msg = str(err.get("msg", ""))
    if kind == "extra_forbidden" and loc:
        in_filters = loc[:-1] == ["body", "filters"]
        loc[-1] = UNKNOWN_FIELD  # the key itself is input (it may be an e-mail address)
        msg = "unknown field, not allowed here (its name is not repeated)"
        if in_filters:  # the natural guess {"record_type": "ticket"} lands here
            msg = f"unknown filter key (its name is not repeated); filters take {', '.join(FILTER_KEYS)}"
    elif set(err.get("ctx") or {}) - SAFE_ERROR_CONTEXT:
        msg = "invalid value"
    return {"loc": loc, "msg": msg, "type": kind}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the input back: a question, or even a JSON key, may carry personal data.
    return [_safe_error(err) for err in exc.errors()]


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    start_scheduler: bool | None = None,
    owns_services: bool | None = None,
) -> FastAPI:
    """`services` may be injected (tests share one set of loaded models); otherwise built at startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None if owns_services is None else owns_services
        svc = services or build_services(settings)
        app.state.services = svc
        if settings.api.rate_limit_store == "state":
            app.state.limiter = SharedRateLimiter(
                svc.state.engine, settings.api.rate_limit_per_minute, settings.api.rate_limit_burst
            )
        run_scheduler = settings.scheduler.enabled if start_scheduler is None else start_scheduler
        if run_scheduler:
            svc.start_scheduler()
        try:
            yield
        finally:
            if owned:
                svc.close()
            elif svc.scheduler is not None:
                svc.scheduler.shutdown()

    app = FastAPI(
        title="crm-rag-refresh",
        version="0.1.0",
        description="Fresh, private, auditable retrieval over CRM content.",
        lifespan=lifespan,
        docs_url=None,  # served from local assets below: the defaults load them from a CDN
        redoc_url=None,
    )
    mount_docs(app)
    app.state.settings = settings
    app.state.keyring = KeyRing(settings.auth.keys)
    app.state.limiter = RateLimiter(settings.api.rate_limit_per_minute, settings.api.rate_limit_burst)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=UNPROCESSABLE, content={"detail": _validation_errors(exc)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", extra={"path": request.url.path, "error_type": type(exc).__name__})
        return JSONResponse(status_code=500, content={"detail": "internal error"})

    mount_console(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics(request: Request) -> Response:
        """Prometheus text format: records by outcome, chunks, redactions by entity type, run
        durations, query latency, index size, freshness lag and completeness per source."""
        svc: Services = request.app.state.services
        return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> JSONResponse:
        svc: Services = request.app.state.services
        checks: dict[str, str] = {}
        try:
            svc.state.ping()
            checks["state"] = "ok"
        except Exception as exc:
            checks["state"] = type(exc).__name__
        try:
            svc.index.count()
            checks["index"] = "ok"
        except Exception as exc:
            checks["index"] = type(exc).__name__
        # the last write failed and reopening did not help (the engine error is in the log)
        checks["index_writable"] = "ok" if svc.index.write_error is None else "unwritable"
        checks["model"] = "ok" if svc.embedder.dimension > 0 else "not loaded"
        # an empty configuration starts but can answer nothing: not ready (issue 20)
        checks["sources"] = "ok" if svc.settings.sources else "none configured"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(status_code=200 if ready else 503, content={"ready": ready, "checks": checks})

    app.include_router(query.router)
    app.include_router(admin.router)
    app.include_router(audit.router)
    app.include_router(views.router)
    return app
