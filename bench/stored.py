"""What the index holds for each record, read back the way an outside reader would."""

from __future__ import annotations

from ingest import payload as P
from ingest.index.base import IndexStore


def stored_texts(index: IndexStore, tenant: str) -> tuple[dict[str, str], int]:
    """Record id -> stored (redacted) text rebuilt from its chunks' offsets (overlaps written
    once); and the number of chunks read."""
    payloads = index.scroll_payloads(tenant_id=tenant)
    payloads.sort(key=lambda p: (str(p[P.RECORD_ID]), int(p[P.CHUNK_INDEX])))
    stored: dict[str, str] = {}
    for payload in payloads:
        rid, start, chunk = str(payload[P.RECORD_ID]), int(payload[P.CHAR_START]), str(payload[P.TEXT])
        text = stored.get(rid, "").ljust(start)
        stored[rid] = text[:start] + chunk + text[start + len(chunk) :]
    return stored, len(payloads)


def chunk_text(index: IndexStore, chunk_id: str) -> str | None:
    """One chunk's stored text, as GET /audit/chunks/{id} shows it; None when it is gone."""
    hit = index.get(chunk_id)
    return None if hit is None else str(hit.payload[P.TEXT])
