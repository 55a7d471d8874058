"""Ingest throughput of the full pipeline vs raw embedding of the same chunks, side by side in
one run, plus where the time goes (redaction / chunking / embedding / index+state).

    .venv/bin/python -m bench.pipeline_bench [--records 1000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.corpus import write_corpus
from bench.live import bench_settings
from ingest.config import FileSourceConfig
from ingest.render import known_names, render_text
from rag_service.services import build_services


class Timed:
    """Wraps a callable and adds up the seconds spent in it."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.seconds = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="crm-pipe-"))
    write_corpus(tmp / "crm", args.records)
    settings = bench_settings(
        tmp / "var",
        [FileSourceConfig(name="bench-files", tenant_id="bench", path=tmp / "crm", page_size=200)],
    )
    services = build_services(settings)
    redact = Timed(services.redactor.redact)
    embed = Timed(services.embedder.embed_documents)
    split = Timed(services.chunker.split)
    object.__setattr__(services.redactor, "redact", redact)
    object.__setattr__(services.embedder, "embed_documents", embed)
    object.__setattr__(services.chunker, "split", split)

    t0 = time.perf_counter()
    report = services.run("bench-files", actor="bench")
    pipeline_s = time.perf_counter() - t0
    chunks = [p["text"] for p in services.index.scroll_payloads(tenant_id="bench")]

    raw_embed = Timed(embed.fn)
    raw_embed(chunks)  # the same model, the same chunk texts, no pipeline

    records = services.sources["bench-files"]
    texts = [render_text(r) for p in records.pages(cursor=None) for r in p.records]
    names = [known_names(r) for p in records.pages(cursor=None) for r in p.records]
    presidio = Timed(redact.fn)
    for text, who in zip(texts[:200], names[:200], strict=True):
        presidio(text, known_names=who)

    services.close()
    shutil.rmtree(tmp, ignore_errors=True)
    other = pipeline_s - redact.seconds - embed.seconds - split.seconds
    print(
        json.dumps(
            {
                "records": report.counts["fetched"],
                "chunks": report.counts["chunks_written"],
                "pipeline_s": round(pipeline_s, 2),
                "pipeline_records_per_s": round(report.counts["fetched"] / pipeline_s, 1),
                "pipeline_chunks_per_s": round(report.counts["chunks_written"] / pipeline_s, 1),
                "raw_embedding_s": round(raw_embed.seconds, 2),
                "raw_embedding_chunks_per_s": round(len(chunks) / raw_embed.seconds, 1),
                "pipeline_over_raw_embedding": round(pipeline_s / raw_embed.seconds, 2),
                "share_redaction": round(redact.seconds / pipeline_s, 3),
                "share_embedding": round(embed.seconds / pipeline_s, 3),
                "share_chunking": round(split.seconds / pipeline_s, 3),
                "share_other_fetch_index_state": round(other / pipeline_s, 3),
                "presidio_ms_per_record": round(presidio.seconds / 200 * 1000, 1),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
