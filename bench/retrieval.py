"""Dense, lexical and hybrid retrieval side by side on the public retrieval-dev sets, through the
real pipeline (file source -> contract -> consent -> shipped redaction -> chunks -> dense + BM25
vectors -> embedded index) and `POST /query`:

    .venv/bin/python -m bench.retrieval [--sets emanual,stackfaq] [--limit-queries N]
                                        [--chunking default,no-header,...]

Each chunking variant is indexed once; every question is then asked in each retrieval mode
(`retrieval` field of /query, top_k 10, min_score 0). Record level: R@1, R@5, R@10, MRR; the
answer columns are bench/answer_stats.py's, as in bench.retrieval_dev (a citation [n] of a gold
record, overall / with gold in the top 5 / with gold first; gold-answer words quoted; quotes whose
offsets cut the cited chunk's stored text); p50 = /query latency in ms (TestClient, one client).
Sets and gold as in bench/retrieval_dev.py (../shared/data/retrieval-dev, see its SOURCES.md).
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.answer_stats import AnswerStats
from bench.retrieval_dev import LOADERS, BenchSet, data_root, drop_sources, gold_rank, post_query, spread
from bench.stored import chunk_text

if TYPE_CHECKING:
    from ingest.stages.embedding import Embedder
    from policies.redaction import Redactor

MODES = ("dense", "lexical", "hybrid")
CHUNKING: dict[str, dict[str, Any]] = {
    "default": {},
    "no-header": {"context_header": False},
    "tokens-120": {"chunk_tokens": 120, "overlap_tokens": 20},
}


@dataclass
class Score:
    queries: int = 0
    at1: int = 0
    at5: int = 0
    at10: int = 0
    rr: float = 0.0
    latency_ms: list[float] = field(default_factory=list)
    answers: AnswerStats = field(default_factory=AnswerStats)

    def add(self, ranked: Sequence[str], gold: frozenset[str], ms: float) -> None:
        rank = gold_rank(ranked, gold)
        self.queries += 1
        self.at1 += rank == 1
        self.at5 += 0 < rank <= 5
        self.at10 += 0 < rank <= 10
        self.rr += 1 / rank if rank else 0.0
        self.latency_ms.append(ms)

    def row(self) -> str:
        n = self.queries or 1
        p50 = statistics.median(self.latency_ms) if self.latency_ms else 0.0
        return (
            f"{self.at1 / n:.3f} | {self.at5 / n:.3f} | {self.at10 / n:.3f} | {self.rr / n:.3f} "
            f"{self.answers.row()} {p50:.1f}"
        )


def run_variant(
    chunking: dict[str, Any],
    sets: Sequence[BenchSet],
    tmp: Path,
    *,
    embedder: Embedder | None = None,
    redactor: Redactor | None = None,
    modes: Sequence[str] = MODES,
) -> dict[str, dict[str, Score]]:
    """Index every set once with this chunking, then ask each question in each retrieval mode."""
    from fastapi.testclient import TestClient

    from bench.live import bench_settings
    from rag_service.app import create_app
    from rag_service.services import build_services

    base = bench_settings(tmp / "var", drop_sources(sets, tmp / "drop"))
    settings = base.model_copy(update={"chunking": base.chunking.model_copy(update=chunking)})
    services = build_services(settings, embedder=embedder, redactor=redactor)
    scores: dict[str, dict[str, Score]] = {}
    try:
        app = create_app(settings, services=services, start_scheduler=False)
        with TestClient(app) as client:
            for bench in sets:
                report = services.run(bench.name, actor="bench")
                if report.status != "succeeded":
                    raise RuntimeError(f"{bench.name}: sync {report.status}: {report.error}")

                stored_text = functools.partial(chunk_text, services.index)

                for mode in modes:
                    score = scores.setdefault(bench.name, {}).setdefault(mode, Score())
                    for q in bench.queries:
                        t0 = time.perf_counter()
                        data = post_query(
                            client, q.text, bench.name, "support_assistant", min_score=0.0, retrieval=mode
                        )
                        ms = (time.perf_counter() - t0) * 1000
                        if data["retrieval"] != mode:
                            raise RuntimeError(f"asked {mode}, the service ran {data['retrieval']}")
                        records = [str(s["record_id"]) for s in data["sources"]]
                        score.add(list(dict.fromkeys(records)), q.gold, ms)
                        score.answers.add(str(data["answer"]), records, q.gold, q.answer)
                        score.answers.check_spans(data.get("quotes", []), data["sources"], stored_text)
    finally:
        services.close()
    return scores


def table(results: dict[str, dict[str, dict[str, Score]]], sets: Sequence[BenchSet]) -> str:
    lines = [
        "| set | chunking | retrieval | queries | R@1 | R@5 | R@10 | MRR | cites gold "
        "| cites gold, gold in top 5 | cites gold, gold first | gold answer words quoted "
        "| quotes round-trip | /query p50 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for bench in sets:
        for variant, per_set in results.items():
            for mode, score in per_set[bench.name].items():
                lines.append(f"| {bench.name} | {variant} | {mode} | {score.queries} | {score.row()} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--limit-queries", type=int, default=None, help="queries per set (default: all)")
    parser.add_argument("--sets", default=",".join(LOADERS), help="comma-separated: emanual,stackfaq")
    parser.add_argument(
        "--chunking",
        default="default",
        help=f"comma-separated variants: {', '.join(CHUNKING)} (default: default)",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    variants = [v.strip() for v in args.chunking.split(",") if v.strip()]
    if set(names) - set(LOADERS) or set(variants) - set(CHUNKING):
        parser.error(f"known sets: {', '.join(LOADERS)}; known chunking variants: {', '.join(CHUNKING)}")
    started = time.perf_counter()
    sets = []
    for name in names:
        loaded = LOADERS[name](data_root())
        sets.append(BenchSet(loaded.name, loaded.records, spread(loaded.queries, args.limit_queries)))
    results: dict[str, dict[str, dict[str, Score]]] = {}
    for variant in variants:
        tmp = Path(tempfile.mkdtemp(prefix="crm-retrieval-"))
        try:
            results[variant] = run_variant(CHUNKING[variant], sets, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"{variant}: done after {time.perf_counter() - started:.0f} s", flush=True)
    print(table(results, sets))
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
