"""A revocation through the API stands until the source's consent value itself changes after it,
or an admin lifts it; an edit at the source does not lift it (issue 19, defect 5)."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ingest.models import RecordRef
from ingest.pipeline import Refresher
from rag_service.services import Services
from tests.conftest import headers
from tests.integration.acme import ANA_BY_ID, PageGate, ask, note, notes_a, write

N1 = RecordRef(tenant_id="acme", source="acme-notes", record_id="N-1")
REVOKE = {"tenant_id": "acme", "source": "acme-notes", "record_id": "N-1"}


def at(step: int) -> str:
    """Edits at the source, in order, all in the past (later-dated records are held back)."""
    return (datetime.now(UTC) - timedelta(minutes=60 - step)).isoformat()


def deliver(tmp: Path, ts: str, body: str, consent: str = "granted") -> None:
    edited = note("N-1", ts, body, ANA_BY_ID, consent={"assistant_use": consent})
    write(tmp / "crm" / "a", [edited, notes_a()[1]])


def revoke(client: TestClient) -> None:
    resp = client.post("/admin/consent/revoke", headers=headers("admin"), json=REVOKE)
    assert resp.status_code == 201 and resp.json()["verified"] is True


def excluded(services: Services) -> bool:
    entry = services.state.ledger_get(N1)
    return services.index.count(ref=N1) == 0 and entry is not None and entry.status == "excluded"


def test_an_edit_at_the_source_does_not_lift_a_revocation(env: tuple[Services, TestClient, Path]) -> None:
    services, client, tmp = env
    revoke(client)
    # the CRM edits the text (later updated_at), its consent field still says granted
    deliver(tmp, at(1), "Lidar firmware patch re-scheduled.")
    assert services.run("acme-notes", actor="t").counts["indexed"] == 0
    assert excluded(services) and "N-1" not in ask(client, "lidar firmware patch re-scheduled")
    deliver(tmp, at(2), "Lidar firmware patch shipped.")
    services.run("acme-notes", actor="t")
    assert excluded(services) and services.privacy.for_refs([N1])

    # the source's consent value itself changes after the revocation: it decides from now on
    deliver(tmp, at(3), "Lidar firmware patch shipped.", consent="revoked")
    services.run("acme-notes", actor="t")
    assert excluded(services) and not services.privacy.for_refs([N1])
    deliver(tmp, at(4), "Lidar patch re-approved by the customer.")
    services.run("acme-notes", actor="t")
    assert "N-1" in ask(client, "lidar patch re-approved by the customer")


def test_an_admin_lifts_a_revocation(env: tuple[Services, TestClient, Path]) -> None:
    services, client, tmp = env
    revoke(client)
    deliver(tmp, at(1), "Lidar firmware patch re-scheduled.")
    services.run("acme-notes", actor="t")
    assert excluded(services)
    resp = client.post("/admin/consent/lift", headers=headers("admin"), json=REVOKE)
    assert resp.status_code == 200 and resp.json() == {"lifted": 1}
    assert services.state.list_audit(action="revocation_lifted", limit=1)[0]["record_id"] == "N-1"
    reindex = {"source": "acme-notes", "record_id": "N-1", "wait": True}
    again = client.post("/admin/reindex", headers=headers("admin"), json=reindex)
    assert again.status_code == 200 and again.json()["status"] == "succeeded"
    assert "N-1" in ask(client, "lidar firmware patch re-scheduled")
    unknown = client.post(
        "/admin/consent/lift", headers=headers("admin"), json={**REVOKE, "source": "nope-source"}
    )
    assert unknown.status_code == 404
    # revoked again later: a new revocation, a new baseline; the same edit does not lift it
    revoke(client)
    deliver(tmp, at(5), "Lidar firmware patch re-scheduled again.")
    services.run("acme-notes", actor="t")
    assert excluded(services)


def test_a_page_lifts_only_the_revocation_it_read(env: tuple[Services, TestClient, Path]) -> None:
    """The source's consent value changed, so the page lifts the revocation, just before its
    commit; a new revocation arriving while the page is in flight replaces the one it read and
    must stand (issue 15: the lift is part of the plan, not a write at decision time)."""
    services, client, tmp = env
    revoke(client)
    first = services.privacy.for_refs([N1])[N1.key].receipt_id
    deliver(tmp, at(1), "Lidar firmware patch re-scheduled.")  # the baseline: consent as before
    services.run("acme-notes", actor="t")
    assert excluded(services)
    more = {"assistant_use": "granted", "sales_ai": "granted"}
    edited = note("N-1", at(2), "Lidar firmware patch re-scheduled.", ANA_BY_ID, consent=more)
    write(tmp / "crm" / "a", [edited, notes_a()[1]])
    gate = PageGate("staged")  # decided to lift and re-index N-1, nothing written yet
    original = services.refresher
    services.refresher = Refresher(dataclasses.replace(services.parts, page_hook=gate))
    run: dict[str, Any] = {}
    page = threading.Thread(target=lambda: run.update(report=services.run("acme-notes", actor="t")))
    page.start()
    try:
        assert gate.reached.wait(60)
        again: dict[str, Any] = {}

        def post() -> None:
            resp = client.post("/admin/consent/revoke", headers=headers("admin"), json=REVOKE)
            again.update(status=resp.status_code, body=resp.json())

        worker = threading.Thread(target=post)
        worker.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the new revocation is committed, then waits for the page
            current = services.privacy.for_refs([N1]).get(N1.key)
            if current is not None and current.receipt_id != first:
                break
            time.sleep(0.02)
    finally:
        gate.release.set()
        page.join(60)
        services.refresher = original
    worker.join(60)
    assert run["report"].status == "succeeded"
    assert again["status"] == 201 and again["body"]["verified"] is True
    standing = services.privacy.for_refs([N1]).get(N1.key)
    assert standing is not None and standing.receipt_id == again["body"]["receipt_id"]
    assert excluded(services)
    services.run("acme-notes", kind="reindex", actor="t")  # nothing brings it back
    assert excluded(services) and "N-1" not in ask(client, "lidar firmware patch re-scheduled")


def test_a_page_that_fails_lifts_nothing(env: tuple[Services, TestClient, Path]) -> None:
    """The lift comes with the page's commit: a page that fails before it leaves the revocation,
    and the next run decides again."""
    services, client, tmp = env
    revoke(client)
    deliver(tmp, at(1), "Lidar firmware patch re-scheduled.")
    services.run("acme-notes", actor="t")
    more = {"assistant_use": "granted", "sales_ai": "granted"}
    write(
        tmp / "crm" / "a", [note("N-1", at(2), "Lidar patch shipped.", ANA_BY_ID, consent=more), notes_a()[1]]
    )

    class Unavailable(RuntimeError):
        pass

    def fail(points: Any) -> None:
        raise Unavailable("index unavailable")

    original = services.index.upsert
    services.index.upsert = fail  # type: ignore[method-assign]
    try:
        assert services.run("acme-notes", actor="t").status == "failed"
    finally:
        services.index.upsert = original  # type: ignore[method-assign]
    assert services.privacy.for_refs([N1]) and excluded(services)
    assert services.run("acme-notes", actor="t").status == "succeeded"
    assert not services.privacy.for_refs([N1])
    assert "N-1" in ask(client, "lidar patch shipped")
