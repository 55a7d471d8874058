"""The index layer at size (issue 13): upserts, fold-ins and filtered queries on an edge shard.

    .venv/bin/python -m bench.index_scale --points 1000000 --configs shipped
    .venv/bin/python -m bench.index_scale --points 100000 --configs current,payload-m0,shipped

No HTTP, no embedding at query time: the bench drives `EdgeIndexStore` (ingest/index/edge.py)
directly, with the calls /query makes (`search_legs`: the dense and the lexical leg under the
filter `search_spec` builds from the request's tenant, purpose and ACL).

Points. `bench.prefill.templates()` runs the shipped pipeline over a few hundred demo records
(Presidio, chunker, ONNX MiniLM, BM25) and reads back every point it wrote: real 384-d vectors,
lexical vectors and full provenance payloads. Point k here is template k mod T, with
- the dense vector `normalize(t_k + 0.35 * t_j + N(0, 0.03))`, j a seeded random other template:
  a cluster structure around the real vectors without thousands of near-copies of each one;
- tenant drawn from 20 tenants with Zipf sizes (t00 about 28% of the points, t07 3.5%), one of three
  sources, the template's ACL (owner and one team), and purposes: both for 60% of the points,
  sales only for 25%, support only for 15%; a new record id and key.
`--vectors real-text`: the dense side comes instead from ~2,450 passages of real public text
(`real_text_pieces`: ../shared/data/retrieval-dev's phone manual and StackExchange answers, cut at
sentence ends, embedded once with the shipped embedder), point k drawing on passage k mod 2,450 by
the same formula (~400 near-copies per passage at 1M rather than ~3,400 per template); payloads
and lexical vectors stay the templates'; the queries are then 48 questions of the same sets.

Queries: real questions (bench.scale and the demo canaries), embedded once with the shipped
embedder and BM25 encoder, each under a filter as /query builds it: tenant t00/t01/t03/t07 in turn,
purpose sales/support in turn, a user whose owner id matches nothing and one team (six teams in
turn): from about 54k down to about 2k matching points at 1M (11k median), a tenth of that at
100k; `--acl-teams all`: the user is in all six teams (the filter is then tenant and purpose).

Per shard config (`--configs`; "current" is the engine's default optimizer and HNSW settings,
"shipped" is `ingest.index.edge.shard_config`, "one-thread" the same with one indexing thread,
"payload-m0" that with payload_m 0), one after the other:
1. upsert N points in batches of 512 (the rate per tenth of N as it grows), flush;
2. /query's index call from 1 client on the plain segments (`--plain-seconds`, 0 to skip);
3. fold-in (copy, niced child `optimize()`, swap: what the service runs), its report;
4. recall@10 of the dense leg against exact search (`SearchParams(exact=True)`) under each filter,
   walking the graph plainly and with ACORN (what /query does since `index.acorn`);
5. the index call from 1, 4 and 16 client threads (`--seconds` each), then the same with a writer
   thread upserting new points at `--upsert-rate` points/s meanwhile; the index call is
   `search_legs`, with ACORN on the dense leg as shipped (`index.acorn`); `--live-embedding`: each
   request first embeds its question with the shipped ONNX embedder and BM25 encoder, as /query
   does (then only HTTP, auth and the answer are missing from /query's time);
6. a second fold-in, of what that writer added: the incremental maintenance; recall again.
Prints one JSON line per step, markdown tables, then the whole result as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import qdrant_edge as qe
from numpy.typing import NDArray

from bench.load import fan_out, latency_row, pct
from bench.prefill import Template, templates
from bench.scale import QUESTIONS
from ingest import payload as P
from ingest.config import DENSE_DEFAULT, DenseSearchConfig
from ingest.index.base import LEXICAL_VECTOR, IndexFilter, IndexPoint, SparseVector
from ingest.index.edge import EdgeIndexStore, shard_config
from ingest.index.optimize import optimize_in_subprocess
from ingest.models import RecordRef

if TYPE_CHECKING:
    from rag_service.services import Services

ROOT = Path(__file__).resolve().parents[1]
DIM = 384
TENANTS = [f"t{k:02d}" for k in range(20)]
QUERY_TENANTS = ["t00", "t01", "t03", "t07"]
SOURCES = ["hubspot-main", "zendesk-support", "gong-calls"]
TEAMS = [f"team-{t}-{k}" for t in ("northwind", "contoso", "globex") for k in ("sales", "support")]
PURPOSES = (["sales_assistant", "support_assistant"], ["sales_assistant"], ["support_assistant"])
LIMIT = 50  # /query asks each leg for max(top_k, retrieval.candidates) in hybrid mode
BATCH = 512


def current_config(dimension: int) -> Any:
    """The shard config before issue 13: the engine's default optimizers and HNSW settings."""
    return qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=dimension, distance=qe.Distance.Cosine),
        sparse_vectors={LEXICAL_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
    )


