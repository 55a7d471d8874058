"""Typed, frozen models that cross stage boundaries in the ingest pipeline."""

from __future__ import annotations

import hashlib
import json
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ingest.timeutil import Timestamp
from policies.models import ConsentStatus

RecordType = Literal["note", "ticket", "transcript"]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Contact(BaseModel):
    """A person the CRM links to the record. Every identifier it holds is masked wherever it
    appears in the record's text. Fields a CRM adds that the contract does not know are ignored
    (they never quarantine the record)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    contact_id: str = Field(min_length=1, max_length=128)
    name: str = Field(default="", max_length=256)
    email: str = Field(default="", max_length=320)
    phone: str = Field(default="", max_length=64)
    username: str = Field(default="", max_length=256)
    # other identifiers the CRM holds for the person: further e-mails and phones, account or
    # order ids, customer numbers
    identifiers: tuple[str, ...] = Field(default=(), max_length=50)

    @property
    def known(self) -> tuple[str, ...]:
        values = (self.name, self.email, self.phone, self.username, *self.identifiers)
        return tuple(v for v in values if v and v.strip())


class Turn(Frozen):
    """One speaker turn of a call transcript."""

    speaker_id: str = Field(min_length=1, max_length=128)
    speaker_name: str = Field(default="", max_length=256)
    role: Literal["rep", "customer", "other"] = "other"
    text: str = Field(min_length=1)
    start_ms: int | None = Field(default=None, ge=0)


class Acl(Frozen):
    owner_id: str = Field(min_length=1, max_length=128)
    team_ids: tuple[str, ...] = ()


class RecordRef(Frozen):
    tenant_id: str
    source: str  # source instance name (unique across the deployment)
    record_id: str

    @property
    def key(self) -> str:
        return f"{self.tenant_id}:{self.source}:{self.record_id}"


class SourceRecord(Frozen):
    """A CRM record that passed the data contract."""

    tenant_id: str
    source: str  # source instance name
    system: str  # hubspot / zendesk / salesforce / gong / file
    record_type: RecordType
    record_id: str
    url: str
    version: str
    updated_at: AwareDatetime
    title: str = ""
    body: str = ""
    turns: tuple[Turn, ...] = ()
    account_id: str = ""
    acl: Acl
    contacts: tuple[Contact, ...] = ()
    consent: dict[str, ConsentStatus] = Field(default_factory=dict)

    @property
    def ref(self) -> RecordRef:
        return RecordRef(tenant_id=self.tenant_id, source=self.source, record_id=self.record_id)

    def content_hash(self) -> str:
        """Hash of everything that shapes the indexed text (not ACL/consent: those are payload)."""
        content = {
            "type": self.record_type,
            "title": self.title,
            "body": self.body,
            "turns": [[t.speaker_id, t.role, t.text] for t in self.turns],
            "names": sorted(c.name for c in self.contacts),
            "known": sorted({v for c in self.contacts for v in c.known} - {c.name for c in self.contacts}),
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


class RecordFailure(Frozen):
    """A raw record that failed the data contract; goes to quarantine with its reason."""

    source: str
    locator: str  # where it was found (file:line, API page + index), never content
    record_id: str | None
    reason: str
    raw_sha256: str


class Cursor(Frozen):
    """Opaque per-source position; sources define what the fields mean."""

    watermark: str | None = None  # ISO timestamp or vendor cursor
    last_id: str | None = None


class Tombstone(Frozen):
    """The source reports that a record was deleted."""

    ref: RecordRef
    deleted_at: AwareDatetime


class Page(Frozen):
    records: tuple[SourceRecord, ...]
    deletions: tuple[Tombstone, ...] = ()
    failures: tuple[RecordFailure, ...] = ()
    next_cursor: Cursor


class Chunk(Frozen):
    ref: RecordRef
    chunk_index: int
    text: str  # redacted text
    char_start: int  # offsets in the redacted record text
    char_end: int
    token_count: int
    redaction_counts: dict[str, int]
    context: str = ""  # contextual header (the record's title) embedded with, not stored in, the text

    @property
    def embed_text(self) -> str:
        """What the dense and lexical vectors are computed from."""
        return f"{self.context}\n{self.text}" if self.context else self.text


class RunCounts(BaseModel):
    """Mutable tally kept during a run; frozen into RunReport at the end.

    `fetched` counts every item a source delivered (records, tombstones and lines that failed the
    contract). Each one ends in exactly one outcome of OUTCOMES, so fetched == sum(OUTCOMES):
    `quarantined` counts failures new to the quarantine (a line is counted once until it
    changes), `quarantine_unchanged` the ones already there. purged, chunks_* and embedded
    describe side effects, not outcomes."""

    OUTCOMES: ClassVar[tuple[str, ...]] = (
        "indexed",
        "unchanged",
        "payload_updated",
        "excluded",
        "suppressed",
        "deleted",
        "quarantined",
        "quarantine_unchanged",
    )

    fetched: int = 0
    indexed: int = 0
    unchanged: int = 0
    payload_updated: int = 0
    excluded: int = 0
    suppressed: int = 0  # erased records the source still holds
    purged: int = 0
    deleted: int = 0
    quarantined: int = 0
    quarantine_unchanged: int = 0
    chunks_written: int = 0
    chunks_deleted: int = 0
    embedded: int = 0
    pages: int = 0
    redacted: dict[str, int] = Field(default_factory=dict)  # entity type -> markers written

    def totals(self) -> dict[str, int]:
        return self.model_dump(exclude={"redacted"})

    def add(self, other: RunCounts) -> None:
        """Fold in the tally of one part of the run (a page, its write, its late purges)."""
        for name, value in other.totals().items():
            setattr(self, name, getattr(self, name) + value)
        for entity, n in other.redacted.items():
            self.redacted[entity] = self.redacted.get(entity, 0) + n

    def unaccounted(self) -> int:
        """fetched minus every outcome: 0 when the run's counts add up."""
        outcomes: int = sum(getattr(self, name) for name in self.OUTCOMES)
        return self.fetched - outcomes


class RunReport(Frozen):
    run_id: str
    source: str
    kind: Literal["sync", "reindex", "reindex_record", "reprocess_stale", "reconcile", "fold_in"]
    status: Literal["succeeded", "failed"]
    started_at: Timestamp
    finished_at: Timestamp
    counts: dict[str, int]
    redacted: dict[str, int] = Field(default_factory=dict)
    error: str | None = None
