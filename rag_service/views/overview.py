"""Per-source overview for the console: what `crm-rag status` computes (rag_service/status.py),
plus chunks counted by the index engine, the last error, whether the source is busy, and the
partitions of a partitioned source."""

from __future__ import annotations

from typing import Any

from rag_service.services import Services
from rag_service.status import source_status
from rag_service.views.models import ErrorBrief, PartitionView, RunBrief, SourceOverview


def _brief(run: dict[str, Any] | None) -> RunBrief | None:
    if run is None:
        return None
    return RunBrief(
        run_id=run["run_id"],
        kind=run["kind"],
        status=run["status"],
        started_at=run["started_at"],
        finished_at=run["finished_at"],
        error=run["error"],
    )


def _last_error(runs: list[dict[str, Any]]) -> ErrorBrief | None:
    failed = next((r for r in runs if r["error"]), None)
    if failed is None:
        return None
    return ErrorBrief(
        run_id=failed["run_id"],
        kind=failed["kind"],
        at=failed["finished_at"] or failed["started_at"],
        error=failed["error"],
    )


def _partitions(services: Services, keys: list[str]) -> list[PartitionView]:
    """One view per partition key ("<source>#<p>"); none for a source in one piece."""
    if len(keys) <= 1:
        return []
    out = []
    for key in keys:
        cursor = services.state.get_cursor(key)
        runs = services.state.list_runs(source=key, limit=1)
        out.append(
            PartitionView(
                key=key,
                cursor_watermark=cursor.watermark if cursor else None,
                busy=services.state.is_locked(key),
                last_run=_brief(runs[0] if runs else None),
            )
        )
    return out


def source_overview(services: Services, tenants: tuple[str, ...]) -> list[SourceOverview]:
    """Every configured source of the given tenants ("*": all)."""
    visible = tuple(s for s in services.settings.sources if "*" in tenants or s.tenant_id in tenants)
    if not visible:
        return []
    rows = source_status(services.settings.model_copy(update={"sources": visible}), services.state)
    held = services.index.source_tenants()
    out = []
    for cfg, row in zip(visible, rows, strict=True):
        runs = services.state.list_runs(source=cfg.name, limit=20)
        out.append(
            SourceOverview(
                source=cfg.name,
                kind=cfg.kind,
                tenant_id=cfg.tenant_id,
                enabled=cfg.enabled,
                interval_seconds=cfg.interval_seconds,
                records=row["records"],
                records_indexed=int(row["records"].get("indexed", 0)),
                chunks_indexed=int(held.get(cfg.name, {}).get(cfg.tenant_id, 0)),
                quarantined=row["quarantined"],
                busy=any(services.state.is_locked(key) for key in services.lock_keys(cfg.name)),
                last_run=_brief(runs[0] if runs else None),
                last_error=_last_error(runs),
                freshness_seconds=row["freshness_seconds"],
                completeness=row["completeness"],
                next_run_due=row["next_run_due"],
                partitions=_partitions(services, services.lock_keys(cfg.name)),
            )
        )
    return out
