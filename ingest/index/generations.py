"""Index generations for blue/green rebuilds: the engine side.

Which generation is live, which one is kept for rollback, and the ledger of each live in the state
store (ingest/store/generation_state.py), never in a local file, so every process agrees on them.
Edge (embedded): each generation is its own shard directory under `<index>/gens/<id>/` (the local
folder holds the shards themselves, nothing else). Qdrant server: each generation is a
collection `<name>__<id>`; the live one is the alias `<name>`, which a process that finds no state
reads and never re-creates. Only a rebuild or rollback holding the rebuild lock creates a
collection or moves the alias (the very first generation of an empty server is created under
that lock too).

Installs from before keep a `CURRENT` file (and per-generation `ledger.db` files): it is imported
into the state store once and renamed `CURRENT.imported`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from ingest.config import DENSE_DEFAULT, DenseSearchConfig, IndexConfig
from ingest.errors import LiveIndexMissingError, StoreError
from ingest.index.base import IndexStore
from ingest.store.generation_state import GenerationState, Pointer
from ingest.store.locks import REBUILD_BUSY, REBUILD_LOCK, locked
from ingest.store.state import StateStore

log = logging.getLogger("ingest.index.generations")

BOOTSTRAP_WAIT_SECONDS = 60.0  # a process starting next to one that creates the first generation


def new_generation_id() -> str:
    return f"g{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class Generations(Protocol):
    state: GenerationState

    def pointer(self) -> Pointer: ...
    def create(self) -> tuple[str, IndexStore]: ...
    def open(self, generation: str) -> IndexStore: ...
    def promote(self, generation: str, sources: Sequence[str]) -> Pointer: ...
    def roll_back(self, sources: Sequence[str]) -> Pointer: ...
    def drop(self, generation: str) -> None: ...
    def open_live(self) -> IndexStore: ...
    def live_store_after_switch(self, built: IndexStore) -> IndexStore: ...
    def optimized(self, generation: str, store: IndexStore) -> IndexStore:
        """Build the vector index of a new generation before it is verified and swapped in."""
        ...


class _StateBacked:
    """What both engines share: the pointer from the state store, the one-time import of an old
    CURRENT file, the first generation created under the rebuild lock, promote and rollback."""

    def __init__(self, store: StateStore, index_name: str, legacy_root: Path, lock_ttl: timedelta) -> None:
        self._store = store
        self.state = GenerationState(store, index_name)
        self._legacy_root = legacy_root
        self._lock_ttl = lock_ttl

    # engine hooks
    def _found_live(self) -> str | None:
        """The live generation the engine itself points at (the server's alias), if any."""
        return None

    def _make_first(self, generation: str) -> None:
        raise NotImplementedError

    def _point_at(self, generation: str) -> None:
        """Move the engine's live pointer (the server's alias); nothing on edge."""

    def pointer(self) -> Pointer:
        current = self.state.pointer() or self._import_legacy()
        if current is not None:
            return current
        found = self._found_live()
        if found is not None:
            return self.state.adopt(found)
        with locked(
            self._store,
            [REBUILD_LOCK],
            tag="first-generation",
            ttl=self._lock_ttl,
            busy=REBUILD_BUSY,
            wait_seconds=BOOTSTRAP_WAIT_SECONDS,
        ):
            current = self.state.pointer()  # another process may have created it meanwhile
            if current is not None:
                return current
            found = self._found_live()
            if found is not None:
                return self.state.adopt(found)
            generation = new_generation_id()
            self._make_first(generation)
            log.info("first index generation created", extra={"generation": generation})
            return self.state.adopt(generation)

    def _import_legacy(self) -> Pointer | None:
        """Once: an install from before keeps its pointer in `<root>/CURRENT` and the ledger of each
        generation in `<root>/gens/<id>/ledger.db`; the previous one's is its rollback state."""
        path = self._legacy_root / "CURRENT"
        if not path.is_file():
            return None
        old = Pointer.model_validate_json(path.read_text())
        ledger_file = self._legacy_root / "gens" / (old.previous or "") / "ledger.db"
        if old.previous is not None and ledger_file.is_file():
            with StateStore(f"sqlite:///{ledger_file}") as previous_ledger:
                self.state.stage_ledger(old.previous, previous_ledger)
        switched = datetime.fromisoformat(old.switched_at) if old.switched_at else None
        current = self.state.adopt(old.live, previous=old.previous, switched_at=switched)
        with contextlib.suppress(FileNotFoundError):  # another process imported it at the same moment
            path.rename(path.with_name("CURRENT.imported"))
        log.warning(
            "index pointer imported from a CURRENT file into the state store",
            extra={"live": current.live, "previous": current.previous},
        )
        return current

    def promote(self, generation: str, sources: Sequence[str]) -> Pointer:
        return self.state.promote(generation, sources, lambda: self._point_at(generation))

    def roll_back(self, sources: Sequence[str]) -> Pointer:
        return self.state.roll_back(sources, self._point_at)


class EdgeGenerations(_StateBacked):
    def __init__(
        self,
        root: Path,
        dimension: int,
        store: StateStore,
        *,
        index_name: str,
        lock_ttl: timedelta,
        dense: DenseSearchConfig = DENSE_DEFAULT,
    ) -> None:
        super().__init__(store, index_name, root, lock_ttl)
        self._root = root
        self._dimension = dimension
        self._dense = dense

    def _dir(self, generation: str) -> Path:
        return self._root / "gens" / generation

    def _make_first(self, generation: str) -> None:
        self._dir(generation).mkdir(parents=True, exist_ok=True)

    def open(self, generation: str) -> IndexStore:
        from ingest.index.edge import EdgeIndexStore

        self._dir(generation).mkdir(parents=True, exist_ok=True)
        return EdgeIndexStore(self.shard_slot(generation), self._dimension, dense=self._dense)

    def create(self) -> tuple[str, IndexStore]:
        generation = new_generation_id()
        self._dir(generation).mkdir(parents=True)
        self.state.begin(generation)
        return generation, self.open(generation)

    def drop(self, generation: str) -> None:
        self.state.discard(generation)
        shutil.rmtree(self._dir(generation), ignore_errors=True)

    def open_live(self) -> IndexStore:
        return self.open(self.pointer().live)

    def live_store_after_switch(self, built: IndexStore) -> IndexStore:
        return built  # one process owns a shard: keep the instance that built it

    def optimized(self, generation: str, store: IndexStore) -> IndexStore:
        """HNSW build in a child process (it holds the GIL), then reopen the shard here."""
        from ingest.index.fold_in import active_dir
        from ingest.index.optimize import optimize_in_subprocess

        store.flush()
        store.close()
        optimize_in_subprocess(active_dir(self.shard_slot(generation)))
        return self.open(generation)

    def shard_slot(self, generation: str) -> Path:
        """The generation's shard slot: its lock, and the pointer to the directory in use."""
        return self._dir(generation) / "shard"


class QdrantGenerations(_StateBacked):
    def __init__(
        self,
        client: Any,
        collection: str,
        dimension: int,
        store: StateStore,
        *,
        legacy_root: Path,
        lock_ttl: timedelta,
        dense: DenseSearchConfig = DENSE_DEFAULT,
    ) -> None:
        super().__init__(store, collection, legacy_root, lock_ttl)
        self._client = client
        self._alias = collection
        self._dimension = dimension
        self._dense = dense

    def _index_store(self, collection: str) -> IndexStore:
        from ingest.index.qdrant_server import QdrantIndexStore

        return QdrantIndexStore(
            self._client, collection, self._dimension, owns_client=False, dense=self._dense
        )

    def _physical(self, generation: str) -> str:
        return f"{self._alias}__{generation}"

    def _alias_target(self) -> str | None:
        for alias in self._client.get_aliases().aliases:
            if alias.alias_name == self._alias:
                return str(alias.collection_name)
        return None

    def _found_live(self) -> str | None:
        target = self._alias_target()
        if target is None:
            return None
        prefix = f"{self._alias}__"
        if not target.startswith(prefix):
            raise StoreError(
                f"the alias {self._alias} points at collection {target}, which is not one of its "
                f"generations ({prefix}<id>); point the alias at a generation or use another collection name"
            )
        return target.removeprefix(prefix)

    def _make_first(self, generation: str) -> None:
        self.open(generation).close()
        self._point_at(generation)

    def _point_at(self, generation: str) -> None:
        from qdrant_client import models as qm

        ops: list[Any] = []
        if self._alias_target() is not None:
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
        return self._index_store(self._physical(generation))

    def create(self) -> tuple[str, IndexStore]:
        generation = new_generation_id()
        self.state.begin(generation)
        return generation, self.open(generation)

    def drop(self, generation: str) -> None:
        self.state.discard(generation)
        self._client.delete_collection(self._physical(generation))

    def open_live(self) -> IndexStore:
        """Through the alias, so every replica sees a swap at once. The alias is read, never
        re-created here: a recorded generation without its alias means the server lost data."""
        live = self.pointer().live
        target = self._alias_target()
        if target is None:
            raise LiveIndexMissingError(
                f"the state store names generation {live} of index {self._alias} as live, but the "
                f"Qdrant server has no alias {self._alias}"
            )
        if target != self._physical(live):
            log.warning(
                "the Qdrant alias and the state store name different live generations",
                extra={"alias_target": target, "state_live": live},
            )
        return self._index_store(self._alias)

    def live_store_after_switch(self, built: IndexStore) -> IndexStore:
        built.close()
        return self._index_store(self._alias)

    def optimized(self, generation: str, store: IndexStore) -> IndexStore:
        return store  # the Qdrant server builds its indexes itself, off the request path


def open_generations(
    config: IndexConfig,
    dimension: int,
    store: StateStore,
    *,
    legacy_root: Path,
    lock_ttl: timedelta,
    client: Any = None,
) -> Generations:
    """`legacy_root`: where an install from before kept the Qdrant pointer file (edge kept it in the
    index directory). `client`: a qdrant-client to share (several services in one process)."""
    if config.backend == "edge":
        return EdgeGenerations(
            config.path,
            dimension,
            store,
            index_name=config.collection,
            lock_ttl=lock_ttl,
            dense=config.dense_search,
        )
    from ingest.index.factory import qdrant_client_for

    return QdrantGenerations(
        client if client is not None else qdrant_client_for(config),
        config.collection,
        dimension,
        store,
        legacy_root=legacy_root,
        lock_ttl=lock_ttl,
        dense=config.dense_search,
    )
