"""Blue/green rebuild with a verification gate, atomic swap and rollback, on every backend."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from ingest.index.base import IndexFilter
from ingest.models import RecordRef
from rag_service.config import RebuildConfig
from rag_service.services import Services, job_settings
from tests.integration.rebuild_world import canary, services

__all__ = ["services"]  # the fixture (edge and qdrant-local)


def ids(svc: Services, question: str = "lidar firmware patch robots") -> list[str]:
    hits = svc.index.search(
        svc.embedder.embed_query(question),
        where=IndexFilter(tenant_id="acme", purpose="sales_assistant", acl_user="u-1"),
        limit=10,
    )
    return [str(h.payload["record_id"]) for h in hits]


def test_rebuild_swaps_after_verification_and_rolls_back(services: Services) -> None:
    before = services.gens.pointer()
    chunks = services.index.count()
    seen_during: list[list[str]] = []
    stop = threading.Event()

    def query_loop() -> None:
        while not stop.is_set():
            seen_during.append(ids(services))

    watcher = threading.Thread(target=query_loop)
    watcher.start()
    try:
        report = services.rebuild(actor="t")
    finally:
        stop.set()
        watcher.join()
    assert report.status == "swapped", report.checks
    assert all(c.ok for c in report.checks)
    assert {c.name.split(":")[0] for c in report.checks} == {
        "ledger_counts",
        "canary",
        "suppressed_zero_hits",
    }
    after = services.gens.pointer()
    assert after.live == report.generation != before.live
    assert after.previous == before.live
    assert services.index.count() == chunks
    assert seen_during and all("N-0" in s for s in seen_during), "queries must never see a half-built index"
    assert "N-0" in ids(services)
    assert services.state.list_audit(action="alias_swap")

    # an erasure after the swap, then a rollback: the old generation must not bring the records back
    from ingest.governance.erasure import erase_contact

    receipt = erase_contact(
        services.state,
        services.privacy,
        services.index,
        tenant_id="acme",
        contact_id="c-0",
        email=None,
        actor="t",
    )
    assert receipt.verified
    assert "N-0" not in ids(services)
    back = services.rollback(actor="t")
    assert back.status == "rolled_back"
    assert services.gens.pointer().live == before.live
    assert "N-0" not in ids(services)
    assert "N-1" in ids(services, "invoice credit note for March")
    assert services.index.count(ref=RecordRef(tenant_id="acme", source="acme-files", record_id="N-3")) == 0
    assert services.state.list_audit(action="rollback")
    # the ledger matches the live generation again
    ledger = {e.record_id: e.chunk_count for e in services.state.ledger_for_source("acme-files", "indexed")}
    assert services.index.record_chunk_counts("acme", "acme-files") == ledger


def test_failed_verification_keeps_the_live_generation(services: Services) -> None:
    live = services.gens.pointer().live
    bad = services.settings.model_copy(update={"rebuild": RebuildConfig(canaries=(canary("N-404"),))})
    services.settings = bad
    services.jobs.settings = job_settings(bad, services.consent.version)
    report = services.rebuild(actor="t")
    assert report.status == "failed_verification"
    assert [c.name for c in report.checks if not c.ok] == ["canary:acme:N-404"]
    assert services.gens.pointer().live == live
    assert "N-0" in ids(services)
    assert services.state.list_audit(action="rebuild_failed")
    assert np.isfinite(report.seconds)


def test_a_failed_index_build_keeps_the_live_generation(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    if services.settings.index.backend != "edge":
        pytest.skip("the Qdrant server builds its own indexes")
    from ingest.errors import StoreError

    def broken(path: Path, timeout_seconds: float = 0) -> dict[str, float | int]:
        raise StoreError("optimizing the shard failed (exit 1)")

    monkeypatch.setattr("ingest.index.optimize.optimize_in_subprocess", broken)
    live = services.gens.pointer().live
    report = services.rebuild(actor="t")
    assert report.status == "failed_verification"
    assert [c.name for c in report.checks if not c.ok] == ["optimize"]
    assert services.gens.pointer().live == live and "N-0" in ids(services)
