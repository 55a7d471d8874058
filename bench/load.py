"""Concurrent clients for the latency benchmarks: run them at once, summarise what they saw."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fan_out(clients: int, client: Callable[[int], list[float]]) -> tuple[list[float], float]:
    """`client(k)` for k in range(clients), each in its own thread, all at once: every latency
    (ms) they returned, and the wall seconds until the last one ended."""
    results: list[list[float]] = [[] for _ in range(clients)]

    def run(k: int) -> None:
        results[k] = client(k)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [ms for mine in results for ms in mine], time.perf_counter() - t0


def latency_row(latencies: list[float], wall: float, *, with_max: bool = True) -> dict[str, Any]:
    """p50 / p95 / p99 (and the maximum) in ms, and requests per second of wall time."""
    row: dict[str, Any] = {
        "p50_ms": round(pct(latencies, 0.50), 1),
        "p95_ms": round(pct(latencies, 0.95), 1),
        "p99_ms": round(pct(latencies, 0.99), 1),
    }
    if with_max:
        row["max_ms"] = round(max(latencies), 1) if latencies else None
    row["requests_per_s"] = round(len(latencies) / wall, 1)
    return row
