"""Issue 19, defects 6 and 12 (start-up part): an index restored from a backup does not serve
records the ledger has since deleted or excluded, from the first request on; sources the index
holds but the configuration no longer names are reported at start-up."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from ingest.config import FileSourceConfig
from ingest.models import RecordRef
from rag_service.config import Settings
from rag_service.services import build_services
from tests.conftest import make_settings
from tests.integration.helpers import rec


def write(folder: Path, items: list[dict[str, Any]]) -> None:
    (folder / "notes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))


def ref(i: int) -> RecordRef:
    return RecordRef(tenant_id="acme", source="acme-files", record_id=f"N-{i}")


def settings_for(tmp_path: Path, folder: Path) -> Settings:
    return make_settings(tmp_path / "var", tmp_path).model_copy(
        update={"sources": (FileSourceConfig(name="acme-files", tenant_id="acme", path=folder),)}
    )


@pytest.mark.parametrize("direct_limit", [2_000, 0], ids=["one-by-one", "by-scroll"])
def test_a_restored_index_does_not_serve_deleted_or_excluded_records(
    tmp_path: Path, embedder: Any, redactor: Any, monkeypatch: pytest.MonkeyPatch, direct_limit: int
) -> None:
    monkeypatch.setattr("ingest.jobs.index_check.DIRECT_LIMIT", direct_limit)
    folder = tmp_path / "crm"
    folder.mkdir()
    write(folder, [rec(i) for i in range(10)])
    settings = settings_for(tmp_path, folder)
    services = build_services(settings, embedder=embedder, redactor=redactor)
    assert services.run("acme-files", actor="t").counts["indexed"] == 10
    services.close()
    backup = tmp_path / "index-backup"
    shutil.copytree(settings.index.path, backup)

    services = build_services(settings, embedder=embedder, redactor=redactor)
    tomb = {"record_id": "N-1", "deleted": True, "updated_at": "2026-10-02T00:00:00+00:00"}
    revoked = rec(3, updated_at="2026-10-02T00:01:00+00:00", consent={"assistant_use": "revoked"})
    write(folder, [*(rec(i) for i in range(10) if i not in (1, 2, 3)), tomb, revoked])
    services.run("acme-files", actor="t")  # N-1 tombstoned, N-3 excluded
    assert services.reconcile("acme-files", confirm=True, actor="t").stale_records == 1  # N-2 gone
    assert [services.state.ledger_get(ref(i)).status for i in (1, 2, 3)] == [  # type: ignore[union-attr]
        "deleted",
        "deleted",
        "excluded",
    ]
    services.close()

    shutil.rmtree(settings.index.path)  # the old index comes back from the backup
    shutil.copytree(backup, settings.index.path)
    services = build_services(settings, embedder=embedder, redactor=redactor)
    try:
        assert [services.index.count(ref=ref(i)) for i in (1, 2, 3)] == [0, 0, 0]
        assert services.index.count(tenant_id="acme") == 7
        event = services.state.list_audit(action="purge")[0]
        assert event["actor"] == "startup" and event["details"]["record_ids"] == ["N-1", "N-2", "N-3"]
    finally:
        services.close()


def test_startup_warns_about_sources_the_configuration_no_longer_names(
    tmp_path: Path, embedder: Any, redactor: Any, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "crm"
    folder.mkdir()
    write(folder, [rec(i) for i in range(3)])
    settings = settings_for(tmp_path, folder)
    services = build_services(settings, embedder=embedder, redactor=redactor)
    services.run("acme-files", actor="t")
    services.close()
    with caplog.at_level(logging.WARNING, logger="rag_service.services"):
        services = build_services(
            settings.model_copy(update={"sources": ()}), embedder=embedder, redactor=redactor
        )
    services.close()
    warned = [r for r in caplog.records if "configuration does not name" in r.getMessage()]
    assert [(r.source, r.chunks) for r in warned] == [("acme-files", 3)]  # type: ignore[attr-defined]
