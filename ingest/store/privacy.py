"""Suppressions (erased or consent-revoked records), contact links and receipts.

A suppressed record is never indexed again (checked at ingest) and never returned (excluded at
query time), even while its chunks are still being purged or after an old index is restored.
Contact e-mails are stored only as sha256 digests.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection, Engine

from ingest.models import RecordRef, SourceRecord
from ingest.store.fence import WriteFence
from ingest.store.tables import (
    consent_baselines,
    receipts,
    record_contacts,
    subject_suppressions,
    suppressions,
)
from ingest.store.upsert import upsert
from ingest.timeutil import Timestamp
from policies.pii.known import classify

SuppressionReason = Literal["erasure", "consent_revoked"]


def email_key(email: str) -> str:
    return "email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def consent_hash(record: SourceRecord) -> str:
    """The source's consent values of a record (tag -> status), hashed."""
    values = {tag: str(status) for tag, status in record.consent.items()}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def phone_key(phone: str) -> str | None:
    """Digits only, compared on the last 10 (so "+1 415-555-0100" matches "(415) 555 0100");
    None when too short to identify anyone."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return None
    return "phone:" + hashlib.sha256(digits[-10:].encode()).hexdigest()


def subject_keys(contact_id: str | None, email: str | None, phone: str | None) -> list[str]:
    """The keys an erasure request names (contact id, normalised e-mail and phone, hashed)."""
    keys = [f"id:{contact_id}"] if contact_id else []
    if email:
        keys.append(email_key(email))
    key = phone_key(phone) if phone else None
    if key:
        keys.append(key)
    return keys


def contact_keys(record: SourceRecord) -> tuple[str, ...]:
    keys = {f"id:{c.contact_id}" for c in record.contacts}
    for c in record.contacts:  # every e-mail and phone the CRM holds for the contact
        for value in (c.email, c.phone, *c.identifiers):
            if "@" in value:
                keys.add(email_key(value))
            elif value and classify(value) == "PHONE_NUMBER" and (key := phone_key(value)):
                keys.add(key)
    return tuple(sorted(keys))


def write_links(conn: Connection, record: SourceRecord) -> None:
    ref = record.ref
    conn.execute(sa.delete(record_contacts).where(record_contacts.c.record_key == ref.key))
    for key in contact_keys(record):
        conn.execute(
            sa.insert(record_contacts).values(
                tenant_id=ref.tenant_id,
                contact_key=key,
                record_key=ref.key,
                source=ref.source,
                record_id=ref.record_id,
            )
        )


class Suppression(BaseModel):
    model_config = ConfigDict(frozen=True)

    ref: RecordRef
    reason: SuppressionReason
    receipt_id: str | None
    created_at: datetime


class Receipt(BaseModel):
    """What an erasure or revocation removed, where, and the verification that nothing is left."""

    model_config = ConfigDict(frozen=True)

    receipt_id: str
    kind: Literal["erasure", "consent_revocation", "source_retirement"]
    tenant_id: str
    subject: str  # hashed contact key or record key; never an e-mail or name
    actor: str
    created_at: Timestamp
    records: list[str]
    chunks_deleted: int
    collections: list[str]
    remaining_hits: int
    # no page that was writing these records when the request came is still in flight
    writes_settled: bool = True
    verified: bool
    seconds_to_zero_hits: float


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


class PrivacyLedger:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.fence = WriteFence(engine)  # pages in flight; erasures and revocations wait for them

    def suppress(
        self, refs: Sequence[RecordRef], reason: SuppressionReason, receipt_id: str, now: datetime
    ) -> None:
        with self._engine.begin() as conn:
            statement = upsert(
                conn,
                suppressions,
                key=["tenant_id", "record_key"],
                update=["reason", "receipt_id", "created_at"],
                where=suppressions.c.reason != "erasure",  # erasure is final; never downgraded
            ).returning(suppressions.c.record_key)
            for ref in refs:
                written = conn.execute(
                    statement.values(
                        tenant_id=ref.tenant_id,
                        record_key=ref.key,
                        source=ref.source,
                        record_id=ref.record_id,
                        reason=reason,
                        receipt_id=receipt_id,
                        created_at=now,
                    )
                ).first()
                if written is not None:  # inserted or updated (not an erasure already)
                    self._forget_baseline(conn, ref)  # a new revocation: a new baseline

    def suppress_subject(self, tenant_id: str, keys: Sequence[str], receipt_id: str, now: datetime) -> None:
        """An erased contact: records naming any of these keys are not indexed from now on."""
        with self._engine.begin() as conn:
            for key in sorted(set(keys)):
                where = (subject_suppressions.c.tenant_id == tenant_id) & (
                    subject_suppressions.c.contact_key == key
                )
                if conn.execute(sa.select(subject_suppressions.c.contact_key).where(where)).first():
                    continue
                conn.execute(
                    sa.insert(subject_suppressions).values(
                        tenant_id=tenant_id, contact_key=key, receipt_id=receipt_id, created_at=now
                    )
                )

    def erased_subjects(self, tenant_id: str, keys: Sequence[str]) -> set[str]:
        """Which of these contact keys belong to an erased subject."""
        if not keys:
            return set()
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(subject_suppressions.c.contact_key).where(
                    subject_suppressions.c.tenant_id == tenant_id,
                    subject_suppressions.c.contact_key.in_(sorted(set(keys))),
                )
            ).all()
        return {r.contact_key for r in rows}

    def lift_subject(self, tenant_id: str, keys: Sequence[str]) -> int:
        """An admin lifts a subject suppression: later records naming it are indexed again. Records
        erased before stay erased."""
        with self._engine.begin() as conn:
            done = conn.execute(
                sa.delete(subject_suppressions).where(
                    subject_suppressions.c.tenant_id == tenant_id,
                    subject_suppressions.c.contact_key.in_(list(keys)),
                )
            )
        return int(done.rowcount or 0)

    def lift(self, ref: RecordRef, *, read: Suppression | None = None) -> int:
        """End a revocation (never an erasure): the source's consent value changed after it, or an
        admin lifted it. Returns how many suppressions were removed (0 or 1).

        `read`: only the revocation a page read and decided on (same receipt). A page lifts just
        before its commit, so a revocation or erasure that replaced it while the page was in
        flight must stand (the page then purges what it wrote, as for any late suppression)."""
        where = [
            suppressions.c.tenant_id == ref.tenant_id,
            suppressions.c.record_key == ref.key,
            suppressions.c.reason == "consent_revoked",
        ]
        if read is not None:
            where.append(suppressions.c.receipt_id.is_not_distinct_from(read.receipt_id))
        with self._engine.begin() as conn:
            done = int(conn.execute(sa.delete(suppressions).where(*where)).rowcount or 0)
            if read is None or done:
                self._forget_baseline(conn, ref)
        return done

    @staticmethod
    def _forget_baseline(conn: Connection, ref: RecordRef) -> None:
        conn.execute(
            sa.delete(consent_baselines).where(
                consent_baselines.c.tenant_id == ref.tenant_id, consent_baselines.c.record_key == ref.key
            )
        )

    def consent_changed(self, record: SourceRecord, now: datetime) -> bool:
        """For a record revoked through the API: has the source's consent value changed since the
        revocation? The first sight after the revocation records the value (the baseline)."""
        ref, value = record.ref, consent_hash(record)
        where = (consent_baselines.c.tenant_id == ref.tenant_id) & (consent_baselines.c.record_key == ref.key)
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(consent_baselines.c.consent_hash).where(where)).first()
            if row is None:
                conn.execute(
                    sa.insert(consent_baselines).values(
                        tenant_id=ref.tenant_id, record_key=ref.key, consent_hash=value, seen_at=now
                    )
                )
                return False
        return bool(row.consent_hash != value)

    def _rows(self, where: Any) -> list[Suppression]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(suppressions).where(where)).all()
        return [
            Suppression(
                ref=RecordRef(tenant_id=r.tenant_id, source=r.source, record_id=r.record_id),
                reason=r.reason,
                receipt_id=r.receipt_id,
                created_at=_aware(r.created_at),
            )
            for r in rows
        ]

    def for_refs(self, refs: Sequence[RecordRef]) -> dict[str, Suppression]:
        if not refs:
            return {}
        found = self._rows(suppressions.c.record_key.in_([r.key for r in refs]))
        return {s.ref.key: s for s in found}

    def suppressed_keys(self, tenant_id: str) -> tuple[str, ...]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(suppressions.c.record_key).where(suppressions.c.tenant_id == tenant_id)
            ).all()
        return tuple(sorted(r.record_key for r in rows))

    def all(self) -> list[Suppression]:
        return self._rows(sa.true())

    def records_for_contact(self, tenant_id: str, keys: Sequence[str]) -> list[RecordRef]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(record_contacts.c.source, record_contacts.c.record_id)
                .where(
                    record_contacts.c.tenant_id == tenant_id, record_contacts.c.contact_key.in_(list(keys))
                )
                .distinct()
            ).all()
        refs = {RecordRef(tenant_id=tenant_id, source=r.source, record_id=r.record_id) for r in rows}
        return sorted(refs, key=lambda r: r.key)

    def save_receipt(self, receipt: Receipt) -> None:
        body = receipt.model_dump(mode="json")
        with self._engine.begin() as conn:
            conn.execute(
                sa.insert(receipts).values(
                    receipt_id=receipt.receipt_id,
                    kind=receipt.kind,
                    tenant_id=receipt.tenant_id,
                    subject=receipt.subject,
                    actor=receipt.actor,
                    created_at=receipt.created_at,
                    body=json.dumps(body, sort_keys=True),
                )
            )

    def get_receipt(self, receipt_id: str) -> Receipt | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(receipts.c.body).where(receipts.c.receipt_id == receipt_id)).first()
        return Receipt.model_validate_json(row.body) if row else None

    def list_receipts(self, tenant_id: str | None = None, limit: int = 100) -> list[Receipt]:
        query = sa.select(receipts.c.body).order_by(receipts.c.created_at.desc()).limit(limit)
        if tenant_id is not None:
            query = query.where(receipts.c.tenant_id == tenant_id)
        with self._engine.connect() as conn:
            return [Receipt.model_validate_json(r.body) for r in conn.execute(query)]
