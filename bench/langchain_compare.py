"""Our pipeline against the usual alternative, side by side in one run on the same corpus:
LangChain's indexing API (`index()` with a SQLRecordManager and cleanup="incremental"), a
QdrantVectorStore (qdrant-client's embedded local mode) and the same model and splitter.

    .venv/bin/python -m bench.langchain_compare [--records 1000]

Both sides index the same consent-admitted records. "LangChain + Presidio" runs our redactor in
its loader (the same privacy result); "LangChain, no redaction" is the stack as usually deployed.
Measured: initial load, then a re-sync after 1% of records changed at the source. Model loading
is excluded on both sides.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.corpus import touch_one_percent, write_corpus
from bench.live import bench_settings
from ingest.config import FileSourceConfig
from ingest.models import SourceRecord
from ingest.stages.contract import validate_record
from ingest.stages.render import known_identifiers, render_text
from policies.models import Admit
from rag_service.services import Services, build_services


def load_admitted(folder: Path, services: Services) -> list[SourceRecord]:
    """The usual loader: read every record, validate, keep what the consent policy admits."""
    out: list[SourceRecord] = []
    for path in sorted(folder.rglob("*.jsonl")):
        for n, line in enumerate(path.read_text().splitlines()):
            rec = validate_record(
                json.loads(line), tenant_id="bench", source="bench-files", system="file", locator=f"{n}"
            )
            if isinstance(rec, SourceRecord) and isinstance(services.consent.decide(rec.consent), Admit):
                out.append(rec)
    return out


class LangChainStack:
    """index() + SQLRecordManager + QdrantVectorStore (local mode) + the same splitter and model."""

    def __init__(self, workdir: Path, services: Services, *, redact: bool) -> None:
        from langchain_classic.indexes import SQLRecordManager
        from langchain_core.embeddings import Embeddings
        from langchain_qdrant import QdrantVectorStore
        from langchain_text_splitters import RecursiveCharacterTextSplitter
        from qdrant_client import QdrantClient, models
        from sentence_transformers import SentenceTransformer

        from ingest.stages.embedding import bundled_model_path

        model = SentenceTransformer(str(bundled_model_path()), device="cpu", local_files_only=True)

        class STEmbeddings(Embeddings):  # what HuggingFaceEmbeddings does: encode with defaults
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                vectors: Any = model.encode(texts, normalize_embeddings=True, show_progress_bar=False)
                result: list[list[float]] = vectors.tolist()
                return result

            def embed_query(self, text: str) -> list[float]:
                return self.embed_documents([text])[0]

        workdir.mkdir(parents=True)
        self._client = QdrantClient(path=str(workdir / "qdrant"))
        self._client.create_collection(
            "crm", vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE)
        )
        self.store = QdrantVectorStore(client=self._client, collection_name="crm", embedding=STEmbeddings())
        self.records = SQLRecordManager("qdrant/crm", db_url=f"sqlite:///{workdir / 'records.db'}")
        self.records.create_schema()
        chunking = services.settings.chunking
        self.splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunking.chunk_tokens,
            chunk_overlap=chunking.overlap_tokens,
            length_function=services.chunker.count_tokens,
        )
        self._services = services
        self._redact = redact

    def sync(self, folder: Path) -> dict[str, Any]:
        from langchain_classic.indexes import index
        from langchain_core.documents import Document

        records = load_admitted(folder, self._services)
        texts = [render_text(r) for r in records]
        if self._redact:
            redactions = self._services.redactor.redact_many(
                [(t, known_identifiers(r)) for t, r in zip(texts, records, strict=True)]
            )
            texts = [x.text for x in redactions]
        docs = [
            Document(
                page_content=text,
                metadata={"record_id": r.record_id, "url": r.url, "updated_at": r.updated_at.isoformat()},
            )
            for text, r in zip(texts, records, strict=True)
        ]
        chunks = self.splitter.split_documents(docs)
        result: dict[str, Any] = dict(
            index(chunks, self.records, self.store, cleanup="incremental", source_id_key="record_id")
        )
        return result

    def close(self) -> None:
        self._client.close()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--skip-plain", action="store_true", help="only LangChain + Presidio")
    parser.add_argument(
        "--backend", default="onnx", help="ours: comma-separated, each its own stack (onnx, onnx-int8, torch)"
    )
    args = parser.parse_args()
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    unknown = set(backends) - {"onnx", "onnx-int8", "torch"}
    if unknown or not backends:
        parser.error(f"unknown backends {sorted(unknown)}")
    tmp = Path(tempfile.mkdtemp(prefix="crm-lc-"))
    results: dict[str, Any] = {"records": args.records, "our_backend": args.backend}
    try:
        write_corpus(tmp / "crm", args.records)
        ours: dict[str, Services] = {}
        for backend in backends:
            base = bench_settings(
                tmp / f"var-{backend}",
                [FileSourceConfig(name="bench-files", tenant_id="bench", path=tmp / "crm", page_size=500)],
            )
            ours["ours" if len(backends) == 1 else f"ours_{backend}"] = build_services(
                base.model_copy(update={"embedding": base.embedding.model_copy(update={"backend": backend})})
            )
        stacks: dict[str, Callable[[], Any]] = {
            name: functools.partial(s.run, "bench-files", actor="bench") for name, s in ours.items()
        }
        services = next(iter(ours.values()))
        lc = {"langchain_presidio": LangChainStack(tmp / "lc-redact", services, redact=True)}
        if not args.skip_plain:
            lc["langchain_plain"] = LangChainStack(tmp / "lc-plain", services, redact=False)
        for name, stack in lc.items():
            stacks[name] = functools.partial(stack.sync, tmp / "crm")

        for phase in ("initial", "resync_1pct"):
            if phase == "resync_1pct":
                results["changed_records"] = touch_one_percent(tmp / "crm")
            for name, run in stacks.items():
                seconds, out = timed(run)
                detail = out.counts if name in ours else out
                results[f"{name}_{phase}_s"] = round(seconds, 2)
                results[f"{name}_{phase}_detail"] = {
                    k: v for k, v in dict(detail).items() if isinstance(v, int) and v
                }
                print(f"{name} {phase}: {seconds:.2f}s", flush=True)
        for mine in ours:
            suffix = mine.removeprefix("ours")
            for name in lc:
                for phase in ("initial", "resync_1pct"):
                    ratio = results[f"{name}_{phase}_s"] / results[f"{mine}_{phase}_s"]
                    results[f"speedup{suffix}_vs_{name}_{phase}"] = round(ratio, 2)
        for stack in lc.values():
            stack.close()
        for s in ours.values():
            s.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
