from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.config import FileSourceConfig
from ingest.models import Cursor
from ingest.sources.file import FileSource


def line(rid: str, minute: int, **extra: object) -> str:
    rec = {
        "record_id": rid,
        "record_type": "note",
        "updated_at": f"2026-10-01T10:{minute:02d}:00+00:00",
        "owner_id": "u",
        "consent": {"assistant_use": "granted"},
        "body": f"note {rid}",
        "url": f"https://crm.example/{rid}",
        **extra,
    }
    return json.dumps(rec)


def test_lines_before_the_cursor_are_skipped_before_validation(tmp_path: Path) -> None:
    lines = [
        line("A", 1),
        line("B", 2, record_type="memo"),  # invalid, but old: reported by the first sync only
        line("C", 3),
        json.dumps({"record_id": "D", "body": "no timestamp"}),  # cannot be placed: always reported
        line("E", 4),
    ]
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    source = FileSource(FileSourceConfig(name="files", tenant_id="acme", path=tmp_path))
    first = list(source.pages(cursor=None))
    assert [r.record_id for p in first for r in p.records] == ["A", "C", "E"]
    assert sorted(f.record_id or "" for p in first for f in p.failures) == ["B", "D"]
    after_c = Cursor(watermark="2026-10-01T10:03:00+00:00", last_id="C")
    later = list(source.pages(cursor=after_c))
    assert [r.record_id for p in later for r in p.records] == ["E"]
    assert [f.record_id for p in later for f in p.failures] == ["D"]


def test_get_many_reads_the_folder_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reprocess asks for many ids at once: one pass over the folder, not one per id."""
    (tmp_path / "a.jsonl").write_text("\n".join([line("A", 1), line("B", 2), line("C", 3)]) + "\n")
    later = [
        line("A", 5, body="note A, edited"),
        json.dumps({"record_id": "C", "deleted": True, "updated_at": "2026-10-01T10:06:00+00:00"}),
        line("D", 7, record_type="memo"),  # breaks the contract: not a record
    ]
    (tmp_path / "b.jsonl").write_text("\n".join(later) + "\n")
    source = FileSource(FileSourceConfig(name="files", tenant_id="acme", path=tmp_path))
    reads: list[int] = []
    files = FileSource._files

    def counted(self: FileSource) -> list[Path]:
        reads.append(1)
        return files(self)

    monkeypatch.setattr(FileSource, "_files", counted)
    got = source.get_many(["A", "B", "C", "D", "E"])
    assert len(reads) == 1
    assert sorted(got) == ["A", "B"]  # C deleted, D invalid, E unknown
    assert got["A"].body == "note A, edited"  # the latest event wins
    assert source.get("B") == got["B"] and source.get("C") is None