def payload_m0_config(dimension: int) -> Any:
    """Shipped segments, payload_m 0 and one indexing thread (an earlier recommendation)."""
    return shard_config(dimension, payload_m=0, threads=1)


def one_thread_config(dimension: int) -> Any:
    """Shipped segments and payload_m 16, one indexing thread."""
    return shard_config(dimension, threads=1)


# bench/README.md's runs called payload-m0 "recommended" and one-thread "payload-m16"
CONFIGS = {
    "current": current_config,
    "payload-m0": payload_m0_config,
    "one-thread": one_thread_config,
    "shipped": shard_config,
}


class BenchStore(EdgeIndexStore):
    """The store with a chosen config for the shards it creates (the store has no option for it)."""

    def __init__(
        self, path: Path, dimension: int, config: str, dense: DenseSearchConfig = DENSE_DEFAULT
    ) -> None:
        self._config_name = config
        super().__init__(path, dimension, dense=dense)

    def _config(self) -> Any:
        return CONFIGS[self._config_name](self._dimension)


# ---------------------------------------------------------------- points and queries


def load_templates(cache: Path | None, records: int) -> list[Template]:
    if cache is not None and cache.exists():
        return [
            Template(
                vector=tuple(t["vector"]),
                lexical=SparseVector.model_validate(t["lexical"]) if t["lexical"] else None,
                payload=t["payload"],
            )
            for t in json.loads(cache.read_text())
        ]
    base = templates(records)
    if cache is not None:
        rows = [
            {
                "vector": t.vector,
                "lexical": t.lexical.model_dump() if t.lexical else None,
                "payload": t.payload,
            }
            for t in base
        ]
        cache.write_text(json.dumps(rows))
    return base


def real_text_pieces(min_chars: int = 60, max_chars: int = 240) -> list[str]:
    """Passages of real public text (../shared/data/retrieval-dev: a phone manual and StackExchange
    FAQ answers), cut at line and sentence ends into pieces of at most `max_chars`: a few thousand
    distinct texts to embed as the dense side of the points. The sets' questions are left out:
    they are the queries (`real_questions`)."""
    from bench.retrieval_dev import LOADERS, data_root, source_texts

    pieces: list[str] = []
    for load in LOADERS.values():
        bench = load(data_root())
        for text in source_texts(bench).values():
            piece = ""
            for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
                if piece and len(piece) + len(sentence) > max_chars:
                    pieces.append(piece)
                    piece = ""
                piece = f"{piece} {sentence}".strip()
            pieces.append(piece)
    return sorted({p for p in pieces if len(p) >= min_chars})


