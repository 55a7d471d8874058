"""The data contract for CRM records: raw mapping in, SourceRecord or RecordFailure out. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ingest.models import Acl, Contact, RecordFailure, SourceRecord, Turn

MAX_BODY_CHARS = 200_000
MAX_TURNS = 5_000


def raw_digest(raw: Any) -> str:
    try:
        blob = json.dumps(raw, sort_keys=True, default=str).encode()
    except (TypeError, ValueError):
        blob = repr(raw).encode()
    return hashlib.sha256(blob).hexdigest()


def _reason_from(exc: ValidationError) -> str:
    # loc + message only: pydantic keeps the offending input in err["input"], which we drop.
    parts = [f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}" for err in exc.errors()]
    return "; ".join(parts)[:1000]


def validate_record(
    raw: Any, *, tenant_id: str, source: str, system: str, locator: str
) -> SourceRecord | RecordFailure:
    """Check one raw record against the contract."""
    digest = raw_digest(raw)
    record_id = raw.get("record_id") if isinstance(raw, Mapping) else None
    rid = record_id if isinstance(record_id, str) and 0 < len(record_id) <= 128 else None

    def fail(reason: str) -> RecordFailure:
        return RecordFailure(source=source, locator=locator, record_id=rid, reason=reason, raw_sha256=digest)

    if not isinstance(raw, Mapping):
        return fail("record is not a JSON object")
    if rid is None:
        return fail("record_id: missing or not a string of 1..128 characters")
    raw_tenant = raw.get("tenant_id", tenant_id)
    if raw_tenant != tenant_id:
        return fail("tenant_id: does not match the source's tenant")
    try:
        record = SourceRecord(
            tenant_id=tenant_id,
            source=source,
            system=system,
            record_type=raw.get("record_type"),
            record_id=rid,
            url=raw.get("url"),
            version=str(raw.get("version", "")) or str(raw.get("updated_at", "")),
            updated_at=raw.get("updated_at"),
            title=raw.get("title") or "",
            body=raw.get("body") or "",
            turns=tuple(Turn.model_validate(t) for t in raw.get("turns") or ()),
            account_id=raw.get("account_id") or "",
            acl=Acl(owner_id=raw.get("owner_id"), team_ids=tuple(raw.get("team_ids") or ())),
            contacts=tuple(Contact.model_validate(c) for c in raw.get("contacts") or ()),
            consent=raw.get("consent") or {},
        )
    except ValidationError as exc:
        return fail(_reason_from(exc))
    except TypeError:
        return fail("record: a field has the wrong shape")
    if not record.url.startswith(("https://", "http://")):
        return fail("url: must be an http(s) link to the record in the CRM")
    if record.record_type == "transcript":
        if not record.turns:
            return fail("turns: a transcript needs at least one speaker turn")
        if len(record.turns) > MAX_TURNS:
            return fail(f"turns: more than {MAX_TURNS} turns")
    elif not record.body.strip():
        return fail("body: empty")
    if len(record.body) > MAX_BODY_CHARS:
        return fail(f"body: longer than {MAX_BODY_CHARS} characters")
    return record
