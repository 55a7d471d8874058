"""The embedded index stops accepting writes (issue 19, defect 14): readiness says so, the full
engine error is logged, and writes recover without a restart. The fault is made on disk, from
outside the engine: a truncated payload-index tracker journal reproduces the error seen
("Failed to flush payload_index: ... Tracker journal ... is shorter than expected")."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.index.edge import EdgeIndexStore
from ingest.models import RecordRef
from rag_service.services import Services
from tests.conftest import ROOT
from tests.integration.acme import ANA_BY_ID, note, notes_a, write


def shard_dir(services: Services) -> Path:
    store = services.index.current
    assert isinstance(store, EdgeIndexStore)
    return store.shard_dir


def truncate_journals(shard: Path) -> int:
    journals = list(shard.glob("segments/*/payload_index/*/tracker_journal.dat"))
    for path in journals:
        path.write_bytes(b"")
    return len(journals)


def deliver(tmp: Path, rid: str, ts: str) -> RecordRef:
    write(tmp / "crm" / "a", [*notes_a(), note(rid, ts, f"Lidar firmware note {rid}.", ANA_BY_ID)])
    return RecordRef(tenant_id="acme", source="acme-notes", record_id=rid)


def test_a_broken_journal_is_logged_in_full_and_recovered_by_reopening(
    env: tuple[Services, TestClient, Path], caplog: pytest.LogCaptureFixture
) -> None:
    services, client, tmp = env
    assert truncate_journals(shard_dir(services)) > 0
    ref = deliver(tmp, "N-20", "2026-10-20T10:00:00+00:00")
    with caplog.at_level(logging.ERROR, logger="ingest.index.edge"):
        report = services.run("acme-notes", actor="t")
    assert report.status == "succeeded", report.error
    errors = [r for r in caplog.records if r.getMessage() == "index write failed"]
    assert errors and "is shorter than expected" in str(getattr(errors[0], "engine_error", ""))
    assert len(str(getattr(errors[0], "engine_error", ""))) > 300  # the whole message, not a cut
    assert services.index.count(ref=ref) > 0 and services.index.write_error is None
    assert client.get("/readyz").status_code == 200


def test_readiness_reports_an_unwritable_index_until_writes_recover(
    env: tuple[Services, TestClient, Path],
) -> None:
    services, client, tmp = env
    shard = shard_dir(services)
    truncate_journals(shard)
    wal = shard / "wal"
    hidden = shard.parent / "wal.away"
    wal.rename(hidden)  # the open shard keeps its files; a reopen fails: the index stays unwritable
    wal.write_bytes(b"")
    try:
        ref = deliver(tmp, "N-21", "2026-10-21T10:00:00+00:00")
        failed = services.run("acme-notes", actor="t")
        assert failed.status == "failed" and "not writable" in (failed.error or "")
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["index_writable"] == "unwritable"
        assert services.index.write_error is not None
    finally:
        wal.unlink()
        hidden.rename(wal)
    # no restart: the next write reopens the shard
    again = services.run("acme-notes", actor="t")
    assert again.status == "succeeded", again.error
    assert services.index.count(ref=ref) > 0
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["index_writable"] == "ok"


SECOND_OPENER = """
import sys
from pathlib import Path
from ingest.errors import StoreLockedError
from ingest.index.edge import EdgeIndexStore
try:
    EdgeIndexStore(Path(sys.argv[1]), 384)
except StoreLockedError as exc:
    print(exc)
    sys.exit(3)
"""


def test_a_second_process_is_refused_before_it_can_break_the_owners_index(
    env: tuple[Services, TestClient, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """The cause found: a second process opening the live shard (e.g. the CLI next to `serve`) was
    refused by the engine's WAL lock only after it had touched the shard, and the owner's next
    flush failed on the tracker journal. Now it is refused by a lock file first."""
    services, client, tmp = env
    second = subprocess.run(
        [sys.executable, "-c", SECOND_OPENER, str(shard_dir(services))],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert second.returncode == 3 and "in use by another process" in second.stdout
    ref = deliver(tmp, "N-22", "2026-10-22T10:00:00+00:00")
    with caplog.at_level(logging.ERROR, logger="ingest.index.edge"):
        report = services.run("acme-notes", actor="t")
    assert report.status == "succeeded", report.error
    assert not [r for r in caplog.records if r.getMessage() == "index write failed"]
    assert services.index.count(ref=ref) > 0
    assert client.get("/readyz").status_code == 200
