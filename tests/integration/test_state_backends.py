"""The state store contract on SQLite (embedded default) and on the real local PostgreSQL server
(what several API replicas and workers share)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.config import FileSourceConfig, StateConfig
from ingest.models import Cursor, RecordFailure, RecordRef
from ingest.store.history import HistoryEvent, read_history
from ingest.store.privacy import PrivacyLedger
from ingest.store.state import AuditEvent, LedgerEntry, StateStore
from ingest.timeutil import aware
from rag_service.services import build_services
from tests.conftest import make_settings


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    base: str = request.getfixturevalue("pg_url")
    return base


def entry(rid: str, status: str = "indexed", chunks: int = 2) -> LedgerEntry:
    return LedgerEntry(
        tenant_id="t",
        source=f"s-{uuid.uuid4().hex[:6]}" if rid == "-" else "src",
        record_id=rid,
        record_type="note",
        version="1",
        source_updated_at=datetime(2026, 10, 1, tzinfo=UTC),
        content_hash="c" * 64,
        fingerprint="f" * 64,
        access_hash="a" * 64,
        status=status,  # type: ignore[arg-type]
        chunk_count=chunks,
    )


def test_state_store_contract(url: str) -> None:
    source = f"src-{uuid.uuid4().hex[:8]}"
    with StateStore(url) as state:
        e = entry("r1").model_copy(update={"source": source})
        failure = RecordFailure(
            source=source, locator="f:1", record_id=None, reason="bad", raw_sha256="0" * 64
        )
        state.commit_page(
            source=source,
            cursor=Cursor(watermark="2026-10-01T00:00:00+00:00", last_id="r1"),
            entries=[e],
            failures=[failure, failure],
            events=[AuditEvent(actor="t", action="x")],
            run_id="run1",
            history=[HistoryEvent(ref=e.ref, action="indexed", version="1", chunk_count=2)],
        )
        state.commit_page(
            source=source,
            cursor=Cursor(watermark="2026-10-02T00:00:00+00:00", last_id="r1"),
            entries=[e.model_copy(update={"chunk_count": 3})],
            failures=[failure],
            events=[],
            run_id="run2",
        )
        assert state.get_cursor(source) == Cursor(watermark="2026-10-02T00:00:00+00:00", last_id="r1")
        assert state.ledger_get(e.ref).chunk_count == 3  # type: ignore[union-attr]
        assert state.ledger_count(source, "indexed") == 1 and state.ledger_count(source, "deleted") == 0
        assert len(state.list_quarantine(source=source)) == 1  # idempotent per locator + raw hash
        assert read_history(state.engine, e.ref)[0]["chunk_count"] == 2
        # locks: one owner at a time, expiry, release
        assert state.try_lock(source, "host-a:1:x", timedelta(minutes=1))
        assert not state.try_lock(source, "host-b:2:y", timedelta(minutes=1))
        state.unlock(source, "host-a:1:x")
        assert state.try_lock(source, "host-b:2:y", timedelta(seconds=-1))  # already expired
        assert state.try_lock(source, "host-c:3:z", timedelta(minutes=1))
        # runs
        run = state.start_run(source=source, kind="sync", actor="t")
        assert state.get_run(run)["status"] == "running"  # type: ignore[index]
        # audit chain across many appends stays verifiable
        state.audit(*[AuditEvent(actor="t", action="y", details={"i": i}) for i in range(20)])
        ok, checked, bad = state.verify_audit_chain()
        assert ok and checked >= 21 and bad is None
        # suppressions and contact links
        privacy = PrivacyLedger(state.engine)
        ref = RecordRef(tenant_id="t", source=source, record_id="r1")
        privacy.suppress([ref], "erasure", "rcpt", datetime.now(UTC))
        privacy.suppress([ref], "consent_revoked", "rcpt2", datetime.now(UTC))  # never downgrades an erasure
        assert privacy.for_refs([ref])[ref.key].reason == "erasure"
        # blue/green ledger copy
        with StateStore(url) as other:
            state.copy_sources_to(other, [source])
            assert other.ledger_get(e.ref) is not None


def test_pipeline_on_postgres_state(pg_url: str, tmp_path: Path, embedder: Any, redactor: Any) -> None:
    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "n.jsonl").write_text(
        '{"record_id": "N-1", "record_type": "note", "updated_at": "2026-10-01T10:00:00+00:00", '
        '"url": "https://crm.example/1", "owner_id": "u", "consent": {"assistant_use": "granted"}, '
        '"body": "Renewal of the telematics contract."}\n'
    )
    settings = make_settings(tmp_path / "var", tmp_path).model_copy(
        update={
            "sources": (FileSourceConfig(name=f"pg-{uuid.uuid4().hex[:8]}", tenant_id="acme", path=folder),),
            "state": StateConfig(url=pg_url),
        }
    )
    services = build_services(settings, embedder=embedder, redactor=redactor)
    try:
        name = settings.sources[0].name
        assert services.run(name, actor="t").counts["indexed"] == 1
        assert services.run(name, actor="t").counts["fetched"] == 0  # cursor persisted in PostgreSQL
        assert services.reconcile(name, actor="t").status == "clean"
    finally:
        services.close()


def _drift(state: StateStore) -> tuple[str, list[Any]]:
    """(the database's revision, its differences from the table definitions)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ingest.store.tables import metadata

    with state.engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        return version, compare_metadata(MigrationContext.configure(conn), metadata)


def test_a_store_one_migration_behind_gains_the_new_index(tmp_path: Path) -> None:
    """0005 adds an index to an existing table: a SQLite file at 0004 is upgraded at open."""
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore(url).close()
    with sa.create_engine(url).begin() as conn:  # a file from before the index existed
        conn.exec_driver_sql("DROP INDEX ix_record_contacts_record_key")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0004'")
    with StateStore(url) as state:
        names = {i["name"] for i in sa.inspect(state.engine).get_indexes("record_contacts")}
        version, drift = _drift(state)
    assert "ix_record_contacts_record_key" in names and version == "0005" and drift == []


def test_schema_comes_from_migrations_without_drift(url: str) -> None:
    """SQLite and PostgreSQL alike: a new database is created by the migrations, up to the newest,
    and what they create is what ingest/store/tables.py defines."""
    from ingest.store.migrate import head_revision

    with StateStore(url) as state:
        version, drift = _drift(state)
    assert version == head_revision() == "0005"  # the newest migration (record_contacts by record_key)
    assert drift == [], f"tables changed without a migration: {drift}"


# the tables of the SQLite files that create_all made before the embedded store used migrations,
# by the last commit whose code opened the file (a table was created when the code that defined it
# first opened the file; none was ever altered: checked by create_all of each commit's tables)
_FIRST = ["audit_events", "cursors", "job_runs", "quarantine", "record_ledger", "source_locks"]
_ERASURE = [*_FIRST, "receipts", "record_contacts", "suppressions"]
_HISTORY = [*_ERASURE, "record_history"]
_SCHEDULES = [*_HISTORY, "schedules"]
_RATE_LIMITS = [*_SCHEDULES, "rate_buckets"]
_WRITE_FENCE = [*_RATE_LIMITS, "write_intents"]
_RUN_OWNERS = [*_WRITE_FENCE, "run_owners"]
_SUBJECTS = [*_RUN_OWNERS, "subject_suppressions"]
_BASELINES = [*_SUBJECTS, "consent_baselines"]
_GENERATIONS = [
    *(t for t in _BASELINES if t != "schedules"),
    *("index_generations", "generation_ledgers", "generation_cursors", "job_schedules"),
]


@pytest.mark.parametrize(
    ("tables", "stamped"),
    [
        (_FIRST, "0001"),  # 0488bb8
        (_ERASURE, "0001"),  # 2490c1c
        (_HISTORY, "0001"),  # 3918c5a
        (_SCHEDULES, "0001"),  # 1a51ce1
        (_RATE_LIMITS, "0002"),  # b63540d
        (_WRITE_FENCE, "0003"),  # 5b34d11: part of 0003, its other tables are created before the stamp
        (_RUN_OWNERS, "0003"),  # 960935b
        (_SUBJECTS, "0003"),  # 4d43dae
        (_BASELINES, "0003"),  # 49226fe
        ([*_GENERATIONS, "schedules"], "0004"),  # 8485729 on an older file: create_all never dropped it
        (_GENERATIONS, "0004"),  # 8485729 on a new file: what create_all makes of today's tables
    ],
    ids=lambda v: v if isinstance(v, str) else str(len(v)),
)
def test_a_sqlite_file_made_by_create_all_is_adopted_and_upgraded(
    tmp_path: Path, tables: list[str], stamped: str
) -> None:
    import sqlalchemy as sa

    from ingest.store.migrate import adopt_unversioned_sqlite
    from ingest.store.tables import metadata

    legacy = sa.MetaData()
    for name in tables:
        if name == "schedules":  # the per-source schedule rows (tables.py before 0004)
            sa.Table(
                "schedules",
                legacy,
                sa.Column("source", sa.String(64), primary_key=True),
                sa.Column("interval_seconds", sa.Integer, nullable=False),
                sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
                sa.Column("claimed_by", sa.String(128)),
                sa.Column("claimed_at", sa.DateTime(timezone=True)),
            )
        else:
            metadata.tables[name].to_metadata(legacy)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = sa.create_engine(url)
    legacy.create_all(engine)
    cursor = Cursor(watermark="2026-10-01T00:00:00+00:00", last_id="r9")
    with engine.begin() as conn:
        conn.execute(
            sa.insert(metadata.tables["cursors"]).values(
                source="src", watermark=cursor.watermark, last_id=cursor.last_id, updated_at=datetime.now(UTC)
            )
        )
    with engine.connect() as conn:  # a dry run, rolled back: where it stamps, and that it is atomic
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        assert adopt_unversioned_sqlite(conn) == stamped
        conn.rollback()
    assert set(sa.inspect(engine).get_table_names()) == set(tables)
    engine.dispose()

    with StateStore(url) as state:
        version, drift = _drift(state)
        assert version == "0005" and drift == [], drift
        assert state.get_cursor("src") == cursor  # the data stays
        state.commit_page(
            source="src", cursor=None, entries=[entry("r1")], failures=[], events=[], run_id="r"
        )
    with StateStore(url) as state:  # versioned now: opened as it is
        assert _drift(state) == ("0005", [])
        assert state.ledger_get(entry("r1").ref) is not None


def test_stores_opened_at_once_migrate_each_file_once(tmp_path: Path) -> None:
    """Four stores on one new file and four on files of their own, opened at the same moment:
    each file is migrated once, and the runs on different files do not mix."""
    from concurrent.futures import ThreadPoolExecutor

    def open_store(i: int) -> tuple[str, list[Any]]:
        name = "shared.db" if i % 2 else f"own-{i}.db"
        with StateStore(f"sqlite:///{tmp_path / name}") as state:
            return _drift(state)

    with ThreadPoolExecutor(8) as pool:  # one engine (one SQLite connection) each
        assert list(pool.map(open_store, range(8))) == [("0005", [])] * 8


def test_a_sqlite_file_with_tables_no_migration_knows_is_refused(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from ingest.store.migrate import SchemaError

    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE cursors (source VARCHAR(64) PRIMARY KEY, position INTEGER)")
    engine.dispose()
    with pytest.raises(SchemaError, match="cursors"):
        StateStore(url)


def test_upserts_insert_once_then_update_by_their_rules(url: str) -> None:
    """The INSERT ... ON CONFLICT statements: what an existing row keeps and what it takes."""
    import sqlalchemy as sa

    from ingest.jobs.model import Job, JobKind, JobSchedule
    from ingest.jobs.schedules import ScheduleStore
    from ingest.store.tables import consent_baselines, quarantine

    source = f"src-{uuid.uuid4().hex[:8]}"
    t0 = datetime(2000, 1, 1, tzinfo=UTC)  # long past: no other test's schedule row is due before it
    with StateStore(url) as state:
        e = entry("r1").model_copy(update={"source": source})
        failure = RecordFailure(
            source=source, locator="f:1", record_id=None, reason="bad", raw_sha256="0" * 64
        )
        for run_id, chunks in (("run1", 1), ("run2", 5)):
            state.commit_page(
                source=source,
                cursor=Cursor(watermark=run_id, last_id=None),
                entries=[e.model_copy(update={"chunk_count": chunks, "last_run_id": run_id})],
                failures=[failure],
                events=[],
                run_id=run_id,
            )
        # two rows of one record in one page: the last one wins
        state.commit_page(
            source=source,
            cursor=None,
            entries=[e.model_copy(update={"chunk_count": n}) for n in (7, 8)],
            failures=[],
            events=[],
            run_id="run3",
        )
        assert state.ledger_get(e.ref).chunk_count == 8  # type: ignore[union-attr]
        assert state.get_cursor(source) == Cursor(watermark="run2", last_id=None)
        with state.engine.connect() as conn:
            row = conn.execute(sa.select(quarantine).where(quarantine.c.source == source)).one()
        assert (row.last_run_id, row.first_seen < row.last_seen) == ("run2", True)  # first sighting kept

        # a revocation again: new receipt, baseline forgotten; an erasure is final, baseline kept
        privacy = PrivacyLedger(state.engine)
        revoked, erased = (RecordRef(tenant_id="t", source=source, record_id=r) for r in ("rv", "er"))

        def baselines() -> set[str]:
            with state.engine.connect() as conn:
                keys = conn.execute(
                    sa.select(consent_baselines.c.record_key).where(consent_baselines.c.tenant_id == "t")
                )
                return {k for k in keys.scalars() if k in (revoked.key, erased.key)}

        def seed_baselines() -> None:
            with state.engine.begin() as conn:
                for ref in (revoked, erased):
                    conn.execute(
                        sa.delete(consent_baselines).where(consent_baselines.c.record_key == ref.key)
                    )
                    conn.execute(
                        sa.insert(consent_baselines).values(
                            tenant_id="t", record_key=ref.key, consent_hash="h", seen_at=t0
                        )
                    )

        privacy.suppress([revoked], "consent_revoked", "rc1", t0)
        privacy.suppress([erased], "erasure", "er1", t0)
        seed_baselines()
        privacy.suppress([revoked, erased], "consent_revoked", "rc2", t0 + timedelta(days=1))
        found = privacy.for_refs([revoked, erased])
        assert (found[revoked.key].reason, found[revoked.key].receipt_id) == ("consent_revoked", "rc2")
        assert (found[erased.key].reason, found[erased.key].receipt_id) == ("erasure", "er1")
        assert baselines() == {erased.key}
        seed_baselines()
        privacy.suppress([revoked], "erasure", "er2", t0 + timedelta(days=2))  # a revocation becomes erasure
        assert privacy.for_refs([revoked])[revoked.key].reason == "erasure"
        assert baselines() == {erased.key}

        # schedules: a known job takes the new interval and keeps its next run
        schedules = ScheduleStore(state.engine)
        job = Job(kind=JobKind.SYNC, target=source)
        schedules.ensure([JobSchedule(job=job, interval_seconds=60)], t0)
        schedules.ensure([JobSchedule(job=job, interval_seconds=30)], t0 + timedelta(hours=1))
        assert aware(schedules.next_run(job)) == t0 + timedelta(seconds=60)
        assert schedules.claim_due("w", t0 + timedelta(seconds=60)) == job
        assert aware(schedules.next_run(job)) == t0 + timedelta(seconds=90)  # the new interval


def test_rate_limit_buckets_are_shared_by_replicas(url: str) -> None:
    """Two API replicas (two engines on one database) draw from one bucket per key."""
    import uuid as _uuid

    from rag_service.ratelimit import SharedRateLimiter

    now = [datetime(2026, 11, 24, 12, 0, tzinfo=UTC)]
    replicas = [StateStore(url), StateStore(url)]
    try:
        a, b = (SharedRateLimiter(s.engine, per_minute=60, burst=3, clock=lambda: now[0]) for s in replicas)
        key = f"key-{_uuid.uuid4().hex[:8]}"
        assert [a.acquire(key), b.acquire(key), a.acquire(key)] == [0.0, 0.0, 0.0]
        wait = b.acquire(key)  # the burst is spent across both replicas
        assert 0.9 < wait <= 1.0
        assert a.acquire(f"other-{key}") == 0.0  # other keys are not affected
        now[0] += timedelta(seconds=1)  # one token per second refills, on either replica
        assert b.acquire(key) == 0.0
        assert a.acquire(key) > 0
    finally:
        for s in replicas:
            s.close()
