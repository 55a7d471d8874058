"""kill -9 a sync at random points, restart it, and compare index + ledger with the source and
with a clean reference run: nothing lost, duplicated or orphaned."""

from __future__ import annotations

import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from ingest import payload as P
from ingest.config import FileSourceConfig
from rag_service.config import load_settings
from rag_service.services import Services, build_services
from tests.conftest import DEMO, ROOT


def config_file(tmp: Path, name: str, data: Path) -> Path:
    cfg = {
        "data_dir": str(tmp / name),
        "sources": [
            {
                "kind": "file",
                "name": "northwind-files",
                "tenant_id": "northwind",
                "path": str(data),
                "page_size": 8,
            }
        ],
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def cursor_exists(db: Path) -> bool:
    if not db.exists():
        return False
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return bool(conn.execute("SELECT count(*) FROM cursors").fetchone()[0] > 0)
    except sqlite3.Error:
        return False


def snapshot(services: Services) -> dict[str, Any]:
    payloads = services.index.scroll_payloads(tenant_id="northwind")
    chunks: dict[str, list[int]] = {}
    hashes: dict[str, set[str]] = {}
    for p in payloads:
        chunks.setdefault(p[P.RECORD_ID], []).append(p[P.CHUNK_INDEX])
        hashes.setdefault(p[P.RECORD_ID], set()).add(p[P.CONTENT_HASH])
    ledger = {
        e.record_id: e.chunk_count for e in services.state.ledger_for_source("northwind-files", "indexed")
    }
    return {
        "chunks": {k: sorted(v) for k, v in chunks.items()},
        "hashes": hashes,
        "ledger": ledger,
        "points": len(payloads),
    }


def test_kill_9_mid_sync_then_restart_matches_a_clean_run(
    tmp_path: Path, embedder: Any, redactor: Any
) -> None:
    data = tmp_path / "crm"
    shutil.copytree(DEMO / "crm" / "northwind", data)
    crashy = config_file(tmp_path, "crashy", data)
    db = tmp_path / "crashy" / "state.db"
    rng = random.Random(7)
    kills = 0
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag_service.cli", "--config", str(crashy), "sync"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while not cursor_exists(db) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(30)
    assert kills >= 1, "the sync finished before it could be killed; the test proved nothing"

    settings = load_settings(crashy)
    restarted = build_services(settings, embedder=embedder, redactor=redactor)
    try:
        report = restarted.run("northwind-files", actor="t")
        assert report.status == "succeeded"
        runs = restarted.state.list_runs(source="northwind-files")
        interrupted = [r for r in runs if r["error"] and r["error"].startswith("interrupted")]
        assert interrupted, "the killed run must be marked as interrupted"
        assert not [r for r in runs if r["status"] == "running"]
        after_crash = snapshot(restarted)
    finally:
        restarted.close()

    clean_settings = load_settings(config_file(tmp_path, "clean", data))
    clean = build_services(clean_settings, embedder=embedder, redactor=redactor)
    try:
        clean.run("northwind-files", actor="t")
        reference = snapshot(clean)
        source = clean.sources["northwind-files"]
        live = set(source.live_ids())
    finally:
        clean.close()

    assert isinstance(settings.sources[0], FileSourceConfig)
    assert after_crash["ledger"] == reference["ledger"]
    assert after_crash["chunks"] == reference["chunks"]
    assert after_crash["hashes"] == reference["hashes"]
    assert after_crash["points"] == reference["points"] == sum(reference["ledger"].values())
    assert set(after_crash["chunks"]) <= live
    for rid, indices in after_crash["chunks"].items():
        assert indices == list(range(len(indices))), f"{rid}: gap or duplicate chunk"
