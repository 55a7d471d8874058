"""Issue 19, defects 1, 10 (invalid UTF-8) and 17: one bad record never stalls a source; each
becomes a quarantine entry with a reason, counted once until it changes; run counts add up."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ingest.config import FileSourceConfig
from ingest.models import Cursor, Page, RunCounts, SourceRecord
from ingest.sources.file import FileSource
from rag_service.services import Services, build_services
from tests.conftest import make_settings

START = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
SECRET = "Zebulon Quayle-Moorcroft"  # a value that must never show up in a quarantine reason


def note(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "record_id": f"N-{i:03d}",
        "record_type": "note",
        "updated_at": (START + timedelta(minutes=i)).isoformat(),
        "url": f"https://crm.example/n/{i}",
        "owner_id": "u-1",
        "consent": {"assistant_use": "granted"},
        "body": f"Note {i}: the renewal of the fleet contract is on track.",
        **extra,
    }


def line(obj: Any) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def hostile_lines() -> dict[str, bytes]:
    """One line per way a record used to stop every sync of its source (issue 19, defect 1)."""
    turns = [{"speaker_id": "s1", "text": "t" * 240} for _ in range(5_000)]
    open_note = json.dumps(note(900))[:-1]  # a valid record missing its closing brace
    return {
        # passes the old contract, but 1.2M characters trip spaCy's limit in redaction
        "huge-transcript": line(
            {**note(901), "record_type": "transcript", "body": "", "turns": turns, "title": SECRET}
        ),
        "deep-json": b"[" * 100_000 + b"\n",  # RecursionError in json.loads
        "huge-version": json.dumps(note(902))[:-1].encode() + b', "version": ' + b"7" * 5_000 + b"}\n",
        "lone-surrogate": json.dumps(note(903))[:-1].encode() + b', "title": "' + b"\\ud800" + b'"}\n',
        "many-contacts": line(
            note(904, contacts=[{"contact_id": f"c{i}", "name": SECRET} for i in range(10_000)])
        ),
        "nested-deep": line(note(905, account_id=nested(40))),
        "infinite-number": open_note.encode() + b', "score": 1e999}\n',
        "long-turn": line(
            {**note(906), "record_type": "transcript", "turns": [{"speaker_id": "s", "text": "y" * 30_000}]}
        ),
        # defect 10: bytes that are not UTF-8 in the record id (used to become U+FFFD and be indexed)
        "bad-utf8-id": json.dumps(note(907))
        .replace("N-907", "N-9\udcff07")
        .encode("utf-8", "surrogateescape")
        .replace(b"\\udcff", b"\xff")
        + b"\n",
    }


def write_source(folder: Path, bad: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    good = b"".join(line(note(i)) for i in range(30))
    (folder / "a-good.jsonl").write_bytes(good)
    (folder / "b-bad.jsonl").write_bytes(b"".join(bad.values()))


@pytest.fixture
def env(tmp_path: Path, embedder: Any, redactor: Any) -> Iterator[tuple[Services, Path]]:
    folder = tmp_path / "crm"
    write_source(folder, hostile_lines())
    settings = make_settings(tmp_path / "var", tmp_path).model_copy(
        update={"sources": (FileSourceConfig(name="acme-files", tenant_id="acme", path=folder),)}
    )
    services = build_services(settings, embedder=embedder, redactor=redactor)
    yield services, folder
    services.close()


def assert_adds_up(counts: dict[str, int]) -> None:
    outcomes = sum(counts[name] for name in RunCounts.OUTCOMES)
    assert counts["fetched"] == outcomes, counts


def test_each_hostile_line_is_quarantined_and_the_rest_is_indexed(env: tuple[Services, Path]) -> None:
    services, _ = env
    bad = hostile_lines()
    assert b"\xff" in bad["bad-utf8-id"]
    report = services.run("acme-files", actor="t")
    assert report.status == "succeeded", report.error
    assert report.counts["indexed"] == 30
    assert report.counts["quarantined"] == len(bad)
    assert_adds_up(report.counts)
    entries = services.state.list_quarantine(source="acme-files", limit=100)
    assert sorted(e["locator"] for e in entries) == sorted(f"b-bad.jsonl:{n}" for n in range(1, len(bad) + 1))
    reasons = {e["locator"]: e["reason"] for e in entries}
    assert all(reasons.values())
    assert not any(SECRET in r or "ttt" in r or "777" in r for r in reasons.values())
    expected = {
        1: "text: title, body and turns together are longer",
        2: "JSON nested deeper",
        3: "more than 20 digits",
        4: "lone surrogate",
        5: "contacts: more than",
        6: "nested deeper than",
        7: "not finite",
        8: "a turn is longer than",
        9: "not valid UTF-8",
    }
    for n, words in expected.items():
        assert words in reasons[f"b-bad.jsonl:{n}"], (n, reasons[f"b-bad.jsonl:{n}"])
    ids = {p["record_id"] for p in services.index.scroll_payloads(tenant_id="acme")}
    assert ids == {f"N-{i:03d}" for i in range(30)}
    assert not any("\ufffd" in rid for rid in ids)


def test_a_quarantined_line_is_counted_once_until_it_changes(env: tuple[Services, Path]) -> None:
    services, folder = env
    bad = hostile_lines()
    first = services.run("acme-files", actor="t")
    assert first.counts["quarantined"] == len(bad)
    again = services.run("acme-files", actor="t")
    assert again.status == "succeeded"
    assert again.counts["quarantined"] == 0
    assert again.counts["quarantine_unchanged"] == len(bad)
    assert again.counts["indexed"] == 0
    assert_adds_up(again.counts)
    assert len(services.state.list_quarantine(source="acme-files")) == len(bad)
    # one line changes (still bad): it is counted again, the others are not
    changed = {**bad, "deep-json": b"[" * 99_999 + b"\n"}
    write_source(folder, changed)
    third = services.run("acme-files", actor="t")
    assert (third.counts["quarantined"], third.counts["quarantine_unchanged"]) == (1, len(bad) - 1)
    assert_adds_up(third.counts)
    text = services.metrics.render().decode()
    assert f'outcome="quarantined",source="acme-files"}} {len(bad) + 1}.0' in text


class RawCrm:
    """A connector that hands records on without the contract (process boundary stand-in): the
    pipeline itself must still isolate a record that redaction cannot handle."""

    kind: ClassVar[str] = "raw"

    def __init__(self, records: list[SourceRecord]) -> None:
        self.records = records

    @property
    def name(self) -> str:
        return "acme-files"

    @property
    def tenant_id(self) -> str:
        return "acme"

    def pages(self, *, cursor: Cursor | None) -> Iterator[Page]:
        last = self.records[-1]
        yield Page(
            records=tuple(self.records),
            next_cursor=Cursor(watermark=last.updated_at.isoformat(), last_id=last.record_id),
        )

    def get(self, record_id: str) -> SourceRecord | None:
        return next((r for r in self.records if r.record_id == record_id), None)

    def get_many(self, record_ids: Sequence[str]) -> dict[str, SourceRecord]:
        return {r.record_id: r for r in self.records if r.record_id in record_ids}

    def live_ids(self) -> Iterator[str]:
        yield from (r.record_id for r in self.records)


def test_a_record_redaction_cannot_handle_is_quarantined_by_the_pipeline(
    env: tuple[Services, Path],
) -> None:
    services, _ = env
    source = services.sources["acme-files"]
    assert isinstance(source, FileSource)
    good = [r for r in (source.get(f"N-{i:03d}") for i in range(5)) if r is not None]
    huge = good[0].model_copy(update={"record_id": "N-BIG", "body": "word " * 240_000})
    services.sources["acme-files"] = RawCrm([*good, huge])  # type: ignore[assignment]
    report = services.run("acme-files", actor="t")
    assert report.status == "succeeded", report.error
    assert (report.counts["indexed"], report.counts["quarantined"]) == (5, 1)
    assert_adds_up(report.counts)
    entry = services.state.list_quarantine(source="acme-files")[0]
    assert entry["record_id"] == "N-BIG"
    assert entry["reason"] == "could not be redacted, chunked or embedded (ValueError)"
