"""The compose configuration (config/compose.yaml) run as processes on this machine: two API
replicas and a worker sharing the local PostgreSQL. No Docker engine or Qdrant server runs here,
so each process keeps its own embedded index; what is shared, and tested, is the state: the
worker's runs are visible through either API replica, and one rate limit holds across both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.live import free_port
from tests.conftest import KEYS, ROOT
from tests.integration.helpers import demo_subset

TENANTS = ("northwind", "contoso", "globex")


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "rag_service.cli", "--config", str(ROOT / "config" / "compose.yaml"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_api_replicas_and_worker_share_postgres(pg_url: str, tmp_path: Path) -> None:
    crm = demo_subset(ROOT / "demo" / "crm", tmp_path / "crm", 8)  # what is shared is the state, not the data
    sources = [{"kind": "file", "name": f"{t}-files", "tenant_id": t, "path": str(crm / t)} for t in TENANTS]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QDRANT_", "CRM_RAG_"))}
    base |= {
        "CRM_RAG_STATE__URL": pg_url,
        "CRM_RAG_SOURCES": json.dumps(sources),  # demo records of this checkout, not /app/demo
        "CRM_RAG_API__RATE_LIMIT_BURST": "4",
        "CRM_RAG_API__RATE_LIMIT_PER_MINUTE": "1",
        "PYTHONPATH": str(ROOT),
    }

    def env(name: str) -> dict[str, str]:
        return base | {
            "CRM_RAG_DATA_DIR": str(tmp_path / name),
            "CRM_RAG_INDEX__PATH": str(tmp_path / name / "index"),
        }

    ports = [free_port(), free_port()]
    procs = [start(["worker", "--name", "w-compose", "--tick", "1"], env("worker"))]
    procs += [
        start(["serve", "--no-scheduler", "--host", "127.0.0.1", "--port", str(p)], env(f"api{i}"))
        for i, p in enumerate(ports)
    ]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    engine = sa.create_engine(pg_url)
    try:
        deadline = time.monotonic() + 180
        ready: set[str] = set()
        done: set[str] = set()
        while time.monotonic() < deadline and (len(ready) < 2 or len(done) < 3):
            for url in urls:
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        ready.add(url)
                except httpx.HTTPError:
                    pass
            try:
                with engine.connect() as conn:
                    done = {
                        r.source
                        for r in conn.execute(
                            sa.text(
                                "SELECT source FROM job_runs "
                                "WHERE status = 'succeeded' AND actor = 'worker:w-compose'"
                            )
                        )
                    }
            except sa.exc.ProgrammingError:
                done = set()
            assert all(p.poll() is None for p in procs), "a process exited early"
            time.sleep(0.5)
        assert len(ready) == 2 and done == {f"{t}-files" for t in TENANTS}

        # the worker's runs, read through an API replica (which never ran a sync itself)
        runs = httpx.get(f"{urls[1]}/admin/runs", headers={"X-API-Key": KEYS["admin"]}, timeout=10).json()
        assert {r["source"] for r in runs if r["actor"] == "worker:w-compose"} == done

        # one bucket per key across both replicas (rate_limit_store: state in config/compose.yaml)
        auditor = {"X-API-Key": KEYS["auditor"]}
        codes = [
            httpx.get(f"{urls[i % 2]}/audit/events", headers=auditor, timeout=10).status_code
            for i in range(5)
        ]
        assert codes == [200, 200, 200, 200, 429]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        # uvicorn re-raises SIGTERM after its graceful shutdown: -SIGTERM is a clean exit too
        codes = [p.wait(60) for p in procs]
        engine.dispose()
    assert all(c in (0, -signal.SIGTERM) for c in codes), [
        (c, p.stderr.read()[-1500:] if p.stderr else b"") for c, p in zip(codes, procs, strict=True)
    ]
