"""HTTP GET with bounded retries for CRM APIs: timeouts, connection errors, 5xx and 429.

Retry-After (seconds or HTTP date) is honoured in full up to max_retry_after; a longer wait, or a
quota the vendor says will not reset soon (a connector's `throttle` hook: HubSpot's DAILY policy,
Salesforce's REQUEST_LIMIT_EXCEEDED), fails the run at once with SourceRateLimitedError instead
of retrying in a loop. Otherwise exponential backoff with jitter, capped by max_delay. After the
last attempt a SourceError names the status, never the body.
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

from ingest.errors import SourceAuthError, SourceError, SourceRateLimitedError

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0  # cap of our own backoff (no Retry-After given)
    max_retry_after: float = 900.0  # the longest Retry-After a run waits for; longer: fail now
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)


@dataclass(frozen=True, slots=True)
class Throttle:
    """How a vendor said "slow down": wait this long (None: our backoff) or, when retry is False,
    not within this run (a daily quota). `reason` names the vendor's policy, never body text."""

    wait: float | None = None
    retry: bool = True
    reason: str = ""


def default_throttle(resp: httpx.Response) -> Throttle | None:
    """429 with an optional Retry-After (Zendesk, Gong and most APIs)."""
    if resp.status_code != 429:
        return None
    return Throttle(wait=retry_after_seconds(resp.headers.get("Retry-After")))


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
    form: Mapping[str, str] | None = None,
    throttle: Callable[[httpx.Response], Throttle | None] = default_throttle,
    empty: Callable[[httpx.Response], bool] | None = None,
) -> Any:
    """One JSON call (raw=True: the body as text), retrying timeouts, transport errors and
    408/425/429/5xx. `throttle` reads a vendor's rate-limit answer (any status); `empty` says
    that an error answer means "no results" (Gong's 404 on an empty window): None is returned."""
    last = ""
    for attempt in range(1, policy.max_attempts + 1):
        delay: float | None = None
        try:
            resp = client.request(method, url, params=params, json=body, data=form, headers=headers)
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
            if empty is not None and empty(resp):
                return None
            limited = throttle(resp)
            if limited is not None:
                reason = f" ({limited.reason})" if limited.reason else ""
                if not limited.retry:
                    raise SourceRateLimitedError(
                        f"{what}: rate limited, HTTP {resp.status_code}{reason}; not retried in this run",
                        limited.wait,
                    )
                if limited.wait is not None and limited.wait > policy.max_retry_after:
                    raise SourceRateLimitedError(
                        f"{what}: rate limited, HTTP {resp.status_code}{reason}; Retry-After "
                        f"{limited.wait:.0f} s is beyond {policy.max_retry_after:.0f} s",
                        limited.wait,
                    )
                last = f"HTTP {resp.status_code}{reason}"
                delay = limited.wait
            elif resp.status_code == 401:
                raise SourceAuthError(f"{what}: HTTP 401")
            elif resp.status_code not in RETRY_STATUS:
                raise SourceError(f"{what}: HTTP {resp.status_code}")
            else:
                last = f"HTTP {resp.status_code}"
                delay = retry_after_seconds(resp.headers.get("Retry-After"))
        if attempt == policy.max_attempts:
            break
        if delay is None:
            delay = min(policy.base_delay * 2 ** (attempt - 1) * (1 + random.random() / 4), policy.max_delay)
        policy.sleep(min(delay, policy.max_retry_after))
    raise SourceError(f"{what}: gave up after {policy.max_attempts} attempts ({last})")
