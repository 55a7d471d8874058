"""What a sync takes from /query, idle and during-sync latency measured in the same run:

    PYTHONPATH=. .venv/bin/python -m bench.query_during_sync --chunks 100000 --records 3000

1. Prefill the live index with `--chunks` points cloned from points the real pipeline wrote
   (bench/prefill.py) for tenant "bench" with the demo teams, so the bench/scale.py questions
   return hits; build its HNSW index (`crm-rag optimize`, as a rebuild does).
2. For each staging mode (`--modes`; "default" writes no setting, so the same script runs on a
   checkout from before the setting existed): a file source with `--records` fresh records, serve
   with `crm-rag serve` in its own process on 127.0.0.1, drive /query with 1 and 4 clients for
   `--window` seconds each while idle, trigger the source's sync through the admin API
   (POST /admin/sources/{name}/sync), drive the same load while it runs (the sync must still be
   running when the last window ends, else the row is marked), and once more idle after it ended.
   The sync's records/s (fetched / wall time of the run) is reported beside the latencies.

Prints one JSON document and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.corpus import write_corpus
from bench.prefill import clones, templates
from bench.scale import ROOT, load, serve, write_config
from rag_service.config import load_settings
from rag_service.services import build_services

ADMIN = {"X-API-Key": "demo-admin-key"}
CLIENTS = (1, 4)


def prefill(config: Path, chunks: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    base = templates()
    services = build_services(load_settings(config))
    try:
        for batch in clones(base, chunks, tenants=["bench"]):
            services.index.upsert(batch)
        services.index.flush()
    finally:
        services.close()
    fill_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "rag_service.cli", "--config", str(config), "optimize"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return {"chunks": chunks, "prefill_s": round(fill_s, 1), "optimize_s": round(time.perf_counter() - t0, 1)}


def mode_config(base: Path, tmp: Path, modes: list[str], records: int) -> dict[str, Path]:
    """One config per mode, all naming every mode's source (one drop folder of fresh records
    each, source `sync-<k>`), so the prefilled index is never held by an unconfigured source.
    A mode is an ingest.staging value, optionally with embedding settings after "@":
    `in_process@ingest_threads=1&query_threads=1`; "default" leaves every setting out."""
    config = yaml.safe_load(base.read_text())
    template = config["sources"][0]
    for k, _ in enumerate(modes):
        write_corpus(tmp / f"crm-{k}", records)
        config["sources"].append({**template, "name": f"sync-{k}", "path": str(tmp / f"crm-{k}")})
    out: dict[str, Path] = {}
    for k, mode in enumerate(modes):
        mine = json.loads(json.dumps(config))
        staging, _, extra = mode.partition("@")
        if staging != "default":
            mine.setdefault("ingest", {})["staging"] = staging
        for pair in filter(None, extra.split("&")):
            key, _, value = pair.partition("=")
            mine["embedding"][key] = int(value)
        path = tmp / f"bench-{k}.yaml"
        path.write_text(yaml.safe_dump(mine))
        out[mode] = path
    return out


def timed_load(url: str, clients: int, seconds: float) -> dict[str, Any]:
    """About `seconds` of load: a short probe sizes the request count."""
    probe = load(url, clients, 3)
    per_client = max(5, int(seconds * 1000 / max(probe["p50_ms"], 1.0)))
    return load(url, clients, per_client)


def run_state(http: httpx.Client, run_id: str) -> dict[str, Any]:
    resp = http.get(f"/admin/runs/{run_id}", headers=ADMIN)
    resp.raise_for_status()
    result: dict[str, Any] = resp.json()
    return result


def one_mode(mode: str, source: str, config: Path, window: float, warmup: float) -> dict[str, Any]:
    proc, url = serve(config)
    try:
        with httpx.Client(base_url=url, timeout=60) as http:
            load(url, 2, 10)  # warm-up
            idle = {c: timed_load(url, c, window) for c in CLIENTS}
            resp = http.post(f"/admin/sources/{source}/sync", headers=ADMIN)
            resp.raise_for_status()
            run_id = resp.json()["run_id"]
            time.sleep(warmup)  # first page fetched and staging under way
            busy = {c: timed_load(url, c, window) for c in CLIENTS}
            state = run_state(http, run_id)
            still_running = state["status"] == "running"
            while state["status"] == "running":
                time.sleep(1)
                state = run_state(http, run_id)
            after = {c: timed_load(url, c, window) for c in CLIENTS}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    started = _ts(state["started_at"])
    finished = _ts(state["finished_at"])
    return {
        "mode": mode,
        "sync": {
            "status": state["status"],
            "error": state["error"],
            "fetched": state["counts"].get("fetched"),
            "chunks_written": state["counts"].get("chunks_written"),
            "seconds": round(finished - started, 1),
            "records_per_s": round(state["counts"].get("fetched", 0) / (finished - started), 1),
            "still_running_after_measurement": still_running,
        },
        "idle": [idle[c] for c in CLIENTS],
        "during_sync": [busy[c] for c in CLIENTS],
        "idle_after": [after[c] for c in CLIENTS],
    }


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| staging | clients | idle p50 / p95 ms | during sync p50 / p95 ms | p50 ratio | idle after p50 ms "
        "| sync records/s | sync still running |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for idle, busy, after in zip(r["idle"], r["during_sync"], r["idle_after"], strict=True):
            lines.append(
                f"| {r['mode']} | {idle['clients']} | {idle['p50_ms']} / {idle['p95_ms']} "
                f"| {busy['p50_ms']} / {busy['p95_ms']} | {busy['p50_ms'] / idle['p50_ms']:.2f}x "
                f"| {after['p50_ms']} | {r['sync']['records_per_s']} "
                f"| {'yes' if r['sync']['still_running_after_measurement'] else 'NO'} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000, help="points prefilled into the live index")
    parser.add_argument("--records", type=int, default=3000, help="fresh records per sync")
    parser.add_argument("--window", type=float, default=12.0, help="seconds of load per measurement")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds between trigger and measuring")
    parser.add_argument(
        "--modes",
        default="default",
        help="comma-separated ingest.staging values (default: leave the setting out)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    modes = args.modes.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="crm-qds-"))
    try:
        base = write_config(tmp, "onnx")
        (tmp / "crm").mkdir()
        configs = mode_config(base, tmp, modes, args.records)
        out: dict[str, Any] = {"prefill": prefill(configs[modes[0]], args.chunks), "modes": []}
        print(json.dumps(out["prefill"]), flush=True)
        for k, mode in enumerate(modes):
            out["modes"].append(one_mode(mode, f"sync-{k}", configs[mode], args.window, args.warmup))
            print(json.dumps(out["modes"][-1]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=1))
    print(table(out["modes"]))


if __name__ == "__main__":
    main()
