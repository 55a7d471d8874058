"""UTC timestamps; SQLite hands back naive datetimes, everything stored is UTC.

Everything the service emits (API bodies, CLI JSON, audit export) spells a timestamp one way:
RFC 3339 in UTC with a `Z` and microseconds, `2026-10-01T10:00:00.000000Z` (`rfc3339`). Pydantic
models get it through the `Timestamp` field type; plain dicts through rag_service.timestamps.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer, WithJsonSchema

# the one emitted format, as a pattern (tests walk real responses with it)
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we store is UTC.
    return None if value is None else _utc(value)


def rfc3339(value: datetime) -> str:
    """The one emitted spelling: UTC, microseconds, `Z` (a naive value is taken as UTC)."""
    return _utc(value).astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# a datetime field of an emitted model: naive values become UTC; JSON output is `rfc3339`
Timestamp = Annotated[
    datetime,
    AfterValidator(_utc),
    PlainSerializer(rfc3339, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC, microseconds, Z",
            "examples": ["2026-10-01T10:00:00.000000Z"],
        }
    ),
]
