"""Ingest throughput and /query latency at a given corpus size, in one run:

    .venv/bin/python -m bench.scale --records 10000

1. Generate N consented CRM records (demo texts under new ids, PII included) in a drop folder.
2. Initial sync through the full pipeline (fetch, contract, consent, Presidio, chunk, embed,
   upsert, flush, state): records/s and chunks/s end to end.
3. In the same process right after: raw embedding of a sample of the same chunk texts with the
   same model, (a) through our embedding backend and (b) with stock sentence-transformers on
   torch, plus redaction alone on a sample of the records. Overhead = pipeline time per chunk over
   raw embedding time per chunk.
4. Serve the index with `crm-rag serve` (a separate uvicorn process on 127.0.0.1) and drive
   /query from 1, 4 and 16 concurrent clients: client-side p50/p95/p99 and requests/s.
5. Stop it, build the shard's HNSW index with `crm-rag optimize` (what a rebuild does to each new
   generation), serve again and repeat the load.
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
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.corpus import write_corpus
from bench.live import free_port
from bench.load import fan_out, latency_row
from ingest.config import EmbeddingConfig
from ingest.stages.embedding import SentenceTransformerEmbedder
from ingest.stages.render import known_identifiers, render_text
from rag_service.config import load_settings
from rag_service.services import build_services

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "Which customer asked for SAML single sign-on with Okta?",
    "renewal budget for next year",
    "dashboard does not load after the update",
    "who is blocked on the invoice export",
    "pricing concerns raised on the call",
    "data residency requirements in the EU",
    "refund for a duplicate charge",
    "integration with the ticketing system",
]
TEAMS = [f"team-{t}-{k}" for t in ("northwind", "contoso", "globex") for k in ("sales", "support")]


def write_config(tmp: Path, backend: str) -> Path:
    demo = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    config = {
        "environment": "dev",
        "data_dir": str(tmp / "var"),
        "sources": [
            {
                "kind": "file",
                "name": "bench-files",
                "tenant_id": "bench",
                "path": str(tmp / "crm"),
                "page_size": 500,
            }
        ],
        "auth": demo["auth"],
        "index": {"path": str(tmp / "var" / "index")},
        "state": {"url": f"sqlite:///{tmp / 'var' / 'state.db'}"},
        "embedding": {"backend": backend},
        # the benchmark measures the engine, not the per-key limiter
        "api": {"rate_limit_per_minute": 10_000_000, "rate_limit_burst": 1_000_000},
    }
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def ingest(config: Path, sample: int) -> dict[str, Any]:
    services = build_services(load_settings(config))
    try:
        t0 = time.perf_counter()
        report = services.run("bench-files", actor="bench")
        pipeline_s = time.perf_counter() - t0
        if report.error:
            raise RuntimeError(report.error)
        chunks = report.counts["chunks_written"]
        texts = [p["text"] for p in services.index.scroll_payloads(tenant_id="bench")[:sample]]
        t0 = time.perf_counter()
        services.embedder.embed_documents(texts)
        ours_s = time.perf_counter() - t0
        stock = SentenceTransformerEmbedder(EmbeddingConfig(backend="torch", batch_size=32))
        stock.embed_documents(texts[:32])  # warm-up
        t0 = time.perf_counter()
        stock.embed_documents(texts)
        stock_s = time.perf_counter() - t0
        records = [r for page in services.sources["bench-files"].pages(cursor=None) for r in page.records]
        items = [(render_text(r), known_identifiers(r)) for r in records[:sample]]
        t0 = time.perf_counter()
        services.redactor.redact_many(items)
        redact_s = time.perf_counter() - t0
    finally:
        services.close()
    per_chunk_pipeline = pipeline_s / chunks
    return {
        "records": report.counts["fetched"],
        "chunks": chunks,
        "pipeline_s": round(pipeline_s, 1),
        "pipeline_records_per_s": round(report.counts["fetched"] / pipeline_s, 1),
        "pipeline_chunks_per_s": round(chunks / pipeline_s, 1),
        "sample_chunks": len(texts),
        "raw_embedding_ours_chunks_per_s": round(len(texts) / ours_s, 1),
        "raw_embedding_stock_torch_chunks_per_s": round(len(texts) / stock_s, 1),
        "pipeline_over_raw_embedding_ours": round(per_chunk_pipeline / (ours_s / len(texts)), 2),
        "pipeline_over_raw_embedding_stock_torch": round(per_chunk_pipeline / (stock_s / len(texts)), 2),
        "redaction_only_ms_per_record": round(redact_s / len(items) * 1000, 2),
    }


def serve(config: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rag_service.cli",
            "--config",
            str(config),
            "serve",
            "--no-scheduler",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("crm-rag serve exited")
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("crm-rag serve did not become ready")


def load(url: str, clients: int, per_client: int) -> dict[str, Any]:
    errors: list[int] = []
    lock = threading.Lock()

    def client(k: int) -> list[float]:
        mine: list[float] = []
        with httpx.Client(base_url=url, headers={"X-API-Key": "demo-assistant-key"}, timeout=30) as http:
            for i in range(per_client):
                body = {
                    "question": QUESTIONS[(k + i) % len(QUESTIONS)],
                    "tenant_id": "bench",
                    "purpose": ("sales_assistant", "support_assistant")[i % 2],
                    "user": {"user_id": "u-bench", "team_ids": TEAMS},
                    "min_score": 0.0,  # latency of the whole path: every question returns its hits
                }
                t0 = time.perf_counter()
                resp = http.post("/query", json=body)
                mine.append((time.perf_counter() - t0) * 1000)
                if resp.status_code != 200 or not resp.json()["sources"]:
                    with lock:
                        errors.append(resp.status_code)
        return mine

    latencies, wall = fan_out(clients, client)
    return {
        "clients": clients,
        "requests": len(latencies),
        "failed_or_empty": len(errors),
        **latency_row(latencies, wall, with_max=False),
    }


def query_phase(config: Path, requests: int) -> list[dict[str, Any]]:
    proc, url = serve(config)
    try:
        load(url, 2, 10)  # warm-up
        return [load(url, c, max(1, requests // c)) for c in (1, 4, 16)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=2000, help="chunks/records for the raw baselines")
    parser.add_argument("--requests", type=int, default=400, help="per concurrency level")
    parser.add_argument("--backend", default="onnx", choices=["onnx", "onnx-int8", "torch"])
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="crm-scale-"))
    try:
        write_corpus(tmp / "crm", args.records)
        config = write_config(tmp, args.backend)
        results: dict[str, Any] = {"ingest": ingest(config, args.sample)}
        print(json.dumps(results["ingest"]), flush=True)
        results["query"] = query_phase(config, args.requests)
        print(json.dumps(results["query"]), flush=True)
        t0 = time.perf_counter()
        optimized = subprocess.run(
            [sys.executable, "-m", "rag_service.cli", "--config", str(config), "optimize"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        results["optimize"] = {
            "wall_s": round(time.perf_counter() - t0, 1),
            **json.loads(optimized.stdout.strip().splitlines()[-1]),
        }
        results["query_optimized"] = query_phase(config, args.requests)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
