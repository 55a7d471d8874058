"""Erasure (right to be forgotten) and consent revocation: suppress first, purge, verify, receipt.

Order matters: the suppression is committed before any chunk is deleted, so queries exclude the
records at once and a concurrent sync cannot re-index them. Then the purge waits for pages already
in flight (ingest/store/fence.py) before it deletes and verifies: a receipt says "verified" only when no
write in flight can undo it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence

from ingest.index.base import IndexStore
from ingest.models import RecordRef
from ingest.store.privacy import PrivacyLedger, Receipt, SuppressionReason, subject_keys
from ingest.store.state import AuditEvent, StateStore, utcnow


def _purge(
    state: StateStore,
    privacy: PrivacyLedger,
    index: IndexStore,
    *,
    kind: str,
    reason: SuppressionReason,
    tenant_id: str,
    subject: str,
    refs: Sequence[RecordRef],
    actor: str,
    settle_timeout: float,
    more_refs: Callable[[], Sequence[RecordRef]] | None = None,
    subjects: Sequence[str] = (),
) -> Receipt:
    """`more_refs` (an erasure) finds records linked to the subject by pages that were in flight;
    an erasure waits for every page of the tenant, a revocation for pages holding its record."""
    started = time.perf_counter()
    receipt_id = uuid.uuid4().hex
    now = utcnow()
    if subjects:  # future records naming the erased contact are not indexed either
        privacy.suppress_subject(tenant_id, subjects, receipt_id, now)
    privacy.suppress(refs, reason, receipt_id, now)
    keys = None if more_refs is not None else [r.key for r in refs]
    settled = privacy.fence.settle(tenant_id, keys, timeout=settle_timeout)
    if more_refs is not None:
        refs = sorted({*refs, *more_refs()}, key=lambda r: r.key)
        privacy.suppress(refs, reason, receipt_id, now)
    deleted = sum(index.delete_record(ref) for ref in refs)
    index.flush()
    remaining = sum(index.count(ref=ref) for ref in refs)
    state.mark_ledger(refs, status="erased" if reason == "erasure" else "excluded", reason=reason)
    receipt = Receipt(
        receipt_id=receipt_id,
        kind="erasure" if kind == "erasure" else "consent_revocation",
        tenant_id=tenant_id,
        subject=subject,
        actor=actor,
        created_at=now,
        records=[r.key for r in refs],
        chunks_deleted=deleted,
        collections=[index.location],
        remaining_hits=remaining,
        writes_settled=settled,
        verified=remaining == 0 and settled,
        seconds_to_zero_hits=round(time.perf_counter() - started, 4),
    )
    privacy.save_receipt(receipt)
    state.audit(
        AuditEvent(
            actor=actor,
            action=kind,
            tenant_id=tenant_id,
            details={
                "receipt_id": receipt_id,
                "records": len(refs),
                "chunks_deleted": deleted,
                "remaining_hits": remaining,
                "writes_settled": settled,
            },
        )
    )
    return receipt


def erase_contact(
    state: StateStore,
    privacy: PrivacyLedger,
    index: IndexStore,
    *,
    tenant_id: str,
    contact_id: str | None,
    email: str | None,
    actor: str,
    settle_timeout: float = 120.0,
    phone: str | None = None,
) -> Receipt:
    """Every record linked to the contact is erased for good; the contact itself (its id, e-mail
    and phone) is suppressed, so records naming it later are not indexed until an admin lifts it."""
    keys = subject_keys(contact_id, email, phone)
    if not keys:
        raise ValueError("an erasure needs a contact id, an e-mail address or a phone number")
    refs = privacy.records_for_contact(tenant_id, keys)
    subject = next((k for k in keys if not k.startswith("id:")), keys[0])  # hashed, if there is one
    return _purge(
        state,
        privacy,
        index,
        kind="erasure",
        reason="erasure",
        tenant_id=tenant_id,
        subject=subject,
        refs=refs,
        actor=actor,
        settle_timeout=settle_timeout,
        more_refs=lambda: privacy.records_for_contact(tenant_id, keys),
        subjects=keys,
    )


def revoke_record(
    state: StateStore,
    privacy: PrivacyLedger,
    index: IndexStore,
    *,
    ref: RecordRef,
    actor: str,
    settle_timeout: float = 120.0,
) -> Receipt:
    return _purge(
        state,
        privacy,
        index,
        kind="consent_revocation",
        reason="consent_revoked",
        tenant_id=ref.tenant_id,
        subject=ref.key,
        refs=[ref],
        actor=actor,
        settle_timeout=settle_timeout,
    )


def replay_suppressions(privacy: PrivacyLedger, index: IndexStore) -> int:
    """Delete any chunk of a suppressed record (after restoring an old index or a rebuild)."""
    removed = sum(index.delete_record(s.ref) for s in privacy.all())
    if removed:
        index.flush()
    return removed
