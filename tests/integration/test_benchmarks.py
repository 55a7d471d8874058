"""Every benchmark runs with its one command (tiny sizes here; bench/README.md has real runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.conftest import ROOT


def run_bench(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last: dict[str, Any] = json.loads(proc.stdout[proc.stdout.rindex("\n{\n") :])
    return last


def test_langchain_side_by_side_runs() -> None:
    out = run_bench("bench.langchain_compare", "--records", "40")
    ours, theirs = out["ours_initial_detail"], out["langchain_plain_initial_detail"]
    assert ours["indexed"] > 0
    # the same records through the same splitter settings: about the same number of chunks
    assert abs(theirs["num_added"] - ours["chunks_written"]) <= 0.1 * ours["chunks_written"]
    assert out["changed_records"] >= 1
    assert out["ours_resync_1pct_detail"]["embedded"] == out["changed_records"]
    assert out["langchain_presidio_resync_1pct_detail"]["num_added"] >= out["changed_records"]
    # the ratio is reported, not asserted: timings belong to the bench (a loaded machine flipped it)
    assert out["speedup_vs_langchain_presidio_resync_1pct"] > 0


def test_scale_bench_runs_ingest_and_concurrent_queries() -> None:
    out = run_bench("bench.scale", "--records", "60", "--sample", "40", "--requests", "16")
    assert out["ingest"]["chunks"] > 0 and out["ingest"]["pipeline_over_raw_embedding_ours"] > 0
    for phase in ("query", "query_optimized"):  # plain segments, then after `crm-rag optimize`
        assert [q["clients"] for q in out[phase]] == [1, 4, 16]
        assert all(q["failed_or_empty"] == 0 and q["p50_ms"] > 0 for q in out[phase])
    assert out["optimize"]["points"] == out["ingest"]["chunks"]


def test_index_scale_bench_runs_both_configs() -> None:
    out = run_bench(
        "bench.index_scale",
        *("--points", "3000", "--seconds", "0.5", "--plain-seconds", "0.5", "--clients", "1,4"),
        *("--upsert-rate", "400", "--queries", "24", "--template-records", "30"),
    )
    assert [r["config"] for r in out["results"]] == ["current", "shipped"]
    for r in out["results"]:
        assert r["upsert"][-2]["points"] == 3000 and all(u["rate_per_s"] > 0 for u in r["upsert"][:-1])
        assert r["fold_in_1"]["points"] == 3000
        # the second fold-in folds what the writer upserted during the load phases
        written = sum(q["writer"]["points_written"] for q in r["query_with_upserts"])
        assert written > 0 and r["fold_in_2"]["points"] == 3000 + written
        for phase in ("query", "query_with_upserts"):
            assert [q["clients"] for q in r[phase]] == [1, 4]
            assert all(q["requests"] >= q["clients"] and q["empty"] < q["requests"] for q in r[phase])
        # a few thousand points: every filter is under the full-scan threshold, so exact
        assert r["recall_1"]["recall_at_10"] >= 0.95 and r["recall_2"]["recall_at_10"] >= 0.95
