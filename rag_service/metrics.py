"""Prometheus metrics: one registry per app (no module-level collectors).

Counters and histograms are fed by run reports and the query route; gauges (index size, freshness
lag, completeness) are read from the state store and index at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.context_managers import Timer
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ingest.index.base import IndexStore
from ingest.models import RunReport
from ingest.store.state import StateStore

OUTCOMES = (
    "fetched",
    "indexed",
    "unchanged",
    "payload_updated",
    "excluded",
    "suppressed",
    "purged",
    "deleted",
    "quarantined",
    "quarantine_unchanged",
)


class _StateCollector(Collector):
    def __init__(self, state: StateStore, index: IndexStore, sources: Sequence[str]) -> None:
        self._state, self._index, self._sources = state, index, sources

    def collect(self) -> Iterator[Any]:
        chunks = GaugeMetricFamily("crm_rag_index_chunks", "Chunks in the live index")
        chunks.add_metric([], float(self._index.count()))
        yield chunks
        lag = GaugeMetricFamily(
            "crm_rag_freshness_lag_seconds",
            "Seconds since the last successful sync of a source finished",
            labels=["source"],
        )
        completeness = GaugeMetricFamily(
            "crm_rag_index_completeness",
            "Share of live, admitted records fully present in the index (last reconcile)",
            labels=["source"],
        )
        now = datetime.now(UTC)
        for name in self._sources:
            done = [
                r
                for r in self._state.list_runs(source=name, limit=20)
                if r["status"] == "succeeded" and r["kind"] == "sync" and r["finished_at"]
            ]
            if done:
                lag.add_metric([name], (now - done[0]["finished_at"]).total_seconds())
            last = self._state.list_audit(action="reconcile", source=name, limit=1)
            if last:
                completeness.add_metric([name], float(last[0]["details"].get("completeness_after", 0.0)))
        yield lag
        yield completeness


class Metrics:
    def __init__(self, state: StateStore, index: IndexStore, sources: Sequence[str]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.records = Counter(
            "crm_rag_records", "Records processed by outcome", ["source", "outcome"], registry=r
        )
        self.chunks = Counter("crm_rag_chunks_written", "Chunks written to the index", ["source"], registry=r)
        self.redactions = Counter(
            "crm_rag_redactions", "PII markers written, by entity type", ["source", "entity"], registry=r
        )
        self.runs = Counter(
            "crm_rag_runs", "Job runs by kind and status", ["source", "kind", "status"], registry=r
        )
        self.run_seconds = Histogram(
            "crm_rag_run_duration_seconds",
            "Job run duration",
            ["source", "kind"],
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
            registry=r,
        )
        self.query_seconds = Histogram(
            "crm_rag_query_duration_seconds",
            "POST /query latency",
            buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.answers = Counter(
            "crm_rag_answers",
            "POST /query answers by mode (extractive/generated) and generator outcome",
            ["mode", "generation"],  # generation: none (not asked), generated, fallback
            registry=r,
        )
        r.register(_StateCollector(state, index, sources))

    def observe_run(self, report: RunReport) -> None:
        src = report.source
        for outcome in OUTCOMES:
            if report.counts.get(outcome):
                self.records.labels(src, outcome).inc(report.counts[outcome])
        if report.counts.get("chunks_written"):
            self.chunks.labels(src).inc(report.counts["chunks_written"])
        for entity, n in report.redacted.items():
            self.redactions.labels(src, entity).inc(n)
        self.runs.labels(src, report.kind, report.status).inc()
        self.run_seconds.labels(src, report.kind).observe(
            (report.finished_at - report.started_at).total_seconds()
        )

    def observe_answer(self, mode: str, generation: str | None) -> None:
        self.answers.labels(mode, generation or "none").inc()

    def time_query(self) -> Timer:
        return self.query_seconds.time()  # observes the `with` block's duration, exceptions included

    def render(self) -> bytes:
        data: bytes = generate_latest(self.registry)
        return data
