"""Carry out a page's plan (ingest/pipeline/plan.py): read what the plan is decided from, then
write in the order that keeps the cursor honest: index deletes and payload updates, staging
(redact, chunk, embed), the chunk writes, the index flush, the revocations the page lifts, and
one state transaction (ledger rows, quarantine, audit events, contact links, history, cursor).

The lift comes right before the commit, after the index is flushed, never earlier: a page that
fails leaves the revocation in place (the next run decides again). It is not inside the commit's
transaction because suppressions live in the live state store and a rebuild commits its pages
into a scratch one (ingest/jobs/rebuild.py). A lift that lands without its commit (a crash
between the two) leaves the chunks the page flushed, which is what its decision was; the
re-read page decides the same from the source's consent alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ingest.index.base import IndexStore
from ingest.models import Page, RecordFailure, RecordRef, RunCounts, SourceRecord
from ingest.pipeline.plan import DeleteRecord, PagePlan, PageRead, sha
from ingest.stages.staging import StageParts, Stager, stage_page
from ingest.stages.writer import Provenance, write_pending
from ingest.store.history import history_of
from ingest.store.ledger import LedgerEntry
from ingest.store.privacy import PrivacyLedger, contact_keys
from ingest.store.state import StateStore
from ingest.timeutil import utcnow
from policies.consent import ConsentPolicy


def read_page(*, page: Page, state: StateStore, privacy: PrivacyLedger, consent: ConsentPolicy) -> PageRead:
    """What the plan is decided from. Called with the page's records announced on the write fence,
    so a suppression committed after this read is seen by `undo_late_suppressions`. Checking a
    revoked record's consent value records it as the baseline when it is the first seen since
    the revocation (PrivacyLedger.consent_changed)."""
    records = page.records
    known = state.ledger_get_many([r.ref for r in records] + [t.ref for t in page.deletions])
    suppressions = privacy.for_refs([r.ref for r in records])
    subjects = erased_subjects(privacy=privacy, records=records)
    erased = frozenset(r.ref.key for r in records if subjects & set(contact_keys(r)))
    changed: set[str] = set()
    for record in records:
        key = record.ref.key
        suppression = suppressions.get(key)
        if suppression is None or suppression.reason == "erasure" or key in erased:
            continue  # no revocation to weigh: the decision does not read the baseline
        if privacy.consent_changed(record, utcnow()):
            changed.add(key)
    return PageRead(
        known=known,
        suppressions=suppressions,
        erased=erased,
        consent={r.ref.key: consent.decide(r.consent) for r in records},
        consent_changed=frozenset(changed),
    )


def erased_subjects(*, privacy: PrivacyLedger, records: Sequence[SourceRecord]) -> set[str]:
    """The contact keys of these records that belong to an erased subject."""
    if not records:
        return set()
    keys = sorted({k for r in records for k in contact_keys(r)})
    return privacy.erased_subjects(records[0].tenant_id, keys)


@dataclass(frozen=True, slots=True)
class Applied:
    entries: tuple[LedgerEntry, ...]  # every ledger row the page committed
    counts: RunCounts


def apply_page(
    *,
    plan: PagePlan,
    index: IndexStore,
    state: StateStore,
    privacy: PrivacyLedger,
    parts: StageParts,
    stager: Stager | None,
    provenance: Provenance,
    on_staged: Callable[[], None],
) -> Applied:
    """The page's writes, in order; the cursor moves (in the commit) only once all are durable.
    Nothing is written for a page whose staging raises (every record of several failed)."""
    removed = tuple(
        index.delete_record(op.ref)
        if isinstance(op, DeleteRecord)
        else _set_payload(index, op.ref, op.access)
        for op in plan.index_ops
    )
    counts = plan.counts(removed=removed)
    events = plan.events(removed=removed)

    pending = [item.pending() for item in plan.to_stage]
    unstaged = stage_page(pending=pending, parts=parts, stager=stager)
    failed = {id(item) for item, _ in unstaged}
    pending = [item for item in pending if id(item) not in failed]
    failures = list(plan.failures)
    for item, exc in unstaged:
        # this record alone could not be redacted, chunked or embedded: quarantined, the page goes on
        failures.append(
            RecordFailure(
                source=plan.source,
                locator=f"record {item.record.record_id}",
                record_id=item.record.record_id,
                reason=f"could not be redacted, chunked or embedded ({type(exc).__name__})",
                raw_sha256=sha([item.content_hash, item.record.version]),
            )
        )
    on_staged()

    written = write_pending(
        index=index, provenance=provenance, pending=pending, run_id=plan.run_id, actor=plan.actor
    )
    counts.add(written.counts)
    if written.event is not None:
        events.append(written.event)
    entries = [*plan.entries, *written.entries]
    # a failure the quarantine already holds unchanged is not counted (or audited) again
    known = state.quarantine_known(failures) if failures else 0
    counts.quarantine_unchanged += known
    counts.quarantined += len(failures) - known
    if (event := plan.quarantine_event(failures=failures, known=known)) is not None:
        events.append(event)

    index.flush()
    for revocation in plan.lifts:
        privacy.lift(revocation.ref, read=revocation)
    state.commit_page(
        source=plan.cursor_key,
        cursor=plan.cursor,
        entries=entries,
        failures=failures,
        events=events,
        run_id=plan.run_id,
        linked=plan.linked,
        history=history_of(entries, events, written.redacted),
    )
    return Applied(entries=tuple(entries), counts=counts)


def _set_payload(index: IndexStore, ref: RecordRef, access: dict[str, Any]) -> int:
    index.set_record_payload(ref, access)
    return 0  # removes nothing


def undo_late_suppressions(
    *,
    records: Sequence[SourceRecord],
    entries: Sequence[LedgerEntry],
    index: IndexStore,
    state: StateStore,
    privacy: PrivacyLedger,
) -> int:
    """A suppression committed after this page read them (an erasure or revocation that gave up
    waiting for the page, or one that replaced a revocation the page lifted): its records are
    purged here, so no late write survives. Returns the chunks removed."""
    indexed = {e.ref.key for e in entries if e.status == "indexed"}
    written = [r for r in records if r.ref.key in indexed]
    late = {key: s.reason for key, s in privacy.for_refs([r.ref for r in written]).items()}
    erased = erased_subjects(privacy=privacy, records=written)
    late.update({r.ref.key: "erasure" for r in written if erased & set(contact_keys(r))})
    if not late:
        return 0
    refs = [r.ref for r in written if r.ref.key in late]
    removed = sum(index.delete_record(ref) for ref in refs)
    index.flush()
    for ref in refs:
        reason = late[ref.key]
        state.mark_ledger([ref], status="erased" if reason == "erasure" else "excluded", reason=reason)
    return removed
