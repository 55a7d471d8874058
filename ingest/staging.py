"""Redact, chunk and embed a page's changed records, with redaction of the next batch running in
a helper thread while the current batch embeds. ONNX Runtime releases the GIL while it runs;
Presidio's recognizers are Python and hold it, so on 2 cores the overlap gains little (a few
percent, measured in bench/README.md): the batching (spaCy nlp.pipe, 64 records per hand-over)
is what pays.

Nothing here writes: the caller upserts, flushes and commits the page as one unit, so a failure
in either stage fails the page before anything is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ingest.render import known_identifiers, render_text

if TYPE_CHECKING:
    from ingest.pipeline import PipelineParts
    from ingest.writer import Pending

BATCH_RECORDS = 64  # per hand-over between the redaction thread and the embedder (measured best)


def _redact_and_chunk(parts: PipelineParts, batch: Sequence[Pending]) -> Sequence[Pending]:
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


def _embed(parts: PipelineParts, batch: Sequence[Pending]) -> None:
    texts = [c.embed_text for item in batch for c in item.chunks]
    vectors: NDArray[np.float32] = parts.embedder.embed_documents(texts)
    lexical = parts.lexical.embed_documents(texts) if parts.lexical is not None else None
    row = 0
    for item in batch:
        item.vectors = vectors[row : row + len(item.chunks)]
        item.lexical = lexical[row : row + len(item.chunks)] if lexical is not None else None
        row += len(item.chunks)


def _one_by_one(
    parts: PipelineParts, batch: Sequence[Pending], failed: list[tuple[Pending, Exception]]
) -> None:
    """A batch failed: stage its records one by one, so only the record at fault fails."""
    for item in batch:
        try:
            _embed(parts, _redact_and_chunk(parts, [item]))
        except Exception as exc:
            item.chunks, item.vectors, item.lexical = [], None, None
            failed.append((item, exc))


def stage(
    parts: PipelineParts, pending: Sequence[Pending], *, batch_records: int = BATCH_RECORDS
) -> list[tuple[Pending, Exception]]:
    """Fill in `chunks` and `vectors` of every pending record (in place). Returns the records that
    could not be staged, each with its error (report its type only: a message may quote text).
    When every record of several fails, the fault is not theirs (a broken model): it is raised."""
    batches = [pending[i : i + batch_records] for i in range(0, len(pending), batch_records)]
    failed: list[tuple[Pending, Exception]] = []
    if not batches:
        return failed
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="redact") as pool:
        ahead: Future[Sequence[Pending]] = pool.submit(_redact_and_chunk, parts, batches[0])
        for i, batch in enumerate(batches):
            try:
                ready: Sequence[Pending] | None = ahead.result()
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
