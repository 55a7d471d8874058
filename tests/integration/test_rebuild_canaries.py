"""Rebuild canaries follow erasure, revocation and deletion (issue 19, defect 13): the gate skips a
canary whose record is gone for a legitimate reason, and says so in its report."""

from __future__ import annotations

import json

import pytest

from ingest.config import FileSourceConfig
from ingest.governance.erasure import erase_contact, revoke_record
from ingest.models import RecordRef
from rag_service.services import Services
from tests.integration.rebuild_world import services

__all__ = ["services"]

N0 = RecordRef(tenant_id="acme", source="acme-files", record_id="N-0")


def erase(svc: Services) -> None:
    erase_contact(
        svc.state, svc.privacy, svc.index, tenant_id="acme", contact_id="c-0", email=None, actor="t"
    )


def revoke(svc: Services) -> None:
    revoke_record(svc.state, svc.privacy, svc.index, ref=N0, actor="t")


def delete(svc: Services) -> None:
    cfg = svc.settings.source("acme-files")
    assert isinstance(cfg, FileSourceConfig)
    folder = cfg.path
    tomb = {"record_id": "N-0", "deleted": True, "updated_at": "2026-11-01T00:00:00+00:00"}
    with (folder / "n.jsonl").open("a") as fh:
        fh.write(json.dumps(tomb) + "\n")
    assert svc.run("acme-files", actor="t").counts["deleted"] == 1


@pytest.mark.parametrize(
    ("gone", "why"),
    [(erase, "erased"), (revoke, "consent revoked"), (delete, "deleted (source_deleted)")],
)
def test_a_canary_whose_record_is_gone_is_skipped_and_reported(
    services: Services, gone: object, why: str
) -> None:
    assert callable(gone)
    gone(services)
    report = services.rebuild(actor="t")
    assert report.status == "swapped", report.checks
    canary = next(c for c in report.checks if c.name == "canary:acme:N-0")
    assert canary.ok and canary.skipped and why in canary.detail
    assert services.index.count(ref=N0) == 0
