"""Background HNSW fold-in of the embedded index (ingest/index/fold_in.py): reads and writes go on
while a child process builds the vector index of a copy; every write made meanwhile (upserts,
deletes, payload changes, revocations) is in the swapped-in shard; nothing is lost across the
swap, a restart, or a fold-in that fails."""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ingest import payload as P
from ingest.errors import StoreBusyError, StoreError
from ingest.index import fold_in as F
from ingest.index.base import IndexFilter, IndexPoint
from ingest.index.edge import EdgeIndexStore
from ingest.index.optimize import optimize_in_subprocess
from ingest.jobs.model import Job, JobKind
from ingest.models import RecordRef
from rag_service.app import create_app
from rag_service.services import Services, build_services
from tests.conftest import DEMO, headers, make_settings

DIM = 8
TENANT = "t1"


def ref(k: int) -> RecordRef:
    return RecordRef(tenant_id=TENANT, source="s", record_id=f"R-{k:05d}")


def point(k: int, rng: random.Random) -> IndexPoint:
    r = ref(k)
    v = np.asarray([rng.gauss(0, 1) for _ in range(DIM)], dtype=np.float32)
    payload = {
        P.TENANT_ID: r.tenant_id,
        P.SOURCE: r.source,
        P.RECORD_ID: r.record_id,
        P.RECORD_KEY: r.key,
        P.CHUNK_INDEX: 0,
        P.TEXT: f"text {k}",
        P.PURPOSES: ["sales_assistant"],
        P.ACL_OWNER: "u-1",
    }
    return IndexPoint(id=P.point_id(r, 0), vector=(v / np.linalg.norm(v)).tolist(), payload=payload)


def held(store: EdgeIndexStore) -> dict[str, str]:
    """record id -> text, everything the store holds."""
    return {str(p[P.RECORD_ID]): str(p[P.TEXT]) for p in store.scroll_payloads()}


class Oracle:
    """What the store must hold: applied to a dict alongside every write."""

    def __init__(self, store: EdgeIndexStore, seed: int) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.expected: dict[str, str] = {}
        self.next = 0

    def add(self, n: int) -> None:
        points = [point(self.next + i, self.rng) for i in range(n)]
        self.store.upsert(points)
        self.expected.update({str(p.payload[P.RECORD_ID]): str(p.payload[P.TEXT]) for p in points})
        self.next += n

    def delete_some(self) -> None:
        for k in self.rng.sample(range(self.next), 3):
            self.store.delete_record(ref(k))
            self.expected.pop(ref(k).record_id, None)

    def relabel_some(self) -> None:
        for k in self.rng.sample(range(self.next), 3):
            if self.store.set_record_payload(ref(k), {P.TEXT: f"relabelled {k}"}):
                self.expected[ref(k).record_id] = f"relabelled {k}"

    def step(self) -> None:
        self.add(40)
        self.delete_some()
        self.relabel_some()


def writing_optimizer(
    oracle: Oracle, rounds: int
) -> Callable[[Path, threading.Event], dict[str, float | int]]:
    """The real child-process build, with writes of every kind made while it runs."""

    def optimize(path: Path, cancel: threading.Event) -> dict[str, float | int]:
        for _ in range(rounds):
            oracle.step()
        result = optimize_in_subprocess(path, cancel)
        for _ in range(rounds):
            oracle.step()
        return result

    return optimize