def real_questions(count: int = 48) -> list[str]:
    """Questions of the same sets, taken evenly from each."""
    from bench.retrieval_dev import LOADERS, data_root

    per_set = [load(data_root()).queries for load in LOADERS.values()]
    each = count // len(per_set)
    return [q.text for queries in per_set for q in queries[:: max(1, len(queries) // each)][:each]]


def real_vectors(cache: Path | None) -> NDArray[np.float32]:
    """The shipped embedder's vectors of `real_text_pieces()` (cached)."""
    if cache is not None and cache.exists():
        loaded: NDArray[np.float32] = np.load(cache)
        return loaded
    with scratch_services("onnx") as services:
        vectors = np.asarray(services.embedder.embed_documents(real_text_pieces()), dtype=np.float32)
    if cache is not None:
        np.save(cache, vectors)
    return vectors


def points(
    base: Sequence[Template],
    n: int,
    *,
    start: int = 0,
    seed: int = 13,
    dense: NDArray[np.float32] | None = None,
) -> Iterator[list[IndexPoint]]:
    """Points start .. start+n-1 in batches (module docstring); the same seed and start, the same
    points. `dense`: base vectors to draw the dense side from instead of the templates' own."""
    rng = np.random.default_rng(seed * 1_000_003 + start)
    vectors = np.asarray([t.vector for t in base], dtype=np.float32) if dense is None else dense
    weights = np.asarray([1.0 / (k + 1) for k in range(len(TENANTS))])
    weights /= weights.sum()
    for lo in range(start, start + n, BATCH):
        hi = min(start + n, lo + BATCH)
        m = hi - lo
        own = np.arange(lo, hi) % len(base)
        near = np.arange(lo, hi) % len(vectors)
        other = rng.integers(0, len(vectors), m)
        v = vectors[near] + 0.35 * vectors[other] + rng.normal(0.0, 0.03, (m, DIM)).astype(np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        tenant = rng.choice(len(TENANTS), size=m, p=weights)
        source = rng.integers(0, len(SOURCES), m)
        purpose = rng.choice(len(PURPOSES), size=m, p=[0.6, 0.25, 0.15])
        batch: list[IndexPoint] = []
        for i in range(m):
            template = base[int(own[i])]
            ref = RecordRef(
                tenant_id=TENANTS[int(tenant[i])], source=SOURCES[int(source[i])], record_id=f"S-{lo + i:08d}"
            )
            payload = {
                **template.payload,
                P.TENANT_ID: ref.tenant_id,
                P.SOURCE: ref.source,
                P.RECORD_ID: ref.record_id,
                P.RECORD_KEY: ref.key,
                P.PURPOSES: list(PURPOSES[int(purpose[i])]),
                P.CHUNK_INDEX: 0,
            }
            batch.append(
                IndexPoint(
                    id=P.point_id(ref, 0), vector=v[i].tolist(), payload=payload, lexical=template.lexical
                )
            )
        yield batch


@dataclass(frozen=True)
class Query:
    text: str
    vector: NDArray[np.float32]
    lexical: SparseVector | None
    where: IndexFilter


class QueryEncoder(Protocol):
    """What /query does to the question before the index call (`--live-embedding`)."""

    def __call__(self, text: str) -> tuple[NDArray[np.float32], SparseVector | None]: ...


@contextlib.contextmanager
def scratch_services(backend: str) -> Iterator[Services]:
    """The services `crm-rag serve` builds (bench.scale's config, `backend` embedding) on a
    scratch data directory, closed on exit."""
    from bench.scale import write_config
    from rag_service.config import load_settings
    from rag_service.services import build_services

    with tempfile.TemporaryDirectory(prefix="crm-index-scale-") as work:
        services = build_services(load_settings(write_config(Path(work), backend)))
        try:
            yield services
        finally:
            services.close()


@contextlib.contextmanager
def live_encoder(backend: str | None = None) -> Iterator[QueryEncoder]:
    """The query embedder (default: the shipped default backend) and BM25 encoder, as
    `crm-rag serve` builds them."""
    from ingest.config import EmbeddingConfig

    with scratch_services(backend or EmbeddingConfig().backend) as services:

        def encode(text: str) -> tuple[NDArray[np.float32], SparseVector | None]:
            vector = np.asarray(services.embedder.embed_query(text), dtype=np.float32)
            return vector, services.lexical.embed_query(text) if services.lexical else None

        yield encode


def questions() -> list[str]:
    truth = json.loads((ROOT / "demo" / "truth.json").read_text())
    seen: dict[str, None] = dict.fromkeys(QUESTIONS)
    for case in truth["canaries"]:
        seen.setdefault(str(case["question"]), None)
    return list(seen)


def embed_questions(texts: list[str], cache: Path | None) -> list[tuple[list[float], SparseVector | None]]:
    """The shipped embedder's and BM25 encoder's query vectors (cached beside the templates)."""
    if cache is not None and cache.exists():
        rows = json.loads(cache.read_text())
        return [
            (r["vector"], SparseVector.model_validate(r["lexical"]) if r["lexical"] else None) for r in rows
        ]
    with live_encoder("onnx") as encode:
        out = [(vector.tolist(), lexical) for vector, lexical in map(encode, texts)]
    if cache is not None:
        cache.write_text(
            json.dumps([{"vector": v, "lexical": s.model_dump() if s else None} for v, s in out])
        )
    return out


def make_queries(
    texts: list[str],
    embedded: list[tuple[list[float], SparseVector | None]],
    count: int,
    acl_teams: str = "one",
) -> list[Query]:
    """`acl_teams` "one": the user is in one team (six in turn); "all": in all six (bench.scale's
    user), so the ACL narrows next to nothing and the filter is the tenant and purpose."""
    out: list[Query] = []
    for i in range(count):
        text = texts[i % len(texts)]
        vector, lexical = embedded[i % len(embedded)]
        where = IndexFilter(
            tenant_id=QUERY_TENANTS[i % len(QUERY_TENANTS)],
            purpose=("sales_assistant", "support_assistant")[(i // len(QUERY_TENANTS)) % 2],
            acl_user="u-nobody",
            acl_teams=tuple(TEAMS) if acl_teams == "all" else (TEAMS[i % len(TEAMS)],),
        )
        out.append(Query(text, np.asarray(vector, dtype=np.float32), lexical, where))
    return out


# ---------------------------------------------------------------- steps


def upsert_all(
    store: EdgeIndexStore, base: Sequence[Template], n: int, dense: NDArray[np.float32] | None = None
) -> list[dict[str, Any]]:
    """Upsert n points; the rate of each tenth as the shard grows (generation time excluded)."""
    step = max(BATCH, n // 10)
    rows: list[dict[str, Any]] = []
    spent, done, mark = 0.0, 0, 0
    for batch in points(base, n, dense=dense):
        t0 = time.perf_counter()
        store.upsert(batch)
        spent += time.perf_counter() - t0
        done += len(batch)
        if done - mark >= step or done == n:
            rows.append(
                {"points": done, "rate_per_s": round((done - mark) / spent, 1), "seconds": round(spent, 1)}
            )
            print(json.dumps({"upsert": rows[-1]}), flush=True)
            spent, mark = 0.0, done
    t0 = time.perf_counter()
    store.flush()
    rows.append({"flush_s": round(time.perf_counter() - t0, 2)})
    return rows


def drive(
    store: EdgeIndexStore,
    queries: Sequence[Query],
    clients: int,
    seconds: float,
    min_requests: int = 5,
    encoder: QueryEncoder | None = None,
) -> dict[str, Any]:
    """`clients` threads making /query's index call for `seconds` (at least min_requests each);
    with `encoder`, each request embeds its question first and the time includes that."""
    empty = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(k: int) -> list[float]:
        mine: list[float] = []
        nothing = 0
        i = k * 7
        while len(mine) < min_requests or time.perf_counter() < stop_at:
            q = queries[i % len(queries)]
            t0 = time.perf_counter()
            vector, lexical = encoder(q.text) if encoder is not None else (q.vector, q.lexical)
            legs = store.search_legs(vector, lexical, where=q.where, limit=LIMIT)
            mine.append((time.perf_counter() - t0) * 1000)
            nothing += not legs.dense
            i += 1
        with lock:
            empty[0] += nothing
        return mine

    latencies, wall = fan_out(clients, client)
    return {
        "clients": clients,
        "requests": len(latencies),
        "empty": empty[0],
        **latency_row(latencies, wall),
    }


class Writer:
    """A thread upserting new points at `rate` points/s (batches of 100) until stopped."""

    def __init__(
        self,
        store: EdgeIndexStore,
        base: Sequence[Template],
        start: int,
        rate: float,
        dense: NDArray[np.float32] | None = None,
    ) -> None:
        self.store, self.base, self.next, self.rate, self.dense = store, base, start, rate, dense
        self.written = 0
        self.calls: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._t0 = 0.0
        self.seconds = 0.0

    def _run(self) -> None:
        size = 100
        while not self._stop.is_set():
            due = self._t0 + self.written / self.rate
            if self._stop.wait(max(0.0, due - time.perf_counter())):
                break
            for batch in points(self.base, size, start=self.next, seed=29, dense=self.dense):
                t0 = time.perf_counter()
                self.store.upsert(batch)
                self.calls.append((time.perf_counter() - t0) * 1000)
            self.next += size
            self.written += size

    def __enter__(self) -> Writer:
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.seconds = time.perf_counter() - self._t0

    def report(self) -> dict[str, Any]:
        return {
            "points_written": self.written,
            "points_per_s": round(self.written / self.seconds, 1) if self.seconds else 0.0,
            "upsert_call_p50_ms": round(pct(self.calls, 0.5), 1) if self.calls else None,
            "upsert_call_max_ms": round(max(self.calls), 1) if self.calls else None,
        }


def recall(store: EdgeIndexStore, queries: Sequence[Query], k: int = 10) -> dict[str, Any]:
    """Dense leg recall@k against exact search under the same filter; ms of each."""
    hits, acorn_hits, shipped_hits, total = 0, 0, 0, 0
    approx_ms: list[float] = []
    acorn_ms: list[float] = []
    exact_ms: list[float] = []
    worst = 1.0
    misses: list[dict[str, Any]] = []
    gaps: list[float] = []  # mean cosine of the exact top k minus that of the HNSW top k
    for q in queries:
        t0 = time.perf_counter()
        got = store.search(q.vector, where=q.where, limit=k)
        approx_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        acorn = store.search(q.vector, where=q.where, limit=k, acorn=True)
        acorn_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        truth = store.search(q.vector, where=q.where, limit=k, exact=True)
        exact_ms.append((time.perf_counter() - t0) * 1000)
        if not truth:
            continue
        found = len({h.id for h in got} & {h.id for h in truth})
        gaps.append(float(np.mean([h.score for h in truth]) - np.mean([h.score for h in got] or [0.0])))
        hits, total = hits + found, total + len(truth)
        acorn_hits += len({h.id for h in acorn} & {h.id for h in truth})
        # what /query's dense leg returns (the store's index.dense_search settings)
        shipped = store.search_legs(q.vector, None, where=q.where, limit=k).dense
        shipped_hits += len({h.id for h in shipped} & {h.id for h in truth})
        worst = min(worst, found / len(truth))
        if found < len(truth) / 2:
            misses.append(
                {
                    "tenant": q.where.tenant_id,
                    "teams": len(q.where.acl_teams),
                    "got": len(got),
                    "found": found,
                }
            )
    return {
        "queries": len(queries),
        f"recall_at_{k}": round(hits / total, 4) if total else None,
        "worst_query": round(worst, 2),
        "mean_score_gap": round(float(np.mean(gaps)), 4) if gaps else None,
        "max_score_gap": round(max(gaps), 4) if gaps else None,
        f"acorn_recall_at_{k}": round(acorn_hits / total, 4) if total else None,
        f"dense_leg_recall_at_{k}": round(shipped_hits / total, 4) if total else None,
        "acorn_p50_ms": round(pct(acorn_ms, 0.5), 1),
        "hnsw_p50_ms": round(pct(approx_ms, 0.5), 1),
        "under_half": misses,
        "exact_p50_ms": round(pct(exact_ms, 0.5), 1),
    }


def fold_in(store: EdgeIndexStore) -> dict[str, Any]:
    report = store.fold_in(optimize_in_subprocess)
    return report.model_dump(mode="json", exclude={"finished_at", "shard"})


def one_config(
    args: argparse.Namespace,
    name: str,
    base: Sequence[Template],
    queries: list[Query],
    encoder: QueryEncoder | None,
    dense: NDArray[np.float32] | None,
) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="crm-index-scale-", dir=args.workdir))
    out: dict[str, Any] = {"config": name, "points": args.points}

    def note(key: str, value: Any) -> None:
        out[key] = value
        print(json.dumps({"config": name, key: value}), flush=True)

    search = DenseSearchConfig(hnsw_ef=args.hnsw_ef or None, acorn=args.acorn)
    store = BenchStore(Path(args.open) if args.open else tmp / "shard", DIM, name, search)
    try:
        if args.open:  # a shard a run before kept (--keep): its points are S-0 .. S-(count-1)
            note("opened", {"points": store.count(), "segments": store.segment_count()})
        else:
            t0 = time.perf_counter()
            out["upsert"] = upsert_all(store, base, args.points, dense)
            note("upsert_total_s", round(time.perf_counter() - t0, 1))
            if args.plain_seconds:
                note("plain_1_client", drive(store, queries, 1, args.plain_seconds, encoder=encoder))
            note("fold_in_1", fold_in(store))
        note("recall_1", recall(store, queries))
        clients = [int(c) for c in args.clients.split(",")]
        note("query", [drive(store, queries, c, args.seconds, encoder=encoder) for c in clients])
        with_writes = []
        start = store.count()
        for c in clients:
            with Writer(store, base, start, args.upsert_rate, dense) as writer:
                load = drive(store, queries, c, args.seconds, encoder=encoder)
            start = writer.next
            with_writes.append({**load, "writer": writer.report()})
        note("query_with_upserts", with_writes)
        if not args.no_second_fold_in:
            note("fold_in_2", fold_in(store))
            note("recall_2", recall(store, queries))
            note("query_after_fold_in_2", drive(store, queries, 1, args.seconds, encoder=encoder))
        note("disk_mb", round(sum(f.stat().st_size for f in store.shard_dir.rglob("*") if f.is_file()) / 1e6))
    finally:
        store.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "| config | points | upsert pts/s per tenth | fold-in 1: build s / total s / segments | "
        "fold-in 2 (+points): build s / total s / segments | recall@10 after 1 / 2 |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        rates = " ".join(str(int(u["rate_per_s"])) for u in r.get("upsert", []) if "rate_per_s" in u)
        f1, f2 = r.get("fold_in_1", {}), r.get("fold_in_2", {})
        added = sum(q["writer"]["points_written"] for q in r["query_with_upserts"])
        lines.append(
            f"| {r['config']} | {r['points']:,} | {rates} | {f1.get('build_seconds')} / "
            f"{f1.get('total_seconds')} / {f1.get('segments')} | (+{added:,}) "
            f"{f2.get('build_seconds')} / {f2.get('total_seconds')} / "
            f"{f2.get('segments')} | {r['recall_1']['recall_at_10']} / "
            f"{r.get('recall_2', {}).get('recall_at_10')} |"
        )
    lines += [
        "",
        "| config | upserts meanwhile | clients | p50 | p95 | p99 | requests/s |",
        "|---|---|---|---|---|---|---|",
    ]

    def row(label: str, writes: str, q: dict[str, Any]) -> str:
        cells = [label, writes, q["clients"], q["p50_ms"], q["p95_ms"], q["p99_ms"], q["requests_per_s"]]
        return "| " + " | ".join(str(c) for c in cells) + " |"

    for r in results:
        if "plain_1_client" in r:
            lines.append(row(f"{r['config']} (plain segments)", "no", r["plain_1_client"]))
        lines += [row(r["config"], "no", q) for q in r["query"]]
        lines += [
            row(r["config"], f"{q['writer']['points_per_s']} pts/s", q) for q in r["query_with_upserts"]
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument(
        "--configs",
        default="current,shipped",
        help="comma-separated: current, payload-m0, one-thread, shipped",
    )
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=20.0, help="per load phase")
    parser.add_argument(
        "--plain-seconds", type=float, default=10.0, help="1 client on plain segments; 0: skip"
    )
    parser.add_argument("--upsert-rate", type=float, default=500.0, help="points/s of the concurrent writer")
    parser.add_argument("--queries", type=int, default=96, help="(question, filter) pairs")
    parser.add_argument(
        "--template-records", type=int, default=300, help="demo records the templates come from"
    )
    parser.add_argument("--cache", default=None, help="a directory to keep templates and query vectors in")
    parser.add_argument("--workdir", default=None, help="where the shards go (default: the temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the shards")
    parser.add_argument(
        "--acl-teams", choices=("one", "all"), default="one", help="the querying user's teams"
    )
    parser.add_argument("--no-second-fold-in", action="store_true", help="stop after the load phases")
    parser.add_argument("--open", default=None, help="a kept shard slot: skip the upsert and first fold-in")
    parser.add_argument(
        "--hnsw-ef", type=int, default=DENSE_DEFAULT.hnsw_ef or 0, help="dense leg's ef (0: engine's)"
    )
    parser.add_argument("--acorn", action="store_true", help="ACORN on the dense leg (index.dense_search)")
    parser.add_argument(
        "--vectors",
        choices=("templates", "real-text"),
        default="templates",
        help="the dense side: the templates' own vectors, or real public text passages' (real_vectors)",
    )
    parser.add_argument(
        "--live-embedding",
        action="store_true",
        help="load phases embed each question (shipped ONNX embedder + BM25) before the index call",
    )
    args = parser.parse_args()
    cache = Path(args.cache) if args.cache else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    base = load_templates(
        cache / f"templates-{args.template_records}.json" if cache else None, args.template_records
    )
    dense = None
    if args.vectors == "real-text":
        dense = real_vectors(cache / "real-text-vectors.npy" if cache else None)
    texts = questions() if dense is None else real_questions()
    embedded = embed_questions(texts, cache / f"queries-{args.vectors}.json" if cache else None)
    queries = make_queries(texts, embedded, args.queries, args.acl_teams)
    print(
        json.dumps(
            {
                "templates": len(base),
                "dense_bases": len(base) if dense is None else len(dense),
                "questions": len(texts),
                "s": round(time.perf_counter() - t0, 1),
            }
        )
    )
    with live_encoder() if args.live_embedding else contextlib.nullcontext() as encoder:
        results = [
            one_config(args, name.strip(), base, queries, encoder, dense) for name in args.configs.split(",")
        ]
    print(markdown(results))
    print(json.dumps({"points": args.points, "results": results}, indent=1))


if __name__ == "__main__":
    main()
