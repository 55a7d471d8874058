"""FastAPI dependencies (Annotated): services, settings, authenticated caller with a role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

from rag_service.auth import Caller, KeyRing
from rag_service.config import Role, Settings
from rag_service.ratelimit import Limiter
from rag_service.services import Services

UNPROCESSABLE = 422  # starlette renamed its constant for this code; the number is what matters

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_keyring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.keyring
    return ring


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_limiter(request: Request) -> Limiter:
    limiter: Limiter = request.app.state.limiter
    return limiter


def require(*roles: Role) -> Callable[..., Caller]:
    def dependency(
        request: Request,
        ring: Annotated[KeyRing, Depends(get_keyring)],
        limiter: Annotated[Limiter, Depends(get_limiter)],
        key: Annotated[str | None, Security(_api_key)],
    ) -> Caller:
        caller = ring.authenticate(key)
        if caller is None:
            # missing or unknown keys are limited per client address (key guessing, floods)
            address = request.client.host if request.client else "unknown"
            wait = limiter.acquire(f"addr:{address}")
            if wait > 0:
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    "too many requests without a valid API key from this address",
                    headers={"Retry-After": str(max(1, round(wait)))},
                )
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or unknown API key",
                headers={"WWW-Authenticate": "APIKey"},
            )
        wait = limiter.acquire(f"key:{caller.name}")
        if wait > 0:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "rate limit exceeded for this API key",
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        if caller.role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this endpoint needs role {' or '.join(roles)}")
        return caller

    return dependency


AssistantCaller = Annotated[Caller, Depends(require("assistant"))]
AdminCaller = Annotated[Caller, Depends(require("admin"))]
AuditorCaller = Annotated[Caller, Depends(require("auditor"))]


def check_tenant(caller: Caller, tenant_id: str) -> None:
    if not caller.may_access(tenant_id):
        # 404-like wording would leak less, but a clear 403 helps integrators; no data is revealed.
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this API key is not scoped to that tenant")
