"""Shared pieces of the vendor connectors: consent field mapping, bounded concurrency, tombstones."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from ingest.config import ConsentMapping
from ingest.models import RecordRef, Tombstone
from policies.models import ConsentStatus

T = TypeVar("T")
R = TypeVar("R")


def consent_from(value: Any, mapping: ConsentMapping) -> dict[str, ConsentStatus]:
    """A vendor field value -> our consent tags. Unknown or empty values give no consent (fail closed)."""
    if value is None:
        return {}
    text = str(value).strip().lower()
    if text in mapping.granted_values:
        return {mapping.tag: ConsentStatus.GRANTED}
    if text in mapping.revoked_values:
        return {mapping.tag: ConsentStatus.REVOKED}
    if text in mapping.denied_values:
        return {mapping.tag: ConsentStatus.DENIED}
    return {}


def weakest(consents: Sequence[dict[str, ConsentStatus]], tag: str) -> dict[str, ConsentStatus]:
    """Consent of a record shared by several people: granted only if every one of them granted."""
    if not consents or any(tag not in c for c in consents):
        return {}
    statuses = {c[tag] for c in consents}
    for status in (ConsentStatus.REVOKED, ConsentStatus.DENIED):
        if status in statuses:
            return {tag: status}
    return {tag: ConsentStatus.GRANTED}


def bounded_map(fn: Callable[[T], R], items: Iterable[T], concurrency: int) -> list[R]:
    """fn over items with at most `concurrency` calls in flight (vendor rate limits), order kept."""
    items = list(items)
    if concurrency <= 1 or len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fetch") as pool:
        return list(pool.map(fn, items))


def tombstone(tenant_id: str, source: str, record_id: str, when: datetime) -> Tombstone:
    return Tombstone(ref=RecordRef(tenant_id=tenant_id, source=source, record_id=record_id), deleted_at=when)
