"""Marginal ingest rate at a given index size, every size in one run:

    .venv/bin/python -m bench.ingest_at_size --sizes 0,10000,100000 --records 2000

For each size S (a fresh data folder each time):
1. Prefill the live index with S chunks cloned from points the real pipeline wrote
   (bench/prefill.py: real payloads and vectors), in the tenant and source the sync also uses, and
   (unless --no-ledger) the state-store rows a real sync of those records would have left (a
   ledger row and two contact links per record, the demo corpus' average), so the index, the
   ledger and the contact links are all S records big, as after a real initial load.
2. Sync the same K fresh records (bench/corpus.py) end to end through `services.run(...)`:
   records/s, and where the time goes (wall seconds inside the index, state-store and staging
   calls the pipeline makes, timed by wrapping them; redaction runs in a helper thread beside the
   embedding, so `redact` overlaps `embed`). `outside_stage_s` is the wall time not spent
   redacting, chunking and embedding: the per-page bookkeeping that may grow with the index, and
   less noisy than records/s on a shared machine (the embedding dominates and varies run to run).
3. Edit 1% of the K records and sync again: the 1%-changed re-sync at that size.

--profile S writes a pyinstrument profile (text) of the size-S initial sync next to the results.
Sizes run in the order given; the machine is shared, so compare ratios from one invocation.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import ingest.pipeline.apply
from bench.corpus import touch_one_percent, write_corpus
from bench.prefill import BENCH_SOURCE, Template, clones, templates
from bench.scale import write_config
from ingest import payload as P
from ingest.index.base import SparseVector
from ingest.store.tables import ledger, record_contacts
from rag_service.config import load_settings
from rag_service.services import Services, build_services

STAGE = "stage (redact+chunk+embed)"
TENANT = "bench"  # bench/corpus.py writes its records in this tenant; the prefill shares it

# (object attribute on Services, method name, label): the calls whose time may grow with the index
INDEX_CALLS = ("upsert", "delete_record", "delete_chunks_from", "set_record_payload", "flush")
STATE_CALLS = ("ledger_get_many", "ledger_for_source", "commit_page", "quarantine_known", "refresh_lock")
PRIVACY_CALLS = ("for_refs", "erased_subjects")


class Timers:
    """Wall seconds and call counts per label, filled by wrapped methods."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def wrap(self, obj: Any, name: str, label: str) -> Callable[[], None]:
        original = getattr(obj, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t0
                self.calls[label] = self.calls.get(label, 0) + 1

        setattr(obj, name, timed)
        return lambda: setattr(obj, name, original)

    def rows(self) -> dict[str, dict[str, float]]:
        return {
            k: {"s": round(v, 2), "calls": self.calls[k]}
            for k, v in sorted(self.seconds.items(), key=lambda kv: -kv[1])
        }


@contextmanager
def timed_calls(services: Services) -> Iterator[Timers]:
    timers = Timers()
    undo: list[Callable[[], None]] = []
    for name in INDEX_CALLS:
        undo.append(timers.wrap(services.index, name, f"index.{name}"))
    for name in STATE_CALLS:
        undo.append(timers.wrap(services.state, name, f"state.{name}"))
    for name in PRIVACY_CALLS:
        undo.append(timers.wrap(services.privacy, name, f"privacy.{name}"))
    undo.append(timers.wrap(services.privacy.fence, "hold", "fence.hold"))
    undo.append(timers.wrap(ingest.pipeline.apply, "stage_page", STAGE))
    undo.append(timers.wrap(services.embedder, "embed_documents", "embed"))
    undo.append(timers.wrap(services.redactor, "redact_many", "redact (helper thread)"))
    try:
        yield timers
    finally:
        for fn in reversed(undo):
            fn()


def prefill(services: Services, base: list[Template], size: int, ledger_rows: bool) -> float:
    """Upsert `size` cloned chunks straight into the live index (and their ledger rows)."""
    t0 = time.perf_counter()
    now = datetime.now(UTC)
    for batch in clones(base, size, tenants=[TENANT]):
        services.index.upsert(batch)
        if not ledger_rows:
            continue
        rows = [
            {
                "tenant_id": p.payload[P.TENANT_ID],
                "source": BENCH_SOURCE,
                "record_id": p.payload[P.RECORD_ID],
                "record_type": p.payload[P.RECORD_TYPE],
                "version": str(p.payload.get(P.RECORD_VERSION) or "1"),
                "source_updated_at": now,
                "content_hash": p.payload[P.CONTENT_HASH],
                "fingerprint": "prefill",
                "access_hash": "prefill",
                "status": "indexed",
                "reason": None,
                "chunk_count": 1,
                "redaction_policy": None,
                "consent_policy": None,
                "model_id": None,
                "last_run_id": "prefill",
                "updated_at": now,
            }
            for p in batch
        ]
        links = [
            {
                "tenant_id": row["tenant_id"],
                "contact_key": key,
                "record_key": point.payload[P.RECORD_KEY],
                "source": BENCH_SOURCE,
                "record_id": row["record_id"],
            }
            for k, (point, row) in enumerate(zip(batch, rows, strict=True))
            for key in (f"id:prefill-{k % 997}", f"email:prefill-{k % 991}")
        ]
        with services.state.engine.begin() as conn:
            conn.execute(sa.insert(ledger), rows)
            conn.execute(sa.insert(record_contacts), links)
    services.index.flush()
    return time.perf_counter() - t0


def sync(services: Services, profile_to: Path | None) -> tuple[dict[str, Any], float]:
    profiler: Any = None
    if profile_to is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
    with timed_calls(services) as timers:
        t0 = time.perf_counter()
        report = services.run(BENCH_SOURCE, actor="bench")
        wall = time.perf_counter() - t0
    if profiler is not None and profile_to is not None:
        profiler.stop()
        profile_to.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    if report.error:
        raise RuntimeError(report.error)
    counts = report.counts
    return {
        "s": round(wall, 1),
        "fetched": counts["fetched"],
        "indexed": counts["indexed"],
        "chunks_written": counts["chunks_written"],
        "records_per_s": round(counts["fetched"] / wall, 1),
        "changed_per_s": round(counts["indexed"] / wall, 1),
        "outside_stage_s": round(wall - timers.seconds.get(STAGE, 0.0), 2),
        "timings": timers.rows(),
    }, wall


def one_size(
    base: list[Template], size: int, records: int, *, ledger_rows: bool, profile: Path | None
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"crm-ingest-at-{size}-"))
    try:
        write_corpus(tmp / "crm", records, tenant=TENANT)
        services = build_services(load_settings(write_config(tmp, "onnx")))
        try:
            prefill_s = prefill(services, base, size, ledger_rows)
            initial, _ = sync(services, profile)
            touch_one_percent(tmp / "crm")
            resync, _ = sync(services, None)
            chunks = services.index.count(tenant_id=TENANT)
        finally:
            services.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "size": size,
        "prefill_s": round(prefill_s, 1),
        "index_chunks_after": chunks,
        "initial": initial,
        "resync_1pct": resync,
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| index size | initial sync records/s | vs first size | outside staging s | "
        "1%-changed re-sync s | top costs (initial sync, s) |",
        "|---|---|---|---|---|---|",
    ]
    first = results[0]["initial"]["records_per_s"]
    for r in results:
        top = ", ".join(f"{k} {v['s']}" for k, v in list(r["initial"]["timings"].items())[:4])
        lines.append(
            f"| {r['size']:,} | {r['initial']['records_per_s']} | "
            f"{r['initial']['records_per_s'] / first:.2f} | {r['initial']['outside_stage_s']} | "
            f"{r['resync_1pct']['s']} | {top} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="0,10000,100000", help="index sizes (chunks), comma-separated")
    parser.add_argument("--records", type=int, default=2000, help="fresh records synced at every size")
    parser.add_argument("--no-ledger", action="store_true", help="prefill the index only, not the ledger")
    parser.add_argument("--profile", type=int, default=None, help="pyinstrument the sync at this size")
    parser.add_argument("--profile-out", default="ingest_at_size.profile.txt")
    parser.add_argument(
        "--templates-cache", default=None, help="reuse the prefill templates across invocations (A/B runs)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    t0 = time.perf_counter()
    cache = Path(args.templates_cache) if args.templates_cache else None
    if cache is not None and cache.exists():
        base = [
            Template(
                vector=tuple(t["vector"]),
                lexical=SparseVector.model_validate(t["lexical"]) if t["lexical"] else None,
                payload=t["payload"],
            )
            for t in json.loads(cache.read_text())
        ]
    else:
        base = templates()
        if cache is not None:
            cache.write_text(
                json.dumps(
                    [
                        {
                            "vector": t.vector,
                            "lexical": t.lexical.model_dump() if t.lexical else None,
                            "payload": t.payload,
                        }
                        for t in base
                    ]
                )
            )
    print(json.dumps({"templates": len(base), "s": round(time.perf_counter() - t0, 1)}), flush=True)
    results: list[dict[str, Any]] = []
    for size in sizes:
        profile = Path(args.profile_out) if args.profile == size else None
        result = one_size(base, size, args.records, ledger_rows=not args.no_ledger, profile=profile)
        print(json.dumps(result), flush=True)
        results.append(result)
    print(json.dumps({"records": args.records, "ledger": not args.no_ledger, "results": results}, indent=1))
    print(markdown(results))


if __name__ == "__main__":
    main()
