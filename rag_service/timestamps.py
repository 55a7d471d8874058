"""The API boundary's side of the one timestamp format (ingest.timeutil.rfc3339: UTC, `Z`,
microseconds). Models carry it in their `Timestamp` fields; rows read as plain dicts pass through
`wire`; timestamps stored as text in the index payload keep their stored spelling (the datetime
payload index filters on it, see README) and are re-spelled by `payload_view` on the way out."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from ingest import payload as P
from ingest.timeutil import RFC3339_UTC, rfc3339

PATTERN = RFC3339_UTC


def wire(value: Any) -> Any:
    """The value with every datetime inside it (dicts, lists) spelled as `rfc3339`."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wire(v) for v in value]
    return value


def restamp(text: str | None) -> str | None:
    """A stored RFC 3339 string (any zone spelling) in the emitted format."""
    return None if text is None else rfc3339(datetime.fromisoformat(text))


def payload_view(payload: dict[str, Any]) -> dict[str, Any]:
    """A chunk payload as shown to callers: its stored timestamp strings in the emitted format."""
    return {k: restamp(v) if k in P.TIMESTAMP_KEYS and isinstance(v, str) else v for k, v in payload.items()}


def dumps(value: BaseModel | Any, indent: int | None = None) -> str:
    """JSON text for the CLI: models as their API JSON, plain rows through `wire`."""
    data = value.model_dump(mode="json") if isinstance(value, BaseModel) else wire(value)
    return json.dumps(data, indent=indent)
