"""Every timestamp the API answers carries its zone (RFC 3339). SQLite hands back naive datetimes
(all stored values are UTC); rows read as plain dicts pass through `zoned` before they leave."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def zoned(value: Any) -> Any:
    """The value with every naive datetime inside it (dicts, lists) marked as UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, dict):
        return {k: zoned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [zoned(v) for v in value]
    return value
