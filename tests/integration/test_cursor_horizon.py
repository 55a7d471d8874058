"""Issue 19, defect 2: a far-future updated_at never moves a cursor (it is held in quarantine);
ties on the cursor's timestamp are never lost; reconcile compares content, so a record
re-delivered with new text and an older updated_at is re-indexed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.config import FileSourceConfig
from ingest.models import RecordRef, RunCounts
from ingest.timeutil import utcnow
from rag_service.services import Services, build_services
from tests.conftest import make_settings
from tests.integration.helpers import rec


def write(folder: Path, records: list[dict[str, Any]]) -> None:
    (folder / "notes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def env(tmp_path: Path, embedder: Any, redactor: Any) -> Iterator[tuple[Services, Path]]:
    folder = tmp_path / "crm"
    folder.mkdir()
    write(folder, [rec(i) for i in range(10)])
    settings = make_settings(tmp_path / "var", tmp_path).model_copy(
        update={"sources": (FileSourceConfig(name="acme-files", tenant_id="acme", path=folder, page_size=4),)}
    )
    services = build_services(settings, embedder=embedder, redactor=redactor)
    assert services.run("acme-files", actor="t").counts["indexed"] == 10
    yield services, folder
    services.close()


def added_up(counts: dict[str, int]) -> bool:
    return counts["fetched"] == sum(counts[name] for name in RunCounts.OUTCOMES)


def test_a_far_future_record_is_held_and_later_records_still_arrive(env: tuple[Services, Path]) -> None:
    services, folder = env
    future = rec(50, updated_at="9999-12-31T00:00:00+00:00")
    write(folder, [*(rec(i) for i in range(10)), future])
    held = services.run("acme-files", actor="t")
    assert held.status == "succeeded"
    assert (held.counts["quarantined"], held.counts["indexed"]) == (1, 0)
    entry = services.state.list_quarantine(source="acme-files")[0]
    assert entry["record_id"] == "N-50" and "in the future" in entry["reason"]
    cursor = services.state.get_cursor("acme-files")
    assert cursor is not None and cursor.watermark is not None
    skew = timedelta(seconds=services.settings.ingest.max_future_skew_seconds)
    assert datetime.fromisoformat(cursor.watermark) <= utcnow() + skew

    later = [rec(20 + i, updated_at=f"2026-10-02T09:{i:02d}:00+00:00") for i in range(10)]
    write(folder, [*(rec(i) for i in range(10)), future, *later])
    report = services.run("acme-files", actor="t")
    assert report.counts["indexed"] == 10  # none blocked behind the 9999 record
    assert (report.counts["quarantined"], report.counts["quarantine_unchanged"]) == (0, 1)
    assert added_up(report.counts)
    assert services.index.count(tenant_id="acme") == 20

    # reconcile does not call this clean: a live record is not in the index
    recon = services.reconcile("acme-files", actor="t")
    assert recon.status == "repaired"
    assert recon.unindexed_records == 1
    assert recon.completeness_after == pytest.approx(20 / 21, abs=1e-3)
    assert services.index.count(ref=RecordRef(tenant_id="acme", source="acme-files", record_id="N-50")) == 0


def test_a_tie_on_the_cursor_timestamp_is_not_lost(env: tuple[Services, Path]) -> None:
    services, folder = env
    cursor = services.state.get_cursor("acme-files")
    assert cursor is not None and cursor.last_id == "N-9"
    # arrives later, same updated_at as the cursor's record, an id that sorts before "N-9"
    tie = rec(10, updated_at=rec(9)["updated_at"])
    write(folder, [*(rec(i) for i in range(10)), tie])
    report = services.run("acme-files", actor="t")
    assert report.counts["indexed"] == 1
    assert services.index.count(ref=RecordRef(tenant_id="acme", source="acme-files", record_id="N-10")) == 1
    idle = services.run("acme-files", actor="t")  # the re-read tie is skipped by its fingerprint
    assert (idle.counts["indexed"], idle.counts["embedded"]) == (0, 0)
    assert added_up(idle.counts)


def test_reconcile_reindexes_a_record_redelivered_with_new_text_and_an_older_timestamp(
    env: tuple[Services, Path],
) -> None:
    services, folder = env
    ref = RecordRef(tenant_id="acme", source="acme-files", record_id="N-3")
    edited = rec(3, updated_at="2026-09-01T08:00:00+00:00", body="Note 3 was rewritten: the depot closes.")
    write(folder, [*(rec(i) for i in range(10) if i != 3), edited])
    assert services.run("acme-files", actor="t").counts["indexed"] == 0  # older than the cursor
    report = services.reconcile("acme-files", actor="t")
    assert report.status == "repaired"
    assert report.content_checked and report.changed_records == 1
    assert report.completeness_before == pytest.approx(0.9)
    assert report.completeness_after == 1.0
    assert "rewritten" in services.index.record_chunks(ref)[0].payload["text"]
    assert services.reconcile("acme-files", actor="t").status == "clean"
