"""Embedding backends side by side on the demo set, in one run:

    .venv/bin/python -m bench.backends

For torch (sentence-transformers as is), onnx (fp32, the default) and onnx-int8: raw embedding
throughput on the demo's chunk texts, cosine agreement with torch on those texts, and retrieval
quality (recall@5, MRR) of the 24 labeled demo questions through the real pipeline and /query.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from bench.corpus import demo_records
from bench.live import ROOT, bench_settings
from policies.consent import ConsentPolicy
from policies.models import Admit, ConsentStatus
from rag_service.app import create_app
from rag_service.evaluation import score
from rag_service.services import build_services

BACKENDS = ("torch", "onnx", "onnx-int8")


def main() -> None:
    truth = json.loads((ROOT / "demo" / "truth.json").read_text())
    # the labeled questions' records, by (tenant, record id)
    records: dict[tuple[str, str], Any] = {
        (str(r.get("tenant_id")), str(r.get("record_id"))): r for r in demo_records()
    }
    consent = ConsentPolicy.from_file()
    results: dict[str, Any] = {}
    reference: Any = None
    texts: list[str] = []
    for backend in BACKENDS:
        tmp = Path(tempfile.mkdtemp(prefix=f"crm-backend-{backend}-"))
        base = bench_settings(tmp / "var")
        settings = base.model_copy(
            update={"embedding": base.embedding.model_copy(update={"backend": backend})}
        )
        services = build_services(settings)
        try:
            for source in settings.sources:
                services.run(source.name, actor="bench")
            if not texts:
                texts = [p["text"] for p in services.index.scroll_payloads()]
            services.embedder.embed_documents(texts[:16])  # warm-up
            t0 = time.perf_counter()
            vectors = services.embedder.embed_documents(texts)
            seconds = time.perf_counter() - t0
            if reference is None:
                reference = vectors
            cosine = (reference * vectors).sum(axis=1)
            ranked: list[list[str]] = []
            expected: list[str] = []
            app = create_app(settings, services=services, start_scheduler=False)
            with TestClient(app) as client:
                for canary in truth["canaries"]:
                    raw = records[(canary["tenant_id"], canary["record_id"])]
                    decision = consent.decide({k: ConsentStatus(v) for k, v in raw["consent"].items()})
                    assert isinstance(decision, Admit)
                    body = {
                        "question": canary["question"],
                        "tenant_id": canary["tenant_id"],
                        "purpose": decision.purposes[0],
                        "user": {"user_id": raw["owner_id"], "team_ids": raw["team_ids"]},
                        "top_k": 10,
                    }
                    resp = client.post("/query", json=body, headers={"X-API-Key": "demo-assistant-key"})
                    ranked.append([s["record_id"] for s in resp.json()["sources"]])
                    expected.append(canary["record_id"])
            quality = score(ranked, expected, k=5)
            results[backend] = {
                "model_id": services.embedder.model_id,
                "chunks": len(texts),
                "chunks_per_s": round(len(texts) / seconds, 1),
                "cosine_vs_torch_mean": round(float(np.mean(cosine)), 4),
                "cosine_vs_torch_min": round(float(np.min(cosine)), 4),
                "recall_at_5": quality.recall_at_k,
                "mrr": quality.mrr,
            }
            print(backend, json.dumps(results[backend]), flush=True)
        finally:
            services.close()
            shutil.rmtree(tmp, ignore_errors=True)
    for backend in BACKENDS[1:]:
        results[backend]["speedup_vs_torch"] = round(
            results[backend]["chunks_per_s"] / results["torch"]["chunks_per_s"], 2
        )
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
