"""Edits, shrinking records, consent revocation and deletions on a private source folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest import payload as P
from ingest.config import FileSourceConfig
from ingest.models import RecordRef
from rag_service.services import Services, build_services
from tests.conftest import make_settings

BASE = {
    "record_type": "note",
    "url": "https://crm.example/n/1",
    "owner_id": "u-1",
    "team_ids": ["team-a"],
    "consent": {"assistant_use": "granted"},
    "contacts": [{"contact_id": "c1", "name": "Ingrid Lindqvist"}],
}
LONG = " ".join(
    f"Paragraph {i}: the rollout of the billing module continues across depots." for i in range(60)
)


def write(folder: Path, records: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture
def small(tmp_path: Path, embedder: Any, redactor: Any) -> Iterator[tuple[Services, Path]]:
    folder = tmp_path / "crm" / "acme"
    write(folder, [])
    settings = make_settings(tmp_path / "var", tmp_path / "crm")
    settings = settings.model_copy(
        update={"sources": (FileSourceConfig(name="acme-files", tenant_id="acme", path=folder, page_size=2),)}
    )
    services = build_services(settings, embedder=embedder, redactor=redactor)
    yield services, folder
    services.close()


def rec(rid: str, ts: str, **kw: Any) -> dict[str, Any]:
    return {
        **BASE,
        "record_id": rid,
        "updated_at": ts,
        "body": kw.pop("body", "Short note about renewal."),
        **kw,
    }


def test_edit_shrink_acl_change_revoke_delete(small: tuple[Services, Path]) -> None:
    services, folder = small
    ref = RecordRef(tenant_id="acme", source="acme-files", record_id="N-1")
    write(
        folder, [rec("N-1", "2026-10-01T10:00:00+00:00", body=LONG), rec("N-2", "2026-10-01T11:00:00+00:00")]
    )
    r1 = services.run("acme-files", actor="t")
    assert r1.counts["indexed"] == 2 and r1.counts["pages"] == 1
    long_chunks = services.index.count(ref=ref)
    assert long_chunks > 3

    # edited and shrunk: all old chunks replaced, none left past the new end
    write(
        folder,
        [
            rec("N-1", "2026-10-02T10:00:00+00:00", body="Now a short note.", version="2"),
            rec("N-2", "2026-10-01T11:00:00+00:00"),
        ],
    )
    r2 = services.run("acme-files", actor="t")
    assert r2.counts["indexed"] == 1 and r2.counts["embedded"] == 1
    chunks = services.index.record_chunks(ref)
    assert [c.payload[P.CHUNK_INDEX] for c in chunks] == [0]
    assert chunks[0].payload[P.RECORD_VERSION] == "2"
    assert r2.counts["chunks_deleted"] == long_chunks - 1

    # ACL-only change: payload updated, nothing embedded
    write(
        folder,
        [
            rec(
                "N-1",
                "2026-10-03T10:00:00+00:00",
                body="Now a short note.",
                version="3",
                owner_id="u-2",
                team_ids=["team-b"],
            ),
            rec("N-2", "2026-10-01T11:00:00+00:00"),
        ],
    )
    r3 = services.run("acme-files", actor="t")
    assert r3.counts["embedded"] == 0 and r3.counts["payload_updated"] == 1
    payload = services.index.record_chunks(ref)[0].payload
    assert payload[P.ACL_OWNER] == "u-2" and payload[P.ACL_TEAMS] == ["team-b"]

    # consent revoked: purged with an audit event
    write(
        folder,
        [
            rec(
                "N-1",
                "2026-10-04T10:00:00+00:00",
                body="Now a short note.",
                version="4",
                consent={"assistant_use": "revoked"},
            ),
            rec("N-2", "2026-10-01T11:00:00+00:00"),
        ],
    )
    r4 = services.run("acme-files", actor="t")
    assert r4.counts["purged"] == 1
    assert services.index.count(ref=ref) == 0
    purge = services.state.list_audit(action="purge", record_id="N-1")
    assert purge and purge[0]["details"]["reason"] == "consent_revoked"
    assert services.state.ledger_get(ref).status == "excluded"  # type: ignore[union-attr]

    # tombstone: N-2 deleted at the source
    write(
        folder,
        [
            rec(
                "N-1",
                "2026-10-04T10:00:00+00:00",
                body="Now a short note.",
                version="4",
                consent={"assistant_use": "revoked"},
            ),
            {"record_id": "N-2", "deleted": True, "updated_at": "2026-10-05T00:00:00+00:00"},
        ],
    )
    r5 = services.run("acme-files", actor="t")
    assert r5.counts["deleted"] == 1
    assert services.index.count(tenant_id="acme") == 0
    from ingest.store.history import read_history

    history = read_history(services.state.engine, ref)
    actions = [(h["action"], h["version"]) for h in reversed(history)]
    assert actions == [
        ("indexed", "2026-10-01T10:00:00+00:00"),
        ("indexed", "2"),
        ("payload_update", "3"),
        ("purged", "4"),
    ]
    first = history[-1]
    assert isinstance(first["redaction_counts"], dict)
    assert first["chunk_count"] == long_chunks
    assert first["model_id"].startswith("sentence-transformers/")
    assert first["redaction_policy"].startswith("redaction-")
    n2 = read_history(services.state.engine, ref.model_copy(update={"record_id": "N-2"}))
    assert n2[0]["action"] == "deleted"
    ok, checked, _ = services.state.verify_audit_chain()
    assert ok and checked >= 5


def test_cursor_only_moves_after_a_page_is_written(small: tuple[Services, Path]) -> None:
    services, folder = small
    write(folder, [rec(f"N-{i}", f"2026-10-01T1{i}:00:00+00:00") for i in range(5)])

    class Boom(RuntimeError):
        pass

    original = services.index.upsert
    calls = {"n": 0}

    def flaky(points: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Boom("index unavailable")
        original(points)

    services.index.upsert = flaky  # type: ignore[method-assign]
    report = services.run("acme-files", actor="t")
    services.index.upsert = original  # type: ignore[method-assign]
    assert report.status == "failed" and "Boom" in (report.error or "")
    cursor = services.state.get_cursor("acme-files")
    assert cursor is not None and cursor.last_id == "N-1"  # first page (2 records) only
    again = services.run("acme-files", actor="t")
    assert again.status == "succeeded" and again.counts["indexed"] == 3
    assert services.index.count(tenant_id="acme") == 5
