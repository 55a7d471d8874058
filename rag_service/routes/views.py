"""Read endpoints the console is built on (any client may use them): who a key is, a per-source
overview, run history with filters and live progress, redaction summaries, receipt re-checks.
Roles are checked here as everywhere; tenant-scoped keys see only their tenants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool

from ingest.partition import split_key
from rag_service.auth import Caller
from rag_service.deps import AdminCaller, AuditorCaller, ServicesDep, check_tenant, require
from rag_service.services import Services
from rag_service.views.models import (
    KeyInfo,
    ReceiptCheck,
    RedactionSummary,
    RunProgress,
    RunRow,
    SourceOverview,
)
from rag_service.views.overview import source_overview
from rag_service.views.privacy import check_receipt, redaction_summary
from rag_service.views.runs import run_history, run_progress

router = APIRouter()

AnyCaller = Annotated[Caller, Depends(require("assistant", "admin", "auditor"))]
AdminOrAuditor = Annotated[Caller, Depends(require("admin", "auditor"))]


@router.get("/me", response_model=KeyInfo, tags=["console"])
def whoami(caller: AnyCaller) -> KeyInfo:
    """The role and tenant scope of the presented key (the console shows what the role may use)."""
    return KeyInfo(name=caller.name, role=caller.role, tenants=list(caller.tenants))


@router.get("/admin/status", response_model=list[SourceOverview], tags=["admin"])
async def sources_status(caller: AdminCaller, services: ServicesDep) -> list[SourceOverview]:
    """Per source: records and chunks in the live index, quarantine, last run and last error,
    freshness, completeness (last reconcile), next scheduled run, busy, partitions."""
    return await run_in_threadpool(source_overview, services, caller.tenants)


def _scope(services: Services, caller: Caller) -> list[str] | None:
    if "*" in caller.tenants:
        return None
    return [cfg.name for cfg in services.settings.sources if caller.may_access(cfg.tenant_id)]


@router.get("/admin/run-history", response_model=list[RunRow], tags=["admin"])
def history(
    caller: AdminCaller,
    services: ServicesDep,
    source: str | None = None,
    run_status: Annotated[str | None, Query(alias="status")] = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RunRow]:
    """Job runs newest first with duration, counts and error; filter by source (with its
    partitions), status (running, succeeded, failed, ...) and kind (sync, reindex, rebuild, ...).
    A tenant-scoped key sees its tenants' sources only (no rebuilds)."""
    return run_history(
        services.state.engine,
        sources=_scope(services, caller),
        source=source,
        status=run_status,
        kind=kind,
        limit=limit,
    )


@router.get("/admin/runs/{run_id}/progress", response_model=RunProgress, tags=["admin"])
def progress(run_id: str, caller: AdminCaller, services: ServicesDep) -> RunProgress:
    """What a run has written so far (records by outcome, quarantine entries) and for how long
    it has run; poll it while `status` is running."""
    run = services.state.get_run(run_id)
    scope = _scope(services, caller)
    name = split_key(str(run["source"]))[0] if run else ""
    if run is None or (scope is not None and name not in scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such run")
    return run_progress(services.state.engine, run)


@router.get("/audit/redaction-summary", response_model=list[RedactionSummary], tags=["audit"])
async def redactions(
    caller: AdminOrAuditor, services: ServicesDep, tenant_id: str | None = None
) -> list[RedactionSummary]:
    """Per source, the entity types and counts redacted in the records it has in the index now
    (each record's latest indexed version). Types and counts only, never values."""
    if tenant_id is not None:
        check_tenant(caller, tenant_id)
    wanted = [
        cfg
        for cfg in services.settings.sources
        if caller.may_access(cfg.tenant_id) and (tenant_id is None or cfg.tenant_id == tenant_id)
    ]
    engine = services.state.engine
    return [await run_in_threadpool(redaction_summary, engine, cfg.tenant_id, cfg.name) for cfg in wanted]


@router.get("/audit/receipts/{receipt_id}/check", response_model=ReceiptCheck, tags=["audit"])
async def recheck_receipt(receipt_id: str, caller: AuditorCaller, services: ServicesDep) -> ReceiptCheck:
    """Check a receipt again now: how many chunks of its records the live index holds (0 means
    still verified, e.g. after an index restore)."""
    receipt = services.privacy.get_receipt(receipt_id)
    if receipt is None or not caller.may_access(receipt.tenant_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such receipt")
    return await run_in_threadpool(check_receipt, services.index, receipt)
