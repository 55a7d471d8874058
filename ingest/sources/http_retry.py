"""HTTP GET with bounded retries for CRM APIs: timeouts, connection errors, 5xx and 429.

Retry-After (seconds or HTTP date) is honoured, capped by max_delay; otherwise exponential
backoff with jitter. After the last attempt a SourceError names the status, never the body.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from ingest.errors import SourceError

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def get_json(
    client: httpx.Client,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    policy: RetryPolicy,
    what: str,
) -> Any:
    """GET url and decode JSON, retrying transient failures. `what` names the call in errors."""
    return request_json(client, "GET", url, params=params, policy=policy, what=what)


def request_json(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    body: Any = None,
    policy: RetryPolicy,
    what: str,
    headers: Mapping[str, str] | None = None,
    raw: bool = False,
) -> Any:
    """One JSON call (raw=True: the body as text), retrying timeouts, transport errors and
    408/425/429/5xx."""
    last = ""
    for attempt in range(1, policy.max_attempts + 1):
        delay: float | None = None
        try:
            resp = client.request(method, url, params=params, json=body, headers=headers)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            last = type(exc).__name__
        else:
            if resp.status_code < 400:
                if raw:
                    return resp.text
                try:
                    return resp.json()
                except ValueError:
                    raise SourceError(f"{what}: response is not JSON (HTTP {resp.status_code})") from None
            if resp.status_code not in RETRY_STATUS:
                raise SourceError(f"{what}: HTTP {resp.status_code}")
            last = f"HTTP {resp.status_code}"
            delay = retry_after_seconds(resp.headers.get("Retry-After"))
        if attempt == policy.max_attempts:
            break
        if delay is None:
            delay = policy.base_delay * 2 ** (attempt - 1) * (1 + random.random() / 4)
        policy.sleep(min(delay, policy.max_delay))
    raise SourceError(f"{what}: gave up after {policy.max_attempts} attempts ({last})")