def test_writes_during_the_build_are_in_the_swapped_in_shard(tmp_path: Path) -> None:
    store = EdgeIndexStore(tmp_path / "shard", DIM)
    oracle = Oracle(store, seed=1)
    oracle.add(2000)
    report = store.fold_in(writing_optimizer(oracle, rounds=5))
    assert report.shard == "shard.f1" and report.replayed_writes > 0
    assert store.shard_dir == tmp_path / "shard.f1"
    assert held(store) == oracle.expected
    oracle.step()  # writes after the swap land in the new shard
    assert held(store) == oracle.expected
    # the old shard is gone, the pointer names the new one; a restart opens it
    assert not (tmp_path / "shard").exists()
    assert F.active_dir(tmp_path / "shard") == tmp_path / "shard.f1"
    store.close()
    reopened = EdgeIndexStore(tmp_path / "shard", DIM)
    try:
        assert held(reopened) == oracle.expected
        second = reopened.fold_in(writing_optimizer(Oracle(reopened, seed=9), rounds=0))
        assert second.shard == "shard.f2" and not (tmp_path / "shard.f1").exists()
    finally:
        reopened.close()


def test_reads_and_writes_go_on_through_a_fold_in(tmp_path: Path) -> None:
    """Concurrent reader and writer threads for the whole fold-in (copy rounds, build, catch-up,
    swap): no read fails, every read sees the tenant's points, and no write is lost."""
    store = EdgeIndexStore(tmp_path / "shard", DIM)
    oracle = Oracle(store, seed=2)
    oracle.add(3000)
    stop = threading.Event()
    errors: list[str] = []
    reads = [0]
    query = np.asarray(point(0, random.Random(5)).vector, dtype=np.float32)

    def reader() -> None:
        while not stop.is_set():
            try:
                hits = store.search(query, where=IndexFilter(tenant_id=TENANT, acl_user="u-1"), limit=5)
                if len(hits) != 5:
                    errors.append(f"{len(hits)} hits")
                reads[0] += 1
            except Exception as exc:
                errors.append(repr(exc))

    def writer() -> None:
        while not stop.is_set():
            oracle.step()

    threads = [threading.Thread(target=reader), threading.Thread(target=writer)]
    for t in threads:
        t.start()
    try:
        report = store.fold_in(lambda path, cancel: optimize_in_subprocess(path, cancel))
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert errors == [] and reads[0] > 0
    assert report.copy_rounds >= 2 and report.replayed_writes > 0
    assert held(store) == oracle.expected
    store.close()


def test_a_failed_build_leaves_the_live_shard_and_removes_the_copy(tmp_path: Path) -> None:
    store = EdgeIndexStore(tmp_path / "shard", DIM)
    oracle = Oracle(store, seed=3)
    oracle.add(500)

    def broken(path: Path, cancel: threading.Event) -> dict[str, float | int]:
        oracle.step()
        raise StoreError("optimizing the shard failed (exit 1)")

    with pytest.raises(StoreError):
        store.fold_in(broken)
    assert store.shard_dir == tmp_path / "shard" and F.fold_dirs(tmp_path / "shard") == []
    assert held(store) == oracle.expected
    assert store.maintenance_status().last_error is not None
    oracle.step()  # no journal left behind: writes go on as before
    assert held(store) == oracle.expected
    store.close()


def test_one_fold_in_at_a_time(tmp_path: Path) -> None:
    store = EdgeIndexStore(tmp_path / "shard", DIM)
    Oracle(store, seed=4).add(200)
    inside = threading.Event()
    release = threading.Event()

    def held_open(path: Path, cancel: threading.Event) -> dict[str, float | int]:
        inside.set()
        release.wait(30)
        return optimize_in_subprocess(path, cancel)

    first = threading.Thread(target=lambda: store.fold_in(held_open))
    first.start()
    try:
        assert inside.wait(30)
        assert store.maintenance_status().running
        with pytest.raises(StoreBusyError):
            store.fold_in(held_open)
    finally:
        release.set()
        first.join(60)
    assert store.maintenance_status().last is not None
    store.close()


