"""The sync horizon (issue 19, defect 2): items after now + skew are held, cursors clamped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.models import Acl, Cursor, Page, RecordRef, SourceRecord, Tombstone
from ingest.stages.horizon import within_horizon

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def record(rid: str, when: datetime) -> SourceRecord:
    return SourceRecord(
        tenant_id="t",
        source="s",
        system="file",
        record_type="note",
        record_id=rid,
        url="https://crm.example/x",
        version="1",
        updated_at=when,
        body="text",
        acl=Acl(owner_id="u"),
    )


def cursor_of(when: datetime, rid: str) -> Cursor:
    return Cursor(watermark=when.isoformat(), last_id=rid)


def test_items_past_the_horizon_are_held_and_the_cursor_stays_at_the_last_admitted() -> None:
    soon = NOW + timedelta(minutes=10)
    tomb = Tombstone(ref=RecordRef(tenant_id="t", source="s", record_id="C"), deleted_at=soon)
    page = Page(
        records=(record("A", NOW), record("B", soon)), deletions=(tomb,), next_cursor=cursor_of(soon, "C")
    )
    held = within_horizon(page, now=NOW, skew=timedelta(minutes=5), previous=None)
    assert [r.record_id for r in held.records] == ["A"] and held.deletions == ()
    assert sorted(f.record_id or "" for f in held.failures) == ["B", "C"]
    assert all("in the future" in f.reason for f in held.failures)
    assert held.next_cursor == cursor_of(NOW, "A")
    # a larger skew admits them
    assert within_horizon(page, now=NOW, skew=timedelta(hours=1), previous=None) == page


def test_a_page_of_only_future_items_keeps_the_previous_cursor() -> None:
    far = datetime(9999, 12, 31, tzinfo=UTC)
    page = Page(records=(record("Z", far),), next_cursor=cursor_of(far, "Z"))
    before = cursor_of(NOW - timedelta(days=1), "Y")
    held = within_horizon(page, now=NOW, skew=timedelta(minutes=5), previous=before)
    assert held.records == () and held.next_cursor == before


def test_an_opaque_vendor_cursor_is_left_alone() -> None:
    page = Page(records=(record("A", NOW),), next_cursor=Cursor(watermark="MTU5MDAwMDAwMA", last_id="tag"))
    assert within_horizon(page, now=NOW, skew=timedelta(0), previous=None) == page
