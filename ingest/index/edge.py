"""IndexStore on qdrant-edge: Qdrant's in-process engine (one shard directory, WAL + segments).

One process owns a shard directory. Writes are serialised by a lock; searches run concurrently.
A write or flush the engine refuses (e.g. "Failed to flush payload_index: ... Tracker journal ...
is shorter than expected", which a truncated tracker journal reproduces) is logged in full, the
shard is reopened (its WAL replays what was not flushed) and the write retried once; while that
fails, `write_error` says why and readiness reports the index unwritable. The next write tries
again, so no restart is needed once the cause is gone.
`optimize()` (HNSW build) is never called in this process: it holds the GIL for minutes at scale.
New points live in plain segments (exact search; ~5 ms per query at 1k chunks, ~45 ms at 100k)
until a fold-in (ingest/index/fold_in.py) indexes them in a child process and swaps the result in
while reads and writes go on; a rebuild does the same for its new generation.

The path given is the shard's slot: its lock file (`<slot>.lock`) and the pointer to the shard
directory in use (`<slot>.active`; the slot itself until the first fold-in).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import qdrant_edge as qe
from numpy.typing import NDArray

from ingest import payload as P
from ingest.config import DENSE_DEFAULT, DenseSearchConfig
from ingest.errors import StoreBusyError, StoreError, StoreLockedError
from ingest.index import fold_in as F
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
from ingest.timeutil import utcnow

log = logging.getLogger("ingest.index.edge")
T = TypeVar("T")
Op = Callable[[Any], Any]  # one write, applied to a shard (the live one, then a fold-in's copy)
Optimizer = Callable[[Path, threading.Event], dict[str, float | int]]


# Shard config for new shards (issue 13; bench/README.md "Index layer at 1M chunks"). The engine's
# defaults keep as few segments as there are cores and merge new points into them, so every
# optimize() rebuilt the whole HNSW graph. These keep up to SEGMENTS segments: a fold-in indexes its
# new points as a segment of their own, and past SEGMENTS the engine's merge optimizer joins the
# smallest (up to MAX_SEGMENT_KB of vectors, ~130k 384-d points). The HNSW settings are the
# engine's, spelled out: payload_m 0 halved the build but lost filtered recall@10 (0.96 at 100k,
# 0.05-0.28 at 1M), and one indexing thread gave the two lowest recalls under broad filters
# (0.07, 0.21 against 0.23-0.55), so the build uses every core (the fold-in's child is niced).
# Filters matching fewer than FULL_SCAN_KB of vectors (~6.6k 384-d points) in a segment are
# answered exactly from the payload index.
# Shards created before keep the config they were created with (edge_config.json in the shard).
SEGMENTS = 16
MAX_SEGMENT_KB = 200_000
FULL_SCAN_KB = 10_000


def shard_config(
    dimension: int,
    *,
    segments: int = SEGMENTS,
    max_segment_kb: int = MAX_SEGMENT_KB,
    indexing_threshold_kb: int | None = None,  # None: the engine's (10 MB of vectors); tests lower it
    payload_m: int = 16,
    threads: int = 0,  # 0: every core
) -> Any:
    return qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine),
        sparse_vectors={LEXICAL_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        hnsw_config=qe.HnswIndexConfig(
            m=16,
            ef_construct=100,
            full_scan_threshold=FULL_SCAN_KB,
            max_indexing_threads=threads,
            payload_m=payload_m,
        ),
        optimizers=qe.EdgeOptimizersConfig(
            default_segment_number=segments,
            max_segment_size=max_segment_kb,
            indexing_threshold=indexing_threshold_kb,
        ),
    )


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


class _Shard:
    """One open shard directory, the reads in flight on it, and its lock when it is a fold-in's
    directory (the slot lock covers the slot itself)."""

    def __init__(self, engine: Any, directory: Path, lock: ShardLock | None) -> None:
        self.engine = engine
        self.directory = directory
        self.lock = lock
        self.readers = 0


class _Readers:
    """The current shard for reads. A swap never waits for reads; the old shard is closed once
    its last read has finished. A reopen (after a failed write) blocks new reads while it runs."""

    def __init__(self, shard: _Shard) -> None:
        self._current = shard
        self._cond = threading.Condition()
        self._blocked = False

    @property
    def current(self) -> _Shard:
        return self._current

    @contextlib.contextmanager
    def reading(self) -> Iterator[Any]:
        with self._cond:
            self._cond.wait_for(lambda: not self._blocked)
            shard = self._current
            shard.readers += 1
        try:
            yield shard.engine
        finally:
            with self._cond:
                shard.readers -= 1
                self._cond.notify_all()

    def swap(self, shard: _Shard) -> _Shard:
        with self._cond:
            old, self._current = self._current, shard
            return old

    def wait_idle(self, shard: _Shard, timeout: float = 60.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: shard.readers == 0, timeout)

    @contextlib.contextmanager
    def exclusive(self, timeout: float = 60.0) -> Iterator[_Shard]:
        """No read runs on the current shard inside this block (a reopen closes it)."""
        with self._cond:
            self._blocked = True
            self._cond.wait_for(lambda: self._current.readers == 0, timeout)
        try:
            yield self._current
        finally:
            with self._cond:
                self._blocked = False
                self._cond.notify_all()


class EdgeIndexStore:
    backend = "edge"

    def __init__(self, path: Path, dimension: int, *, dense: DenseSearchConfig = DENSE_DEFAULT) -> None:
        self._path = path  # the slot (see the module docstring)
        self._dimension = dimension
        self._dense_params = qe.SearchParams(
            hnsw_ef=dense.hnsw_ef, acorn=qe.AcornSearchParams(enable=True) if dense.acorn else None
        )
        self._write_lock = threading.Lock()
        self._write_error: str | None = None
        self._closed = False
        # fold-in: one at a time; the journal is not None while one runs
        self._fold_lock = threading.Lock()
        self._journal: list[Op] | None = None
        self._cancel = threading.Event()
        self._unfolded = 0
        self._unfolded_since: datetime | None = None
        self._last_fold: F.FoldInReport | None = None
        self._last_fold_error: str | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._owner = ShardLock(path)  # before the engine touches the directory (shard_lock.py)
        self._owner.acquire()
        try:
            for gone in F.remove_leftovers(path):
                log.warning("removed a shard directory a fold-in left behind", extra={"shard": gone.name})
            directory = F.active_dir(path)
            self._readers = _Readers(_Shard(self._open(directory), directory, None))
            with self._readers.reading() as shard:
                if shard.info().points_count == 0 and not shard.info().payload_schema:
                    self._create_indexes(shard)
                self._has_lexical = self._probe_lexical(shard)
        except BaseException:
            self._owner.release()
            raise

    def _open(self, directory: Path) -> Any:
        try:
            if directory.is_dir() and any(directory.iterdir()):
                return qe.EdgeShard.load(str(directory))
            directory.mkdir(parents=True, exist_ok=True)
            shard = qe.EdgeShard.create(str(directory), self._config())
            self._create_indexes(shard)
            return shard
        except Exception as exc:
            text = str(exc).lower()
            if "lock" in text or "wal" in text:
                raise StoreLockedError(
                    f"index directory {directory} is in use by another process; "
                    "run writes through that process (admin API) or stop it first"
                ) from exc
            raise StoreError(f"cannot open index at {directory}: {type(exc).__name__}") from exc

    @property
    def shard_dir(self) -> Path:
        """The shard directory in use now (it changes with every fold-in)."""
        return self._readers.current.directory

    @property
    def write_error(self) -> str | None:
        """Why the last write failed and could not be recovered; None while writes succeed."""
        return self._write_error

    def _apply(self, op: Op) -> Any:
        """Run one engine write (caller holds the write lock), and journal it while a fold-in
        runs. A failure is logged in full, the shard reopened and the write retried once; writes
        are idempotent (deterministic ids, filters)."""
        result = self._write(lambda: op(self._readers.current.engine))
        if self._journal is not None:
            self._journal.append(op)
        return result

    def _write(self, op: Callable[[], T]) -> T:
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
        with self._readers.exclusive() as current:
            try:
                current.engine.close()
            except Exception as exc:  # already broken: the reopen below decides
                log.warning("closing the failed shard", extra={"error_type": type(exc).__name__})
            current.engine = self._open(current.directory)

    def _config(self) -> Any:
        return shard_config(self._dimension)

    @staticmethod
    def _probe_lexical(shard: Any) -> bool:
        """A shard created before lexical vectors has none; the engine names the missing vector."""
        try:
            shard.query(
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

    @staticmethod
    def _create_indexes(shard: Any) -> None:
        for key in P.KEYWORD_INDEXES:
            params = (
                qe.KeywordIndexParams(is_tenant=True) if key == P.TENANT_ID else qe.PayloadSchemaType.Keyword
            )
            shard.update(qe.UpdateOperation.create_field_index(key, params))
        for key in P.INTEGER_INDEXES:
            shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Integer))
        for key in P.DATETIME_INDEXES:
            shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Datetime))

    @property
    def location(self) -> str:
        return f"edge:{self._path.name}"

    def segment_count(self) -> int:
        with self._readers.reading() as shard:
            return int(shard.info().segments_count)

    def indexed_fields(self) -> list[str]:
        with self._readers.reading() as shard:
            return sorted(shard.info().payload_schema)

    def upsert(self, points: Sequence[IndexPoint]) -> None:
        if not points:
            return
        batch = [qe.Point(id=p.id, vector=self._vectors(p), payload=p.payload) for p in points]
        with self._write_lock:
            self._apply(lambda shard: shard.update(qe.UpdateOperation.upsert_points(batch)))
            if self._unfolded_since is None:
                self._unfolded_since = utcnow()
            self._unfolded += len(batch)

    def _vectors(self, point: IndexPoint) -> Any:
        if point.lexical is None or not self._has_lexical:
            return point.vector
        return {
            "": point.vector,
            LEXICAL_VECTOR: qe.SparseVector(list(point.lexical.indices), list(point.lexical.values)),
        }

    @staticmethod
    def _count_in(shard: Any, spec: FilterSpec | None) -> int:
        return int(shard.count(qe.CountRequest(exact=True, filter=to_edge_filter(spec))))

    def _count(self, spec: FilterSpec | None) -> int:
        with self._readers.reading() as shard:
            return self._count_in(shard, spec)

    def _delete(self, spec: FilterSpec) -> int:
        def op(shard: Any) -> int:
            n = self._count_in(shard, spec)
            if n:
                shard.update(qe.UpdateOperation.delete_points_by_filter(to_edge_filter(spec)))
            return n

        with self._write_lock:
            return int(self._apply(op))

    def delete_record(self, ref: RecordRef) -> int:
        return self._delete(record_spec(ref))

    def delete_chunks_from(self, ref: RecordRef, first_index: int) -> int:
        return self._delete(record_spec(ref, first_index=first_index))

    def set_record_payload(self, ref: RecordRef, payload: dict[str, Any]) -> int:
        spec = record_spec(ref)

        def op(shard: Any) -> int:
            n = self._count_in(shard, spec)
            if n:
                shard.update(qe.UpdateOperation.set_payload_by_filter(to_edge_filter(spec), payload))
            return n

        with self._write_lock:
            return int(self._apply(op))

    def search(
        self,
        vector: NDArray[np.float32],
        *,
        where: IndexFilter,
        limit: int,
        exact: bool = False,
        acorn: bool = False,
    ) -> list[Hit]:
        """The dense leg alone; `exact` skips the HNSW index (full scan: the recall reference),
        `acorn` walks it with the engine's ACORN filtered search (bench/index_scale.py)."""
        params = None
        if exact:
            params = qe.SearchParams(exact=True)
        elif acorn:
            params = qe.SearchParams(acorn=qe.AcornSearchParams(enable=True))
        request = qe.SearchRequest(
            query=qe.Query.Nearest([float(x) for x in vector]),
            limit=limit,
            filter=to_edge_filter(search_spec(where)),
            params=params,
            with_payload=True,
            with_vector=False,
        )
        with self._readers.reading() as shard:
            found = shard.search(request)
        return [Hit(id=str(p.id), score=float(p.score), payload=dict(p.payload or {})) for p in found]

    def search_legs(
        self, vector: NDArray[np.float32], lexical: SparseVector | None, *, where: IndexFilter, limit: int
    ) -> Legs:
        flt = to_edge_filter(search_spec(where))
        dense = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest([float(x) for x in vector]),
            filter=flt,
            params=self._dense_params,
            with_payload=True,
        )
        if lexical is None or not self._has_lexical or not lexical.indices:
            with self._readers.reading() as shard:
                found = shard.query(dense)
            return Legs(dense=tuple(_hit(p, float(p.score)) for p in found))
        sparse = qe.QueryRequest(
            limit=limit, query=_sparse_query(lexical), filter=flt, with_payload=True, with_vector=[""]
        )
        with self._readers.reading() as shard:
            dense_leg, lexical_leg = shard.query_batch(qe.QueryBatchRequest([dense, sparse]))
        return Legs(
            dense=tuple(_hit(p, float(p.score)) for p in dense_leg),
            lexical=tuple(_hit(p, stored_cosine(vector, p.vector)) for p in lexical_leg),
        )

    def get(self, point_id: str) -> Hit | None:
        with self._readers.reading() as shard:
            found = shard.retrieve([point_id], with_payload=True, with_vector=False)
        if not found:
            return None
        return Hit(id=str(found[0].id), score=0.0, payload=dict(found[0].payload or {}))

    def _scroll(self, spec: FilterSpec | None, batch: int = 512) -> list[Hit]:
        hits: list[Hit] = []
        offset: Any = None
        flt = to_edge_filter(spec)
        while True:
            with self._readers.reading() as shard:
                records, offset = shard.scroll(
                    qe.ScrollRequest(
                        offset=offset, limit=batch, filter=flt, with_payload=True, with_vector=False
                    )
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
        with self._readers.reading() as shard:
            found = shard.facet(request).hits
        return {str(hit.value): int(hit.count) for hit in found if hit.count}

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
            self._write(lambda: self._readers.current.engine.flush())

    # ---------------------------------------------------------------- background fold-in

    def maintenance_status(self) -> F.MaintenanceStatus:
        return F.MaintenanceStatus(
            backend=self.backend,
            unfolded_points=self._unfolded,
            unfolded_since=self._unfolded_since,
            running=self._fold_lock.locked(),
            last=self._last_fold,
            last_error=self._last_fold_error,
        )

    def fold_in(
        self,
        optimize: Optimizer,
        *,
        copy_rounds: int = 4,
        final_copy_bytes: int = 64 << 20,
        catch_up_rounds: int = 5,
        final_writes: int = 200,
    ) -> F.FoldInReport:
        """Index every point written so far (module docstring of ingest/index/fold_in.py); reads
        and writes go on meanwhile. Raises StoreBusyError while another fold-in runs, StoreError
        when it fails (the live shard is untouched and the copy removed)."""
        if not self._fold_lock.acquire(blocking=False):
            raise StoreBusyError("a fold-in of this index is already running")
        try:
            report = self._fold_in(optimize, copy_rounds, final_copy_bytes, catch_up_rounds, final_writes)
        except Exception as exc:
            self._last_fold_error = f"{type(exc).__name__}: {exc}"[:500]
            raise
        finally:
            self._fold_lock.release()
        self._last_fold, self._last_fold_error = report, None
        return report

    def _stats_after_flush(self) -> tuple[Path, F.FileStats]:
        """The shard's file stats right after a flush, writes held for one mtime tick (fold_in.py)."""
        with self._write_lock:
            if self._closed:
                raise StoreError("the index was closed")
            self._write(lambda: self._readers.current.engine.flush())
            source = self._readers.current.directory
            stats = F.file_stats(source)
            time.sleep(F.MTIME_TICK)
        return source, stats

    def _fold_in(
        self,
        optimize: Optimizer,
        copy_rounds: int,
        final_copy_bytes: int,
        catch_up_rounds: int,
        final_writes: int,
    ) -> F.FoldInReport:
        started = time.perf_counter()
        target = F.next_fold_dir(self._path)
        shutil.rmtree(target, ignore_errors=True)
        copied, rounds, before = 0, 0, None
        while rounds < copy_rounds:  # copy while writes go on, each round only what changed
            source, now = self._stats_after_flush()
            round_bytes = F.sync_files(source, target, now, before)
            copied, rounds, before = copied + round_bytes, rounds + 1, now
            if round_bytes <= final_copy_bytes and rounds > 1:
                break
        pause_started = time.perf_counter()
        with self._write_lock:
            if self._closed:
                raise StoreError("the index was closed")
            self._write(lambda: self._readers.current.engine.flush())
            source = self._readers.current.directory
            copied += F.sync_files(source, target, F.file_stats(source), before)
            self._journal = []
            folded, snapshot_at = self._unfolded, utcnow()
        copy_pause = time.perf_counter() - pause_started
        engine: Any = None
        lock: ShardLock | None = None
        try:
            built = time.perf_counter()
            stats = optimize(target, self._cancel)
            build_seconds = time.perf_counter() - built
            lock = ShardLock(target)
            lock.acquire()
            engine = qe.EdgeShard.load(str(target))
            replayed = 0
            for _ in range(catch_up_rounds):  # writes go on meanwhile: catch up, then swap
                with self._write_lock:
                    pending, self._journal = self._journal or [], []
                for op in pending:
                    op(engine)
                replayed += len(pending)
                if len(pending) <= final_writes:
                    break
            engine.flush()  # the bulk, so the flush under the lock below is small
            swap_started = time.perf_counter()
            with self._write_lock:
                if self._closed:
                    raise StoreError("the index was closed during the fold-in")
                pending, self._journal = self._journal or [], None
                for op in pending:
                    op(engine)
                replayed += len(pending)
                engine.flush()
                F.write_pointer(self._path, target)
                old = self._readers.swap(_Shard(engine, target, lock))
                engine, lock = None, None  # owned by the store now
                self._unfolded -= folded
                self._unfolded_since = snapshot_at if self._unfolded > 0 else None
            swap_pause = time.perf_counter() - swap_started
        except BaseException:
            with self._write_lock:
                self._journal = None
            if engine is not None:
                engine.close()
            if lock is not None:
                lock.release()
            shutil.rmtree(target, ignore_errors=True)
            target.with_name(target.name + ".lock").unlink(missing_ok=True)
            raise
        self._retire(old)
        with self._readers.reading() as shard:
            points, segments = self._count_in(shard, None), int(shard.info().segments_count)
        report = F.FoldInReport(
            shard=target.name,
            points=points,
            folded_points=int(stats.get("points", folded)),
            replayed_writes=replayed,
            copied_bytes=copied,
            copy_rounds=rounds + 1,
            copy_pause_seconds=round(copy_pause, 3),
            swap_pause_seconds=round(swap_pause, 3),
            build_seconds=round(build_seconds, 2),
            total_seconds=round(time.perf_counter() - started, 2),
            segments=segments,
            finished_at=utcnow(),
        )
        log.info(
            "fold-in swapped in", extra={"index": self.location, "fold_in": report.model_dump(mode="json")}
        )
        return report

    def _retire(self, old: _Shard) -> None:
        """Close a swapped-out shard once its reads are done, then delete it (the slot directory
        itself too: the pointer names the active one)."""
        if not self._readers.wait_idle(old):
            log.warning(
                "reads still running on a swapped-out shard; closing it", extra={"index": self.location}
            )
        try:
            old.engine.close()
        finally:
            if old.lock is not None:
                old.lock.release()
        F.remove_leftovers(self._path)

    def close(self) -> None:
        self._cancel.set()  # a fold-in's child process stops; the fold-in discards its copy
        with self._write_lock:
            self._closed = True
            try:
                with self._readers.exclusive() as current:
                    current.engine.close()
                    if current.lock is not None:
                        current.lock.release()
            finally:
                self._owner.release()
