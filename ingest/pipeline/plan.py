"""A page as a plan: what to do with each of its records and tombstones, decided from the page and
what was read for it, before anything is written. Pure: no database, index or clock here, so every
outcome can be tested alone (tests/unit/test_page_plan.py); ingest/pipeline/apply.py carries a plan
out in the order the page's durability needs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ingest.models import Cursor, Page, RecordFailure, RecordRef, RunCounts, SourceRecord
from ingest.stages.writer import Pending, Provenance, access_of, ledger_entry
from ingest.store.audit_log import AuditEvent
from ingest.store.ledger import LedgerEntry
from ingest.store.privacy import Suppression
from policies.models import Admit, Exclude


def sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def fingerprint(*, content_hash: str, provenance: Provenance) -> str:
    """What a record was processed under: a record whose fingerprint is unchanged need not be
    redacted, chunked or embedded again."""
    p = provenance
    lexical = [p.lexical] if p.lexical is not None else []
    return sha([content_hash, p.redaction_policy, p.detector, p.model_id, p.chunker, *lexical])


# -------------------------------------------------------------- one record


@dataclass(frozen=True, slots=True, kw_only=True)
class Suppressed:
    """Erased ("erasure": never indexed again, whatever the source still holds) or naming an erased
    contact ("erased_subject": not indexed until an admin lifts the subject)."""

    record: SourceRecord
    reason: Literal["erasure", "erased_subject"]
    content_hash: str
    fingerprint: str
    consent_policy: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Excluded:
    """Consent does not allow it (or a revocation stands): purged from the index."""

    record: SourceRecord
    reason: str
    consent_policy: str
    content_hash: str
    fingerprint: str
    was_indexed: bool  # the ledger had it indexed: its purge is audited even if no chunk was left
    lift: Suppression | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unchanged:
    """Indexed under the same fingerprint and access: nothing to write."""

    record: SourceRecord
    admit: Admit
    content_hash: str
    fingerprint: str
    access_hash: str
    chunks: int
    lift: Suppression | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PayloadUpdate:
    """Same text, other ACL or consent: the chunks' payload changes, no re-embedding."""

    record: SourceRecord
    admit: Admit
    content_hash: str
    fingerprint: str
    access: dict[str, Any]
    access_hash: str
    chunks: int
    lift: Suppression | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Index:
    """New, changed, processed under other versions, or forced: to be staged and written."""

    record: SourceRecord
    admit: Admit
    content_hash: str
    fingerprint: str
    access_hash: str
    previous_chunks: int
    lift: Suppression | None = None

    def pending(self) -> Pending:
        return Pending(
            record=self.record,
            admit=self.admit,
            content_hash=self.content_hash,
            fingerprint=self.fingerprint,
            access_hash=self.access_hash,
            previous_chunks=self.previous_chunks,
        )


Outcome = Suppressed | Excluded | Unchanged | PayloadUpdate | Index


def decide(
    *,
    record: SourceRecord,
    previous: LedgerEntry | None,
    suppression: Suppression | None,
    subject_erased: bool,
    consent: Admit | Exclude,
    consent_changed: bool,
    content_hash: str,
    fingerprint: str,
    force: bool,
) -> Outcome:
    """One record's outcome. `consent` is the consent policy's decision on the source's values;
    a revocation received through the API stands over it, whatever else the source edits, until
    the source's consent value itself changes after the revocation (`consent_changed`: the value
    first seen after it is the baseline): then the revocation is lifted and the policy decides."""
    if suppression is not None and suppression.reason == "erasure":
        return Suppressed(
            record=record,
            content_hash=content_hash,
            fingerprint=fingerprint,
            reason="erasure",
            consent_policy=consent.policy_version,
        )
    if subject_erased:  # names an erased contact (id, e-mail or phone)
        return Suppressed(
            record=record,
            content_hash=content_hash,
            fingerprint=fingerprint,
            reason="erased_subject",
            consent_policy=consent.policy_version,
        )
    lift: Suppression | None = None
    if suppression is not None:
        if consent_changed:
            lift = suppression  # the source's own consent value decides from now on
        else:
            consent = Exclude(reason="consent_revoked", policy_version=consent.policy_version)
    if isinstance(consent, Exclude):
        was_indexed = previous is not None and previous.status == "indexed"
        return Excluded(
            record=record,
            content_hash=content_hash,
            fingerprint=fingerprint,
            reason=consent.reason,
            consent_policy=consent.policy_version,
            was_indexed=was_indexed,
            lift=lift,
        )
    access = access_of(record, consent)
    access_hash = sha(access)
    if (
        not force
        and previous is not None
        and previous.status == "indexed"
        and previous.fingerprint == fingerprint
    ):
        if previous.access_hash != access_hash:
            return PayloadUpdate(
                record=record,
                content_hash=content_hash,
                fingerprint=fingerprint,
                admit=consent,
                access=access,
                access_hash=access_hash,
                chunks=previous.chunk_count,
                lift=lift,
            )
        return Unchanged(
            record=record,
            content_hash=content_hash,
            fingerprint=fingerprint,
            admit=consent,
            access_hash=access_hash,
            chunks=previous.chunk_count,
            lift=lift,
        )
    chunks = previous.chunk_count if previous is not None else 0
    return Index(
        record=record,
        content_hash=content_hash,
        fingerprint=fingerprint,
        admit=consent,
        access_hash=access_hash,
        previous_chunks=chunks,
        lift=lift,
    )


