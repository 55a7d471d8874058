"""The IndexStore protocol and the backend-neutral filter and hit models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from ingest.models import RecordRef, RecordType


class IndexFilter(BaseModel):
    """What a search may see. tenant_id is mandatory; everything else narrows further."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    purpose: str | None = None
    acl_user: str | None = None  # owner match ...
    acl_teams: tuple[str, ...] = ()  # ... or team match; both None/empty = no ACL narrowing
    enforce_acl: bool = True
    record_types: tuple[RecordType, ...] = ()
    account_ids: tuple[str, ...] = ()
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    exclude_record_keys: tuple[str, ...] = ()


class SparseVector(BaseModel):
    """A lexical (BM25-style) vector: token ids and term weights; the engine applies IDF."""

    model_config = ConfigDict(frozen=True)

    indices: tuple[int, ...]
    values: tuple[float, ...]


LEXICAL_VECTOR = "lexical"  # the sparse named vector beside the (unnamed) dense one


class IndexPoint(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: str
    vector: list[float]
    payload: dict[str, Any]
    lexical: SparseVector | None = None  # dropped by an index laid out before lexical vectors


class Hit(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    score: float
    payload: dict[str, Any]
    cosine: float | None = None  # the dense similarity, where the leg scored otherwise (BM25)


def stored_cosine(query: NDArray[np.float32], stored: object) -> float | None:
    """The dense similarity of a hit another leg found, from its stored dense vector (a list, or
    the engine's {name: vector} map with the unnamed vector under "")."""
    if isinstance(stored, dict):
        stored = stored.get("")
    if not isinstance(stored, list) or len(stored) != len(query):
        return None
    v = np.asarray(stored, dtype=np.float32)
    denom = float(np.linalg.norm(v) * np.linalg.norm(query)) or 1.0
    return float(np.dot(v, query)) / denom


class Legs(BaseModel):
    """One retrieval's ranked candidates per leg, under the same filter (best first)."""

    model_config = ConfigDict(frozen=True)

    dense: tuple[Hit, ...]
    lexical: tuple[Hit, ...] = ()


class IndexStore(Protocol):
    @property
    def backend(self) -> str: ...

    @property
    def location(self) -> str:
        """Which collection / shard this is (named in receipts)."""
        ...

    def upsert(self, points: Sequence[IndexPoint]) -> None: ...

    def delete_record(self, ref: RecordRef) -> int:
        """Delete every chunk of the record; returns how many there were."""
        ...

    def delete_chunks_from(self, ref: RecordRef, first_index: int) -> int:
        """Delete chunks with chunk_index >= first_index (a record that shrank)."""
        ...

    def set_record_payload(self, ref: RecordRef, payload: dict[str, Any]) -> int: ...

    @property
    def has_lexical(self) -> bool:
        """Whether this index carries the lexical vector (an index created before it did not:
        a rebuild lays out a new generation with it)."""
        ...

    def search(self, vector: NDArray[np.float32], *, where: IndexFilter, limit: int) -> list[Hit]: ...

    def search_legs(
        self, vector: NDArray[np.float32], lexical: SparseVector | None, *, where: IndexFilter, limit: int
    ) -> Legs:
        """The dense leg and, when `lexical` is given and the index has it, the lexical leg: one
        engine batch, the same filter on both. Each hit carries the dense vector's cosine in
        `Hit.cosine` (lexical-only hits included), so relevance floors work on every leg."""
        ...

    def get(self, point_id: str) -> Hit | None: ...

    def record_chunks(self, ref: RecordRef) -> list[Hit]: ...

    def count(self, *, tenant_id: str | None = None, ref: RecordRef | None = None) -> int: ...

    def record_chunk_counts(self, tenant_id: str, source: str) -> dict[str, int]:
        """record_id -> number of chunks the index holds for one source."""
        ...

    def source_tenants(self) -> dict[str, dict[str, int]]:
        """source name -> tenant id -> chunks the index holds (what is in the index, whatever
        the configuration says)."""
        ...

    def delete_source(self, source: str) -> int:
        """Delete every chunk of a source (every tenant); returns how many there were."""
        ...

    def scroll_payloads(self, *, tenant_id: str | None = None, batch: int = 512) -> list[dict[str, Any]]: ...

    def flush(self) -> None:
        """Make every write so far durable."""
        ...

    @property
    def write_error(self) -> str | None:
        """Why writes currently fail (readiness reports it), or None."""
        ...

    def close(self) -> None: ...
