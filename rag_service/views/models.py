"""Frozen response models of the console's read endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ingest.timeutil import Timestamp
from rag_service.schemas import RunView


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KeyInfo(Frozen):
    """Who the presented key is: the console shows the pages its role may use."""

    name: str
    role: str
    tenants: list[str]


class RunBrief(Frozen):
    run_id: str
    kind: str
    status: str
    started_at: Timestamp
    finished_at: Timestamp | None
    error: str | None


class ErrorBrief(Frozen):
    run_id: str
    kind: str
    at: Timestamp
    error: str


class PartitionView(Frozen):
    key: str  # "<source>#<p>": own cursor, lock, schedule and runs
    cursor_watermark: str | None
    busy: bool
    last_run: RunBrief | None


class SourceOverview(Frozen):
    source: str
    kind: str
    tenant_id: str
    enabled: bool
    interval_seconds: int
    records: dict[str, int] = Field(description="ledger records by status (indexed, excluded, deleted, ...)")
    records_indexed: int = Field(description="records whose chunks are in the live index")
    chunks_indexed: int = Field(description="chunks of this source in the live index (counted by the engine)")
    quarantined: int
    busy: bool = Field(description="a sync, reindex or reconcile holds the source now")
    last_run: RunBrief | None
    last_error: ErrorBrief | None = Field(
        description="the newest of the last 20 runs that ended with an error"
    )
    freshness_seconds: int | None = Field(description="seconds since the last successful sync")
    completeness: float | None = Field(description="share of live records indexed at the last reconcile")
    next_run_due: Timestamp | None
    partitions: list[PartitionView]


class RunProgress(Frozen):
    """What a run has written so far (read from the ledger and quarantine rows it touched), so a
    run in progress can be followed from any process."""

    run_id: str
    status: str
    elapsed_seconds: float
    records: dict[str, int] = Field(description="ledger rows last written by this run, by status")
    quarantined: int


class RunRow(RunView):
    """A job run as the admin API shows it, with its duration (None while it runs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    duration_seconds: float | None


class RedactionSummary(Frozen):
    """Entity types and counts redacted in the records a source has in the index now."""

    source: str
    tenant_id: str
    records: int = Field(description="indexed records with a redaction summary")
    entities: dict[str, int]


class ReceiptCheck(Frozen):
    """A receipt checked again now: chunks of its records the live index still holds."""

    receipt_id: str
    verified_at_issue: bool
    remaining_chunks_now: int
    verified_now: bool
    checked_at: Timestamp
