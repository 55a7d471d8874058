"""Admin endpoints: trigger syncs and reindexes, see job runs and the quarantine."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from ingest.errors import SourceBusyError, StoreBusyError, UnknownSourceError
from ingest.governance.erasure import erase_contact, revoke_record
from ingest.governance.retire import NothingToRetireError, held_tenants
from ingest.jobs.rebuild import RebuildError, RebuildReport
from ingest.jobs.reconcile import ReconcileReport
from ingest.models import RecordRef
from ingest.partition import split_key
from ingest.store.privacy import Receipt, subject_keys
from ingest.store.runs import SOURCE_BUSY
from ingest.store.state import AuditEvent
from rag_service.deps import UNPROCESSABLE, AdminCaller, ServicesDep, check_tenant
from rag_service.querying import retrieval_mode
from rag_service.schemas import (
    ErasurePreview,
    ErasureRequest,
    Lifted,
    NothingToDo,
    ReindexRequest,
    RevokeRequest,
    RunAccepted,
    RunView,
)
from rag_service.timestamps import restamp, wire

router = APIRouter(prefix="/admin", tags=["admin"])


def _source_or_404(services: ServicesDep, name: str, caller: AdminCaller) -> None:
    try:
        src = services.source(name)
    except UnknownSourceError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such source") from None
    check_tenant(caller, src.tenant_id)


def _tenant_or_404(services: ServicesDep, tenant_id: str) -> None:
    if all(cfg.tenant_id != tenant_id for cfg in services.settings.sources):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such tenant")


def _source_for_tenant_or_404(services: ServicesDep, tenant_id: str, source: str) -> None:
    _tenant_or_404(services, tenant_id)
    src = services.sources.get(source)
    if src is None or src.tenant_id != tenant_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such source for that tenant")


@router.get("/sources")
def list_sources(caller: AdminCaller, services: ServicesDep) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for cfg in services.settings.sources:
        if not caller.may_access(cfg.tenant_id):
            continue
        runs = services.state.list_runs(source=cfg.name, limit=1)
        out.append(
            {
                "name": cfg.name,
                "kind": cfg.kind,
                "tenant_id": cfg.tenant_id,
                "interval_seconds": cfg.interval_seconds,
                "enabled": cfg.enabled,
                "last_run": RunView.model_validate(runs[0]).model_dump(mode="json") if runs else None,
            }
        )
    return out


BUSY = "a sync or reindex of this source is running"


def _accepted(response: Response, run_id: str, source: str, kind: str) -> RunAccepted:
    """202 + run id + where to poll it, for every asynchronous admin action."""
    location = f"/admin/runs/{run_id}"
    response.status_code = status.HTTP_202_ACCEPTED
    response.headers["Location"] = location
    return RunAccepted(run_id=run_id, source=source, kind=kind, status="running", location=location)


def _finished(services: ServicesDep, response: Response, run_id: str) -> RunView:
    """200 with the run's report (counts, error) for wait=true."""
    response.status_code = status.HTTP_200_OK
    return RunView.model_validate(services.state.get_run(run_id))


async def _start(
    services: ServicesDep,
    caller: AdminCaller,
    response: Response,
    source: str,
    kind: str,
    wait: bool,
    record_id: str | None = None,
    confirm_deletions: bool = False,
) -> RunView | RunAccepted:
    run_id = services.state.start_run(source=source, kind=kind, actor=f"admin:{caller.name}")
    if not wait and any(services.state.is_locked(key) for key in services.lock_keys(source)):
        services.state.end_run(run_id, status="failed", error=SOURCE_BUSY)  # 409 now, as with wait=true
        raise HTTPException(status.HTTP_409_CONFLICT, BUSY)
    services.state.audit(
        AuditEvent(
            actor=f"admin:{caller.name}",
            action=f"admin_{kind}",
            source=source,
            record_id=record_id,
            run_id=run_id,
            details={"confirm_deletions": confirm_deletions},
        )
    )

    def job() -> object:
        if record_id is not None:
            return services.reindex_record(source, record_id, actor=f"admin:{caller.name}", run_id=run_id)
        return services.run(
            source,
            kind="reindex" if kind == "reindex" else "sync",
            actor=f"admin:{caller.name}",
            run_id=run_id,
            allow_mass_delete=confirm_deletions,
        )

    if not wait:
        services.submit(job, run_id=run_id)
        return _accepted(response, run_id, source, kind)
    try:
        await run_in_threadpool(job)
    except SourceBusyError:
        raise HTTPException(status.HTTP_409_CONFLICT, BUSY) from None
    return _finished(services, response, run_id)


