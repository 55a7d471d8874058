"""Index generations in the state store: which one is live, which one is kept for rollback, which
are being built, and the ledger that matches each one that is not live.

The live generation's ledger is the state store's record_ledger; the previous generation's (and a
building one's, once staged) lives in generation_ledgers / generation_cursors. A swap or rollback
exchanges them and moves the pointer in one transaction, so every process (API replicas,
workers, the CLI) sees the same live and previous generation and the ledger that matches it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from ingest.errors import IngestError
from ingest.partition import key_like
from ingest.store.state import StateStore
from ingest.store.tables import cursors, generation_cursors, generation_ledgers, index_generations, ledger
from ingest.timeutil import aware, utcnow

Role = Literal["building", "live", "previous", "retired"]
_LEDGER_COLUMNS = [c.name for c in ledger.columns]
_CURSOR_COLUMNS = ["source", "watermark", "last_id", "updated_at"]


class Pointer(BaseModel):
    model_config = ConfigDict(frozen=True)

    live: str
    previous: str | None = None
    switched_at: str | None = None


class NoPreviousGenerationError(IngestError):
    pass


class GenerationState:
    """The generations of one index (named by its collection) in the state store."""

    def __init__(self, state: StateStore, index_name: str) -> None:
        self._engine = state.engine
        self._name = index_name

    @property
    def index_name(self) -> str:
        return self._name

    # ---------------------------------------------------------------- reading

    def pointer(self) -> Pointer | None:
        with self._engine.connect() as conn:
            return self._pointer(conn)

    def _pointer(self, conn: Connection, *, for_update: bool = False) -> Pointer | None:
        query = sa.select(index_generations).where(
            index_generations.c.index_name == self._name,
            index_generations.c.role.in_(["live", "previous"]),
        )
        if for_update:
            query = query.with_for_update()
        rows = {r.role: r for r in conn.execute(query)}
        live = rows.get("live")
        if live is None:
            return None
        previous = rows.get("previous")
        switched = aware(live.switched_at)
        return Pointer(
            live=live.generation,
            previous=previous.generation if previous is not None else None,
            switched_at=switched.isoformat() if switched else None,
        )

    def roles(self) -> dict[str, Role]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(index_generations.c.generation, index_generations.c.role).where(
                    index_generations.c.index_name == self._name
                )
            )
            return {r.generation: r.role for r in rows}

    # ---------------------------------------------------------------- registering

    def adopt(
        self, live: str, *, previous: str | None = None, switched_at: datetime | None = None
    ) -> Pointer:
        """Record a live generation found elsewhere (the server's alias, an old CURRENT file, or the
        first generation), unless one is recorded already: the first writer wins."""
        try:
            with self._engine.begin() as conn:
                current = self._pointer(conn, for_update=True)
                if current is not None:
                    return current
                now = utcnow()
                self._put(conn, live, "live", now, switched_at)
                if previous is not None:
                    self._put(conn, previous, "previous", now, None)
        except sa.exc.IntegrityError:
            pass  # another process recorded the same alias at the same moment: read what it wrote
        recorded = self.pointer()
        if recorded is None:
            raise IngestError(f"no live generation recorded for index {self._name}")
        return recorded

    def begin(self, generation: str) -> None:
        with self._engine.begin() as conn:
            self._put(conn, generation, "building", utcnow(), None)

    def discard(self, generation: str) -> None:
        """A building generation that failed: its row and its staged ledger go."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.delete(index_generations).where(
                    index_generations.c.index_name == self._name,
                    index_generations.c.generation == generation,
                    index_generations.c.role == "building",
                )
            )
            self._drop_snapshot(conn, generation)

    def _put(
        self, conn: Connection, generation: str, role: Role, now: datetime, switched_at: datetime | None
    ) -> None:
        conn.execute(
            sa.insert(index_generations).values(
                index_name=self._name,
                generation=generation,
                role=role,
                created_at=now,
                switched_at=switched_at,
            )
        )

    def _set_role(self, conn: Connection, generation: str, role: Role, switched_at: datetime | None) -> None:
        conn.execute(
            sa.update(index_generations)
            .where(
                index_generations.c.index_name == self._name,
                index_generations.c.generation == generation,
            )
            .values(role=role, switched_at=switched_at)
        )

    # ---------------------------------------------------------------- ledgers

    def stage_ledger(self, generation: str, built: StateStore, sources: Sequence[str] | None = None) -> int:
        """Copy the ledger rows and cursors of `built` (a build's scratch store, or an old
        per-generation ledger file) into this state store as the ledger of `generation`."""
        names = sources if sources is not None else _sources_in(built)
        rows = 0
        with built.engine.connect() as src, self._engine.begin() as conn:
            self._drop_snapshot(conn, generation)
            where = ledger.c.source.in_(list(names))
            for batch in src.execute(sa.select(ledger).where(where)).partitions(1000):
                conn.execute(
                    sa.insert(generation_ledgers), [{**r._mapping, "generation": generation} for r in batch]
                )
                rows += len(batch)
            found = src.execute(sa.select(cursors).where(cursors.c.source.in_(list(names)))).all()
            if found:
                conn.execute(
                    sa.insert(generation_cursors), [{**r._mapping, "generation": generation} for r in found]
                )
        return rows

    def promote(self, generation: str, sources: Sequence[str], move: Callable[[], None]) -> Pointer:
        """Make `generation` (built, its ledger staged) live: the live ledger becomes the previous
        generation's snapshot, the staged one the live ledger, the pointer moves; `move` (the
        engine's side: the server's alias) runs last, inside the transaction, so a failure there
        switches nothing. The generation that was previous before is retired."""
        with self._engine.begin() as conn:
            current = self._pointer(conn, for_update=True)
            if current is None:
                raise IngestError("no live generation is recorded; nothing to swap with")
            self._snapshot_live(conn, current.live, sources)
            self._restore(conn, generation, sources)
            if current.previous is not None:
                self._set_role(conn, current.previous, "retired", None)
                self._drop_snapshot(conn, current.previous)
            self._set_role(conn, current.live, "previous", None)
            self._set_role(conn, generation, "live", utcnow())
            move()
            recorded = self._pointer(conn)
        assert recorded is not None
        return recorded

    def roll_back(self, sources: Sequence[str], move: Callable[[str], None]) -> Pointer:
        """Make the previous generation live again with the ledger that matches it; the live one
        becomes previous (a second rollback undoes the first)."""
        with self._engine.begin() as conn:
            current = self._pointer(conn, for_update=True)
            if current is None or current.previous is None:
                raise NoPreviousGenerationError("there is no previous generation to roll back to")
            self._snapshot_live(conn, current.live, sources)
            self._restore(conn, current.previous, sources)
            self._set_role(conn, current.live, "previous", None)
            self._set_role(conn, current.previous, "live", utcnow())
            move(current.previous)
            recorded = self._pointer(conn)
        assert recorded is not None
        return recorded

    @staticmethod
    def _drop_snapshot(conn: Connection, generation: str) -> None:
        conn.execute(sa.delete(generation_ledgers).where(generation_ledgers.c.generation == generation))
        conn.execute(sa.delete(generation_cursors).where(generation_cursors.c.generation == generation))

    def _snapshot_live(self, conn: Connection, generation: str, sources: Sequence[str]) -> None:
        """The live ledger (and the sources' own cursors) saved as `generation`'s snapshot."""
        self._drop_snapshot(conn, generation)
        names = list(sources)
        conn.execute(
            sa.insert(generation_ledgers).from_select(
                ["generation", *_LEDGER_COLUMNS],
                sa.select(sa.literal(generation), *ledger.columns).where(ledger.c.source.in_(names)),
            )
        )
        conn.execute(
            sa.insert(generation_cursors).from_select(
                ["generation", *_CURSOR_COLUMNS],
                sa.select(sa.literal(generation), *(cursors.c[c] for c in _CURSOR_COLUMNS)).where(
                    cursors.c.source.in_(names)
                ),
            )
        )

    def _restore(self, conn: Connection, generation: str, sources: Sequence[str]) -> None:
        """`generation`'s snapshot becomes the live ledger of these sources. Partition cursors
        ("<source>#<p>") restart: the next runs re-read and skip what matches."""
        names = list(sources)
        conn.execute(sa.delete(ledger).where(ledger.c.source.in_(names)))
        partition_cursors = sa.or_(*(cursors.c.source.like(key_like(n), escape="\\") for n in names))
        conn.execute(sa.delete(cursors).where(cursors.c.source.in_(names) | partition_cursors))
        gl, gc = generation_ledgers, generation_cursors
        conn.execute(
            sa.insert(ledger).from_select(
                _LEDGER_COLUMNS,
                sa.select(*(gl.c[c] for c in _LEDGER_COLUMNS)).where(
                    gl.c.generation == generation, gl.c.source.in_(names)
                ),
            )
        )
        conn.execute(
            sa.insert(cursors).from_select(
                _CURSOR_COLUMNS,
                sa.select(*(gc.c[c] for c in _CURSOR_COLUMNS)).where(
                    gc.c.generation == generation, gc.c.source.in_(names)
                ),
            )
        )
        self._drop_snapshot(conn, generation)


def _sources_in(store: StateStore) -> list[str]:
    with store.engine.connect() as conn:
        found = {r.source for r in conn.execute(sa.select(ledger.c.source).distinct())}
        found |= {r.source for r in conn.execute(sa.select(cursors.c.source))}
    return sorted(found)
