"""`crm-rag status` and `crm-rag check-config`: what a newcomer (or an operator) wants to see first.

Both read only the settings and the state store: no model is loaded and the index is not opened,
so they run next to a serving process that owns the embedded index.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from ingest.partition import key_like
from ingest.store.state import StateStore
from ingest.store.tables import job_schedules, ledger, quarantine
from ingest.timeutil import aware, rfc3339, utcnow
from rag_service.cli_errors import safe_url
from rag_service.config import Settings


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


def source_status(settings: Settings, state: StateStore) -> list[dict[str, Any]]:
    """Per source: records by ledger status, chunks, quarantine, last run and its error, freshness
    (seconds since the last successful sync), completeness (last reconcile) and the next run."""
    out: list[dict[str, Any]] = []
    now = utcnow()
    with state.engine.connect() as conn:
        for cfg in settings.sources:
            rows = conn.execute(
                sa.select(
                    ledger.c.status, sa.func.count(), sa.func.coalesce(sa.func.sum(ledger.c.chunk_count), 0)
                )
                .where(ledger.c.source == cfg.name)
                .group_by(ledger.c.status)
            ).all()
            quarantined = conn.execute(
                sa.select(sa.func.count()).select_from(quarantine).where(quarantine.c.source == cfg.name)
            ).scalar_one()
            scheduled = conn.execute(
                sa.select(sa.func.min(job_schedules.c.next_run_at)).where(
                    job_schedules.c.kind == "sync",
                    (job_schedules.c.target == cfg.name)
                    | job_schedules.c.target.like(key_like(cfg.name), escape="\\"),
                )
            ).scalar_one_or_none()
            runs = state.list_runs(source=cfg.name, limit=20)
            last = runs[0] if runs else None
            synced = next(
                (r for r in runs if r["kind"] == "sync" and r["status"] == "succeeded" and r["finished_at"]),
                None,
            )
            reconciled = state.list_audit(action="reconcile", source=cfg.name, limit=1)
            completeness = reconciled[0]["details"].get("completeness_after") if reconciled else None
            next_run = aware(scheduled) or (
                last["started_at"] + timedelta(seconds=cfg.interval_seconds) if last else None
            )
            out.append(
                {
                    "source": cfg.name,
                    "kind": cfg.kind,
                    "tenant_id": cfg.tenant_id,
                    "enabled": cfg.enabled,
                    "records": {str(status): int(count) for status, count, _ in rows},
                    "chunks": int(sum(chunks for _, _, chunks in rows)),
                    "quarantined": int(quarantined),
                    "last_run": None
                    if last is None
                    else {
                        "run_id": last["run_id"],
                        "kind": last["kind"],
                        "status": last["status"],
                        "started_at": _stamp(last["started_at"]),
                        "finished_at": _stamp(last["finished_at"]),
                        "error": last["error"],
                    },
                    "freshness_seconds": round((now - synced["finished_at"]).total_seconds())
                    if synced
                    else None,
                    "completeness": completeness,
                    "next_run_due": _stamp(next_run) if cfg.enabled else None,
                }
            )
    return out


def _endpoint(url: str) -> str:
    """scheme://host[:port]/path: no user info or query (either may carry a key)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def config_summary(settings: Settings) -> dict[str, Any]:
    """What the configuration says, secrets left out, and what it lacks (`problems`)."""
    from policies.consent import ConsentPolicy
    from policies.redaction import load_redaction_policy

    problems: list[str] = []
    try:
        consent_version = ConsentPolicy.from_file(settings.policies.consent).version
    except Exception as exc:  # the message names the file and the rule, as policy loading does
        problems.append(f"consent policy: {type(exc).__name__}: {exc}")
        consent_version = None
    try:
        redaction_version = load_redaction_policy(settings.policies.redaction).version
    except Exception as exc:
        problems.append(f"redaction policy: {type(exc).__name__}: {exc}")
        redaction_version = None
    if not settings.sources:
        problems.append("no sources configured: nothing will be indexed")
    if not settings.auth.keys:
        problems.append("no API keys configured: every API endpoint but health and metrics answers 401")
    roles = sorted({k.role for k in settings.auth.keys})
    index = settings.index
    location = index.qdrant_url if index.backend == "qdrant" else str(index.path)
    return {
        "environment": settings.environment,
        "data_dir": str(settings.data_dir),
        "state": safe_url(settings.state.url),
        "index": {"backend": index.backend, "location": location},
        "sources": [
            {"name": s.name, "kind": s.kind, "tenant_id": s.tenant_id, "interval_seconds": s.interval_seconds}
            for s in settings.sources
        ],
        "api_keys": {role: sum(k.role == role for k in settings.auth.keys) for role in roles},
        "policies": {"consent": consent_version, "redaction": redaction_version},
        "generator": (
            {
                "base_url": _endpoint(settings.generator.base_url),
                "model": settings.generator.model,
                "api_key": settings.generator.api_key is not None,  # set or not, never the value
            }
            if settings.generator.enabled
            else None  # extractive answers
        ),
        "problems": problems,
    }
