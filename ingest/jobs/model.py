"""The job model: every piece of background work is a typed job of one kind, and every scheduled
kind has its own schedule (plain data). `serve` and `worker` run them through one path
(ingest/jobs/runner.py: claim a due job from the shared schedule, run it under its locks, record
its run), the API and the CLI run the same jobs on demand."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from ingest.config import ReconcileConfig, SourceConfig
from ingest.partition import keys as partition_keys

EVERY_SOURCE = "*"  # the target of a job over every source (rebuild)


class JobKind(StrEnum):
    SYNC = "sync"  # incremental, per source or partition ("<source>#<p>")
    REINDEX = "reindex"  # a whole source from scratch (on demand)
    RECORD_REINDEX = "reindex_record"  # one record (on demand)
    RECONCILE = "reconcile"  # live ids and content vs ledger vs index, per source
    REPROCESS_STALE = "reprocess_stale"  # records indexed under older policies or model, per source
    REBUILD = "rebuild"  # a new index generation from every source (blue/green)
    FOLD_IN = "fold_in"  # index new points of the embedded index in the background, when due


class Job(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: JobKind
    target: str  # a source, a partition key "<source>#<p>", or EVERY_SOURCE
    record_id: str | None = None  # RECORD_REINDEX only


class JobSchedule(BaseModel):
    model_config = ConfigDict(frozen=True)

    job: Job
    interval_seconds: int = Field(ge=1)


def job_schedules(
    sources: Sequence[SourceConfig],
    reconcile: ReconcileConfig,
    *,
    rebuild_interval_seconds: int | None,
    fold_in_check_seconds: int | None = None,
) -> list[JobSchedule]:
    """What runs on its own: syncs per partition at the source's interval, reprocess-stale per
    source at reconcile.reprocess_interval_seconds (else the source's interval), reconcile per
    source at its reconcile_interval_seconds (else reconcile.interval_seconds), a rebuild only
    when rebuild.interval_seconds is set, and the fold-in check of an embedded index."""
    plan: list[JobSchedule] = []
    for cfg in sources:
        if not cfg.enabled:
            continue
        plan += [
            JobSchedule(job=Job(kind=JobKind.SYNC, target=key), interval_seconds=cfg.interval_seconds)
            for key in partition_keys(cfg.name, cfg.partitions)
        ]
        plan.append(
            JobSchedule(
                job=Job(kind=JobKind.REPROCESS_STALE, target=cfg.name),
                interval_seconds=reconcile.reprocess_interval_seconds or cfg.interval_seconds,
            )
        )
        plan.append(
            JobSchedule(
                job=Job(kind=JobKind.RECONCILE, target=cfg.name),
                interval_seconds=getattr(cfg, "reconcile_interval_seconds", None)
                or reconcile.interval_seconds,
            )
        )
    if rebuild_interval_seconds is not None:
        plan.append(
            JobSchedule(
                job=Job(kind=JobKind.REBUILD, target=EVERY_SOURCE), interval_seconds=rebuild_interval_seconds
            )
        )
    if fold_in_check_seconds is not None:
        plan.append(
            JobSchedule(
                job=Job(kind=JobKind.FOLD_IN, target=EVERY_SOURCE), interval_seconds=fold_in_check_seconds
            )
        )
    return plan
