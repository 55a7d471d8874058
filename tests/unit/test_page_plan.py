"""A page as a plan (issue 15): decide() gives each record one typed outcome and plan_page() lists
what the page will write, from the page and what was read for it; no database, index or model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ingest.models import Acl, Contact, Cursor, Page, RecordFailure, RecordRef, SourceRecord, Tombstone
from ingest.pipeline.plan import (
    DeleteRecord,
    Excluded,
    Index,
    PageRead,
    PayloadUpdate,
    SetPayload,
    Suppressed,
    Unchanged,
    decide,
    fingerprint,
    plan_page,
    sha,
)
from ingest.stages.writer import Provenance, access_of
from ingest.store.ledger import LedgerEntry
from ingest.store.privacy import Suppression
from policies.models import Admit, Exclude

WHEN = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PROVENANCE = Provenance(redaction_policy="r1", detector="d1", model_id="m1", chunker="c1", lexical="bm25")
ADMIT = Admit(purposes=("support_assistant",), granted_tags=("assistant_use",), policy_version="p1")
MISSING = Exclude(reason="consent_missing", policy_version="p1")


def record(
    rid: str, *, body: str = "text", owner: str = "u", contacts: tuple[Contact, ...] = ()
) -> SourceRecord:
    return SourceRecord(
        tenant_id="t",
        source="s",
        system="file",
        record_type="note",
        record_id=rid,
        url=f"https://crm.example/{rid}",
        version="1",
        updated_at=WHEN,
        body=body,
        acl=Acl(owner_id=owner),
        contacts=contacts,
    )


def ref(rid: str) -> RecordRef:
    return RecordRef(tenant_id="t", source="s", record_id=rid)


def indexed(rec: SourceRecord, *, chunks: int = 2, access: Admit = ADMIT, **changes: Any) -> LedgerEntry:
    """The ledger row a record indexed under PROVENANCE with `access` would have."""
    content_hash = rec.content_hash()
    row = LedgerEntry(
        tenant_id=rec.tenant_id,
        source=rec.source,
        record_id=rec.record_id,
        record_type=rec.record_type,
        version=rec.version,
        source_updated_at=rec.updated_at,
        content_hash=content_hash,
        fingerprint=fingerprint(content_hash=content_hash, provenance=PROVENANCE),
        access_hash=sha(access_of(rec, access)),
        status="indexed",
        chunk_count=chunks,
        consent_policy="p1",
    )
    return row.model_copy(update=changes)


def suppression(rid: str, reason: str, receipt: str = "rc-1") -> Suppression:
    return Suppression.model_validate(
        {"ref": ref(rid), "reason": reason, "receipt_id": receipt, "created_at": WHEN}
    )


def decided(
    rec: SourceRecord,
    *,
    previous: LedgerEntry | None = None,
    suppressed: Suppression | None = None,
    subject_erased: bool = False,
    consent: Admit | Exclude = ADMIT,
    consent_changed: bool = False,
    force: bool = False,
) -> Any:
    content_hash = rec.content_hash()
    return decide(
        record=rec,
        previous=previous,
        suppression=suppressed,
        subject_erased=subject_erased,
        consent=consent,
        consent_changed=consent_changed,
        content_hash=content_hash,
        fingerprint=fingerprint(content_hash=content_hash, provenance=PROVENANCE),
        force=force,
    )


# -------------------------------------------------------------- decide(): one outcome each


def test_a_new_record_is_indexed() -> None:
    out = decided(record("A"))
    assert isinstance(out, Index) and out.previous_chunks == 0 and out.lift is None
    assert out.admit == ADMIT and out.access_hash == sha(access_of(record("A"), ADMIT))


def test_a_record_indexed_under_the_same_fingerprint_and_access_is_unchanged() -> None:
    rec = record("A")
    out = decided(rec, previous=indexed(rec, chunks=3))
    assert isinstance(out, Unchanged) and out.chunks == 3


def test_forced_or_changed_content_or_versions_are_indexed_again() -> None:
    rec = record("A")
    assert isinstance(decided(rec, previous=indexed(rec), force=True), Index)
    assert isinstance(decided(record("A", body="edited"), previous=indexed(rec)), Index)
    other = indexed(rec, fingerprint="made-by-another-model", chunks=4)
    out = decided(rec, previous=other)
    assert isinstance(out, Index) and out.previous_chunks == 4
    excluded_before = indexed(rec, status="excluded")
    assert isinstance(decided(rec, previous=excluded_before), Index)


def test_an_acl_change_alone_is_a_payload_update() -> None:
    before = record("A", owner="u")
    out = decided(record("A", owner="v"), previous=indexed(before, chunks=5))
    assert isinstance(out, PayloadUpdate) and out.chunks == 5
    assert out.access == access_of(record("A", owner="v"), ADMIT)


def test_consent_that_does_not_allow_it_excludes_and_remembers_it_was_indexed() -> None:
    rec = record("A")
    out = decided(rec, consent=MISSING, previous=indexed(rec))
    assert isinstance(out, Excluded) and out.reason == "consent_missing" and out.was_indexed
    assert not decided(rec, consent=MISSING).was_indexed


def test_an_erased_record_is_suppressed_whatever_its_consent_or_revocation() -> None:
    out = decided(record("A"), suppressed=suppression("A", "erasure"), consent_changed=True)
    assert isinstance(out, Suppressed) and out.reason == "erasure"


def test_a_record_naming_an_erased_subject_is_suppressed() -> None:
    out = decided(record("A"), subject_erased=True, suppressed=suppression("A", "consent_revoked"))
    assert isinstance(out, Suppressed) and out.reason == "erased_subject" and out.consent_policy == "p1"


def test_a_revocation_stands_until_the_source_consent_changes() -> None:
    revoked = suppression("A", "consent_revoked")
    out = decided(record("A"), suppressed=revoked)
    assert isinstance(out, Excluded) and out.reason == "consent_revoked" and out.lift is None


def test_a_changed_source_consent_lifts_the_revocation_as_data_and_the_policy_decides() -> None:
    revoked = suppression("A", "consent_revoked")
    admitted = decided(record("A"), suppressed=revoked, consent_changed=True)
    assert isinstance(admitted, Index) and admitted.lift == revoked
    excluded = decided(record("A"), suppressed=revoked, consent_changed=True, consent=MISSING)
    assert (
        isinstance(excluded, Excluded) and excluded.reason == "consent_missing" and excluded.lift == revoked
    )


# -------------------------------------------------------------- plan_page(): a mixed page


@pytest.fixture
def mixed() -> tuple[Page, PageRead]:
    carol = Contact(contact_id="c-9", email="carol@example.com")
    records = (
        record("new"),
        record("same"),
        record("acl", owner="v"),
        record("gone-consent"),
        record("erased"),
        record("names-erased", contacts=(carol,)),
        record("revoked"),
        record("lifted"),
    )
    known = {
        "t:s:same": indexed(record("same"), chunks=1),
        "t:s:acl": indexed(record("acl", owner="u"), chunks=2),
        "t:s:gone-consent": indexed(record("gone-consent"), chunks=3),
        "t:s:tomb": indexed(record("tomb"), chunks=4),
    }
    suppressions = {
        "t:s:erased": suppression("erased", "erasure"),
        "t:s:revoked": suppression("revoked", "consent_revoked"),
        "t:s:lifted": suppression("lifted", "consent_revoked", receipt="rc-2"),
    }
    consent: dict[str, Admit | Exclude] = {r.ref.key: ADMIT for r in records}
    consent["t:s:gone-consent"] = MISSING
    read = PageRead(
        known=known,
        suppressions=suppressions,
        erased=frozenset({"t:s:names-erased"}),
        consent=consent,
        consent_changed=frozenset({"t:s:lifted"}),
    )
    bad = RecordFailure(source="s", locator="line 9", record_id="bad", reason="schema", raw_sha256="x")
    tombs = (Tombstone(ref=ref("tomb"), deleted_at=WHEN), Tombstone(ref=ref("never-seen"), deleted_at=WHEN))
    page = Page(records=records, deletions=tombs, failures=(bad,), next_cursor=Cursor(last_id="lifted"))
    return page, read


def plan_of(page: Page, read: PageRead, *, save_cursor: bool = True) -> Any:
    return plan_page(
        page=page,
        read=read,
        provenance=PROVENANCE,
        source="s",
        tenant_id="t",
        run_id="run-1",
        actor="tester",
        force=False,
        cursor_key="s",
        save_cursor=save_cursor,
    )


def test_a_page_plan_lists_its_writes_in_order(mixed: tuple[Page, PageRead]) -> None:
    page, read = mixed
    plan = plan_of(page, read)
    assert [type(o).__name__ for o in plan.outcomes] == [
        "Index",
        "Unchanged",
        "PayloadUpdate",
        "Excluded",
        "Suppressed",
        "Suppressed",
        "Excluded",
        "Index",
    ]
    # tombstones first, then the records' deletes and payload updates in page order
    assert plan.index_ops == (
        DeleteRecord(ref=ref("tomb"), audit="delete", reason="source_deleted"),
        DeleteRecord(ref=ref("never-seen"), audit="delete", reason="source_deleted"),
        SetPayload(ref=ref("acl"), access=access_of(record("acl", owner="v"), ADMIT), chunks=2),
        DeleteRecord(
            ref=ref("gone-consent"),
            audit="purge",
            reason="consent_missing",
            consent_policy="p1",
            was_indexed=True,
        ),
        DeleteRecord(ref=ref("erased")),
        DeleteRecord(ref=ref("names-erased")),
        DeleteRecord(ref=ref("revoked"), audit="purge", reason="consent_revoked", consent_policy="p1"),
    )
    assert [i.record.record_id for i in plan.to_stage] == ["new", "lifted"]
    assert plan.lifts == (read.suppressions["t:s:lifted"],)
    # every record's ledger row but the staged ones' (the writer's) and the erased one's (left as is)
    rows = {e.record_id: (e.status, e.reason, e.chunk_count) for e in plan.entries}
    assert rows == {
        "tomb": ("deleted", "source_deleted", 0),
        "same": ("indexed", None, 1),
        "acl": ("indexed", None, 2),
        "gone-consent": ("excluded", "consent_missing", 0),
        "names-erased": ("excluded", "erased_subject", 0),
        "revoked": ("excluded", "consent_revoked", 0),
    }
    assert all(e.last_run_id == "run-1" for e in plan.entries)
    assert "erased" not in {r.record_id for r in plan.linked} and len(plan.linked) == 7
    assert plan.failures == page.failures and plan.cursor == Cursor(last_id="lifted")
    assert plan_of(page, read, save_cursor=False).cursor is None


def test_the_audit_events_and_counts_follow_what_the_index_removed(mixed: tuple[Page, PageRead]) -> None:
    page, read = mixed
    plan = plan_of(page, read)
    removed = (4, 0, 0, 3, 1, 0, 0)  # per index op; the revoked record had nothing left
    events = plan.events(removed=removed)
    assert [(e.action, e.record_id, e.details.get("chunks")) for e in events] == [
        ("delete", "tomb", 4),
        ("delete", "never-seen", 0),
        ("payload_update", "acl", 2),
        ("purge", "gone-consent", 3),
    ]
    assert all(e.actor == "tester" and e.run_id == "run-1" for e in events)
    counts = plan.counts(removed=removed)
    assert counts.model_dump(exclude={"redacted"}) | {"redacted": counts.redacted} == {
        "fetched": 11,
        "pages": 1,
        "deleted": 2,
        "unchanged": 1,
        "payload_updated": 1,
        "excluded": 2,
        "suppressed": 2,
        "purged": 1,
        "chunks_deleted": 8,
        "indexed": 0,
        "quarantined": 0,
        "quarantine_unchanged": 0,
        "chunks_written": 0,
        "embedded": 0,
        "redacted": {},
    }
    # the staged records and the failure account for the rest, once written and quarantined
    assert counts.unaccounted() == len(plan.to_stage) + len(page.failures)


def test_a_purge_of_a_record_the_ledger_had_indexed_is_audited_even_with_nothing_left() -> None:
    rec = record("A")
    read = PageRead(known={"t:s:A": indexed(rec)}, consent={"t:s:A": MISSING})
    plan = plan_of(Page(records=(rec,), next_cursor=Cursor()), read)
    assert [(e.action, e.details["chunks"]) for e in plan.events(removed=(0,))] == [("purge", 0)]
    assert plan.counts(removed=(0,)).purged == 1
    never = plan_of(Page(records=(rec,), next_cursor=Cursor()), PageRead(consent={"t:s:A": MISSING}))
    assert never.events(removed=(0,)) == [] and never.counts(removed=(0,)).purged == 0


def test_the_quarantine_event_names_only_new_failures() -> None:
    plan = plan_of(Page(records=(), next_cursor=Cursor()), PageRead())
    fails = [
        RecordFailure(source="s", locator=f"line {i}", record_id=None, reason="x", raw_sha256="h")
        for i in range(3)
    ]
    assert (
        plan.quarantine_event(failures=fails, known=3) is None
        and plan.quarantine_event(failures=[], known=0) is None
    )
    event = plan.quarantine_event(failures=fails, known=1)
    assert event is not None and event.details["count"] == 3 and event.details["new"] == 2
    assert event.tenant_id == "t" and event.source == "s"


def test_the_fingerprint_names_the_lexical_encoder_only_when_there_is_one() -> None:
    plain = Provenance(redaction_policy="r1", detector="d1", model_id="m1", chunker="c1")
    assert fingerprint(content_hash="h", provenance=plain) == sha(["h", "r1", "d1", "m1", "c1"])
    assert fingerprint(content_hash="h", provenance=PROVENANCE) == sha(["h", "r1", "d1", "m1", "c1", "bm25"])