_RUN_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"model": RunView, "description": "wait=true: the finished run with its counts"},
    202: {"model": RunAccepted, "description": "started; poll `location`"},
    409: {"description": "a sync or reindex of this source is running"},
}


@router.post(
    "/sources/{name}/sync",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunView | RunAccepted,
    responses=_RUN_RESPONSES,
)
async def trigger_sync(
    name: str,
    caller: AdminCaller,
    services: ServicesDep,
    response: Response,
    wait: Annotated[bool, Query()] = False,
    confirm_deletions: Annotated[bool, Query()] = False,
) -> RunView | RunAccepted:
    """Incremental sync: 202 + run id + location, or with wait=true 200 + the run with its counts;
    409 while the source is busy (both modes). A run whose tombstones would delete more than
    reconcile.max_delete_share of the source stops (job run failed, cursor unchanged) until
    repeated with confirm_deletions=true."""
    _source_or_404(services, name, caller)
    return await _start(services, caller, response, name, "sync", wait, confirm_deletions=confirm_deletions)


@router.post(
    "/reindex",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RunView | RunAccepted,
    responses=_RUN_RESPONSES,
)
async def reindex(
    body: ReindexRequest, caller: AdminCaller, services: ServicesDep, response: Response
) -> RunView | RunAccepted:
    _source_or_404(services, body.source, caller)
    kind = "reindex_record" if body.record_id else "reindex"
    if body.record_id is not None and not await run_in_threadpool(
        _record_known, services, body.source, body.record_id
    ):  # else it would "succeed" as a deletion of a record that never was (issue 20)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such record in that source or the index")
    return await _start(services, caller, response, body.source, kind, body.wait, body.record_id)


def _record_known(services: ServicesDep, name: str, record_id: str) -> bool:
    """The source has the record, or the index holds it (a record gone from the source is deleted
    by its reindex, which is the point)."""
    source = services.source(name)
    ref = RecordRef(tenant_id=source.tenant_id, source=name, record_id=record_id)
    return services.state.ledger_get(ref) is not None or source.get(record_id) is not None


def _visible(services: ServicesDep, caller: AdminCaller, source: str) -> bool:
    if source == "*":  # rebuilds and rollbacks: every tenant
        return "*" in caller.tenants
    src = services.sources.get(split_key(source)[0])  # runs of partitions: "<source>#<p>"
    return src is not None and caller.may_access(src.tenant_id)


