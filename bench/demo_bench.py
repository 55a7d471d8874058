"""Benchmark on the bundled demo set: ingest time, unchanged re-sync time, and /query latency
against a live uvicorn on 127.0.0.1. One run, side by side.

    .venv/bin/python -m bench.demo_bench [--queries 300]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.corpus import touch_one_percent
from bench.live import bench_settings, live_server
from bench.load import pct
from ingest.governance.erasure import revoke_record
from rag_service.app import create_app
from rag_service.services import build_services

ROOT = Path(__file__).resolve().parents[1]


def query_load(url: str, n: int) -> tuple[list[float], list[float]]:
    """n sequential /query calls over the labeled questions; client-side ms and server took_ms."""
    truth = json.loads((ROOT / "demo" / "truth.json").read_text())
    questions = [c["question"] for c in truth["canaries"]] + ["renewal budget", "dashboard does not load"]
    latencies: list[float] = []
    server_ms: list[float] = []
    with httpx.Client(base_url=url, headers={"X-API-Key": "demo-assistant-key"}) as client:
        for i in range(n):
            tenant = ("northwind", "contoso", "globex")[i % 3]
            body = {
                "question": questions[i % len(questions)],
                "tenant_id": tenant,
                "purpose": ("sales_assistant", "support_assistant")[i % 2],
                "user": {"user_id": "u", "team_ids": [f"team-{tenant}-sales", f"team-{tenant}-support"]},
            }
            t0 = time.perf_counter()
            resp = client.post("/query", json=body)
            latencies.append((time.perf_counter() - t0) * 1000)
            resp.raise_for_status()
            server_ms.append(resp.json()["took_ms"])
    return latencies, server_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    shutil.copytree(ROOT / "demo" / "crm", tmp / "crm")
    demo = bench_settings(tmp / "var")
    settings = bench_settings(
        tmp / "var", [src.model_copy(update={"path": tmp / "crm" / src.tenant_id}) for src in demo.sources]
    )
    t0 = time.perf_counter()
    services = build_services(settings)
    load_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    reports = [services.run(s.name, actor="bench") for s in settings.sources]
    ingest_s = time.perf_counter() - t0
    fetched = sum(r.counts["fetched"] for r in reports)
    chunks = sum(r.counts["chunks_written"] for r in reports)

    for s in settings.sources:
        services.state.reset_cursor(s.name)
    t0 = time.perf_counter()
    again = [services.run(s.name, actor="bench") for s in settings.sources]
    resync_s = time.perf_counter() - t0
    assert sum(r.counts["embedded"] for r in again) == 0

    # 1% of records change at the source (new text, newer updated_at): incremental re-sync
    changed = touch_one_percent(tmp / "crm")
    t0 = time.perf_counter()
    delta = [services.run(s.name, actor="bench") for s in settings.sources]
    delta_s = time.perf_counter() - t0

    # consent revocation: time until the record has zero chunks (and zero query hits)
    victim = services.state.ledger_for_source(settings.sources[0].name, "indexed")[0]
    t0 = time.perf_counter()
    receipt = revoke_record(services.state, services.privacy, services.index, ref=victim.ref, actor="bench")
    revoke_s = time.perf_counter() - t0
    assert receipt.verified
    assert services.index.count(ref=victim.ref) == 0

    app = create_app(settings, services=services, start_scheduler=False)
    with live_server(app) as url:
        latencies, server_ms = query_load(url, args.queries)
    services.close()
    shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "records_fetched": fetched,
        "chunks": chunks,
        "model_and_policy_load_s": round(load_s, 2),
        "initial_ingest_s": round(ingest_s, 2),
        "records_per_s": round(fetched / ingest_s, 1),
        "unchanged_resync_s": round(resync_s, 2),
        "resync_vs_initial": round(resync_s / ingest_s, 3),
        "changed_records": changed,
        "one_percent_resync_s": round(delta_s, 2),
        "one_percent_vs_initial": round(delta_s / ingest_s, 3),
        "one_percent_indexed_records": sum(r.counts["indexed"] for r in delta),
        "one_percent_embedded_chunks": sum(r.counts["embedded"] for r in delta),
        "revocation_to_zero_hits_ms": round(revoke_s * 1000, 1),
        "query_n": len(latencies),
        "query_p50_ms": round(statistics.median(latencies), 1),
        "query_p95_ms": round(pct(latencies, 0.95), 1),
        "query_p99_ms": round(pct(latencies, 0.99), 1),
        "server_took_p50_ms": round(statistics.median(server_ms), 1),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
