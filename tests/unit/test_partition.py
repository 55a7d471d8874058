from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from ingest.models import Cursor, Page, RecordFailure, RecordRef, RunReport, Tombstone
from ingest.partition import Partition, bucket, combine_reports, key_like, keys, split_key


def test_bucket_is_stable_and_balanced() -> None:
    assert bucket("N-con-0001", 4) == bucket("N-con-0001", 4)  # no per-process hash salt
    assert bucket("N-con-0001", 1) == 0
    shares = Counter(bucket(f"R-{i}", 4) for i in range(4000))
    assert set(shares) == {0, 1, 2, 3} and all(850 < n < 1150 for n in shares.values())


@pytest.mark.parametrize(
    ("key", "expected"),
    [("crm", ("crm", None)), ("crm#3", ("crm", 3)), ("a#b", ("a#b", None)), ("x#1#2", ("x#1", 2))],
)
def test_split_key(key: str, expected: tuple[str, int | None]) -> None:
    assert split_key(key) == expected


def test_keys_and_validation() -> None:
    assert keys("crm", 1) == ["crm"]
    assert keys("crm", 3) == ["crm#0", "crm#1", "crm#2"]
    with pytest.raises(ValueError, match="does not exist"):
        Partition(4, 4)


def test_filter_splits_a_page_without_overlap() -> None:
    ref = RecordRef(tenant_id="t", source="s", record_id="x")
    now = datetime(2026, 11, 1, tzinfo=UTC)
    page = Page(
        records=(),
        deletions=tuple(
            Tombstone(ref=ref.model_copy(update={"record_id": f"D-{i}"}), deleted_at=now) for i in range(30)
        ),
        failures=(
            RecordFailure(source="s", locator="1", record_id=None, reason="bad", raw_sha256="0" * 64),
            RecordFailure(source="s", locator="2", record_id="F-1", reason="bad", raw_sha256="1" * 64),
        ),
        next_cursor=Cursor(),
    )
    parts = [Partition(i, 3).filter(page) for i in range(3)]
    ids = [t.ref.record_id for p in parts for t in p.deletions]
    assert sorted(ids) == sorted(t.ref.record_id for t in page.deletions)  # each in exactly one
    assert sum(len(p.failures) for p in parts) == 2
    assert any(f.record_id is None for f in parts[0].failures)  # id-less failures: partition 0
    assert all(p.next_cursor == page.next_cursor for p in parts)


def test_combine_reports_adds_counts_and_keeps_the_first_error() -> None:
    t0, t1 = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    a = RunReport(
        run_id="r0",
        source="s#0",
        kind="sync",
        status="succeeded",
        started_at=t0,
        finished_at=t0,
        counts={"fetched": 2},
        redacted={"PERSON": 1},
    )
    b = RunReport(
        run_id="r1",
        source="s#1",
        kind="sync",
        status="failed",
        started_at=t1,
        finished_at=t1,
        counts={"fetched": 3, "indexed": 1},
        redacted={"PERSON": 2},
        error="boom",
    )
    out = combine_reports("s", [a, b])
    assert out.run_id == "r0" and out.source == "s" and out.status == "failed"
    assert out.counts == {"fetched": 5, "indexed": 1} and out.redacted == {"PERSON": 3}
    assert out.error == "s#1: boom" and (out.started_at, out.finished_at) == (t0, t1)


def test_key_like_matches_only_this_sources_partitions() -> None:
    import sqlite3

    db = sqlite3.connect(":memory:")
    pattern = key_like("acme_files")
    matches = {
        key: db.execute("SELECT ? LIKE ? ESCAPE '\\'", (key, pattern)).fetchone()[0]
        for key in ("acme_files#0", "acme_files#12", "acmeXfiles#0", "acme_files", "acme_files2#0")
    }
    assert matches == {
        "acme_files#0": 1,
        "acme_files#12": 1,
        "acmeXfiles#0": 0,
        "acme_files": 0,
        "acme_files2#0": 0,
    }
