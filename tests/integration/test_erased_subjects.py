"""Erasure covers the contact's future records too (issue 19, defect 4): by contact id and by
normalised e-mail (and phone), until an admin lifts it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from ingest.models import RecordRef
from ingest.store.privacy import phone_key
from rag_service.services import Services
from tests.conftest import headers
from tests.integration.acme import ANA_BY_ID, OTHER, ask, note, notes_a, write


def ref(rid: str) -> RecordRef:
    return RecordRef(tenant_id="acme", source="acme-notes", record_id=rid)


def erase(client: TestClient, **subject: str) -> dict[str, object]:
    resp = client.post("/admin/erasure", headers=headers("admin"), json={"tenant_id": "acme", **subject})
    assert resp.status_code == 201, resp.text
    body: dict[str, object] = resp.json()
    assert body["verified"] is True
    return body


def test_new_records_naming_an_erased_contact_are_not_indexed_until_lifted(
    env: tuple[Services, TestClient, Path],
) -> None:
    services, client, tmp = env
    erase(client, contact_id="c-ana")
    new_by_id = note("N-5", "2026-10-06T10:00:00+00:00", "Lidar firmware follow-up with Ana.", ANA_BY_ID)
    by_mail = [{"contact_id": "crm-77", "name": "A. L.", "email": " ANA.lindqvist@example.ORG "}]
    new_by_mail = note("N-6", "2026-10-06T11:00:00+00:00", "Lidar robots call notes.", by_mail)
    unrelated = note("N-7", "2026-10-06T12:00:00+00:00", "Lidar robots unrelated.", OTHER)
    write(tmp / "crm" / "a", [*notes_a(), new_by_id, new_by_mail, unrelated])
    erase(client, email="ana.lindqvist@example.org")  # the same person, known by e-mail elsewhere

    report = services.run("acme-notes", actor="t")
    assert report.counts["suppressed"] == 2 and report.counts["indexed"] == 1
    for rid in ("N-5", "N-6"):
        assert services.index.count(ref=ref(rid)) == 0
        entry = services.state.ledger_get(ref(rid))
        assert entry is not None and entry.status == "excluded" and entry.reason == "erased_subject"
    assert services.index.count(ref=ref("N-7")) > 0
    found = ask(client)
    assert not found & {"N-1", "N-5", "N-6"} and "N-7" in found

    # an admin lifts the subject: later (re)deliveries are indexed again; erased records stay erased
    for subject in ({"contact_id": "c-ana"}, {"email": "Ana.Lindqvist@example.org"}):
        resp = client.post(
            "/admin/erasure/lift", headers=headers("admin"), json={"tenant_id": "acme", **subject}
        )
        assert resp.status_code == 200 and resp.json()["lifted"] >= 1
    assert services.run("acme-notes", kind="reindex", actor="t").status == "succeeded"
    assert services.index.count(ref=ref("N-5")) > 0 and services.index.count(ref=ref("N-6")) > 0
    assert services.index.count(ref=ref("N-1")) == 0
    lifted = services.state.list_audit(action="erasure_lifted", limit=10)
    assert len(lifted) == 2 and "lindqvist" not in str(lifted).lower()


def test_erasure_by_phone_and_phone_normalisation(env: tuple[Services, TestClient, Path]) -> None:
    _, client, _ = env
    assert phone_key("+1 415-555-0100") == phone_key("(415) 555 0100") == phone_key("001.415.555.0100")
    assert phone_key("415-555-0199") != phone_key("415-555-0100")
    assert phone_key("12-34") is None
    receipt = erase(client, phone="+1 (415) 555-0100")
    assert receipt["subject"] == phone_key("415 555 0100")
    assert "555-0100" not in str(receipt) and "4155550100" not in str(receipt)
    bad = client.post(
        "/admin/erasure", headers=headers("admin"), json={"tenant_id": "acme", "phone": "call me"}
    )
    assert bad.status_code == 422 and "call me" not in bad.text
