"""Staging in a child process (ingest.staging: child_process) gives what staging in this process
gives: the same redaction, chunks and vectors, and the same per-record failures, with the real
Presidio redactor and the real embedder on both sides. A child that dies is replaced; a child
that does not answer in time fails the page with a clear error instead of hanging it."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bench.corpus import demo_records
from ingest import payload as P
from ingest.config import ChunkingConfig, EmbeddingConfig, LexicalConfig
from ingest.models import SourceRecord
from ingest.stages.chunking import Chunker
from ingest.stages.contract import validate_record
from ingest.stages.embedding import Embedder
from ingest.stages.lexical import Bm25Encoder
from ingest.stages.staging import Components, stage
from ingest.stages.staging_process import ChildProcessStager, StagerSpec, StagingProcessError
from ingest.stages.writer import Pending
from policies.models import Admit
from policies.redaction import PresidioRedactor
from rag_service.services import Services, build_services
from tests.conftest import DEMO, make_settings

SPEC = StagerSpec(
    redaction_policy=None,
    embedding=EmbeddingConfig(),
    chunking=ChunkingConfig(),
    lexical=LexicalConfig(),
    nice=5,
)


@pytest.fixture(scope="module")
def records() -> list[SourceRecord]:
    out = []
    for i, raw in enumerate(demo_records()):
        rec = validate_record(
            raw, tenant_id=str(raw.get("tenant_id", "t")), source="s", system="file", locator=str(i)
        )
        if isinstance(rec, SourceRecord):
            out.append(rec)
    return out[:40]


@pytest.fixture(scope="module")
def parts(redactor: PresidioRedactor, embedder: Embedder) -> Components:
    return Components(redactor, Chunker(ChunkingConfig()), embedder, Bm25Encoder(LexicalConfig()))


@pytest.fixture(scope="module")
def child() -> Iterator[ChildProcessStager]:
    stager = ChildProcessStager(SPEC, timeout=600)
    yield stager
    stager.close()


def pending_for(records: list[SourceRecord]) -> list[Pending]:
    admit = Admit(purposes=("sales_assistant",), granted_tags=("assistant_use",), policy_version="v")
    return [Pending(r, admit, "h", "f", "a", 0) for r in records]


def huge(record: SourceRecord, record_id: str) -> SourceRecord:
    # longer than spaCy accepts: redaction fails for this record alone (ValueError)
    return record.model_copy(update={"record_id": record_id, "body": "word " * 240_000})


def test_child_process_stages_exactly_as_in_process(
    records: list[SourceRecord], parts: Components, child: ChildProcessStager
) -> None:
    batch = [*records[:20], huge(records[0], "BIG"), *records[20:]]
    here, there = pending_for(batch), pending_for(batch)
    failed_here = stage(parts, here)
    failed_there = child.stage(parts, there)

    assert [(i.record.record_id, type(e).__name__) for i, e in failed_here] == [("BIG", "ValueError")]
    assert [(i.record.record_id, type(e).__name__) for i, e in failed_there] == [("BIG", "ValueError")]
    for a, b in zip(here, there, strict=True):
        assert a.chunks == b.chunks  # same redacted text, offsets, titles, chunk boundaries
        assert (a.vectors is None) == (b.vectors is None)
        if a.vectors is not None and b.vectors is not None:
            assert a.vectors.shape == b.vectors.shape
            assert np.allclose(a.vectors, b.vectors, atol=1e-5)
        assert a.lexical == b.lexical
    assert all(i.chunks and i.vectors is not None for i in there if i.record.record_id != "BIG")


def test_a_page_where_every_record_fails_raises_the_same_error(
    records: list[SourceRecord], parts: Components, child: ChildProcessStager
) -> None:
    bad = [huge(records[0], "BIG-1"), huge(records[1], "BIG-2")]
    with pytest.raises(ValueError, match="E088") as here:
        stage(parts, pending_for(bad))
    with pytest.raises(ValueError, match="E088") as there:
        child.stage(parts, pending_for(bad))
    assert str(here.value) == str(there.value)


def test_a_killed_child_is_replaced_and_the_page_is_staged(
    records: list[SourceRecord], parts: Components, child: ChildProcessStager
) -> None:
    child.stage(parts, pending_for(records[:2]))  # started and answering
    before = child.pid
    assert before is not None
    os.kill(before, signal.SIGKILL)
    items = pending_for(records[:5])
    assert child.stage(parts, items) == []
    assert child.pid not in (None, before)
    assert all(i.chunks and i.vectors is not None for i in items)


def test_a_child_that_does_not_answer_in_time_fails_the_page(
    records: list[SourceRecord], parts: Components
) -> None:
    stager = ChildProcessStager(SPEC, timeout=0.2)  # loading the models alone takes longer
    try:
        with pytest.raises(StagingProcessError, match="staging_timeout_seconds"):
            stager.stage(parts, pending_for(records[:2]))
        assert stager.pid is None  # killed; the next page starts a fresh one
    finally:
        stager.close()


def test_a_sync_staged_in_the_child_process_indexes_what_an_in_process_sync_indexes(
    tmp_path: Path, demo_services: Services
) -> None:
    """The whole pipeline with ingest.staging: child_process (its own redactor and embedder built
    from the settings) against the session's in-process demo sync of the same data."""
    shutil.copytree(DEMO / "crm", tmp_path / "crm")
    base = make_settings(tmp_path / "var", tmp_path / "crm")
    settings = base.model_copy(update={"ingest": base.ingest.model_copy(update={"staging": "child_process"})})
    services = build_services(settings)
    try:
        assert isinstance(services.parts.stager, ChildProcessStager)
        name = "contoso-files"
        report = services.run(name, actor="test")
        expected = next(r for r in demo_services.initial_reports if r.source == name)  # type: ignore[attr-defined]
        assert report.status == "succeeded", report.error
        assert report.counts == expected.counts and report.redacted == expected.redacted

        def chunks(s: Services) -> list[tuple[str, int, str]]:
            rows = s.index.scroll_payloads(tenant_id="contoso")
            return sorted((p[P.RECORD_ID], p[P.CHUNK_INDEX], p[P.TEXT]) for p in rows if p[P.SOURCE] == name)

        assert chunks(services) == chunks(demo_services)
        pid = services.parts.stager.pid
    finally:
        services.close()
    assert pid is not None and not _alive(pid)  # close() ends the child


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
