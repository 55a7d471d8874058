"""Auditor endpoints: per-chunk provenance, all chunks of a record, the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, status

from ingest import payload as P
from ingest.models import RecordRef
from ingest.store.history import read_history
from ingest.store.privacy import Receipt
from rag_service.citation_audit import audit_citations
from rag_service.deps import UNPROCESSABLE, AuditorCaller, ServicesDep, check_tenant
from rag_service.schemas import ChunkProvenance, CitationAuditRequest, CitationVerdict
from rag_service.timestamps import payload_view, wire

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/chunks/{chunk_id}", response_model=ChunkProvenance)
def chunk_provenance(chunk_id: UUID, caller: AuditorCaller, services: ServicesDep) -> ChunkProvenance:
    """Chunk ids are UUIDs (uuid5 of tenant, source, record and chunk index); anything else is 422."""
    hit = services.index.get(str(chunk_id))
    if hit is None or not caller.may_access(str(hit.payload.get(P.TENANT_ID))):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such chunk")
    return ChunkProvenance(chunk_id=hit.id, payload=payload_view(hit.payload))


@router.post("/citations/verify", response_model=list[CitationVerdict])
def verify_citations(
    body: CitationAuditRequest, caller: AuditorCaller, services: ServicesDep
) -> list[CitationVerdict]:
    """Re-check the quotes or citations a /query answer returned, one verdict each, against the
    chunks as stored now (the text GET /audit/chunks/{id} shows). With `claim`, each chunk's
    support for that generated sentence is scored again. Reads only; writes nothing."""
    payloads = []
    for check in body.citations:
        hit = services.index.get(check.chunk_id)
        visible = hit is not None and caller.may_access(str(hit.payload.get(P.TENANT_ID)))
        payloads.append(hit.payload if hit is not None and visible else None)
    return audit_citations(
        body.citations,
        payloads,
        claim=body.claim,
        embed=services.embedder.embed_documents,
        grounding=services.settings.generator.grounding,
    )


@router.get("/records/{tenant_id}/{source}/{record_id}")
def record_provenance(
    tenant_id: str, source: str, record_id: str, caller: AuditorCaller, services: ServicesDep
) -> dict[str, Any]:
    check_tenant(caller, tenant_id)
    ref = RecordRef(tenant_id=tenant_id, source=source, record_id=record_id)
    entry = services.state.ledger_get(ref)
    chunks = services.index.record_chunks(ref)
    if entry is None and not chunks:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such record")
    return {
        "ledger": entry.model_dump(mode="json") if entry else None,
        "chunks": [{"chunk_id": h.id, "payload": payload_view(h.payload)} for h in chunks],
    }


@router.get("/records/{tenant_id}/{source}/{record_id}/history")
def record_history(
    tenant_id: str, source: str, record_id: str, caller: AuditorCaller, services: ServicesDep
) -> list[dict[str, Any]]:
    """Versions indexed (with redaction summaries, policy versions, model), payload updates,
    purges and deletions of one record, newest first."""
    check_tenant(caller, tenant_id)
    rows = read_history(
        services.state.engine, RecordRef(tenant_id=tenant_id, source=source, record_id=record_id)
    )
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no history for that record")
    return [wire(r) for r in rows]


@router.get("/events")
def audit_events(
    caller: AuditorCaller,
    services: ServicesDep,
    action: str | None = None,
    actor: str | None = None,
    record_id: str | None = None,
    tenant_id: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    if tenant_id is not None:
        check_tenant(caller, tenant_id)
    elif "*" not in caller.tenants:
        raise HTTPException(UNPROCESSABLE, "tenant_id is required for this API key")
    rows = services.state.list_audit(
        action=action, actor=actor, record_id=record_id, tenant_id=tenant_id, since=since, limit=limit
    )
    return [wire(r) for r in rows]


@router.get("/verify")
def verify_chain(caller: AuditorCaller, services: ServicesDep) -> dict[str, Any]:
    """The whole hash chain is verified; a tenant-scoped key counts (and is named a bad event of)
    only its own tenants' events."""
    scope = None if "*" in caller.tenants else caller.tenants
    ok, checked, bad = services.state.verify_audit_chain(scope)
    return {"ok": ok, "events_checked": checked, "first_bad_event_id": bad}


@router.get("/receipts", response_model=list[Receipt])
def list_receipts(
    caller: AuditorCaller,
    services: ServicesDep,
    tenant_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Receipt]:
    if tenant_id is not None:
        check_tenant(caller, tenant_id)
    elif "*" not in caller.tenants:
        raise HTTPException(UNPROCESSABLE, "tenant_id is required for this API key")
    return services.privacy.list_receipts(tenant_id, limit)


@router.get("/receipts/{receipt_id}", response_model=Receipt)
def get_receipt(receipt_id: str, caller: AuditorCaller, services: ServicesDep) -> Receipt:
    receipt = services.privacy.get_receipt(receipt_id)
    if receipt is None or not caller.may_access(receipt.tenant_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such receipt")
    return receipt