# -------------------------------------------------------------- one page


@dataclass(frozen=True, slots=True, kw_only=True)
class PageRead:
    """What was read for a page before deciding, keyed by record key. `consent_changed` holds the
    revoked records whose source consent value changed since their revocation."""

    known: Mapping[str, LedgerEntry] = field(default_factory=dict)
    suppressions: Mapping[str, Suppression] = field(default_factory=dict)
    erased: frozenset[str] = frozenset()  # records naming an erased contact
    consent: Mapping[str, Admit | Exclude] = field(default_factory=dict)
    consent_changed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteRecord:
    """Remove a record's chunks from the index. `audit` names the event the removal owes (with
    the number of chunks it removed, known only once done)."""

    ref: RecordRef
    audit: Literal["delete", "purge"] | None = None
    reason: str = ""
    consent_policy: str = ""
    was_indexed: bool = False  # a purge of a record the ledger had indexed is audited regardless

    def purged(self, removed: int) -> bool:
        """A consent purge that took something out: chunks now, or a record the ledger had indexed."""
        return self.audit == "purge" and (removed > 0 or self.was_indexed)

    def event(self, *, removed: int, actor: str, run_id: str) -> AuditEvent | None:
        details: dict[str, Any] = {"reason": self.reason, "chunks": removed}
        if self.purged(removed):
            details["consent_policy"] = self.consent_policy
        elif self.audit != "delete":
            return None
        return AuditEvent.for_record(self.ref, str(self.audit), actor=actor, run_id=run_id, details=details)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetPayload:
    """Replace the access part of a record's chunk payloads (ACL, consent, links)."""

    ref: RecordRef
    access: dict[str, Any]
    chunks: int

    def event(self, *, removed: int, actor: str, run_id: str) -> AuditEvent:
        return AuditEvent.for_record(
            self.ref, "payload_update", actor=actor, run_id=run_id, details={"chunks": self.chunks}
        )


IndexOp = DeleteRecord | SetPayload


@dataclass(frozen=True, slots=True, kw_only=True)
class PagePlan:
    """Everything a page will do, in the order it will be done. The index operations come first
    (tombstones, then records in page order); `to_stage` are redacted, chunked, embedded and
    written after them; `entries` are the ledger rows of every record not staged (the writer
    adds the staged ones); `lifts` are the revocations the page ends, with its commit."""

    source: str
    tenant_id: str
    run_id: str
    actor: str
    outcomes: tuple[Outcome, ...]
    index_ops: tuple[IndexOp, ...]
    to_stage: tuple[Index, ...]
    entries: tuple[LedgerEntry, ...]
    lifts: tuple[Suppression, ...]
    linked: tuple[SourceRecord, ...]  # records whose contact links are rewritten (not erased ones)
    failures: tuple[RecordFailure, ...]
    cursor_key: str
    cursor: Cursor | None  # None: the page does not move the cursor (records reprocessed by id)
    fetched: int
    deleted: int

    def events(self, *, removed: Sequence[int]) -> list[AuditEvent]:
        """The audit events of the index operations, given what each removed (in `index_ops` order)."""
        events = (
            op.event(removed=n, actor=self.actor, run_id=self.run_id)
            for op, n in zip(self.index_ops, removed, strict=True)
        )
        return [e for e in events if e is not None]

    def counts(self, *, removed: Sequence[int]) -> RunCounts:
        """The page's tally before staging: outcomes, and what the index operations removed."""
        purged = sum(
            1
            for op, n in zip(self.index_ops, removed, strict=True)
            if isinstance(op, DeleteRecord) and op.purged(n)
        )
        kinds = [type(o) for o in self.outcomes]
        return RunCounts(
            pages=1,
            fetched=self.fetched,
            deleted=self.deleted,
            suppressed=kinds.count(Suppressed),
            excluded=kinds.count(Excluded),
            unchanged=kinds.count(Unchanged),
            payload_updated=kinds.count(PayloadUpdate),
            purged=purged,
            chunks_deleted=sum(removed),
        )

    def quarantine_event(self, *, failures: Sequence[RecordFailure], known: int) -> AuditEvent | None:
        """The audit event of a page's failures; none when the quarantine already holds them all."""
        if not failures or known == len(failures):
            return None
        return AuditEvent(
            actor=self.actor,
            action="quarantine",
            tenant_id=self.tenant_id,
            source=self.source,
            run_id=self.run_id,
            details={
                "count": len(failures),
                "new": len(failures) - known,
                "locators": [f.locator for f in failures[:100]],
                "record_ids": [f.record_id for f in failures[:100] if f.record_id],
            },
        )


