"""The data contract for CRM records: raw mapping in, SourceRecord or RecordFailure out. Pure.

Whatever goes wrong with one record becomes a RecordFailure with a reason (never its content),
so one bad record cannot stop a batch. Besides field types the contract bounds what a record may
cost downstream: total text (spaCy refuses texts over 1,000,000 characters), each turn, the
number of contacts and turns, JSON nesting and number sizes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from ingest.models import Acl, Contact, RecordFailure, SourceRecord, Turn

MAX_BODY_CHARS = 200_000
MAX_TEXT_CHARS = 250_000  # title + body + every turn; rendered with turn labels it stays far below 1e6
MAX_TURN_CHARS = 20_000
MAX_TURNS = 5_000
MAX_CONTACTS = 500
MAX_JSON_DEPTH = 16  # a record is an object of lists of objects: 4 levels are used
MAX_INT_DIGITS = 20  # |n| < 10**20: epoch nanoseconds fit; a 5,000-digit version does not
MAX_RECORD_BYTES = 4_000_000  # one serialised record (a JSONL line) before it is parsed


class ContractViolation(ValueError):
    """Raised by the parsing helpers; `reason` names the problem without repeating content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def raw_digest(raw: Any) -> str:
    """sha256 of a raw record; never raises (a record too odd to serialise gets a digest of its type)."""
    try:
        blob = json.dumps(raw, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError, RecursionError):
        blob = f"unserialisable:{type(raw).__name__}".encode()
    return hashlib.sha256(blob).hexdigest()


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ContractViolation(f"a number has more than {MAX_INT_DIGITS} digits")
    return int(text)


def _parse_constant(name: str) -> float:
    raise ContractViolation(f"{name} is not a JSON number")


def parse_json(line: bytes) -> Any:
    """One serialised record -> Python value, or ContractViolation with a reason."""
    if len(line) > MAX_RECORD_BYTES:
        raise ContractViolation(f"record larger than {MAX_RECORD_BYTES} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractViolation(f"not valid UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(text, parse_int=_parse_int, parse_constant=_parse_constant)
    except ContractViolation:
        raise
    except json.JSONDecodeError as exc:
        raise ContractViolation(f"invalid JSON at column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ContractViolation(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # e.g. a float the parser cannot hold
        raise ContractViolation(f"invalid JSON ({type(exc).__name__})") from None


def _valid_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shape_problem(raw: Any) -> str | None:
    """Bounds on nesting, numbers and text encoding, checked without recursion."""
    stack: list[tuple[Any, int]] = [(raw, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping | list | tuple):
            if depth > MAX_JSON_DEPTH:
                return f"record: nested deeper than {MAX_JSON_DEPTH} levels"
            if isinstance(value, Mapping):
                for key, item in value.items():
                    if not isinstance(key, str) or not _valid_text(key):
                        return "record: a field name is not valid text"
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, bool | date) or value is None:
            continue  # date covers datetime: a connector may map timestamps before the contract
        elif isinstance(value, int):
            if abs(value) >= 10**MAX_INT_DIGITS:
                return f"record: a number has more than {MAX_INT_DIGITS} digits"
        elif isinstance(value, float):
            if not math.isfinite(value):
                return "record: a number is not finite"
        elif isinstance(value, str):
            if not _valid_text(value):
                return "record: text holds invalid Unicode (a lone surrogate)"
        else:
            return f"record: unsupported value type {type(value).__name__}"
    return None


def _size_problem(raw: Mapping[str, Any]) -> str | None:
    """Counts checked before any model is built (10,000 contacts cost 28 s and 1.1 GB)."""
    for name, limit in (("contacts", MAX_CONTACTS), ("turns", MAX_TURNS), ("team_ids", MAX_CONTACTS)):
        items = raw.get(name)
        if isinstance(items, list | tuple) and len(items) > limit:
            return f"{name}: more than {limit}"
    return None


def _text_problem(record: SourceRecord) -> str | None:
    if len(record.body) > MAX_BODY_CHARS:
        return f"body: longer than {MAX_BODY_CHARS} characters"
    if any(len(t.text) > MAX_TURN_CHARS for t in record.turns):
        return f"turns: a turn is longer than {MAX_TURN_CHARS} characters"
    total = len(record.title) + len(record.body) + sum(len(t.text) for t in record.turns)
    if total > MAX_TEXT_CHARS:
        return f"text: title, body and turns together are longer than {MAX_TEXT_CHARS} characters"
    return None


def _reason_from(exc: ValidationError) -> str:
    # loc + message only: pydantic keeps the offending input in err["input"], which we drop.
    parts = [f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}" for err in exc.errors()]
    return "; ".join(parts)[:1000]


def validate_record(
    raw: Any,
    *,
    tenant_id: str,
    source: str,
    system: str,
    locator: str,
    raw_sha256: str | None = None,
) -> SourceRecord | RecordFailure:
    """Check one raw record against the contract. Never raises: any failure is a RecordFailure.
    `raw_sha256` names the serialised form when the caller has it (a JSONL line)."""
    rid: str | None = None
    try:
        record_id = raw.get("record_id") if isinstance(raw, Mapping) else None
        if isinstance(record_id, str) and 0 < len(record_id) <= 128 and _valid_text(record_id):
            rid = record_id
        problem = shape_problem(raw)
        if problem is None:
            result = _validate(raw, rid, tenant_id=tenant_id, source=source, system=system)
            if isinstance(result, SourceRecord):
                return result
            problem = result
    except Exception as exc:  # one record never stops a batch
        problem = f"record: could not be validated ({type(exc).__name__})"
    return RecordFailure(
        source=source,
        locator=locator,
        record_id=rid,
        reason=problem,
        raw_sha256=raw_sha256 or raw_digest(raw),
    )


def _validate(raw: Any, rid: str | None, *, tenant_id: str, source: str, system: str) -> SourceRecord | str:
    if not isinstance(raw, Mapping):
        return "record is not a JSON object"
    if rid is None:
        return "record_id: missing or not a string of 1..128 characters"
    raw_tenant = raw.get("tenant_id", tenant_id)
    if raw_tenant != tenant_id:
        return "tenant_id: does not match the source's tenant"
    problem = _size_problem(raw)
    if problem is not None:
        return problem
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
        return _reason_from(exc)
    except TypeError:
        return "record: a field has the wrong shape"
    if not record.url.startswith(("https://", "http://")):
        return "url: must be an http(s) link to the record in the CRM"
    if record.record_type == "transcript":
        if not record.turns:
            return "turns: a transcript needs at least one speaker turn"
    elif not record.body.strip():
        return "body: empty"
    if len(record.version) > 128:
        return "version: longer than 128 characters"
    return _text_problem(record) or record