@router.get("/runs", response_model=list[RunView])
def list_runs(
    caller: AdminCaller,
    services: ServicesDep,
    source: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[RunView]:
    rows = services.state.list_runs(source=source, limit=limit)
    return [RunView.model_validate(r) for r in rows if _visible(services, caller, r["source"])]


@router.get("/runs/{run_id}", response_model=RunView)
def get_run(run_id: str, caller: AdminCaller, services: ServicesDep) -> RunView:
    row = services.state.get_run(run_id)
    if row is None or not _visible(services, caller, row["source"]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such run")
    return RunView.model_validate(row)


@router.get("/quarantine")
def list_quarantine(
    caller: AdminCaller,
    services: ServicesDep,
    source: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, object]]:
    rows = services.state.list_quarantine(source=source, limit=limit)
    return [wire(r) for r in rows if _visible(services, caller, str(r["source"]))]


@router.post(
    "/erasure",
    status_code=status.HTTP_201_CREATED,
    response_model=Receipt | ErasurePreview,
    responses={200: {"model": ErasurePreview, "description": "dry_run=true: what would be erased"}},
)
async def erasure(
    body: ErasureRequest,
    caller: AdminCaller,
    services: ServicesDep,
    response: Response,
    dry_run: Annotated[bool, Query()] = False,
) -> Receipt | ErasurePreview:
    """Right to be forgotten for one contact: every chunk of every linked record, all sources.
    dry_run=true lists the records and chunks it would erase now and changes nothing."""
    check_tenant(caller, body.tenant_id)
    _tenant_or_404(services, body.tenant_id)
    keys = subject_keys(body.contact_id, body.email, body.phone)
    if not keys:
        raise HTTPException(UNPROCESSABLE, "give contact_id, email or phone")
    if dry_run:
        refs = services.privacy.records_for_contact(body.tenant_id, keys)
        response.status_code = status.HTTP_200_OK
        return ErasurePreview(
            tenant_id=body.tenant_id,
            records=[r.key for r in refs],
            chunks=sum(services.index.count(ref=r) for r in refs),
        )

    def run() -> Receipt:
        return erase_contact(
            services.state,
            services.privacy,
            services.index,
            tenant_id=body.tenant_id,
            contact_id=body.contact_id,
            email=body.email,
            phone=body.phone,
            actor=f"admin:{caller.name}",
            settle_timeout=services.settings.privacy.settle_timeout_seconds,
        )

    return await run_in_threadpool(run)


@router.post("/erasure/lift", response_model=Lifted)
def lift_erasure(body: ErasureRequest, caller: AdminCaller, services: ServicesDep) -> Lifted:
    """Lift the suppression of an erased contact: records naming it that arrive (or are reindexed)
    from now on are indexed again. Records erased before stay erased."""
    check_tenant(caller, body.tenant_id)
    _tenant_or_404(services, body.tenant_id)
    keys = subject_keys(body.contact_id, body.email, body.phone)
    if not keys:
        raise HTTPException(UNPROCESSABLE, "give contact_id, email or phone")
    lifted = services.privacy.lift_subject(body.tenant_id, keys)
    services.state.audit(
        AuditEvent(
            actor=f"admin:{caller.name}",
            action="erasure_lifted",
            tenant_id=body.tenant_id,
            details={"keys": len(keys), "lifted": lifted},
        )
    )
    return Lifted(lifted=lifted)


@router.post("/consent/revoke", status_code=status.HTTP_201_CREATED, response_model=Receipt)
async def revoke(body: RevokeRequest, caller: AdminCaller, services: ServicesDep) -> Receipt:
    """Consent revoked for one record: excluded from queries at once, then purged everywhere."""
    check_tenant(caller, body.tenant_id)
    _source_for_tenant_or_404(services, body.tenant_id, body.source)
    ref = RecordRef(tenant_id=body.tenant_id, source=body.source, record_id=body.record_id)

    def run() -> Receipt:
        return revoke_record(
            services.state,
            services.privacy,
            services.index,
            ref=ref,
            actor=f"admin:{caller.name}",
            settle_timeout=services.settings.privacy.settle_timeout_seconds,
        )

    return await run_in_threadpool(run)


@router.post("/consent/lift", response_model=Lifted)
def lift_revocation(body: RevokeRequest, caller: AdminCaller, services: ServicesDep) -> Lifted:
    """Lift a revocation made through the API: the record's own consent value at the source decides
    again from its next sync or reindex. An erasure is never lifted."""
    check_tenant(caller, body.tenant_id)
    _source_for_tenant_or_404(services, body.tenant_id, body.source)
    ref = RecordRef(tenant_id=body.tenant_id, source=body.source, record_id=body.record_id)
    lifted = services.privacy.lift(ref)
    services.state.audit(
        AuditEvent(
            actor=f"admin:{caller.name}",
            action="revocation_lifted",
            tenant_id=ref.tenant_id,
            source=ref.source,
            record_id=ref.record_id,
            details={"lifted": lifted},
        )
    )
    return Lifted(lifted=lifted)


@router.post("/sources/{name}/reconcile", response_model=ReconcileReport)
async def reconcile_source(
    name: str,
    caller: AdminCaller,
    services: ServicesDep,
    confirm: Annotated[bool, Query()] = False,
    dry_run: Annotated[bool, Query()] = False,
) -> ReconcileReport:
    """Compare live ids, ledger and index; delete stale chunks; report completeness. A run that would
    delete more than reconcile.max_delete_share of the source stops until called with confirm=true."""
    _source_or_404(services, name, caller)
    actor = f"admin:{caller.name}"
    try:
        return await run_in_threadpool(
            lambda: services.reconcile(name, confirm=confirm, actor=actor, dry_run=dry_run)
        )
    except SourceBusyError:
        raise HTTPException(status.HTTP_409_CONFLICT, "a sync or reindex of this source is running") from None


@router.post("/sources/{name}/retire", status_code=status.HTTP_201_CREATED, response_model=list[Receipt])
async def retire(name: str, caller: AdminCaller, services: ServicesDep) -> list[Receipt]:
    """Retire a source removed from the configuration: purge its chunks, ledger, cursors and
    quarantine; audit event and one receipt per tenant. 409 while the configuration names it."""
    if services.settings.source(name) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, "the source is still configured; remove it from the configuration first"
        )
    tenants = await run_in_threadpool(lambda: held_tenants(services.state, services.index, name))
    if not tenants:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "nothing is held for a source of that name")
    for tenant_id in sorted(tenants):
        check_tenant(caller, tenant_id)
    try:
        return await run_in_threadpool(lambda: services.retire_source(name, actor=f"admin:{caller.name}"))
    except SourceBusyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except NothingToRetireError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "nothing is held for a source of that name") from None


