"""Fill an index with N chunks quickly, for the scale benches.

Ingesting a million records end to end takes hours, so the index-layer benches start from points
the real pipeline produced: `templates()` runs the shipped pipeline (contract, consent, Presidio,
chunker, embedder, lexical encoder) over a few hundred demo records and reads back every point
with its dense and lexical vectors and its full provenance payload. `clones()` then yields as many
points as wanted under new record ids, spread over tenants, with each dense vector jittered
(gaussian noise, renormalised) so the index is not a pile of exact duplicates; payload keys,
sizes, ACLs and purposes stay those of real chunks.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.corpus import write_corpus
from ingest import payload as P
from ingest.index.base import IndexPoint, SparseVector
from ingest.models import RecordRef

BENCH_SOURCE = "bench-files"


@dataclass(frozen=True)
class Template:
    vector: tuple[float, ...]
    lexical: SparseVector | None
    payload: dict[str, Any]


def templates(records: int = 300) -> list[Template]:
    """Run the pipeline over `records` demo records in a scratch folder; every point it wrote."""
    import qdrant_edge as qe

    from bench.scale import write_config
    from rag_service.config import load_settings
    from rag_service.services import build_services

    with tempfile.TemporaryDirectory(prefix="crm-prefill-") as work:
        tmp = Path(work)
        write_corpus(tmp / "crm", records)
        services = build_services(load_settings(write_config(tmp, "onnx")))
        try:
            report = services.run(BENCH_SOURCE, actor="bench")
            if report.error:
                raise RuntimeError(report.error)
        finally:
            services.close()
        (shard_dir,) = (tmp / "var" / "index").rglob("shard")
        shard = qe.EdgeShard.load(str(shard_dir))
        out: list[Template] = []
        offset: Any = None
        try:
            while True:
                batch, offset = shard.scroll(
                    qe.ScrollRequest(offset=offset, limit=256, with_payload=True, with_vector=True)
                )
                for point in batch:
                    vectors: dict[str, Any] = point.vector  # type: ignore[assignment]  # named vectors
                    sparse = vectors.get("lexical")
                    out.append(
                        Template(
                            vector=tuple(float(x) for x in vectors[""]),
                            lexical=SparseVector(indices=tuple(sparse.indices), values=tuple(sparse.values))
                            if sparse is not None
                            else None,
                            payload=dict(point.payload or {}),
                        )
                    )
                if offset is None:
                    break
        finally:
            shard.close()
    out.sort(key=lambda t: (str(t.payload[P.RECORD_ID]), int(t.payload[P.CHUNK_INDEX])))
    return out


def tenant_names(count: int) -> list[str]:
    return [f"t{k:02d}" for k in range(count)]


def tenant_weights(count: int) -> list[float]:
    """Zipf-like sizes: the largest tenant holds about a quarter of the points with 20 tenants."""
    raw = [1.0 / (k + 1) for k in range(count)]
    total = sum(raw)
    return [w / total for w in raw]


def clones(
    base: Sequence[Template],
    n: int,
    *,
    tenants: Sequence[str],
    weights: Sequence[float] | None = None,
    start: int = 0,
    sigma: float = 0.03,
    seed: int = 7,
    batch: int = 512,
) -> Iterator[list[IndexPoint]]:
    """`n` points in batches: point k copies template k % len(base) as record P-<k>, in a tenant
    drawn by `weights`. Same seed and start, same points (a later call with start=n continues)."""
    rng = np.random.default_rng(seed + start)
    vectors = np.asarray([t.vector for t in base], dtype=np.float32)
    choice = rng.choice(len(tenants), size=n, p=list(weights) if weights else None)
    out: list[IndexPoint] = []
    for j in range(n):
        k = start + j
        template = base[k % len(base)]
        v = vectors[k % len(base)] + np.asarray(rng.normal(0.0, sigma, vectors.shape[1]), dtype=np.float32)
        v /= np.linalg.norm(v)
        ref = RecordRef(tenant_id=tenants[int(choice[j])], source=BENCH_SOURCE, record_id=f"P-{k:07d}")
        payload = {
            **template.payload,
            P.TENANT_ID: ref.tenant_id,
            P.RECORD_ID: ref.record_id,
            P.RECORD_KEY: ref.key,
            P.CHUNK_INDEX: 0,
        }
        out.append(
            IndexPoint(id=P.point_id(ref, 0), vector=v.tolist(), payload=payload, lexical=template.lexical)
        )
        if len(out) >= batch:
            yield out
            out = []
    if out:
        yield out
