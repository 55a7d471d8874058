"""Write a page's staged chunks (redacted, chunked, embedded): upsert with provenance, drop chunks
past a record's new end, and build the ledger rows and audit event that describe the write."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from ingest import payload as P
from ingest.index.base import IndexPoint, SparseVector
from ingest.models import Chunk, RunCounts, SourceRecord
from ingest.store.state import AuditEvent, LedgerEntry, utcnow
from policies.models import Admit

if TYPE_CHECKING:
    from ingest.pipeline import PipelineParts


def access_of(record: SourceRecord, admit: Admit) -> dict[str, Any]:
    """The part of the payload that can change without re-embedding (ACL, consent, links)."""
    return P.access_payload(record, admit.purposes, admit.granted_tags, admit.policy_version)


@dataclass(slots=True)
class Pending:
    """A record to (re-)index; ingest.stages.staging fills in its chunks and their vectors."""

    record: SourceRecord
    admit: Admit
    content_hash: str
    fingerprint: str
    access_hash: str
    previous_chunks: int
    chunks: list[Chunk] = field(default_factory=list)
    vectors: NDArray[np.float32] | None = None
    lexical: list[SparseVector] | None = None  # one per chunk when lexical vectors are on


def write_pending(
    parts: PipelineParts,
    pending: list[Pending],
    *,
    run_id: str,
    counts: RunCounts,
    entries: list[LedgerEntry],
    events: list[AuditEvent],
    actor: str,
) -> dict[str, dict[str, int]]:
    """Upsert staged chunks; returns record key -> redaction counts of what was written."""
    if not pending:
        return {}
    p = parts
    now = utcnow()
    points: list[IndexPoint] = []
    for item in pending:
        access = access_of(item.record, item.admit)
        if item.vectors is None or len(item.vectors) != len(item.chunks):
            raise RuntimeError("write_pending needs staged records (ingest.stages.staging.stage)")
        counts.embedded += len(item.chunks)
        lexical = item.lexical if item.lexical is not None else [None] * len(item.chunks)
        for chunk, vector, sparse in zip(item.chunks, item.vectors, lexical, strict=True):
            points.append(
                IndexPoint(
                    id=P.point_id(item.record.ref, chunk.chunk_index),
                    vector=vector.tolist(),
                    lexical=sparse,
                    payload=P.chunk_payload(
                        record=item.record,
                        chunk=chunk,
                        access=access,
                        content_hash=item.content_hash,
                        redaction_policy_version=p.redactor.policy_version,
                        detector_version=p.redactor.detector_version,
                        embedding_model=p.embedder.model_id,
                        chunker=p.chunker.signature,
                        run_id=run_id,
                        indexed_at=now,
                    ),
                )
            )
    p.index.upsert(points)
    written_ids: list[str] = []
    for item in pending:
        # a record that shrank (or a crash leftover) must not keep chunks past its new end
        counts.chunks_deleted += p.index.delete_chunks_from(item.record.ref, len(item.chunks))
        counts.indexed += 1
        counts.chunks_written += len(item.chunks)
        written_ids.append(item.record.record_id)
        entries.append(
            ledger_entry(
                parts=parts,
                record=item.record,
                content_hash=item.content_hash,
                fingerprint=item.fingerprint,
                access_hash=item.access_hash,
                status="indexed",
                reason=None,
                chunk_count=len(item.chunks),
                consent_version=item.admit.policy_version,
                run_id=run_id,
            )
        )
    for item in pending:
        for chunk in item.chunks:
            for entity, n in chunk.redaction_counts.items():
                counts.redacted[entity] = counts.redacted.get(entity, 0) + n
    per_record = {
        item.record.ref.key: sum_counts(c.redaction_counts for c in item.chunks) for item in pending
    }
    redacted = sum_counts(per_record.values())
    first = pending[0].record
    events.append(
        AuditEvent(
            actor=actor,
            action="index_write",
            tenant_id=first.tenant_id,
            source=first.source,
            run_id=run_id,
            details={
                "record_ids": written_ids,
                "chunks": len(points),
                "redacted": redacted,
                "redaction_policy": p.redactor.policy_version,
                "model": p.embedder.model_id,
            },
        )
    )
    return per_record


def ledger_entry(
    *,
    parts: PipelineParts,
    record: SourceRecord,
    content_hash: str,
    fingerprint: str,
    access_hash: str,
    status: Literal["indexed", "excluded"],
    reason: str | None,
    chunk_count: int,
    consent_version: str,
    run_id: str,
) -> LedgerEntry:
    p = parts
    return LedgerEntry(
        tenant_id=record.tenant_id,
        source=record.source,
        record_id=record.record_id,
        record_type=record.record_type,
        version=record.version,
        source_updated_at=record.updated_at,
        content_hash=content_hash,
        fingerprint=fingerprint,
        access_hash=access_hash,
        status=status,
        reason=reason,
        chunk_count=chunk_count,
        redaction_policy=p.redactor.policy_version,
        consent_policy=consent_version,
        model_id=p.embedder.model_id,
        last_run_id=run_id,
    )


def sum_counts(items: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in items:
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
    return dict(sorted(total.items()))
