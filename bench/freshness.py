"""Freshness: seconds from a record changing at the source until /query returns the new text,
with the scheduler running (live uvicorn on 127.0.0.1).

    .venv/bin/python -m bench.freshness [--interval 10] [--changes 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.corpus import write_corpus
from bench.live import bench_settings, live_server
from ingest.config import FileSourceConfig
from rag_service.app import create_app
from rag_service.services import build_services


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval", type=int, default=10, help="sync interval of the source (seconds)")
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--records", type=int, default=200)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="crm-fresh-"))
    write_corpus(tmp / "crm", args.records)
    settings = bench_settings(
        tmp / "var",
        [
            FileSourceConfig(
                name="bench-files",
                tenant_id="bench",
                path=tmp / "crm",
                interval_seconds=max(5, args.interval),
            )
        ],
    )
    services = build_services(settings)
    services.run("bench-files", actor="bench")
    app = create_app(settings, services=services, start_scheduler=True)
    with live_server(app) as url:
        lags: list[float] = []
        missed: list[int] = []
        client = httpx.Client(base_url=url, headers={"X-API-Key": "demo-assistant-key"})
        rec = json.loads((tmp / "crm" / "records.jsonl").read_text().splitlines()[0])
        for i in range(args.changes):
            marker = f"zebracorn{i}"  # a new word; the check below matches record id + version
            rec = {
                **rec,
                "record_type": "note",
                "body": f"Customer asked about the {marker} integration pilot.",
                "updated_at": datetime.now(UTC).isoformat(),  # not in the future: the sync horizon
                "turns": [],
            }
            rec.pop("turns")
            with (tmp / "crm" / "records.jsonl").open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            changed = time.perf_counter()
            while time.perf_counter() - changed < 10 * args.interval:
                body = {
                    "question": f"{marker} integration pilot",
                    "tenant_id": "bench",
                    "purpose": "sales_assistant",
                    "user": {"user_id": str(rec["owner_id"]), "team_ids": list(rec.get("team_ids") or [])},
                }
                sources = client.post("/query", json=body).json()["sources"]
                stamp = str(rec["updated_at"])[:19]
                if any(
                    s["record_id"] == rec["record_id"] and s["updated_at"].startswith(stamp) for s in sources
                ):
                    lags.append(time.perf_counter() - changed)
                    break
                time.sleep(0.2)
            else:
                missed.append(i)
    runs = services.state.list_runs(source="bench-files", limit=100)
    services.close()
    shutil.rmtree(tmp, ignore_errors=True)
    print(
        json.dumps(
            {
                "interval_s": settings.sources[0].interval_seconds,
                "changes": args.changes,
                "seen": len(lags),
                "missed": missed,
                "sync_runs": len(runs),
                "lag_p50_s": round(statistics.median(lags), 2) if lags else None,
                "lag_max_s": round(max(lags), 2) if lags else None,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
