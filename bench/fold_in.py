"""/query latency before, during and after a background fold-in, in one run:

    .venv/bin/python -m bench.fold_in --points 100000

1. Prefill the live edge shard with N chunks (bench/prefill.py: real payloads and vectors the
   pipeline wrote, cloned) in one tenant: every point sits in the plain segment.
2. Serve it with `crm-rag serve` (its own process on 127.0.0.1, scheduler off) and drive /query
   from 1 and 4 clients: the plain-segment baseline.
3. Start a fold-in through the admin API and drive the same load until its run ends: latency while
   the child process builds the HNSW index and the shard is copied and swapped. With
   `--sync-records N`, a sync of N fresh records (redaction, embedding, upserts) runs meanwhile:
   its writes go on during the build and are replayed into the new shard; the bench then checks
   that every chunk of it is in the index.
4. The same load after the swap (HNSW), then the fold-in's own report (copy rounds, the write
   pauses, build time).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.corpus import write_corpus
from bench.load import fan_out, latency_row
from bench.prefill import clones, templates
from bench.scale import QUESTIONS, TEAMS, serve, write_config
from rag_service.config import load_settings
from rag_service.services import build_services

ADMIN = {"X-API-Key": "demo-admin-key"}


def prefill(config: Path, points: int) -> int:
    base = templates(300)
    services = build_services(load_settings(config))
    try:
        for batch in clones(base, points, tenants=["bench"]):
            services.index.upsert(batch)
        services.index.flush()
        return services.index.count()
    finally:
        services.close()


def drive(
    url: str, clients: int, *, until: threading.Event | None = None, per_client: int = 200
) -> dict[str, Any]:
    """`clients` threads querying: `per_client` requests each, or until `until` is set."""
    failed: list[int] = []
    lock = threading.Lock()

    def client(k: int) -> list[float]:
        mine: list[float] = []
        with httpx.Client(base_url=url, headers={"X-API-Key": "demo-assistant-key"}, timeout=60) as http:
            i = 0
            while (until is None and i < per_client) or (until is not None and not until.is_set()):
                body = {
                    "question": QUESTIONS[(k + i) % len(QUESTIONS)],
                    "tenant_id": "bench",
                    "purpose": ("sales_assistant", "support_assistant")[i % 2],
                    "user": {"user_id": "u-bench", "team_ids": TEAMS},
                    "min_score": 0.0,
                }
                t0 = time.perf_counter()
                resp = http.post("/query", json=body)
                mine.append((time.perf_counter() - t0) * 1000)
                if resp.status_code != 200 or not resp.json()["sources"]:
                    with lock:
                        failed.append(resp.status_code)
                i += 1
        return mine

    latencies, wall = fan_out(clients, client)
    return {
        "clients": clients,
        "requests": len(latencies),
        "failed_or_empty": len(failed),
        **latency_row(latencies, wall),
    }


def during_fold_in(url: str, clients: int, *, sync: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    resp = httpx.post(f"{url}/admin/index/fold-in", headers=ADMIN, timeout=30)
    resp.raise_for_status()
    location = resp.headers["Location"]
    if sync:
        httpx.post(f"{url}/admin/sources/bench-files/sync", headers=ADMIN, timeout=30).raise_for_status()
    done = threading.Event()
    run: dict[str, Any] = {}

    def poll() -> None:
        while True:
            got = httpx.get(f"{url}{location}", headers=ADMIN, timeout=30).json()
            if got["status"] != "running":
                run.update(got)
                done.set()
                return
            time.sleep(1)

    poller = threading.Thread(target=poll)
    poller.start()
    load = drive(url, clients, until=done)
    poller.join()
    return load, run


def wait_for_sync(url: str) -> dict[str, Any]:
    """The sync started during the fold-in, once finished: its counts (chunks written)."""
    while True:
        runs = httpx.get(
            f"{url}/admin/runs", params={"source": "bench-files"}, headers=ADMIN, timeout=30
        ).json()
        if runs and runs[0]["status"] != "running":
            return {"status": runs[0]["status"], "counts": runs[0]["counts"]}
        time.sleep(2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="per client, idle phases")
    parser.add_argument("--sync-records", type=int, default=0, help="a sync of N records during the fold-in")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="crm-foldin-"))
    results: dict[str, Any] = {"points": args.points}
    try:
        (tmp / "crm").mkdir()
        config = write_config(tmp, "onnx")
        if args.sync_records:
            write_corpus(tmp / "crm", args.sync_records)
        results["chunks"] = prefill(config, args.points)
        proc, url = serve(config)
        try:
            drive(url, 2, per_client=10)  # warm-up
            results["plain"] = [drive(url, c, per_client=args.requests) for c in (1, 4)]
            print(json.dumps(results["plain"]), flush=True)
            load, run = during_fold_in(url, 1, sync=bool(args.sync_records))
            results["during_fold_in_1"] = load
            results["fold_in_run_1"] = run
            print(json.dumps(load), json.dumps(run.get("counts")), flush=True)
            results["hnsw"] = [drive(url, c, per_client=args.requests) for c in (1, 4)]
            print(json.dumps(results["hnsw"]), flush=True)
            if args.sync_records:
                results["sync"] = wait_for_sync(url)
            index = httpx.get(f"{url}/admin/index", headers=ADMIN, timeout=30).json()
            results["fold_in_status"] = index["fold_in"]
            results["chunks_after"] = index["chunks"]
            written = results.get("sync", {}).get("counts", {}).get("chunks_written", 0)
            results["nothing_lost"] = index["chunks"] == results["chunks"] + written
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
