"""Write a page's staged chunks (redacted, chunked, embedded): upsert with provenance, drop chunks
past a record's new end, and build the ledger rows and audit event that describe the write."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from ingest import payload as P
from ingest.index.base import IndexPoint, SparseVector
from ingest.models import Chunk, RecordRef, RunCounts, SourceRecord
from ingest.store.state import AuditEvent, LedgerEntry, utcnow
from policies.models import Admit


@dataclass(frozen=True, slots=True)
class Provenance:
    """The versions a record is processed under: stamped on every chunk and ledger row, and
    hashed with its content into the fingerprint that says whether it must be processed again."""

    redaction_policy: str
    detector: str
    model_id: str
    chunker: str
    lexical: str | None = None  # None: no lexical vectors, and the fingerprint names none


class ChunkSink(Protocol):
    """The part of an IndexStore the writer uses."""

    def upsert(self, points: Sequence[IndexPoint]) -> None: ...

    def delete_chunks_from(self, ref: RecordRef, first_index: int) -> int: ...


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


@dataclass(frozen=True, slots=True)
class Written:
    """What writing a page's staged records did: their ledger rows, the audit event, the redaction
    counts per record (for their history) and the page's tally of the write."""

    entries: tuple[LedgerEntry, ...] = ()
    event: AuditEvent | None = None
    redacted: dict[str, dict[str, int]] = field(default_factory=dict)  # record key -> entity -> n
    counts: RunCounts = field(default_factory=RunCounts)


def write_pending(
    *,
    index: ChunkSink,
    provenance: Provenance,
    pending: Sequence[Pending],
    run_id: str,
    actor: str,
) -> Written:
    """Upsert staged chunks, then drop each record's chunks past its new end."""
    if not pending:
        return Written()
    now = utcnow()
    counts = RunCounts()
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
                        redaction_policy_version=provenance.redaction_policy,
                        detector_version=provenance.detector,
                        embedding_model=provenance.model_id,
                        chunker=provenance.chunker,
                        run_id=run_id,
                        indexed_at=now,
                    ),
                )
            )
    index.upsert(points)
    written_ids: list[str] = []
    entries: list[LedgerEntry] = []
    for item in pending:
        # a record that shrank (or a crash leftover) must not keep chunks past its new end
        counts.chunks_deleted += index.delete_chunks_from(item.record.ref, len(item.chunks))
        counts.indexed += 1
        counts.chunks_written += len(item.chunks)
        written_ids.append(item.record.record_id)
        entries.append(
            ledger_entry(
                provenance=provenance,
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
    per_record = {
        item.record.ref.key: sum_counts(c.redaction_counts for c in item.chunks) for item in pending
    }
    redacted = sum_counts(per_record.values())
    counts.redacted.update(redacted)
    first = pending[0].record
    event = AuditEvent(
        actor=actor,
        action="index_write",
        tenant_id=first.tenant_id,
        source=first.source,
        run_id=run_id,
        details={
            "record_ids": written_ids,
            "chunks": len(points),
            "redacted": redacted,
            "redaction_policy": provenance.redaction_policy,
            "model": provenance.model_id,
        },
    )
    return Written(entries=tuple(entries), event=event, redacted=per_record, counts=counts)


def ledger_entry(
    *,
    provenance: Provenance,
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
        redaction_policy=provenance.redaction_policy,
        consent_policy=consent_version,
        model_id=provenance.model_id,
        last_run_id=run_id,
    )


def sum_counts(items: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in items:
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
    return dict(sorted(total.items()))