@router.get("/index")
def index_status(caller: AdminCaller, services: ServicesDep) -> dict[str, object]:
    """Where the live index is, how many chunks it holds, and records awaiting re-processing after a
    policy, detector, model or chunker change."""
    pointer = services.gens.pointer()
    if "*" in caller.tenants:
        chunks = services.index.count()
    else:  # a tenant-scoped key sees its own tenants' chunks only
        chunks = sum(services.index.count(tenant_id=t) for t in sorted(set(caller.tenants)))
    return {
        "live_generation": pointer.live,
        "previous_generation": pointer.previous,
        "switched_at": restamp(pointer.switched_at),
        "location": services.index.location,
        "chunks": chunks,
        # false: an index created before lexical vectors; queries answer dense until a rebuild
        "lexical_vectors": services.index.has_lexical,
        "retrieval_mode": retrieval_mode(services, None),
        # the embedded index's background HNSW fold-in (null on a Qdrant server, which indexes itself)
        "fold_in": _fold_in_view(services),
        "stale_records": {
            cfg.name: len(services.stale_records(cfg.name))
            for cfg in services.settings.sources
            if caller.may_access(cfg.tenant_id)
        },
        "versions": services.state.list_audit(action="versions", limit=1)[0]["details"],
    }


@router.post("/sources/{name}/reprocess-stale", response_model=RunView | NothingToDo)
async def reprocess_stale(name: str, caller: AdminCaller, services: ServicesDep) -> RunView | NothingToDo:
    """Runs and answers the finished run, or `nothing_to_do` when no record is stale."""
    _source_or_404(services, name, caller)
    actor = f"admin:{caller.name}"
    try:
        report = await run_in_threadpool(lambda: services.reprocess_stale(name, actor=actor))
    except SourceBusyError:
        raise HTTPException(status.HTTP_409_CONFLICT, "a sync or reindex of this source is running") from None
    if report is None:
        return NothingToDo(source=name, detail="no record is indexed under an older policy or model")
    run = services.state.get_run(report.run_id)
    return RunView.model_validate(run)


def _fold_in_view(services: ServicesDep) -> dict[str, object] | None:
    job = services.jobs.fold_in
    status_now = job.status() if job is not None else None
    if job is None or status_now is None:
        return None
    view = status_now.model_dump(mode="json")
    view["due"] = job.due()
    return view


@router.post(
    "/index/fold-in",
    response_model=RunAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "a fold-in is running, or the index indexes itself (Qdrant server)"}},
)
async def fold_in_now(caller: AdminCaller, services: ServicesDep, response: Response) -> RunAccepted:
    """Index the embedded index's new points now, in the background (normally started on its own
    when `index.fold_in` thresholds are met). Queries and syncs go on; poll the run."""
    if "*" not in caller.tenants:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "index maintenance needs an admin key for every tenant"
        )
    job = services.jobs.fold_in
    if job is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "the Qdrant server builds its vector index itself")
    try:
        run_id = job.start(actor=f"admin:{caller.name}")
    except StoreBusyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _accepted(response, run_id, "*", "fold_in")


@router.post(
    "/rebuild",
    response_model=RebuildReport | RunAccepted,
    responses={202: {"model": RunAccepted, "description": "started; poll `location`"}},
)
async def rebuild_index(
    caller: AdminCaller, services: ServicesDep, response: Response, wait: Annotated[bool, Query()] = False
) -> RebuildReport | RunAccepted:
    """Full blue/green rebuild: new generation from every source, verification gate (ledger counts,
    canary queries, zero hits for erased/revoked records), atomic swap; the previous generation is
    kept for rollback. Queries use the live generation throughout."""
    if "*" not in caller.tenants:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a full rebuild needs an admin key for every tenant")
    actor = f"admin:{caller.name}"
    try:  # a second rebuild while one runs gets 409 at once, whether or not it would wait
        run_id = services.begin_rebuild(actor=actor)
    except SourceBusyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    services.state.audit(AuditEvent(actor=actor, action="admin_rebuild", run_id=run_id))
    if not wait:
        services.submit(lambda: services.rebuild(actor=actor, run_id=run_id), run_id=run_id)
        return _accepted(response, run_id, "*", "rebuild")
    try:
        return await run_in_threadpool(lambda: services.rebuild(actor=actor, run_id=run_id))
    except SourceBusyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.post("/rollback", response_model=RebuildReport)
async def rollback_index(caller: AdminCaller, services: ServicesDep) -> RebuildReport:
    """Make the previous index generation live again (one step back)."""
    if "*" not in caller.tenants:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a rollback needs an admin key for every tenant")
    try:
        return await run_in_threadpool(lambda: services.rollback(actor=f"admin:{caller.name}"))
    except RebuildError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except SourceBusyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
