"""Issue 11: the production topology. Two service instances over one qdrant-client backend and one
PostgreSQL state store (two instances in one process: qdrant-client's local engine belongs to one
process, so both share one client, as two replicas share one server); and reconcile on its
schedule in `crm-rag worker`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from ingest.config import FileSourceConfig, IndexConfig, StateConfig
from ingest.errors import LiveIndexMissingError, SourceBusyError
from ingest.index.base import IndexFilter
from ingest.models import RecordRef
from ingest.store.locks import REBUILD_LOCK
from ingest.store.runs import lock_owner
from rag_service.config import RebuildConfig, Settings
from rag_service.services import Services, build_services
from tests.conftest import ROOT, make_settings
from tests.integration.helpers import wait_for

TOPICS = ("lidar firmware patch for warehouse robots", "invoice credit note for March", "SAML sign-on")


def lines(ids: list[int]) -> str:
    return "".join(
        json.dumps(
            {
                "record_id": f"N-{i}",
                "record_type": "note",
                "updated_at": f"2026-10-01T10:{i:02d}:00+00:00",
                "url": f"https://crm.example/{i}",
                "owner_id": "u-1",
                "consent": {"assistant_use": "granted"},
                "body": f"Customer {i} asked about {TOPICS[i % 3]}.",
            }
        )
        + "\n"
        for i in ids
    )


SERVER = os.environ.get("QDRANT_URL")
BACKENDS = ["qdrant-local"] + (["qdrant-server"] if SERVER else [])  # the server: only with QDRANT_URL


class Cluster:
    """One qdrant-client backend, one PostgreSQL database, one source; instances on demand. Local
    mode: the instances share one client (its engine lives in this process). Server: each instance
    has its own client, as replicas do; `client` only looks."""

    def __init__(self, tmp_path: Path, pg_url: str, embedder: Any, redactor: Any, backend: str) -> None:
        from qdrant_client import QdrantClient

        self.tmp = tmp_path
        self.server = backend == "qdrant-server"
        self.client = (
            QdrantClient(url=SERVER, api_key=os.environ.get("QDRANT_API_KEY"))
            if self.server
            else QdrantClient(location=":memory:")
        )
        self.name = f"topo-{uuid.uuid4().hex[:8]}"  # the PostgreSQL database is shared by the session
        self.collection = f"chunks_{uuid.uuid4().hex[:8]}"
        self.folder = tmp_path / "crm"
        self.folder.mkdir()
        (self.folder / "n.jsonl").write_text(lines(list(range(6))))
        self.pg_url, self.embedder, self.redactor = pg_url, embedder, redactor
        self.instances: list[Services] = []

    def settings(self, data_dir: Path) -> Settings:
        return make_settings(data_dir, self.tmp).model_copy(
            update={
                "sources": (FileSourceConfig(name=self.name, tenant_id="acme", path=self.folder),),
                "state": StateConfig(url=self.pg_url),
                "index": IndexConfig(
                    backend="qdrant",
                    qdrant_url=SERVER if self.server else ":memory:",
                    qdrant_api_key=os.environ.get("QDRANT_API_KEY") if self.server else None,
                    collection=self.collection,
                ),
                "rebuild": RebuildConfig(canaries=()),
            }
        )

    def start(self, data_dir: Path) -> Services:
        shared = None if self.server else self.client
        svc = build_services(
            self.settings(data_dir), embedder=self.embedder, redactor=self.redactor, qdrant_client=shared
        )
        self.instances.append(svc)
        return svc

    def collections(self) -> set[str]:
        return {c.name for c in self.client.get_collections().collections}

    def alias_target(self) -> str:
        (alias,) = [a for a in self.client.get_aliases().aliases if a.alias_name == self.collection]
        return str(alias.collection_name)

    def close(self) -> None:
        for svc in self.instances:
            svc.close()
        if self.server:
            from qdrant_client import models as qm

            if any(a.alias_name == self.collection for a in self.client.get_aliases().aliases):
                drop = qm.DeleteAliasOperation(delete_alias=qm.DeleteAlias(alias_name=self.collection))
                self.client.update_collection_aliases(change_aliases_operations=[drop])
            for name in self.collections():
                if name.startswith(f"{self.collection}__"):
                    self.client.delete_collection(name)
        self.client.close()


@pytest.fixture(params=BACKENDS)
def cluster(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str, embedder: Any, redactor: Any
) -> Iterator[Cluster]:
    c = Cluster(tmp_path, pg_url, embedder, redactor, request.param)
    yield c
    c.close()


def found(svc: Services, question: str = "lidar firmware patch robots") -> set[str]:
    hits = svc.index.search(
        svc.embedder.embed_query(question),
        where=IndexFilter(tenant_id="acme", purpose="sales_assistant", acl_user="u-1"),
        limit=10,
    )
    return {str(h.payload["record_id"]) for h in hits}


def chunk_counts_match_ledger(svc: Services, source: str) -> bool:
    ledger = {e.record_id: e.chunk_count for e in svc.state.ledger_for_source(source, "indexed")}
    return svc.index.record_chunk_counts("acme", source) == ledger and bool(ledger)


def test_a_second_instance_with_an_empty_data_folder_reads_the_alias(cluster: Cluster) -> None:
    """The defect of issue 11: a process starting with an empty data folder re-pointed the alias
    to a new, empty collection and replica 1 lost its points. Now it reads the state store."""
    first = cluster.start(cluster.tmp / "var-1")
    assert first.run(cluster.name, actor="t").counts["indexed"] == 6
    points = first.index.count()
    assert points >= 6 and {"N-0", "N-3"} <= found(first)
    collections, target = cluster.collections(), cluster.alias_target()

    second = cluster.start(cluster.tmp / "var-2")  # a fresh folder: no CURRENT, no ledger files
    assert second.gens.pointer() == first.gens.pointer()
    assert cluster.collections() == collections and cluster.alias_target() == target  # nothing created
    assert first.index.count() == points and second.index.count() == points
    assert found(second) == found(first)
    assert second.run(cluster.name, actor="t").counts["fetched"] == 0  # the cursor is shared too
    assert chunk_counts_match_ledger(second, cluster.name)
    assert not list((cluster.tmp / "var-2").rglob("CURRENT*"))  # no local pointer file
    assert not list((cluster.tmp / "var-2").rglob("*.db"))  # no local ledger


def test_a_server_that_lost_the_alias_is_refused_not_recreated(cluster: Cluster) -> None:
    """The state store names a live generation; an engine without it (data lost, or another
    server) must not get a new empty collection that the ledger would call complete."""
    from qdrant_client import QdrantClient

    if cluster.server:
        pytest.skip("needs an engine that can be emptied: qdrant-client local mode")
    first = cluster.start(cluster.tmp / "var-1")
    first.run(cluster.name, actor="t")
    empty = QdrantClient(location=":memory:")
    try:
        with pytest.raises(LiveIndexMissingError):
            build_services(
                cluster.settings(cluster.tmp / "var-2"),
                embedder=cluster.embedder,
                redactor=cluster.redactor,
                qdrant_client=empty,
            )
        assert empty.get_collections().collections == [] and empty.get_aliases().aliases == []
    finally:
        empty.close()


def test_rebuild_in_one_instance_rollback_from_the_other(cluster: Cluster) -> None:
    first = cluster.start(cluster.tmp / "var-1")
    first.run(cluster.name, actor="t")
    second = cluster.start(cluster.tmp / "var-2")
    before = first.gens.pointer()
    points = first.index.count()

    report = first.rebuild(actor="t")
    assert report.status == "swapped", report.checks
    after = second.gens.pointer()  # read by the other instance, from the state store
    assert after.live == report.generation and after.previous == before.live
    assert cluster.alias_target() == f"{cluster.collection}__{report.generation}"
    assert second.index.count() == points and found(second) == found(first)  # through the alias
    assert chunk_counts_match_ledger(second, cluster.name)

    owner = lock_owner("someone-else")  # a rollback needs the rebuild lock, like a rebuild
    assert second.state.try_lock(REBUILD_LOCK, owner, first.jobs.settings.lock_ttl)
    with pytest.raises(SourceBusyError):
        second.rollback(actor="t")
    second.state.unlock(REBUILD_LOCK, owner)

    back = second.rollback(actor="t")  # the rollback state is in PostgreSQL, not on the first host
    assert back.status == "rolled_back" and back.generation == before.live
    assert first.gens.pointer().live == before.live and first.gens.pointer().previous == report.generation
    assert cluster.alias_target() == f"{cluster.collection}__{before.live}"
    assert first.index.count() == points and {"N-0", "N-3"} <= found(first)
    assert chunk_counts_match_ledger(first, cluster.name)  # the ledger that matches the old generation
    runs = [r for r in first.state.list_runs(source="*", limit=5) if r["kind"] == "rebuild"]
    assert runs[0]["status"] == "succeeded"


def test_reconcile_writes_a_run_and_an_audit_event_even_when_clean(cluster: Cluster) -> None:
    svc = cluster.start(cluster.tmp / "var-1")
    svc.run(cluster.name, actor="t")
    assert svc.reconcile(cluster.name, actor="t").status == "clean"
    run = svc.state.list_runs(source=cluster.name, limit=1)[0]
    assert (run["kind"], run["status"], run["counts"]["stale"]) == ("reconcile", "succeeded", 0)
    event = svc.state.list_audit(action="reconcile", source=cluster.name, limit=1)[0]
    assert event["run_id"] == run["run_id"] and event["details"]["status"] == "clean"
    assert event["details"]["completeness_after"] == 1.0


def test_an_old_current_file_is_imported_once(tmp_path: Path, embedder: Any, redactor: Any) -> None:
    """An embedded install from before: CURRENT (live + previous) and the previous generation's
    ledger.db move into the state store; a rollback still works afterwards."""
    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "n.jsonl").write_text(lines([0, 1, 2]))
    settings = make_settings(tmp_path / "var", tmp_path).model_copy(
        update={
            "sources": (FileSourceConfig(name="acme-files", tenant_id="acme", path=folder),),
            "rebuild": RebuildConfig(canaries=(), optimize=False),
        }
    )
    svc = build_services(settings, embedder=embedder, redactor=redactor)
    svc.run("acme-files", actor="t")
    old_live = svc.gens.pointer().live
    assert svc.rebuild(actor="t").status == "swapped"
    pointer = svc.gens.pointer()
    svc.close()
    # what an install from before had on disk, and no generation rows
    root = settings.index.path
    (root / "CURRENT").write_text(pointer.model_dump_json())
    from ingest.store.state import StateStore
    from ingest.store.tables import generation_ledgers, index_generations, ledger

    with sa.create_engine(settings.state.url).begin() as conn:
        rows = conn.execute(sa.select(generation_ledgers)).mappings().all()
        conn.execute(sa.delete(index_generations))
        conn.execute(sa.delete(generation_ledgers))
    with (
        StateStore(f"sqlite:///{root / 'gens' / old_live / 'ledger.db'}") as old,
        old.engine.begin() as conn,
    ):
        conn.execute(sa.insert(ledger), [{k: v for k, v in r.items() if k != "generation"} for r in rows])

    again = build_services(settings, embedder=embedder, redactor=redactor)
    try:
        assert again.gens.pointer() == pointer
        assert not (root / "CURRENT").exists() and (root / "CURRENT.imported").exists()
        assert again.rollback(actor="t").generation == old_live
        assert chunk_counts_match_ledger(again, "acme-files")
    finally:
        again.close()


def test_serve_runs_the_same_jobs_through_the_same_schedule(
    tmp_path: Path, embedder: Any, redactor: Any
) -> None:
    """The embedded default: `serve` with its scheduler claims jobs from the same schedule table
    and runs them through the same runner as a worker (reconcile included, with its job run)."""
    import time

    from ingest.config import ReconcileConfig, SchedulerConfig

    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "n.jsonl").write_text(lines([0, 1]))
    settings = make_settings(tmp_path / "var", tmp_path).model_copy(
        update={
            "sources": (
                FileSourceConfig(name="acme-files", tenant_id="acme", path=folder, interval_seconds=5),
            ),
            "reconcile": ReconcileConfig(interval_seconds=5),
            "scheduler": SchedulerConfig(tick_seconds=1),
        }
    )
    svc = build_services(settings, embedder=embedder, redactor=redactor)
    try:
        svc.start_scheduler()
        deadline = time.monotonic() + 60
        kinds: set[str] = set()
        while time.monotonic() < deadline and not {"sync", "reconcile"} <= kinds:
            time.sleep(0.5)
            kinds = {r["kind"] for r in svc.state.list_runs(source="acme-files") if r["actor"] == "scheduler"}
        assert {"sync", "reconcile"} <= kinds, kinds
        assert svc.scheduler is not None and len(svc.scheduler.job_ids()) == 1  # one tick, every job
    finally:
        svc.close()


def test_reconcile_fires_on_schedule_in_a_worker(pg_url: str, tmp_path: Path) -> None:
    """A line removed from a drop folder (no tombstone) is only noticed by reconcile: the worker
    runs it on its own schedule, records the run and removes the record."""
    name = f"rc-{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "n.jsonl").write_text(lines([0, 1, 2]))
    config = tmp_path / "worker.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_dir": str(tmp_path / "var"),
                "state": {"url": pg_url},
                "sources": [
                    {
                        "kind": "file",
                        "name": name,
                        "tenant_id": "acme",
                        "path": str(folder),
                        "interval_seconds": 5,
                    }
                ],
                "reconcile": {"interval_seconds": 5},
            }
        )
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rag_service.cli",
            "--config",
            str(config),
            "worker",
            "--name",
            name,
            "--tick",
            "1",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    engine = sa.create_engine(pg_url)
    try:
        wait_for(
            engine,
            "SELECT source FROM job_runs WHERE kind = 'sync' AND status = 'succeeded'",
            lambda rows: name in {r.source for r in rows},
        )
        (folder / "n.jsonl").write_text(lines([0, 2]))  # N-1's line disappears
        wait_for(
            engine,
            "SELECT source, status FROM record_ledger WHERE record_id = 'N-1'",
            lambda rows: [r.status for r in rows if r.source == name] == ["deleted"],
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0, (proc.stderr.read() if proc.stderr else b"")[-2000:]
    with engine.connect() as conn:
        mine = {"name": name}
        runs = conn.execute(
            sa.text("SELECT actor, status, counts FROM job_runs WHERE source = :name AND kind = 'reconcile'"),
            mine,
        ).all()
        events = conn.execute(
            sa.text("SELECT run_id FROM audit_events WHERE source = :name AND action = 'reconcile'"), mine
        ).all()
        reason = conn.execute(
            sa.text("SELECT reason FROM record_ledger WHERE source = :name AND record_id = 'N-1'"), mine
        ).scalar_one()
    engine.dispose()
    assert reason == "reconciled"
    assert {r.actor for r in runs} == {f"worker:{name}"} and all(r.status == "succeeded" for r in runs)
    assert any(json.loads(r.counts)["stale"] == 1 for r in runs)
    assert len(events) == len(runs)  # every reconcile run, clean or not, has its audit event
    # the worker's own embedded index no longer holds N-1 (the worker is stopped: the shard is free)
    from ingest.index.edge import EdgeIndexStore

    (shard,) = list((tmp_path / "var" / "index" / "gens").glob("*/shard"))
    store = EdgeIndexStore(shard, 384)
    try:
        gone = RecordRef(tenant_id="acme", source=name, record_id="N-1")
        kept = RecordRef(tenant_id="acme", source=name, record_id="N-2")
        assert store.count(ref=gone) == 0 and store.count(ref=kept) > 0
    finally:
        store.close()
