"""Issue 20: one timestamp format everywhere the service answers. Real responses of every endpoint
that carries time (query, admin runs and reports, quarantine, index, audit events, provenance,
history, receipts, status) and the CLI's JSON output are walked: every string that looks like a
timestamp must be UTC with `Z` and microseconds (rag_service.timestamps.PATTERN)."""

from __future__ import annotations

import argparse
import functools
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import rag_service.services
from ingest.config import FileSourceConfig
from ingest.timeutil import rfc3339
from rag_service import cli, cli_read
from rag_service.app import create_app
from rag_service.config import RebuildConfig
from rag_service.services import Services, build_services
from rag_service.timestamps import PATTERN
from tests.conftest import headers, make_settings
from tests.integration.helpers import stamps

# anything with a date and a clock time in it, whatever its separator, zone or precision
# not timestamps of ours: free text written by people (redacted CRM content, answers), and the
# CRM's own version token of a record (often its updated_at text), kept verbatim to compare with it
TENANT, SOURCE = "acme", "acme-notes"


class Seen:
    """Every timestamp met, checked against the one format; remembers the keys it met them under."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.bad: list[str] = []

    def check(self, where: str, body: Any) -> Any:
        for path, value in stamps(body):
            self.keys.add(re.sub(r"\[\d+\]", "[]", path).rsplit(".", 1)[-1])
            if not PATTERN.fullmatch(value):
                self.bad.append(f"{where} {path} = {value!r}")
        return body


def note(rid: str, updated_at: str, body: str, contacts: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "record_id": rid,
        "record_type": "note",
        "updated_at": updated_at,
        "url": f"https://crm.example/{rid}",
        "owner_id": "u-1",
        "team_ids": ["team-a"],
        "consent": {"assistant_use": "granted"},
        "contacts": contacts,
        "body": body,
    }


@pytest.fixture
def services(tmp_path: Path, embedder: Any, redactor: Any) -> Iterator[Services]:
    folder = tmp_path / "crm" / "a"
    folder.mkdir(parents=True)
    records = [  # a source that gives local offsets and whole seconds; one bad line for the quarantine
        note("N-1", "2026-10-01T12:00:00+02:00", "Lidar firmware patch for the warehouse robots.", []),
        note("N-2", "2026-10-01T11:00:00+00:00", "Lidar calibration review with the robot team.", []),
        note(
            "N-3",
            "2026-10-02T09:30:00.250000+00:00",
            "Lidar rollout planning call.",
            [{"contact_id": "c-ana", "name": "Ana Lindqvist"}],
        ),
        {"record_id": "N-bad", "record_type": "note", "updated_at": "not a date", "body": "x"},
    ]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    base = make_settings(tmp_path / "var", tmp_path / "crm")
    settings = base.model_copy(
        update={
            "sources": (FileSourceConfig(name=SOURCE, tenant_id=TENANT, path=folder),),
            "rebuild": RebuildConfig(optimize=False),  # the demo's canaries ask for demo records
        }
    )
    built = build_services(settings, embedder=embedder, redactor=redactor)
    yield built
    built.close()


def test_every_timestamp_the_service_emits_has_one_format(
    services: Services, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = Seen()
    admin, auditor = headers("admin"), headers("auditor")
    app = create_app(services.settings, services=services, start_scheduler=False)
    with TestClient(app) as client:

        def get(url: str, role: dict[str, str] = auditor) -> Any:
            resp = client.get(url, headers=role)
            assert resp.status_code == 200, (url, resp.text)
            return seen.check(f"GET {url}", resp.json())

        def post(url: str, body: Any = None, role: dict[str, str] = admin) -> Any:
            resp = client.post(url, headers=role, json=body)
            assert resp.status_code in (200, 201), (url, resp.text)
            return seen.check(f"POST {url}", resp.json())

        run = post(f"/admin/sources/{SOURCE}/sync?wait=true")
        post("/admin/reindex", {"source": SOURCE, "record_id": "N-2", "wait": True})
        post(f"/admin/sources/{SOURCE}/reconcile")
        post(f"/admin/sources/{SOURCE}/reconcile?dry_run=true")
        post(f"/admin/sources/{SOURCE}/reprocess-stale")
        assert post("/admin/rebuild?wait=true")["status"] == "swapped"
        ask = {"question": "lidar robots", "tenant_id": TENANT, "purpose": "support_assistant"}
        answered = post("/query", ask | {"user": {"user_id": "u-1"}}, role=headers("assistant"))
        assert {s["record_id"] for s in answered["sources"]} == {"N-1", "N-2", "N-3"}
        get("/admin/sources", admin)
        get("/admin/runs", admin)
        get(f"/admin/runs/{run['run_id']}", admin)
        get("/admin/quarantine", admin)
        assert get("/admin/index", admin)["switched_at"]
        record = get(f"/audit/records/{TENANT}/{SOURCE}/N-1")
        get(f"/audit/chunks/{record['chunks'][0]['chunk_id']}")
        get(f"/audit/records/{TENANT}/{SOURCE}/N-1/history")
        revoked = post("/admin/consent/revoke", {"tenant_id": TENANT, "source": SOURCE, "record_id": "N-2"})
        post("/admin/erasure", {"tenant_id": TENANT, "contact_id": "c-ana"})
        assert get(f"/audit/events?tenant_id={TENANT}&since={run['started_at']}")  # accepts its own format
        get("/audit/events")
        get(f"/audit/receipts?tenant_id={TENANT}")
        get(f"/audit/receipts/{revoked['receipt_id']}")
        get("/audit/verify")
        seen.check("GET /readyz", client.get("/readyz").json())
        seen.check("GET /healthz", client.get("/healthz").json())

        # the CLI's JSON: run reports, status, audit export and job runs (read next to the index owner)
        cli._print_report(services.run(SOURCE, actor="test"))
        printed = [capsys.readouterr().out]
        cli_read.cmd_status(argparse.Namespace(), services.settings)
        printed.append(capsys.readouterr().out)
        for action in ("export", "runs"):
            cli_read.cmd_audit(argparse.Namespace(action=action, out=None, limit=1000), services.settings)
            printed.append(capsys.readouterr().out)
    services.close()
    for n, out in enumerate(printed):  # JSON lines
        assert out.strip(), n
        for line in out.splitlines():
            seen.check(f"cli output {n}", json.loads(line))
    # `crm-rag query` opens the index itself (with the session's models)
    monkeypatch.setattr(
        rag_service.services,
        "build_services",
        functools.partial(build_services, embedder=services.embedder, redactor=services.redactor),
    )
    query: dict[str, Any] = {
        "question": "lidar robots",
        "tenant": TENANT,
        "purpose": "support_assistant",
        "user": "u-1",
    }
    query |= {"team": None, "record_type": None, "account": None, "top_k": None}
    query |= {"updated_from": None, "updated_to": None, "retrieval": None}
    cli_read.cmd_query(argparse.Namespace(**query), services.settings)
    seen.check("crm-rag query", json.loads(capsys.readouterr().out))

    assert not seen.bad, "\n".join(seen.bad)
    # the walk met time under every name the API uses for it (so it cannot pass by seeing none)
    expected = {"started_at", "finished_at", "updated_at", "source_updated_at", "indexed_at"}
    expected |= {"created_at", "ts", "switched_at", "next_run_due"}
    assert expected <= seen.keys, expected - seen.keys


@pytest.mark.parametrize(
    ("given", "emitted"),
    [
        ("2026-10-01T12:00:00+02:00", "2026-10-01T10:00:00.000000Z"),
        ("2026-10-01T10:00:00.25Z", "2026-10-01T10:00:00.250000Z"),
        ("2026-10-01T10:00:00", "2026-10-01T10:00:00.000000Z"),  # naive (SQLite): stored as UTC
    ],
)
def test_the_one_format(given: str, emitted: str) -> None:
    assert rfc3339(datetime.fromisoformat(given)) == emitted
    assert PATTERN.fullmatch(emitted)
