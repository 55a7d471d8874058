"""Issue 20: the README's backup and restore steps for the embedded default (edge shard + SQLite),
followed one by one: stop, copy the data folder, restore it elsewhere, start, same answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ingest.stages.embedding import Embedder
from policies.redaction import PresidioRedactor
from rag_service.config import load_settings
from rag_service.services import build_services

ROOT = Path(__file__).resolve().parents[2]


def test_cold_copy_of_the_data_folder_restores_index_and_state(
    tmp_path: Path, embedder: Embedder, redactor: PresidioRedactor
) -> None:
    source = {"kind": "file", "name": "nw", "tenant_id": "northwind"}
    source |= {"path": str(ROOT / "demo" / "crm" / "northwind")}
    config = tmp_path / "cfg.yaml"
    config.write_text(json.dumps({"data_dir": "var", "sources": [source]}))
    services = build_services(load_settings(config), embedder=embedder, redactor=redactor)
    try:
        assert services.run("nw", actor="test").status == "succeeded"
        chunks = services.index.count()
        ledger = services.state.ledger_for_source("nw")
    finally:
        services.close()  # 1. stop the service: one process owns the shard
    shutil.copytree(tmp_path / "var", tmp_path / "backup")  # 2. copy the whole data folder
    shutil.rmtree(tmp_path / "var")  # the disk is lost
    shutil.copytree(tmp_path / "backup", tmp_path / "restored")  # 3. restore (anywhere)
    config.write_text(json.dumps({"data_dir": "restored", "sources": [source]}))
    restored = build_services(load_settings(config), embedder=embedder, redactor=redactor)  # 4. start
    try:
        assert restored.index.count() == chunks
        assert restored.state.ledger_for_source("nw") == ledger
        assert restored.state.verify_audit_chain()[0]
        again = restored.run("nw", actor="test")  # nothing re-embedded: the cursor came along
        assert again.status == "succeeded" and again.counts.get("indexed", 0) == 0
    finally:
        restored.close()
