"""An IndexStore that forwards to the live generation and can be switched atomically.

Everything in the process (pipeline, query path, erasure) holds this object, so a blue/green swap
or a rollback changes what all of them see at once; searches in flight finish on the old store."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ingest.index.base import Hit, IndexFilter, IndexPoint, IndexStore, Legs, SparseVector
from ingest.models import RecordRef


class SwitchableIndex:
    def __init__(self, store: IndexStore, generation: str) -> None:
        self._store = store
        self._generation = generation
        self._lock = threading.Lock()

    @property
    def generation(self) -> str:
        return self._generation

    @property
    def current(self) -> IndexStore:
        return self._store

    def swap(self, store: IndexStore, generation: str) -> IndexStore:
        with self._lock:
            old, self._store, self._generation = self._store, store, generation
        return old

    @property
    def backend(self) -> str:
        return self._store.backend

    @property
    def location(self) -> str:
        return self._store.location

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        self._store.upsert(points)

    def delete_record(self, ref: RecordRef) -> int:
        return self._store.delete_record(ref)

    def delete_chunks_from(self, ref: RecordRef, first_index: int) -> int:
        return self._store.delete_chunks_from(ref, first_index)

    def set_record_payload(self, ref: RecordRef, payload: dict[str, Any]) -> int:
        return self._store.set_record_payload(ref, payload)

    def search(self, vector: NDArray[np.float32], *, where: IndexFilter, limit: int) -> list[Hit]:
        return self._store.search(vector, where=where, limit=limit)

    @property
    def has_lexical(self) -> bool:
        return self._store.has_lexical

    def search_legs(
        self, vector: NDArray[np.float32], lexical: SparseVector | None, *, where: IndexFilter, limit: int
    ) -> Legs:
        return self._store.search_legs(vector, lexical, where=where, limit=limit)

    def get(self, point_id: str) -> Hit | None:
        return self._store.get(point_id)

    def record_chunks(self, ref: RecordRef) -> list[Hit]:
        return self._store.record_chunks(ref)

    def count(self, *, tenant_id: str | None = None, ref: RecordRef | None = None) -> int:
        return self._store.count(tenant_id=tenant_id, ref=ref)

    def record_chunk_counts(self, tenant_id: str, source: str) -> dict[str, int]:
        return self._store.record_chunk_counts(tenant_id, source)

    def source_tenants(self) -> dict[str, dict[str, int]]:
        return self._store.source_tenants()

    def delete_source(self, source: str) -> int:
        return self._store.delete_source(source)

    def scroll_payloads(self, *, tenant_id: str | None = None, batch: int = 512) -> list[dict[str, Any]]:
        return self._store.scroll_payloads(tenant_id=tenant_id, batch=batch)

    def flush(self) -> None:
        self._store.flush()

    @property
    def write_error(self) -> str | None:
        return self._store.write_error

    def close(self) -> None:
        self._store.close()
