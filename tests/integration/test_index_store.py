"""One IndexStore contract, run against every backend available (edge always, qdrant-client
local mode always, a Qdrant server when QDRANT_URL is set)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest import payload as P
from ingest.config import IndexConfig, LexicalConfig
from ingest.index.base import IndexFilter, IndexPoint, IndexStore
from ingest.index.factory import open_index_store
from ingest.models import RecordRef
from ingest.stages.lexical import Bm25Encoder

BACKENDS = ["edge", "qdrant-local"] + (["qdrant-server"] if os.environ.get("QDRANT_URL") else [])


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[IndexStore]:
    if request.param == "edge":
        cfg = IndexConfig(backend="edge", path=tmp_path / "idx")
    elif request.param == "qdrant-local":
        cfg = IndexConfig(backend="qdrant", qdrant_url=":memory:")
    else:
        cfg = IndexConfig(
            backend="qdrant",
            qdrant_url=os.environ["QDRANT_URL"],
            collection=f"test_{tmp_path.name[-20:].replace('-', '_')}",
        )
    s = open_index_store(cfg, 4)
    yield s
    s.close()


def point(ref: RecordRef, i: int, vec: list[float], **payload: Any) -> IndexPoint:
    base = {
        P.TENANT_ID: ref.tenant_id,
        P.RECORD_KEY: ref.key,
        P.RECORD_ID: ref.record_id,
        P.CHUNK_INDEX: i,
        P.PURPOSES: ["sales_assistant"],
        P.ACL_OWNER: "u1",
        P.ACL_TEAMS: ["t1"],
        P.RECORD_TYPE: "note",
        P.SOURCE_UPDATED_AT: "2026-10-01T00:00:00+00:00",
        P.ACCOUNT_ID: "a1",
    }
    return IndexPoint(id=P.point_id(ref, i), vector=vec, payload={**base, **payload})


A = RecordRef(tenant_id="t-a", source="s", record_id="r1")
B = RecordRef(tenant_id="t-b", source="s", record_id="r1")
Q = np.array([1, 0, 0, 0], dtype=np.float32)


def test_tenant_isolation_and_acl(store: IndexStore) -> None:
    store.upsert([point(A, 0, [1, 0, 0, 0]), point(B, 0, [1, 0, 0, 0])])
    hits = store.search(Q, where=IndexFilter(tenant_id="t-a", acl_user="u1"), limit=10)
    assert [h.payload[P.TENANT_ID] for h in hits] == ["t-a"]
    assert store.search(Q, where=IndexFilter(tenant_id="t-a", acl_user="u2"), limit=10) == []
    assert len(store.search(Q, where=IndexFilter(tenant_id="t-a", acl_teams=("t1",)), limit=10)) == 1
    # no identity at all: fail closed
    assert store.search(Q, where=IndexFilter(tenant_id="t-a"), limit=10) == []


def test_purpose_type_account_and_date_filters(store: IndexStore) -> None:
    store.upsert([point(A, 0, [1, 0, 0, 0])])
    base = {"tenant_id": "t-a", "acl_user": "u1"}
    assert store.search(Q, where=IndexFilter(**base, purpose="support_assistant"), limit=5) == []
    assert len(store.search(Q, where=IndexFilter(**base, purpose="sales_assistant"), limit=5)) == 1
    assert store.search(Q, where=IndexFilter(**base, record_types=("ticket",)), limit=5) == []
    assert store.search(Q, where=IndexFilter(**base, account_ids=("a2",)), limit=5) == []
    from datetime import UTC, datetime

    later = datetime(2026, 11, 1, tzinfo=UTC)
    assert store.search(Q, where=IndexFilter(**base, updated_from=later), limit=5) == []
    assert len(store.search(Q, where=IndexFilter(**base, updated_to=later), limit=5)) == 1
    assert store.search(Q, where=IndexFilter(**base, exclude_record_keys=(A.key,)), limit=5) == []


def test_idempotent_upsert_shrink_and_payload_update(store: IndexStore) -> None:
    pts = [point(A, i, [1, 0, 0, float(i)]) for i in range(4)]
    store.upsert(pts)
    store.upsert(pts)
    assert store.count(ref=A) == 4
    assert store.delete_chunks_from(A, 2) == 2
    assert [h.payload[P.CHUNK_INDEX] for h in store.record_chunks(A)] == [0, 1]
    assert store.set_record_payload(A, {P.ACL_OWNER: "u9"}) == 2
    assert all(h.payload[P.ACL_OWNER] == "u9" for h in store.record_chunks(A))
    got = store.get(P.point_id(A, 0))
    assert got is not None and got.payload[P.RECORD_ID] == "r1"
    assert store.delete_record(A) == 2
    assert store.count(tenant_id="t-a") == 0
    assert store.get(P.point_id(A, 0)) is None


def test_edge_store_has_payload_indexes(tmp_path: Path) -> None:
    from ingest.index.edge import EdgeIndexStore

    store = EdgeIndexStore(tmp_path / "shard", 4)
    try:
        assert set(store.indexed_fields()) == {*P.KEYWORD_INDEXES, *P.INTEGER_INDEXES, *P.DATETIME_INDEXES}
    finally:
        store.close()


def test_sources_held_and_deleted_per_source(store: IndexStore) -> None:
    """Issue 19, defect 12: what the index holds per source and tenant, whatever the configuration
    says; a retired source's chunks go, every other source's stay."""
    old = RecordRef(tenant_id="t-a", source="old-crm", record_id="r1")
    kept = RecordRef(tenant_id="t-b", source="crm", record_id="r1")
    store.upsert(
        [
            point(old, 0, [1, 0, 0, 0], **{P.SOURCE: "old-crm"}),
            point(old, 1, [1, 0, 0, 0], **{P.SOURCE: "old-crm"}),
            point(kept, 0, [0, 1, 0, 0], **{P.SOURCE: "crm"}),
        ]
    )
    assert store.source_tenants() == {"old-crm": {"t-a": 2}, "crm": {"t-b": 1}}
    assert store.delete_source("old-crm") == 2
    assert store.source_tenants() == {"crm": {"t-b": 1}}
    assert store.count(ref=kept) == 1


def lexical() -> Bm25Encoder:
    return Bm25Encoder(LexicalConfig())


def test_lexical_leg_finds_the_exact_term_under_the_same_filters(store: IndexStore) -> None:
    bm25 = lexical()
    texts = {
        0: "Error E-4417 appears when the firmware update stalls",
        1: "Billing questions go to the finance team",
        2: "The firmware update can be scheduled overnight",
    }
    docs = bm25.embed_documents(list(texts.values()))
    c = RecordRef(tenant_id="t-a", source="s", record_id="r2")
    points = [
        point(A, 0, [0, 1, 0, 0]).model_copy(update={"lexical": docs[0]}),
        point(c, 0, [1, 0, 0, 0]).model_copy(update={"lexical": docs[1]}),
        point(A, 1, [0.9, 0.1, 0, 0]).model_copy(update={"lexical": docs[2]}),
        # the same exact term in another tenant: never a candidate
        point(B, 0, [0, 1, 0, 0]).model_copy(update={"lexical": docs[0]}),
    ]
    store.upsert(points)
    assert store.has_lexical
    where = IndexFilter(tenant_id="t-a", acl_user="u1")
    legs = store.search_legs(Q, bm25.embed_query("what does E-4417 mean"), where=where, limit=10)
    assert [h.payload[P.RECORD_ID] for h in legs.dense][:1] == ["r2"]  # dense alone misses it
    assert legs.lexical[0].id == P.point_id(A, 0)
    assert {h.payload[P.TENANT_ID] for h in legs.dense + legs.lexical} == {"t-a"}
    # a lexical-only hit carries its dense similarity, for the relevance floor
    assert legs.lexical[0].cosine == pytest.approx(0.0, abs=1e-5)
    assert all(h.cosine == pytest.approx(h.score, abs=1e-5) for h in legs.dense)
    # the ACL and exclusions (erased records) apply to the lexical leg too
    assert (
        store.search_legs(
            Q, bm25.embed_query("E-4417"), where=IndexFilter(tenant_id="t-a", acl_user="u9"), limit=5
        ).lexical
        == ()
    )
    blocked = where.model_copy(update={"exclude_record_keys": (A.key,)})
    assert all(
        h.payload[P.RECORD_ID] != "r1"
        for h in store.search_legs(Q, bm25.embed_query("E-4417 firmware"), where=blocked, limit=5).lexical
    )


def test_an_index_laid_out_before_lexical_vectors_still_serves_dense(tmp_path: Path) -> None:
    import qdrant_edge as qe

    from ingest.index.edge import EdgeIndexStore

    path = tmp_path / "old"
    path.mkdir()
    old = qe.EdgeShard.create(
        str(path), qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=4, distance=qe.Distance.Cosine))
    )
    old.close()
    store = EdgeIndexStore(path, 4)
    try:
        assert not store.has_lexical
        bm25 = lexical()
        store.upsert(
            [point(A, 0, [1, 0, 0, 0]).model_copy(update={"lexical": bm25.embed_documents(["firmware"])[0]})]
        )
        legs = store.search_legs(
            Q, bm25.embed_query("firmware"), where=IndexFilter(tenant_id="t-a", acl_user="u1"), limit=5
        )
        assert len(legs.dense) == 1 and legs.lexical == ()
    finally:
        store.close()


SERVER_ONLY = pytest.mark.skipif(
    not os.environ.get("QDRANT_URL"),
    reason="server-only contract: runs when QDRANT_URL is set (no Qdrant server on our build machines)",
)


@SERVER_ONLY
def test_server_collection_has_payload_indexes(tmp_path: Path) -> None:
    """qdrant-client's local mode ignores payload indexes; a server must hold every one of them,
    tenant_id as the tenant key."""
    from qdrant_client import QdrantClient

    name = f"test_idx_{tmp_path.name[-20:].replace('-', '_')}"
    cfg = IndexConfig(backend="qdrant", qdrant_url=os.environ["QDRANT_URL"], collection=name)
    store = open_index_store(cfg, 4)
    client = QdrantClient(url=os.environ["QDRANT_URL"], api_key=os.environ.get("QDRANT_API_KEY"))
    try:
        schema = client.get_collection(name).payload_schema
        assert set(schema) == {*P.KEYWORD_INDEXES, *P.INTEGER_INDEXES, *P.DATETIME_INDEXES}
    finally:
        store.close()
        client.delete_collection(name)
        client.close()
