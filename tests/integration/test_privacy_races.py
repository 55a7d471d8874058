"""Erasure and revocation racing a page in flight (issue 19, defect 3): the purge wins every
interleaving, and a receipt says verified only when no write in flight can undo it. A page hook
holds the page at a chosen point, so each interleaving is deterministic."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.models import RecordRef
from ingest.pipeline import Refresher
from rag_service.services import Services
from tests.conftest import headers
from tests.integration.acme import ANA_BY_ID, PageGate, ask, note, notes_a, write

N1 = RecordRef(tenant_id="acme", source="acme-notes", record_id="N-1")


@pytest.fixture
def gated(env: tuple[Services, TestClient, Path]) -> Iterator[tuple[Services, TestClient, Path]]:
    services = env[0]
    original = services.refresher
    yield env
    services.refresher = original


def hold_page(services: Services, point: str) -> tuple[PageGate, threading.Thread, dict[str, Any]]:
    """A reindex of acme-notes (re-writes N-1) held at `point`."""
    gate = PageGate(point)
    services.refresher = Refresher(dataclasses.replace(services.parts, page_hook=gate))
    out: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: out.update(report=services.run("acme-notes", kind="reindex", actor="t"))
    )
    worker.start()
    assert gate.reached.wait(60)
    return gate, worker, out


def post_in_thread(
    client: TestClient, path: str, body: dict[str, Any]
) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def call() -> None:
        resp = client.post(path, headers=headers("admin"), json=body)
        out.update(status=resp.status_code, body=resp.json())

    worker = threading.Thread(target=call)
    worker.start()
    return worker, out


REVOKE = ("/admin/consent/revoke", {"tenant_id": "acme", "source": "acme-notes", "record_id": "N-1"})
ERASE = ("/admin/erasure", {"tenant_id": "acme", "contact_id": "c-ana"})


def assert_gone(services: Services, client: TestClient, status: str) -> None:
    assert services.index.count(ref=N1) == 0
    entry = services.state.ledger_get(N1)
    assert entry is not None and entry.status == status
    assert "N-1" not in ask(client)
    services.state.reset_cursor("acme-notes")  # a later sync does not bring it back either
    assert services.run("acme-notes", actor="t").status == "succeeded"
    assert services.index.count(ref=N1) == 0


@pytest.mark.parametrize(("request_", "status"), [(REVOKE, "excluded"), (ERASE, "erased")])
def test_purge_waits_for_a_page_between_redaction_and_commit(
    gated: tuple[Services, TestClient, Path], request_: tuple[str, dict[str, Any]], status: str
) -> None:
    services, client, _ = gated
    gate, page, run = hold_page(services, "staged")  # N-1 redacted and embedded, not yet written
    worker, out = post_in_thread(client, *request_)
    try:
        deadline = time.monotonic() + 30
        while not services.privacy.for_refs([N1]) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert services.privacy.for_refs([N1]), "the suppression is committed first"
        worker.join(1.0)
        # the page could still write N-1: no receipt may claim verification yet
        assert worker.is_alive() and not out
        assert services.privacy.list_receipts("acme") == []
    finally:
        gate.release.set()
        page.join(60)
        worker.join(60)
    assert run["report"].status == "succeeded"
    assert out["status"] == 201, out
    assert out["body"]["verified"] is True and out["body"]["writes_settled"] is True
    assert "acme:acme-notes:N-1" in out["body"]["records"]
    assert_gone(services, client, status)


@pytest.mark.parametrize(("request_", "status"), [(REVOKE, "excluded"), (ERASE, "erased")])
def test_page_that_starts_after_the_suppression_writes_nothing(
    gated: tuple[Services, TestClient, Path], request_: tuple[str, dict[str, Any]], status: str
) -> None:
    services, client, _ = gated
    gate, page, run = hold_page(services, "fetched")  # fetched, not yet announced on the fence
    try:
        resp = client.post(request_[0], headers=headers("admin"), json=request_[1])
        assert resp.status_code == 201 and resp.json()["verified"] is True
    finally:
        gate.release.set()
        page.join(60)
    assert run["report"].status == "succeeded"
    assert_gone(services, client, status)


def test_purge_waits_for_a_page_that_committed_but_is_still_in_flight(
    gated: tuple[Services, TestClient, Path],
) -> None:
    services, client, _ = gated
    gate, page, _ = hold_page(services, "committed")
    worker, out = post_in_thread(client, *REVOKE)
    try:
        worker.join(1.0)
        assert worker.is_alive() and not out
    finally:
        gate.release.set()
        page.join(60)
        worker.join(60)
    assert out["status"] == 201 and out["body"]["verified"] is True
    assert_gone(services, client, "excluded")


def test_a_receipt_is_not_verified_while_a_page_is_still_in_flight(
    gated: tuple[Services, TestClient, Path],
) -> None:
    """The page outlives the settle timeout: the receipt says so, and the late page removes what it
    wrote itself once it sees the suppression."""
    services, client, _ = gated
    privacy = services.settings.privacy.model_copy(update={"settle_timeout_seconds": 0.3})
    services.settings = services.settings.model_copy(update={"privacy": privacy})
    client.app.state.services = services  # type: ignore[attr-defined]
    gate, page, run = hold_page(services, "staged")
    try:
        resp = client.post(REVOKE[0], headers=headers("admin"), json=REVOKE[1])
        assert resp.status_code == 201
        assert resp.json()["verified"] is False and resp.json()["writes_settled"] is False
    finally:
        gate.release.set()
        page.join(60)
    assert run["report"].status == "succeeded"
    assert_gone(services, client, "excluded")


def test_new_record_of_an_erased_contact_in_a_page_in_flight(
    gated: tuple[Services, TestClient, Path],
) -> None:
    """A page holding a record not yet linked to the contact (a new one) when the erasure comes."""
    services, client, tmp = gated
    write(
        tmp / "crm" / "a",
        [*notes_a(), note("N-9", "2026-10-09T10:00:00+00:00", "New lidar note about Ana.", ANA_BY_ID)],
    )
    gate = PageGate("staged")
    services.refresher = Refresher(dataclasses.replace(services.parts, page_hook=gate))
    page = threading.Thread(target=lambda: services.run("acme-notes", actor="t"))
    page.start()
    assert gate.reached.wait(60)
    worker, out = post_in_thread(client, *ERASE)
    try:
        worker.join(1.0)
        assert worker.is_alive()
    finally:
        gate.release.set()
        page.join(60)
        worker.join(60)
    n9 = RecordRef(tenant_id="acme", source="acme-notes", record_id="N-9")
    assert out["body"]["verified"] is True and n9.key in out["body"]["records"]
    assert services.index.count(ref=n9) == 0
