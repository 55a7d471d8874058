"""Suppressions (erased or consent-revoked records), contact links and receipts.

A suppressed record is never indexed again (checked at ingest) and never returned (excluded at
query time), even while its chunks are still being purged or after an old index is restored.
Contact e-mails are stored only as sha256 digests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection, Engine

from ingest.models import RecordRef, SourceRecord
from ingest.tables import receipts, record_contacts, suppressions

SuppressionReason = Literal["erasure", "consent_revoked"]


def email_key(email: str) -> str:
    return "email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def contact_keys(record: SourceRecord) -> tuple[str, ...]:
    keys = {f"id:{c.contact_id}" for c in record.contacts}
    keys.update(email_key(c.email) for c in record.contacts if c.email)
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
    created_at: datetime
    records: list[str]
    chunks_deleted: int
    collections: list[str]
    remaining_hits: int
    verified: bool
    seconds_to_zero_hits: float


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


class PrivacyLedger:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def suppress(
        self, refs: Sequence[RecordRef], reason: SuppressionReason, receipt_id: str, now: datetime
    ) -> None:
        with self._engine.begin() as conn:
            for ref in refs:
                key = (suppressions.c.tenant_id == ref.tenant_id) & (suppressions.c.record_key == ref.key)
                existing = conn.execute(sa.select(suppressions.c.reason).where(key)).first()
                if existing is not None:
                    if existing.reason == "erasure":
                        continue  # erasure is final; never downgraded
                    conn.execute(
                        sa.update(suppressions).where(key).values(reason=reason, receipt_id=receipt_id)
                    )
                    continue
                conn.execute(
                    sa.insert(suppressions).values(
                        tenant_id=ref.tenant_id,
                        record_key=ref.key,
                        source=ref.source,
                        record_id=ref.record_id,
                        reason=reason,
                        receipt_id=receipt_id,
                        created_at=now,
                    )
                )

    def lift(self, ref: RecordRef) -> None:
        """A revoked record whose consent was granted again at the source (never an erasure)."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.delete(suppressions).where(
                    suppressions.c.tenant_id == ref.tenant_id,
                    suppressions.c.record_key == ref.key,
                    suppressions.c.reason == "consent_revoked",
                )
            )

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
