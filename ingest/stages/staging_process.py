"""Staging (redaction, chunking, embedding, lexical encoding) in a child process.

Presidio holds the GIL and ONNX Runtime takes every core while a sync stages a page; in the API
process that shows as /query latency (bench/README.md). The child process has its own redactor,
chunker, embedder and lexical encoder built from the same settings, runs at a lower priority
(os.nice), and receives records and returns chunks and vectors as frozen, pickle-able values.
The owning process keeps fetching, consent decisions, index writes and the state store: only one
process can open the live shard.

One child serves every sync of the process, one page at a time. It is started (spawn, never fork:
the parent runs threads) when the stager is built and restarted at the next page after it died or
timed out. A page whose child died is retried once on a fresh child; a second death, or a page (or
start) taking longer than the timeout, fails the page with a `StagingProcessError`, so the run
fails with that message and never hangs.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ingest.config import ChunkingConfig, EmbeddingConfig, LexicalConfig
from ingest.errors import IngestError
from ingest.index.base import SparseVector
from ingest.models import Chunk, SourceRecord
from ingest.stages.staging import Components, StageParts, stage

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ingest.stages.writer import Pending

log = logging.getLogger("ingest.stages.staging_process")


class StagingProcessError(IngestError):
    """The staging child process died twice on one page, timed out, or runs other versions."""


class StagingFailedError(IngestError):
    """Stands for an error raised in the child that could not cross the process boundary; it is
    re-created under the original type name, so quarantine reasons read the same."""


# ------------------------------------------------------------------ values across the boundary


@dataclass(frozen=True, slots=True)
class StagerSpec:
    """What the child builds its components from: the settings sections staging reads."""

    redaction_policy: Path | None
    embedding: EmbeddingConfig
    chunking: ChunkingConfig
    lexical: LexicalConfig
    nice: int
    # the parent's logging set-up (a module-level function: pickled by name) and its level
    log_setup: Callable[[str], None] | None = None
    log_level: str = "WARNING"


@dataclass(frozen=True, slots=True)
class Versions:
    """What the fingerprint of a staged record names: the child must match the parent."""

    policy: str
    detector: str
    model: str
    chunker: str
    lexical: str


@dataclass(frozen=True, slots=True)
class Failure:
    type_name: str
    error: Exception | None  # the child's exception when it pickles (message and type kept)

    def exception(self) -> Exception:
        """The child's exception, or a StagingFailedError subclass under its type name."""
        if self.error is not None:
            return self.error
        stand_in: type[StagingFailedError] = type(
            self.type_name, (StagingFailedError,), {"__module__": __name__}
        )
        return stand_in("the staging process failed")


@dataclass(frozen=True, slots=True)
class Staged:
    chunks: tuple[Chunk, ...]
    vectors: NDArray[np.float32]
    lexical: tuple[SparseVector, ...] | None


@dataclass(frozen=True, slots=True)
class StageReply:
    results: tuple[Staged | Failure, ...]  # one per record sent, in order
    page_error: Failure | None = None  # every record of several failed: `stage` raised this


@dataclass(frozen=True, slots=True)
class StartReply:
    versions: Versions | None
    error: Failure | None = None


def versions_of(parts: StageParts) -> Versions:
    return Versions(
        policy=parts.redactor.policy_version,
        detector=parts.redactor.detector_version,
        model=parts.embedder.model_id,
        chunker=parts.chunker.signature,
        lexical=parts.lexical.signature if parts.lexical is not None else "off",
    )


def _portable(exc: Exception) -> Failure:
    """The exception itself when it survives pickling, else only its type name."""
    exc = exc.with_traceback(None)
    exc.__cause__ = exc.__context__ = None
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own bytes, made on the line
    except Exception:
        return Failure(type(exc).__name__, None)
    return Failure(type(exc).__name__, exc)


# ------------------------------------------------------------------ the child


@dataclass
class _Slot:
    record: SourceRecord
    chunks: list[Chunk]
    vectors: NDArray[np.float32] | None = None
    lexical: list[SparseVector] | None = None


def build_components(spec: StagerSpec) -> Components:
    from ingest.stages.chunking import Chunker
    from ingest.stages.embedding import make_embedder
    from ingest.stages.lexical import make_lexical
    from policies.redaction import PresidioRedactor

    return Components(
        redactor=PresidioRedactor.from_file(spec.redaction_policy),
        chunker=Chunker(spec.chunking),
        embedder=make_embedder(spec.embedding.for_role("ingest")),
        lexical=make_lexical(spec.lexical),
    )


