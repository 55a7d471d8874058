"""The state store contract on SQLite (embedded default) and on the real local PostgreSQL server
(what several API replicas and workers share)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.config import FileSourceConfig, StateConfig
from ingest.history import HistoryEvent, read_history
from ingest.models import Cursor, RecordFailure, RecordRef
from ingest.privacy import PrivacyLedger
from ingest.state import AuditEvent, LedgerEntry, StateStore
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


def test_an_existing_sqlite_store_gains_indexes_added_later(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore(url).close()
    with sa.create_engine(url).begin() as conn:  # a file from before the index existed
        conn.exec_driver_sql("DROP INDEX ix_record_contacts_record_key")
    with StateStore(url) as state:
        names = {i["name"] for i in sa.inspect(state.engine).get_indexes("record_contacts")}
    assert "ix_record_contacts_record_key" in names


def test_postgres_schema_comes_from_migrations_without_drift(pg_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from ingest.tables import metadata

    with StateStore(pg_url) as state, state.engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
        assert version == "0005"  # the newest migration (record_contacts indexed by record_key)
        drift = compare_metadata(MigrationContext.configure(conn), metadata)
        assert drift == [], f"tables changed without a migration: {drift}"


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
