"""Index generations for blue/green rebuilds.

Edge (embedded): each generation is its own shard directory under `<index>/gens/<id>/`; the live
one is named by `<index>/CURRENT` (JSON, replaced atomically with os.replace + fsync).
Qdrant server: each generation is a collection `<name>__<id>`; the live one is the alias `<name>`
(swapped atomically by Qdrant), with the same CURRENT file recording live and previous.
Each generation keeps a `ledger.db` beside it: the ledger that matches its content (rollback).
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from ingest.config import IndexConfig
from ingest.index.base import IndexStore


class Pointer(BaseModel):
    model_config = ConfigDict(frozen=True)

    live: str
    previous: str | None = None
    switched_at: str | None = None


def new_generation_id() -> str:
    return f"g{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class Generations(Protocol):
    def pointer(self) -> Pointer: ...
    def create(self) -> tuple[str, IndexStore]: ...
    def open(self, generation: str) -> IndexStore: ...
    def switch(self, live: str, previous: str | None) -> None: ...
    def drop(self, generation: str) -> None: ...
    def ledger_url(self, generation: str) -> str: ...
    def open_live(self) -> IndexStore: ...
    def live_store_after_switch(self, built: IndexStore) -> IndexStore: ...
    def optimized(self, generation: str, store: IndexStore) -> IndexStore:
        """Build the vector index of a new generation before it is verified and swapped in."""
        ...


class _PointerFile:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "CURRENT"

    def read(self) -> Pointer | None:
        if not self.path.exists():
            return None
        return Pointer.model_validate_json(self.path.read_text())

    def write(self, pointer: Pointer) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(pointer.model_dump_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class EdgeGenerations:
    def __init__(self, root: Path, dimension: int) -> None:
        self._root = root
        self._dimension = dimension
        self._file = _PointerFile(root)

    def _dir(self, generation: str) -> Path:
        return self._root / "gens" / generation

    def pointer(self) -> Pointer:
        current = self._file.read()
        if current is None:
            current = Pointer(live=new_generation_id())
            self._dir(current.live).mkdir(parents=True, exist_ok=True)
            self._file.write(current)
        return current

    def open(self, generation: str) -> IndexStore:
        from ingest.index.edge import EdgeIndexStore

        return EdgeIndexStore(self._dir(generation) / "shard", self._dimension)

    def create(self) -> tuple[str, IndexStore]:
        generation = new_generation_id()
        self._dir(generation).mkdir(parents=True)
        return generation, self.open(generation)

    def switch(self, live: str, previous: str | None) -> None:
        self._file.write(Pointer(live=live, previous=previous, switched_at=datetime.now(UTC).isoformat()))

    def drop(self, generation: str) -> None:
        shutil.rmtree(self._dir(generation), ignore_errors=True)

    def ledger_url(self, generation: str) -> str:
        return f"sqlite:///{self._dir(generation) / 'ledger.db'}"

    def open_live(self) -> IndexStore:
        return self.open(self.pointer().live)

    def live_store_after_switch(self, built: IndexStore) -> IndexStore:
        return built  # one process owns a shard: keep the instance that built it

    def optimized(self, generation: str, store: IndexStore) -> IndexStore:
        """HNSW build in a child process (it holds the GIL), then reopen the shard here."""
        from ingest.index.optimize import optimize_in_subprocess

        store.flush()
        store.close()
        optimize_in_subprocess(self._dir(generation) / "shard")
        return self.open(generation)

    def shard_dir(self, generation: str) -> Path:
        return self._dir(generation) / "shard"


class QdrantGenerations:
    def __init__(self, client: Any, collection: str, dimension: int, state_dir: Path) -> None:
        self._client = client
        self._alias = collection
        self._dimension = dimension
        self._state_dir = state_dir
        self._file = _PointerFile(state_dir)

    def _physical(self, generation: str) -> str:
        return f"{self._alias}__{generation}"

    def pointer(self) -> Pointer:
        current = self._file.read()
        if current is None:
            current = Pointer(live=new_generation_id())
            self.open(current.live)
            self._alias_to(current.live)
            self._file.write(current)
        return current

    def _alias_to(self, generation: str) -> None:
        from qdrant_client import models as qm

        ops: list[Any] = []
        existing = {a.alias_name for a in self._client.get_aliases().aliases}
        if self._alias in existing:
            ops.append(qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=self._alias)))
        ops.append(
            qm.CreateAliasOperation(
                create_alias=qm.CreateAlias(
                    collection_name=self._physical(generation), alias_name=self._alias
                )
            )
        )
        self._client.update_collection_aliases(change_aliases_operations=ops)

    def open(self, generation: str) -> IndexStore:
        from ingest.index.qdrant_server import QdrantIndexStore

        return QdrantIndexStore(self._client, self._physical(generation), self._dimension, owns_client=False)

    def create(self) -> tuple[str, IndexStore]:
        generation = new_generation_id()
        return generation, self.open(generation)

    def switch(self, live: str, previous: str | None) -> None:
        self._alias_to(live)
        self._file.write(Pointer(live=live, previous=previous, switched_at=datetime.now(UTC).isoformat()))

    def drop(self, generation: str) -> None:
        self._client.delete_collection(self._physical(generation))
        shutil.rmtree(self._state_dir / "gens" / generation, ignore_errors=True)

    def ledger_url(self, generation: str) -> str:
        folder = self._state_dir / "gens" / generation
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'ledger.db'}"

    def open_live(self) -> IndexStore:
        """Through the alias, so every replica sees a swap at once."""
        from ingest.index.qdrant_server import QdrantIndexStore

        self.pointer()
        return QdrantIndexStore(self._client, self._alias, self._dimension, owns_client=False)

    def live_store_after_switch(self, built: IndexStore) -> IndexStore:
        built.close()
        return self.open_live()

    def optimized(self, generation: str, store: IndexStore) -> IndexStore:
        return store  # the Qdrant server builds its indexes itself, off the request path


def open_generations(config: IndexConfig, dimension: int, state_dir: Path) -> Generations:
    if config.backend == "edge":
        return EdgeGenerations(config.path, dimension)
    from ingest.index.factory import qdrant_client_for

    return QdrantGenerations(qdrant_client_for(config), config.collection, dimension, state_dir)