def test_leftovers_of_an_interrupted_fold_in_are_removed_at_open(tmp_path: Path) -> None:
    store = EdgeIndexStore(tmp_path / "shard", DIM)
    oracle = Oracle(store, seed=5)
    oracle.add(300)
    store.flush()
    store.close()
    # a crash in the middle of a copy: a half-written shard.f3 and its lock file
    shutil.copytree(tmp_path / "shard", tmp_path / "shard.f3")
    (tmp_path / "shard.f3" / "segments").rename(tmp_path / "shard.f3" / "torn")
    (tmp_path / "shard.f3.lock").write_text("1\n")
    reopened = EdgeIndexStore(tmp_path / "shard", DIM)
    try:
        assert not (tmp_path / "shard.f3").exists() and not (tmp_path / "shard.f3.lock").exists()
        assert held(reopened) == oracle.expected
    finally:
        reopened.close()


def test_a_pointer_to_a_missing_shard_is_refused_and_nothing_is_removed(tmp_path: Path) -> None:
    store = EdgeIndexStore(tmp_path / "shard", DIM)
    Oracle(store, seed=8).add(100)
    store.flush()
    store.close()
    F.pointer_file(tmp_path / "shard").write_text("shard.f4\n")  # e.g. a partial restore
    with pytest.raises(F.MissingShardError):
        EdgeIndexStore(tmp_path / "shard", DIM)
    assert (tmp_path / "shard").is_dir()  # the shard that is there was not touched


def test_closing_stops_the_build_and_discards_the_copy(tmp_path: Path) -> None:
    store = EdgeIndexStore(tmp_path / "shard", DIM)
    Oracle(store, seed=6).add(200)
    started = threading.Event()
    outcome: list[BaseException] = []

    def slow(path: Path, cancel: threading.Event) -> dict[str, float | int]:
        started.set()
        cancel.wait(30)  # a long build, until the store closes
        raise StoreError("optimizing the shard was stopped")

    def run() -> None:
        try:
            store.fold_in(slow)
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=run)
    t.start()
    assert started.wait(30)
    store.close()
    t.join(60)
    assert outcome and isinstance(outcome[0], StoreError)
    assert F.fold_dirs(tmp_path / "shard") == []


