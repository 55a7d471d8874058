"""A record ledger row: what the state store knows of one record (its version, hashes, status and
the policies and model it was indexed with). Shared by the state store and the record history."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from ingest.models import RecordRef
from ingest.timeutil import Timestamp

LedgerStatus = Literal["indexed", "excluded", "deleted", "erased"]


class LedgerEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    tenant_id: str
    source: str
    record_id: str
    record_type: str
    version: str
    source_updated_at: Timestamp
    content_hash: str
    fingerprint: str
    access_hash: str
    status: LedgerStatus
    reason: str | None = None
    chunk_count: int = 0
    redaction_policy: str | None = None
    consent_policy: str | None = None
    model_id: str | None = None
    last_run_id: str | None = None

    @property
    def ref(self) -> RecordRef:
        return RecordRef(tenant_id=self.tenant_id, source=self.source, record_id=self.record_id)
