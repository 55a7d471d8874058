"""The edge shard config (ingest/index/edge.py `shard_config`, issue 13): what new shards get, that
older shards keep theirs, and that segments stay bounded as fold-ins add one each."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import qdrant_edge as qe

from ingest import payload as P
from ingest.config import DenseSearchConfig
from ingest.index.base import IndexFilter, IndexPoint
from ingest.index.edge import SEGMENTS, EdgeIndexStore, shard_config
from ingest.index.optimize import optimize_in_subprocess
from ingest.models import RecordRef

DIM = 8


def points(n: int) -> list[IndexPoint]:
    rng = random.Random(3)
    out: list[IndexPoint] = []
    for k in range(n):
        ref = RecordRef(tenant_id="t1", source="s", record_id=f"R-{k:05d}")
        v = np.asarray([rng.gauss(0, 1) for _ in range(DIM)], dtype=np.float32)
        payload: dict[str, Any] = {P.TENANT_ID: ref.tenant_id, P.SOURCE: ref.source}
        payload[P.RECORD_ID] = ref.record_id
        payload |= {P.RECORD_KEY: ref.key, P.CHUNK_INDEX: 0, P.PURPOSES: ["sales_assistant"]}
        out.append(
            IndexPoint(id=P.point_id(ref, 0), vector=(v / np.linalg.norm(v)).tolist(), payload=payload)
        )
    return out


def stored_config(directory: Path) -> dict[str, object]:
    config: dict[str, object] = json.loads((directory / "edge_config.json").read_text())
    return config


def test_new_shards_get_the_config_and_fold_ins_keep_it(tmp_path: Path) -> None:
    store = EdgeIndexStore(tmp_path / "idx", DIM)
    try:
        config = stored_config(store.shard_dir)
        assert config["hnsw_config"] == {
            "m": 16,
            "ef_construct": 100,
            "full_scan_threshold": 10_000,
            "max_indexing_threads": 0,
            "payload_m": 16,
        }
        assert config["optimizers"]["default_segment_number"] == SEGMENTS  # type: ignore[index]
        store.upsert(points(50))
        store.fold_in(optimize_in_subprocess)
        assert store.shard_dir != tmp_path / "idx"  # a fold-in's copy, swapped in
        after = stored_config(store.shard_dir)  # (the engine fills in defaults on load)
        assert (after["hnsw_config"], after["optimizers"]) == (config["hnsw_config"], config["optimizers"])
    finally:
        store.close()


def test_a_shard_created_before_keeps_its_config(tmp_path: Path) -> None:
    slot = tmp_path / "idx"
    old = qe.EdgeShard.create(
        str(slot), qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine))
    )
    old.close()
    before = stored_config(slot)
    store = EdgeIndexStore(slot, DIM)
    try:
        store.upsert(points(20))
        store.flush()
        assert store.count() == 20
    finally:
        store.close()
    after = stored_config(slot)
    assert after.get("hnsw_config") == before.get("hnsw_config")
    assert after.get("optimizers") == before.get("optimizers")
    assert not before.get("hnsw_config") and not before.get("optimizers")


def test_segments_stay_bounded_as_each_optimize_adds_one(tmp_path: Path) -> None:
    """Each optimize indexes its new points as a segment of their own; past `segments` segments
    the engine's merge optimizer joins the smallest (up to max_segment_kb), so the count grows
    with the points (one per max_segment_kb of vectors), not with the number of optimizes.
    Small numbers: 32-d vectors (128 B), 1,000 points per round, segments of at most 400 KB."""
    shard = qe.EdgeShard.create(
        str(tmp_path / "s"), shard_config(32, segments=3, max_segment_kb=400, indexing_threshold_kb=20)
    )
    rng = np.random.default_rng(0)
    counts: list[int] = []
    try:
        for r in range(12):
            batch = [
                qe.Point(id=r * 1000 + j, vector=rng.normal(size=32).tolist(), payload={})
                for j in range(1000)
            ]
            shard.update(qe.UpdateOperation.upsert_points(batch))
            shard.optimize()
            info = shard.info()
            assert info.indexed_vectors_count == info.points_count == (r + 1) * 1000
            counts.append(int(info.segments_count))
    finally:
        shard.close()
    # without merges: 12 indexed segments and the appendable one; 12,000 x 128 B / 400 KB ~ 4 full
    assert max(counts) <= 6, counts


@pytest.mark.parametrize(
    "dense", [DenseSearchConfig(), DenseSearchConfig(hnsw_ef=None), DenseSearchConfig(acorn=True)]
)
def test_the_filtered_dense_leg_finds_the_exact_top_10_under_each_search_setting(
    tmp_path: Path, dense: DenseSearchConfig
) -> None:
    """`index.dense_search` (hnsw_ef 256 by default, ACORN optional) goes with /query's dense leg;
    under each, the leg under a tenant filter returns the exact nearest points of that tenant,
    before and after a fold-in."""
    pts = points(1500)
    for k, p in enumerate(pts):
        p.payload[P.TENANT_ID] = f"t{k % 5}"
    store = EdgeIndexStore(tmp_path / "idx", DIM, dense=dense)
    try:
        store.upsert(pts)
        where = IndexFilter(tenant_id="t3", purpose="sales_assistant", enforce_acl=False)
        query = np.asarray(pts[7].vector, dtype=np.float32)
        want = [h.id for h in store.search(query, where=where, limit=10, exact=True)]
        assert len(want) == 10
        assert [h.id for h in store.search_legs(query, None, where=where, limit=10).dense] == want
        store.fold_in(optimize_in_subprocess)
        assert [h.id for h in store.search_legs(query, None, where=where, limit=10).dense] == want
    finally:
        store.close()
