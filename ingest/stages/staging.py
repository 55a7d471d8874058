"""Redact, chunk and embed a page's changed records, with redaction of the next batch running in
a helper thread while the current batch embeds. ONNX Runtime releases the GIL while it runs;
Presidio's recognizers are Python and hold it, so on 2 cores the overlap gains little (a few
percent, measured in bench/README.md): the batching (spaCy nlp.pipe, 64 records per hand-over)
is what pays.

Where it runs is a `Stager`: `InProcessStager` (threads of this process, the default) or
`ChildProcessStager` (ingest/stages/staging_process.py: a niced child process with its own redactor and
embedder, so a sync's Presidio and ONNX work does not hold the API process's GIL or cores).

Nothing here writes: the caller upserts, flushes and commits the page as one unit, so a failure
in either stage fails the page before anything is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from ingest.index.base import SparseVector
from ingest.models import Chunk, SourceRecord
from ingest.stages.chunking import Chunker
from ingest.stages.embedding import Embedder
from ingest.stages.lexical import LexicalEncoder
from ingest.stages.render import known_identifiers, render_text
from policies.redaction import Redactor

if TYPE_CHECKING:
    from ingest.stages.writer import Pending

BATCH_RECORDS = 64  # per hand-over between the redaction thread and the embedder (measured best)


class StageParts(Protocol):
    """What staging reads (the pipeline's parts have them all)."""

    @property
    def redactor(self) -> Redactor: ...

    @property
    def chunker(self) -> Chunker: ...

    @property
    def embedder(self) -> Embedder: ...

    @property
    def lexical(self) -> LexicalEncoder | None: ...


class Slot(Protocol):
    """A record to stage and the three results staging fills in (ingest.stages.writer.Pending is one)."""

    record: SourceRecord
    chunks: list[Chunk]
    vectors: NDArray[np.float32] | None
    lexical: list[SparseVector] | None


S = TypeVar("S", bound=Slot)


class Stager(Protocol):
    def stage(self, parts: StageParts, pending: Sequence[Pending]) -> list[tuple[Pending, Exception]]:
        """As `stage`: fills in the records in place, returns those that failed with their error,
        raises when every record of several fails."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Components:
    """A StageParts of its own (an in-process stager with an ingest embedder, the child process)."""

    redactor: Redactor
    chunker: Chunker
    embedder: Embedder
    lexical: LexicalEncoder | None


class InProcessStager:
    """Stages in this process's threads; `embedder` (optional) replaces the parts' embedder, so
    ingest can run its own ONNX session with its own thread count (embedding.ingest_threads)."""

    def __init__(self, embedder: Embedder | None = None) -> None:
        self._embedder = embedder

    def stage(self, parts: StageParts, pending: Sequence[Pending]) -> list[tuple[Pending, Exception]]:
        if self._embedder is None:
            return stage(parts, pending)
        mine = Components(parts.redactor, parts.chunker, self._embedder, parts.lexical)
        return stage(mine, pending)

    def close(self) -> None:
        return None


def stage_page(
    *, pending: Sequence[Pending], parts: StageParts, stager: Stager | None
) -> list[tuple[Pending, Exception]]:
    """The pipeline's entry: through the stager, in this process when there is none."""
    if stager is None:
        return stage(parts, pending)
    return stager.stage(parts, pending)


def _redact_and_chunk(parts: StageParts, batch: Sequence[S]) -> Sequence[S]:
    # a batch never mixes tenants (it is part of one source's page): one tenant allow list
    redactions = parts.redactor.redact_many(
        [(render_text(i.record), known_identifiers(i.record)) for i in batch],
        tenant=batch[0].record.tenant_id if batch else "",
    )
    for item, redaction in zip(batch, redactions, strict=True):
        # render_text puts the title first, alone on its line: its redacted form is that line
        title = redaction.text.split("\n", 1)[0] if item.record.title.strip() else ""
        item.chunks = parts.chunker.split(item.record.ref, item.record.record_type, redaction, title=title)
    return batch


def _embed(parts: StageParts, batch: Sequence[S]) -> None:
    texts = [c.embed_text for item in batch for c in item.chunks]
    vectors: NDArray[np.float32] = parts.embedder.embed_documents(texts)
    lexical = parts.lexical.embed_documents(texts) if parts.lexical is not None else None
    row = 0
    for item in batch:
        item.vectors = vectors[row : row + len(item.chunks)]
        item.lexical = lexical[row : row + len(item.chunks)] if lexical is not None else None
        row += len(item.chunks)


def _one_by_one(parts: StageParts, batch: Sequence[S], failed: list[tuple[S, Exception]]) -> None:
    """A batch failed: stage its records one by one, so only the record at fault fails."""
    for item in batch:
        try:
            _embed(parts, _redact_and_chunk(parts, [item]))
        except Exception as exc:
            item.chunks, item.vectors, item.lexical = [], None, None
            failed.append((item, exc))


def stage(
    parts: StageParts, pending: Sequence[S], *, batch_records: int = BATCH_RECORDS
) -> list[tuple[S, Exception]]:
    """Fill in `chunks` and `vectors` of every pending record (in place), in this process. Returns
    the records that could not be staged, each with its error (report its type only: a message
    may quote text). When every record of several fails, the fault is not theirs (a broken
    model): it is raised."""
    batches = [pending[i : i + batch_records] for i in range(0, len(pending), batch_records)]
    failed: list[tuple[S, Exception]] = []
    if not batches:
        return failed
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="redact") as pool:
        ahead: Future[Sequence[S]] = pool.submit(_redact_and_chunk, parts, batches[0])
        for i, batch in enumerate(batches):
            try:
                ready: Sequence[S] | None = ahead.result()
            except Exception:
                ready = None
            if i + 1 < len(batches):
                ahead = pool.submit(_redact_and_chunk, parts, batches[i + 1])
            try:
                if ready is None:
                    raise RuntimeError("redaction failed for the batch")
                _embed(parts, ready)
            except Exception:
                _one_by_one(parts, batch, failed)
    if len(failed) == len(pending) > 1:
        raise failed[0][1]
    return failed
