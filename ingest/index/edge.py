"""IndexStore on qdrant-edge: Qdrant's in-process engine (one shard directory, WAL + segments).

One process owns a shard directory. Writes are serialised by a lock; searches run concurrently.
A write or flush the engine refuses (e.g. "Failed to flush payload_index: ... Tracker journal ...
is shorter than expected", which a truncated tracker journal reproduces) is logged in full, the
shard is reopened (its WAL replays what was not flushed) and the write retried once; while that
fails, `write_error` says why and readiness reports the index unwritable. The next write tries
again, so no restart is needed once the cause is gone.
`optimize()` (HNSW build) is never called here: it holds the GIL for minutes at scale. New points
live in plain segments (exact search; ~5 ms per query at 1k chunks, ~45 ms at 100k); a rebuild
builds the HNSW index of its new generation in a child process (ingest/index/optimize.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import qdrant_edge as qe
from numpy.typing import NDArray

from ingest import payload as P
from ingest.errors import StoreError, StoreLockedError
from ingest.index.base import LEXICAL_VECTOR, Hit, IndexFilter, IndexPoint, Legs, SparseVector, stored_cosine
from ingest.index.filters import (
    Condition,
    DateRange,
    FilterSpec,
    Match,
    MatchAnyOf,
    record_spec,
    search_spec,
    source_spec,
    tenant_spec,
)
from ingest.index.shard_lock import ShardLock
from ingest.models import RecordRef

log = logging.getLogger("ingest.index.edge")
T = TypeVar("T")


def _condition(cond: Condition) -> Any:
    if isinstance(cond, Match):
        return qe.FieldCondition(key=cond.key, match=qe.MatchValue(cond.value))
    if isinstance(cond, MatchAnyOf):
        return qe.FieldCondition(key=cond.key, match=qe.MatchAny(list(cond.values)))
    if isinstance(cond, DateRange):
        return qe.FieldCondition(key=cond.key, range=qe.RangeDateTime(gte=cond.gte, lte=cond.lte))
    return qe.FieldCondition(key=cond.key, range=qe.RangeFloat(gte=float(cond.gte)))


def to_edge_filter(spec: FilterSpec | None) -> Any:
    if spec is None:
        return None
    return qe.Filter(
        must=[_condition(c) for c in spec.must] or None,
        should=[_condition(c) for c in spec.should] or None,
        must_not=[_condition(c) for c in spec.must_not] or None,
    )


def _sparse_query(lexical: SparseVector) -> Any:
    return qe.Query.Nearest(
        qe.SparseVector(list(lexical.indices), list(lexical.values)), using=LEXICAL_VECTOR
    )


def _hit(point: Any, cosine: float | None) -> Hit:
    return Hit(id=str(point.id), score=float(point.score), payload=dict(point.payload or {}), cosine=cosine)


class EdgeIndexStore:
    backend = "edge"

    def __init__(self, path: Path, dimension: int) -> None:
        self._path = path
        self._dimension = dimension
        self._write_lock = threading.Lock()
        self._write_error: str | None = None
        path.mkdir(parents=True, exist_ok=True)
        self._owner = ShardLock(path)  # before the engine touches the directory (shard_lock.py)
        self._owner.acquire()
        try:
            self._shard = self._open()
            if self._shard.info().points_count == 0 and not self._shard.info().payload_schema:
                self._create_indexes()
            self._has_lexical = self._probe_lexical()
        except BaseException:
            self._owner.release()
            raise

    def _open(self) -> Any:
        path = self._path
        try:
            if any(path.iterdir()):
                return qe.EdgeShard.load(str(path))
            shard = qe.EdgeShard.create(str(path), self._config())
            self._shard = shard
            self._create_indexes()
            return shard
        except Exception as exc:
            text = str(exc).lower()
            if "lock" in text or "wal" in text:
                raise StoreLockedError(
                    f"index directory {path} is in use by another process; "
                    "run writes through that process (admin API) or stop it first"
                ) from exc
            raise StoreError(f"cannot open index at {path}: {type(exc).__name__}") from exc

    @property
    def write_error(self) -> str | None:
        """Why the last write failed and could not be recovered; None while writes succeed."""
        return self._write_error

    def _write(self, op: Callable[[], T]) -> T:
        """Run an engine write (caller holds the write lock). A failure is logged in full, the shard
        reopened and the write retried once; writes are idempotent (deterministic ids, filters)."""
        if self._write_error is None:
            try:
                return op()
            except Exception as exc:
                self._note_failure(exc)
        try:
            self._reopen()
            result = op()
        except Exception as exc:
            self._note_failure(exc)
            raise StoreError(f"index at {self._path} is not writable: {self._write_error}") from exc
        if self._write_error is not None:
            log.warning("index writable again after reopening", extra={"index": self.location})
        self._write_error = None
        return result

    def _note_failure(self, exc: Exception) -> None:
        self._write_error = f"{type(exc).__name__}: {exc}"
        # the engine's whole message (file paths, no record content): job runs keep a short form
        log.error("index write failed", extra={"index": self.location, "engine_error": self._write_error})

    def _reopen(self) -> None:
        try:
            self._shard.close()
        except Exception as exc:  # already broken: the reopen below decides
            log.warning("closing the failed shard", extra={"error_type": type(exc).__name__})
        self._shard = self._open()

    def _config(self) -> Any:
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=self._dimension, distance=qe.Distance.Cosine),
            sparse_vectors={LEXICAL_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )

    def _probe_lexical(self) -> bool:
        """A shard created before lexical vectors has none; the engine names the missing vector."""
        try:
            self._shard.query(
                qe.QueryRequest(limit=1, query=_sparse_query(SparseVector(indices=(0,), values=(1.0,))))
            )
        except Exception as exc:
            if "vector name" in str(exc).lower():
                return False
            raise
        return True

    @property
    def has_lexical(self) -> bool:
        return self._has_lexical

    def _create_indexes(self) -> None:
        for key in P.KEYWORD_INDEXES:
            params = (
                qe.KeywordIndexParams(is_tenant=True) if key == P.TENANT_ID else qe.PayloadSchemaType.Keyword
            )
            self._shard.update(qe.UpdateOperation.create_field_index(key, params))
        for key in P.INTEGER_INDEXES:
            self._shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Integer))
        for key in P.DATETIME_INDEXES:
            self._shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Datetime))

    @property
    def location(self) -> str:
        return f"edge:{self._path.name}"

    def indexed_fields(self) -> list[str]:
        return sorted(self._shard.info().payload_schema)

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        if not points:
            return
        batch = [qe.Point(id=p.id, vector=self._vectors(p), payload=p.payload) for p in points]
        with self._write_lock:
            self._write(lambda: self._shard.update(qe.UpdateOperation.upsert_points(batch)))

    def _vectors(self, point: IndexPoint) -> Any:
        if point.lexical is None or not self._has_lexical:
            return point.vector
        return {
            "": point.vector,
            LEXICAL_VECTOR: qe.SparseVector(list(point.lexical.indices), list(point.lexical.values)),
        }

    def _count(self, spec: FilterSpec | None) -> int:
        return int(self._shard.count(qe.CountRequest(exact=True, filter=to_edge_filter(spec))))

    def _delete(self, spec: FilterSpec) -> int:
        def op() -> int:
            n = self._count(spec)
            if n:
                self._shard.update(qe.UpdateOperation.delete_points_by_filter(to_edge_filter(spec)))
            return n

        with self._write_lock:
            return self._write(op)

    def delete_record(self, ref: RecordRef) -> int:
        return self._delete(record_spec(ref))

    def delete_chunks_from(self, ref: RecordRef, first_index: int) -> int:
        return self._delete(record_spec(ref, first_index=first_index))

    def set_record_payload(self, ref: RecordRef, payload: dict[str, Any]) -> int:
        spec = record_spec(ref)

        def op() -> int:
            n = self._count(spec)
            if n:
                self._shard.update(qe.UpdateOperation.set_payload_by_filter(to_edge_filter(spec), payload))
            return n

        with self._write_lock:
            return self._write(op)

    def search(self, vector: NDArray[np.float32], *, where: IndexFilter, limit: int) -> list[Hit]:
        request = qe.SearchRequest(
            query=qe.Query.Nearest([float(x) for x in vector]),
            limit=limit,
            filter=to_edge_filter(search_spec(where)),
            with_payload=True,
            with_vector=False,
        )
        return [
            Hit(id=str(p.id), score=float(p.score), payload=dict(p.payload or {}))
            for p in self._shard.search(request)
        ]

    def search_legs(
        self, vector: NDArray[np.float32], lexical: SparseVector | None, *, where: IndexFilter, limit: int
    ) -> Legs:
        flt = to_edge_filter(search_spec(where))
        dense = qe.QueryRequest(
            limit=limit, query=qe.Query.Nearest([float(x) for x in vector]), filter=flt, with_payload=True
        )
        if lexical is None or not self._has_lexical or not lexical.indices:
            return Legs(dense=tuple(_hit(p, float(p.score)) for p in self._shard.query(dense)))
        sparse = qe.QueryRequest(
            limit=limit, query=_sparse_query(lexical), filter=flt, with_payload=True, with_vector=[""]
        )
        dense_leg, lexical_leg = self._shard.query_batch(qe.QueryBatchRequest([dense, sparse]))
        return Legs(
            dense=tuple(_hit(p, float(p.score)) for p in dense_leg),
            lexical=tuple(_hit(p, stored_cosine(vector, p.vector)) for p in lexical_leg),
        )

    def get(self, point_id: str) -> Hit | None:
        found = self._shard.retrieve([point_id], with_payload=True, with_vector=False)
        if not found:
            return None
        return Hit(id=str(found[0].id), score=0.0, payload=dict(found[0].payload or {}))

    def _scroll(self, spec: FilterSpec | None, batch: int = 512) -> list[Hit]:
        hits: list[Hit] = []
        offset: Any = None
        flt = to_edge_filter(spec)
        while True:
            records, offset = self._shard.scroll(
                qe.ScrollRequest(offset=offset, limit=batch, filter=flt, with_payload=True, with_vector=False)
            )
            hits.extend(Hit(id=str(r.id), score=0.0, payload=dict(r.payload or {})) for r in records)
            if offset is None:
                return hits

    def record_chunks(self, ref: RecordRef) -> list[Hit]:
        return sorted(self._scroll(record_spec(ref)), key=lambda h: int(h.payload[P.CHUNK_INDEX]))

    def count(self, *, tenant_id: str | None = None, ref: RecordRef | None = None) -> int:
        return self._count(record_spec(ref) if ref is not None else tenant_spec(tenant_id))

    def record_chunk_counts(self, tenant_id: str, source: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for hit in self._scroll(source_spec(tenant_id, source)):
            rid = str(hit.payload[P.RECORD_ID])
            counts[rid] = counts.get(rid, 0) + 1
        return counts

    def _facet(self, key: str, spec: FilterSpec | None) -> dict[str, int]:
        request = qe.FacetRequest(key=key, limit=100_000, exact=True, filter=to_edge_filter(spec))
        return {str(hit.value): int(hit.count) for hit in self._shard.facet(request).hits if hit.count}

    def source_tenants(self) -> dict[str, dict[str, int]]:
        held = {
            source: self._facet(P.TENANT_ID, FilterSpec(must=(Match(P.SOURCE, source),)))
            for source in self._facet(P.SOURCE, None)
        }
        return {source: tenants for source, tenants in held.items() if tenants}

    def delete_source(self, source: str) -> int:
        return self._delete(FilterSpec(must=(Match(P.SOURCE, source),)))

    def scroll_payloads(self, *, tenant_id: str | None = None, batch: int = 512) -> list[dict[str, Any]]:
        return [h.payload for h in self._scroll(tenant_spec(tenant_id), batch)]

    def flush(self) -> None:
        with self._write_lock:
            self._write(lambda: self._shard.flush())

    def close(self) -> None:
        with self._write_lock:
            try:
                self._shard.close()
            finally:
                self._owner.release()
