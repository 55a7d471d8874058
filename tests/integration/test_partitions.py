"""A partitioned source in one process: every partition runs under its own cursor and lock, each
record is processed once, and whole-source work waits for every partition."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from ingest.config import FileSourceConfig
from ingest.errors import SourceBusyError
from ingest.partition import bucket
from ingest.stages.embedding import Embedder
from policies.redaction import PresidioRedactor
from rag_service.services import build_services
from tests.conftest import make_settings


def write_notes(folder: Path, n: int, edited: int | None = None) -> None:
    lines = []
    for i in range(n):
        body = f"Note {i}: the customer asked about renewal pricing for {10 + i} seats."
        updated = f"2026-10-01T10:00:{i:02d}+00:00"
        if i == edited:
            body += " Update: they signed."
            updated = "2026-11-01T10:00:00+00:00"
        rec = {
            "record_id": f"P-{i}",
            "record_type": "note",
            "updated_at": updated,
            "url": f"https://crm.example/notes/P-{i}",
            "owner_id": "u",
            "consent": {"assistant_use": "granted"},
            "body": body,
        }
        lines.append(json.dumps(rec))
    folder.mkdir(exist_ok=True)
    (folder / "notes.jsonl").write_text("\n".join(lines) + "\n")


def test_partitioned_source_processes_each_record_once(
    tmp_path: Path, embedder: Embedder, redactor: PresidioRedactor
) -> None:
    folder = tmp_path / "crm"
    write_notes(folder, 30)
    source = FileSourceConfig(name="big", tenant_id="acme", path=folder, partitions=3)
    settings = make_settings(tmp_path / "var", tmp_path, sources=(source,))
    services = build_services(settings, embedder=embedder, redactor=redactor)
    try:
        assert services.lock_keys("big") == ["big#0", "big#1", "big#2"]
        first = services.run("big", actor="test")
        assert first.status == "succeeded", first.error
        assert first.counts["fetched"] == 30 and first.counts["indexed"] == 30
        assert services.index.count(tenant_id="acme") == 30
        runs = services.state.list_runs(source="big")
        assert sorted(r["source"] for r in runs) == ["big#0", "big#1", "big#2"]
        per_partition = {r["source"]: r["counts"]["fetched"] for r in runs}
        for p in range(3):  # each run fetched exactly the records its partition owns
            assert per_partition[f"big#{p}"] == sum(bucket(f"P-{i}", 3) == p for i in range(30))
        assert {k: services.state.get_cursor(k) is not None for k in services.lock_keys("big")} == {
            "big#0": True,
            "big#1": True,
            "big#2": True,
        }

        assert services.run("big", actor="test").counts.get("embedded", 0) == 0

        write_notes(folder, 30, edited=7)
        owner = bucket("P-7", 3)
        other = (owner + 1) % 3
        assert services.run("big", actor="test", partition=other).counts.get("embedded", 0) == 0
        assert services.run("big", actor="test", partition=owner).counts["embedded"] == 1

        # whole-source work needs every partition's lock
        services.state.try_lock("big#2", "someone-else", timedelta(minutes=5))
        with pytest.raises(SourceBusyError):
            services.reconcile("big", actor="test")
        services.state.unlock("big#2", "someone-else")
        report = services.reconcile("big", actor="test")
        assert report.completeness_after == 1.0
    finally:
        services.close()
