"""The time horizon of a sync: nothing dated later than now + the configured skew is processed,
and a cursor never moves past it. Pure.

A record dated 9999-12-31 would otherwise move the (updated_at, id) cursor to the end of time,
and every record changed later would sort before it and never be fetched. Such records and
tombstones become quarantine entries with a reason; the cursor stays at the last admitted item of
the page (or where it was), so they are read again, and admitted once the clock reaches them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

from ingest.models import Cursor, Page, RecordFailure, SourceRecord, Tombstone


def _digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _held(item: SourceRecord | Tombstone, skew: timedelta) -> RecordFailure:
    if isinstance(item, SourceRecord):
        ref, when, what = item.ref, item.updated_at, item.content_hash()
    else:
        ref, when, what = item.ref, item.deleted_at, "deleted"
    return RecordFailure(
        source=ref.source,
        locator=f"record {ref.record_id}",
        record_id=ref.record_id,
        reason=f"updated_at: more than {int(skew.total_seconds())} s in the future; "
        "held until the clock reaches it",
        raw_sha256=_digest(what, when.isoformat()),
    )


def _watermark(cursor: Cursor) -> datetime | None:
    """The cursor's timestamp when it is one (vendor cursors may be opaque tokens)."""
    if cursor.watermark is None:
        return None
    try:
        when = datetime.fromisoformat(cursor.watermark)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def within_horizon(page: Page, *, now: datetime, skew: timedelta, previous: Cursor | None) -> Page:
    """The page without items dated after now + skew (they become failures), its cursor clamped:
    past the horizon it falls back to the page's last admitted item, else to `previous`."""
    horizon = now + skew
    records = tuple(r for r in page.records if r.updated_at <= horizon)
    deletions = tuple(t for t in page.deletions if t.deleted_at <= horizon)
    held = [_held(r, skew) for r in page.records if r.updated_at > horizon]
    held += [_held(t, skew) for t in page.deletions if t.deleted_at > horizon]
    cursor = page.next_cursor
    mark = _watermark(cursor)
    if mark is not None and mark > horizon:
        admitted = [(r.updated_at, r.record_id) for r in records]
        admitted += [(t.deleted_at, t.ref.record_id) for t in deletions]
        if admitted:
            when, rid = max(admitted)
            cursor = Cursor(watermark=when.isoformat(), last_id=rid)
        else:
            cursor = previous or Cursor()
    if not held and cursor == page.next_cursor:
        return page
    return Page(
        records=records,
        deletions=deletions,
        failures=(*page.failures, *held),
        next_cursor=cursor,
    )