def plan_page(
    *,
    page: Page,
    read: PageRead,
    provenance: Provenance,
    source: str,
    tenant_id: str,
    run_id: str,
    actor: str,
    force: bool,
    cursor_key: str,
    save_cursor: bool,
) -> PagePlan:
    ops: list[IndexOp] = []
    entries: list[LedgerEntry] = []
    for tomb in page.deletions:
        ops.append(DeleteRecord(ref=tomb.ref, audit="delete", reason="source_deleted"))
        prev = read.known.get(tomb.ref.key)
        if prev is not None:
            update = {
                "status": "deleted",
                "reason": "source_deleted",
                "chunk_count": 0,
                "last_run_id": run_id,
            }
            entries.append(prev.model_copy(update=update))

    outcomes: list[Outcome] = []
    for record in page.records:
        key = record.ref.key
        content_hash = record.content_hash()
        outcome = decide(
            record=record,
            previous=read.known.get(key),
            suppression=read.suppressions.get(key),
            subject_erased=key in read.erased,
            consent=read.consent[key],
            consent_changed=key in read.consent_changed,
            content_hash=content_hash,
            fingerprint=fingerprint(content_hash=content_hash, provenance=provenance),
            force=force,
        )
        outcomes.append(outcome)
        if isinstance(outcome, Suppressed):
            ops.append(DeleteRecord(ref=record.ref))
        elif isinstance(outcome, Excluded):
            ops.append(
                DeleteRecord(
                    ref=record.ref,
                    audit="purge",
                    reason=outcome.reason,
                    consent_policy=outcome.consent_policy,
                    was_indexed=outcome.was_indexed,
                )
            )
        elif isinstance(outcome, PayloadUpdate):
            ops.append(SetPayload(ref=record.ref, access=outcome.access, chunks=outcome.chunks))
        entry = _entry(outcome, provenance=provenance, run_id=run_id)
        if entry is not None:
            entries.append(entry)

    return PagePlan(
        source=source,
        tenant_id=tenant_id,
        run_id=run_id,
        actor=actor,
        outcomes=tuple(outcomes),
        index_ops=tuple(ops),
        to_stage=tuple(o for o in outcomes if isinstance(o, Index)),
        entries=tuple(entries),
        lifts=tuple(lift for o in outcomes if (lift := _lift_of(o)) is not None),
        linked=tuple(o.record for o in outcomes if not (isinstance(o, Suppressed) and o.reason == "erasure")),
        failures=page.failures,
        cursor_key=cursor_key,
        cursor=page.next_cursor if save_cursor else None,
        fetched=len(page.records) + len(page.deletions) + len(page.failures),
        deleted=len(page.deletions),
    )


def _entry(outcome: Outcome, *, provenance: Provenance, run_id: str) -> LedgerEntry | None:
    """The ledger row of a record that is not staged (the writer makes those of staged ones); an
    erased record keeps the row its erasure left."""
    if isinstance(outcome, Index) or (isinstance(outcome, Suppressed) and outcome.reason == "erasure"):
        return None
    if isinstance(outcome, Suppressed | Excluded):
        reason = outcome.reason
        consent_policy = outcome.consent_policy
        status: Literal["indexed", "excluded"] = "excluded"
        access_hash, chunks = "", 0
    else:
        reason, consent_policy, status = None, outcome.admit.policy_version, "indexed"
        access_hash, chunks = outcome.access_hash, outcome.chunks
    return ledger_entry(
        provenance=provenance,
        record=outcome.record,
        content_hash=outcome.content_hash,
        fingerprint=outcome.fingerprint,
        access_hash=access_hash,
        status=status,
        reason=reason,
        chunk_count=chunks,
        consent_version=consent_policy,
        run_id=run_id,
    )


def _lift_of(outcome: Outcome) -> Suppression | None:
    return None if isinstance(outcome, Suppressed) else outcome.lift