def test_sync_files_copies_only_changed_blocks(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    rng = random.Random(7)
    src.mkdir()
    for name in ("a.dat", "b.dat", "sub/c.dat"):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(rng.randbytes(3 * F.BLOCK + 123))
    before = F.file_stats(src)
    assert F.sync_files(src, dst, before, None) == sum(size for size, _ in before.values())
    with (src / "a.dat").open("r+b") as fh:  # a few bytes in the second block
        fh.seek(F.BLOCK + 10)
        fh.write(b"changed")
    (src / "b.dat").write_bytes((src / "b.dat").read_bytes()[: F.BLOCK])  # shrank
    (src / "sub" / "c.dat").unlink()
    (src / "d.dat").write_bytes(b"new")
    now = F.file_stats(src)
    written = F.sync_files(src, dst, now, before)
    assert written == F.BLOCK + 3  # one block of a.dat, d.dat whole; b.dat only truncated
    assert {p.relative_to(dst) for p in dst.rglob("*") if p.is_file()} == {Path(r) for r in now}
    for rel in now:
        assert (dst / rel).read_bytes() == (src / rel).read_bytes()


def test_fold_in_due_by_points_or_age() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def status(points: int, waited: float | None, running: bool = False) -> F.MaintenanceStatus:
        since = None if waited is None else now - timedelta(seconds=waited)
        return F.MaintenanceStatus(
            backend="edge", unfolded_points=points, unfolded_since=since, running=running
        )

    def due(s: F.MaintenanceStatus) -> str | None:
        return F.fold_in_due(s, points=1000, min_points=10, after_seconds=60, now=now)

    assert due(status(1000, 1)) is not None
    assert due(status(999, 1)) is None
    assert due(status(10, 61)) is not None  # few points, waiting long
    assert due(status(9, 3600)) is None  # too few to bother
    assert due(status(5000, 3600, running=True)) is None


# ---------------------------------------------------------------- the service


@pytest.fixture
def service(tmp_path: Path, embedder: Any, redactor: Any) -> Iterator[tuple[Services, TestClient]]:
    data = tmp_path / "crm"
    shutil.copytree(DEMO / "crm", data)
    base = make_settings(tmp_path / "var", data)
    settings = base.model_copy(
        update={
            "index": base.index.model_copy(
                update={"fold_in": base.index.fold_in.model_copy(update={"after_points": 100})}
            )
        }
    )
    services = build_services(settings, embedder=embedder, redactor=redactor)
    for name in services.sources:
        assert services.run(name, actor="t").status == "succeeded"
    with TestClient(create_app(settings, services=services, start_scheduler=False)) as client:
        yield services, client
    services.close()


def ask(client: TestClient) -> list[str]:
    resp = client.post(
        "/query",
        headers=headers("assistant"),
        json={
            "question": "SAML single sign-on with Okta",
            "tenant_id": "northwind",
            "purpose": "support_assistant",
            "user": {"user_id": "u-no-03", "team_ids": ["team-northwind-sales"]},
            "top_k": 10,
            "min_score": 0.0,
        },
    )
    assert resp.status_code == 200, resp.text
    return [s["record_id"] for s in resp.json()["sources"]]


def test_scheduled_fold_in_with_a_revocation_during_the_build(
    service: tuple[Services, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    services, client = service
    job = services.jobs.fold_in
    assert job is not None
    view = client.get("/admin/index", headers=headers("admin")).json()["fold_in"]
    assert view["unfolded_points"] > 100 and view["due"] is not None and view["last"] is None
    before = ask(client)
    assert before
    revoked = RecordRef(tenant_id="northwind", source="northwind-files", record_id=before[0])
    chunks, revoked_chunks = services.index.count(), services.index.count(ref=revoked)
    assert revoked_chunks > 0

    import ingest.jobs.fold_in as job_module
    from ingest.index.optimize import optimize_in_subprocess as real

    def revoking(path: Path, cancel: threading.Event, **kw: Any) -> dict[str, float | int]:
        resp = client.post(
            "/admin/consent/revoke",
            headers=headers("admin"),
            json={"tenant_id": revoked.tenant_id, "source": revoked.source, "record_id": revoked.record_id},
        )
        assert resp.status_code == 201, resp.text
        return real(path, cancel, **kw)

    monkeypatch.setattr(job_module, "optimize_in_subprocess", revoking)
    services.jobs.execute(Job(kind=JobKind.FOLD_IN, target="*"), actor="scheduler")  # due: starts
    job.wait(120)
    monkeypatch.undo()
    runs = [r for r in services.state.list_runs(limit=20) if r["kind"] == "fold_in"]
    assert runs and runs[0]["status"] == "succeeded", runs[:1]
    # nothing lost, nothing resurrected: every chunk but the revoked record's
    assert services.index.count(ref=revoked) == 0
    assert services.index.count() == chunks - revoked_chunks
    after = ask(client)
    assert revoked.record_id not in after and len(after) == len(before)
    view = client.get("/admin/index", headers=headers("admin")).json()["fold_in"]
    assert view["last"]["shard"] == "shard.f1" and view["due"] is None
    # nothing is due now: the scheduled check starts nothing
    assert services.jobs.execute(Job(kind=JobKind.FOLD_IN, target="*"), actor="scheduler") is None

    # an admin may start one anyway, in the background, and poll its run
    assert client.post("/admin/index/fold-in", headers=headers("assistant")).status_code == 403
    resp = client.post("/admin/index/fold-in", headers=headers("admin"))
    assert resp.status_code == 202, resp.text
    job.wait(120)
    run = client.get(resp.headers["Location"], headers=headers("admin")).json()
    assert run["status"] == "succeeded" and run["counts"]["points"] == chunks - revoked_chunks
    assert services.index.count() == chunks - revoked_chunks and ask(client) == after