def stage_records(parts: StageParts, records: Sequence[SourceRecord]) -> StageReply:
    """`stage` over fresh slots, answered as values (what the child sends back)."""
    slots = [_Slot(record, []) for record in records]
    try:
        failed = dict((id(slot), exc) for slot, exc in stage(parts, slots))
    except Exception as exc:
        return StageReply(results=(), page_error=_portable(exc))
    results: list[Staged | Failure] = []
    for slot in slots:
        if id(slot) in failed:
            results.append(_portable(failed[id(slot)]))
        else:
            vectors = slot.vectors if slot.vectors is not None else np.zeros((0, 0), dtype=np.float32)
            lexical = tuple(slot.lexical) if slot.lexical is not None else None
            results.append(Staged(tuple(slot.chunks), np.ascontiguousarray(vectors), lexical))
    return StageReply(results=tuple(results))


def _child_main(conn: Connection, spec: StagerSpec) -> None:
    if spec.log_setup is not None:
        spec.log_setup(spec.log_level)
    else:  # at least keep Presidio's per-call warnings about unmapped labels off stderr
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    if spec.nice:
        os.nice(spec.nice)
    try:
        parts = build_components(spec)
    except Exception as exc:
        conn.send(StartReply(versions=None, error=_portable(exc)))
        return
    conn.send(StartReply(versions=versions_of(parts)))
    while True:
        try:
            records = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if records is None:
            return
        conn.send(stage_records(parts, records))


# ------------------------------------------------------------------ the parent


class ChildProcessStager:
    def __init__(self, spec: StagerSpec, *, timeout: float) -> None:
        self._spec = spec
        self._timeout = timeout
        self._lock = threading.Lock()  # one page at a time through the one child
        self._proc: BaseProcess | None = None
        self._conn: Connection | None = None
        self._versions: Versions | None = None
        self._start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=_child_main, args=(child, self._spec), name="crm-rag-stager", daemon=True)
        proc.start()
        child.close()  # the child's end lives in the child only: its death reads as EOF here
        self._proc, self._conn, self._versions = proc, parent, None
        log.info("staging process started", extra={"pid": proc.pid})

    def _stop(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            conn.close()
        if proc is not None and proc.is_alive():
            proc.kill()
        if proc is not None:
            proc.join(timeout=10)

    def _receive(self, deadline: float) -> Any:
        conn = self._conn
        assert conn is not None
        if not conn.poll(max(0.0, deadline - time.monotonic())):
            raise TimeoutError
        return conn.recv()  # EOFError when the child died

    def _ready(self, parts: StageParts, deadline: float) -> None:
        if self._proc is None or not self._proc.is_alive():
            self._stop()
            self._start()
        if self._versions is None:
            start: StartReply = self._receive(deadline)
            if start.error is not None:
                self._stop()
                raise start.error.exception()
            self._versions = start.versions
        if self._versions != versions_of(parts):
            raise StagingProcessError(
                "the staging process runs other redaction policies, detector, model or chunker "
                "than this service"
            )

    def _roundtrip(self, parts: StageParts, records: tuple[SourceRecord, ...]) -> StageReply:
        deadline = time.monotonic() + self._timeout
        self._ready(parts, deadline)
        assert self._conn is not None
        self._conn.send(records)
        reply: StageReply = self._receive(deadline)
        return reply

    def _reply(self, parts: StageParts, records: tuple[SourceRecord, ...]) -> StageReply:
        for attempt in (1, 2):
            try:
                return self._roundtrip(parts, records)
            except TimeoutError:
                self._stop()
                raise StagingProcessError(
                    f"staging took longer than ingest.staging_timeout_seconds ({self._timeout:g} s); "
                    "the staging process was restarted"
                ) from None
            except (EOFError, OSError, BrokenPipeError):
                self._stop()
                log.warning("staging process died", extra={"attempt": attempt, "records": len(records)})
        raise StagingProcessError("the staging process died twice on this page; it is restarted for the next")

    def stage(self, parts: StageParts, pending: Sequence[Pending]) -> list[tuple[Pending, Exception]]:
        if not pending:
            return []
        with self._lock:
            reply = self._reply(parts, tuple(item.record for item in pending))
        if reply.page_error is not None:
            raise reply.page_error.exception()
        failed: list[tuple[Pending, Exception]] = []
        for item, result in zip(pending, reply.results, strict=True):
            if isinstance(result, Failure):
                item.chunks, item.vectors, item.lexical = [], None, None
                failed.append((item, result.exception()))
            else:
                item.chunks = list(result.chunks)
                item.vectors = result.vectors
                item.lexical = list(result.lexical) if result.lexical is not None else None
        return failed

    def close(self) -> None:
        with self._lock:
            conn = self._conn
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.send(None)
            if self._proc is not None:
                self._proc.join(timeout=10)
            self._stop()
