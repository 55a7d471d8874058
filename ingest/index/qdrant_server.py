"""IndexStore through qdrant-client: a Qdrant server (production) or the client's local mode
(":memory:", used to run the same store tests without a server)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from ingest import payload as P
from ingest.config import DENSE_DEFAULT, DenseSearchConfig
from ingest.errors import StoreError
from ingest.index.base import LEXICAL_VECTOR, Hit, IndexFilter, IndexPoint, Legs, SparseVector, stored_cosine
from ingest.index.filters import (
    Condition,
    DateRange,
    FilterSpec,
    IntRange,
    Match,
    MatchAnyOf,
    record_spec,
    search_spec,
    source_spec,
    tenant_spec,
)
from ingest.models import RecordRef


def _condition(cond: Condition) -> qm.FieldCondition:
    if isinstance(cond, Match):
        return qm.FieldCondition(key=cond.key, match=qm.MatchValue(value=cond.value))
    if isinstance(cond, MatchAnyOf):
        return qm.FieldCondition(key=cond.key, match=qm.MatchAny(any=list(cond.values)))
    if isinstance(cond, DateRange):
        return qm.FieldCondition(key=cond.key, range=qm.DatetimeRange(gte=cond.gte, lte=cond.lte))
    assert isinstance(cond, IntRange)
    return qm.FieldCondition(key=cond.key, range=qm.Range(gte=cond.gte))


def to_qdrant_filter(spec: FilterSpec | None) -> qm.Filter | None:
    if spec is None:
        return None
    return qm.Filter(
        must=[_condition(c) for c in spec.must] or None,  # type: ignore[arg-type]
        should=[_condition(c) for c in spec.should] or None,  # type: ignore[arg-type]
        must_not=[_condition(c) for c in spec.must_not] or None,  # type: ignore[arg-type]
    )


class QdrantIndexStore:
    backend = "qdrant"

    def __init__(
        self,
        client: QdrantClient,
        collection: str,
        dimension: int,
        *,
        owns_client: bool = True,
        dense: DenseSearchConfig = DENSE_DEFAULT,
    ) -> None:
        self._client = client
        # the dense leg under /query's filter (config.DenseSearchConfig); the client's local mode
        # (":memory:", tests) searches exactly and warns about any params
        local = type(getattr(client, "_client", None)).__name__ == "QdrantLocal"
        self._dense_params = (
            None
            if local
            else qm.SearchParams(
                hnsw_ef=dense.hnsw_ef, acorn=qm.AcornSearchParams(enable=True) if dense.acorn else None
            )
        )
        self._collection = collection
        self._owns_client = owns_client
        try:
            if not client.collection_exists(collection):
                client.create_collection(
                    collection,
                    vectors_config=qm.VectorParams(size=dimension, distance=qm.Distance.COSINE),
                    sparse_vectors_config={LEXICAL_VECTOR: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
                )
                self._create_indexes()
            sparse = client.get_collection(collection).config.params.sparse_vectors or {}
            self._has_lexical = LEXICAL_VECTOR in sparse
        except Exception as exc:
            raise StoreError(f"cannot prepare collection {collection}: {type(exc).__name__}") from exc

    def _create_indexes(self) -> None:
        for key in P.KEYWORD_INDEXES:
            schema: Any = (
                qm.KeywordIndexParams(type=qm.KeywordIndexType.KEYWORD, is_tenant=True)
                if key == P.TENANT_ID
                else qm.PayloadSchemaType.KEYWORD
            )
            self._client.create_payload_index(self._collection, key, field_schema=schema)
        for key in P.INTEGER_INDEXES:
            self._client.create_payload_index(
                self._collection, key, field_schema=qm.PayloadSchemaType.INTEGER
            )
        for key in P.DATETIME_INDEXES:
            self._client.create_payload_index(
                self._collection, key, field_schema=qm.PayloadSchemaType.DATETIME
            )

    @property
    def location(self) -> str:
        return f"qdrant:{self._collection}"

    @property
    def has_lexical(self) -> bool:
        return self._has_lexical

    def _vectors(self, point: IndexPoint) -> Any:
        if point.lexical is None or not self._has_lexical:
            return point.vector
        sparse = qm.SparseVector(indices=list(point.lexical.indices), values=list(point.lexical.values))
        return {"": point.vector, LEXICAL_VECTOR: sparse}

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        if points:
            self._client.upsert(
                self._collection,
                points=[qm.PointStruct(id=p.id, vector=self._vectors(p), payload=p.payload) for p in points],
                wait=True,
            )

    def _count(self, spec: FilterSpec | None) -> int:
        return int(
            self._client.count(self._collection, count_filter=to_qdrant_filter(spec), exact=True).count
        )

    def _delete(self, spec: FilterSpec) -> int:
        n = self._count(spec)
        if n:
            flt = to_qdrant_filter(spec)
            assert flt is not None
            self._client.delete(self._collection, points_selector=qm.FilterSelector(filter=flt), wait=True)
        return n

    def delete_record(self, ref: RecordRef) -> int:
        return self._delete(record_spec(ref))

    def delete_chunks_from(self, ref: RecordRef, first_index: int) -> int:
        return self._delete(record_spec(ref, first_index=first_index))

    def set_record_payload(self, ref: RecordRef, payload: dict[str, Any]) -> int:
        spec = record_spec(ref)
        n = self._count(spec)
        if n:
            flt = to_qdrant_filter(spec)
            assert flt is not None
            self._client.set_payload(self._collection, payload=payload, points=flt, wait=True)
        return n

    def search(self, vector: NDArray[np.float32], *, where: IndexFilter, limit: int) -> list[Hit]:
        result = self._client.query_points(
            self._collection,
            query=[float(x) for x in vector],
            query_filter=to_qdrant_filter(search_spec(where)),
            search_params=self._dense_params,
            limit=limit,
            with_payload=True,
        )
        return [Hit(id=str(p.id), score=float(p.score), payload=dict(p.payload or {})) for p in result.points]

    def search_legs(
        self, vector: NDArray[np.float32], lexical: SparseVector | None, *, where: IndexFilter, limit: int
    ) -> Legs:
        flt = to_qdrant_filter(search_spec(where))
        dense = qm.QueryRequest(
            query=[float(x) for x in vector],
            filter=flt,
            limit=limit,
            params=self._dense_params,
            with_payload=True,
        )
        if lexical is None or not self._has_lexical or not lexical.indices:
            hits = self.search(vector, where=where, limit=limit)
            return Legs(dense=tuple(h.model_copy(update={"cosine": h.score}) for h in hits))
        sparse = qm.QueryRequest(
            query=qm.SparseVector(indices=list(lexical.indices), values=list(lexical.values)),
            using=LEXICAL_VECTOR,
            filter=flt,
            limit=limit,
            with_payload=True,
            with_vector=[""],
        )
        dense_leg, lexical_leg = self._client.query_batch_points(self._collection, requests=[dense, sparse])
        return Legs(
            dense=tuple(
                Hit(id=str(p.id), score=float(p.score), payload=dict(p.payload or {}), cosine=float(p.score))
                for p in dense_leg.points
            ),
            lexical=tuple(
                Hit(
                    id=str(p.id),
                    score=float(p.score),
                    payload=dict(p.payload or {}),
                    cosine=stored_cosine(vector, p.vector),
                )
                for p in lexical_leg.points
            ),
        )

    def get(self, point_id: str) -> Hit | None:
        found = self._client.retrieve(self._collection, ids=[point_id], with_payload=True)
        return Hit(id=str(found[0].id), score=0.0, payload=dict(found[0].payload or {})) if found else None

    def _scroll(self, spec: FilterSpec | None, batch: int = 512) -> list[Hit]:
        hits: list[Hit] = []
        offset: Any = None
        while True:
            records, offset = self._client.scroll(
                self._collection,
                scroll_filter=to_qdrant_filter(spec),
                limit=batch,
                offset=offset,
                with_payload=True,
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
        flt = to_qdrant_filter(spec)
        facet = self._client.facet(self._collection, key=key, facet_filter=flt, limit=100_000, exact=True)
        return {str(hit.value): int(hit.count) for hit in facet.hits if hit.count}

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

    @property
    def write_error(self) -> str | None:
        return None  # a Qdrant server reports its own health; request errors raise

    def flush(self) -> None:
        """Writes use wait=True: acknowledged writes are already durable in the server's WAL."""

    def close(self) -> None:
        if self._owns_client:
            self._client.close()
