"""HTTP GET with bounded retries for CRM APIs: timeouts, connection errors, 5xx and 429.

Retry-After (seconds or HTTP date) is honoured in full up to max_retry_after; a longer wait, or a
quota the vendor says will not reset soon (a connector's `throttle` hook: HubSpot's DAILY policy,
Salesforce's REQUEST_LIMIT_EXCEEDED), fails the run at once with SourceRateLimitedError instead
of retrying in a loop. Otherwise exponential backoff with jitter, capped by max_delay. The loop,
stop and wait are tenacity's; what is worth another attempt and how long the vendor asked us to
wait are decided here. Every SourceError carries the HTTP status (`status`), built from httpx's
HTTPStatusError; its message names the status, never the body.
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
import tenacity

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


# hand-written: neither tenacity nor httpx reads Retry-After; email.utils parses its HTTP-date form
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


class _Again(Exception):
    """An attempt worth repeating: `last` names what happened (never body text), `wait` is how
    long the vendor asked us to wait (None: our backoff)."""

    def __init__(self, last: str, wait: float | None = None, status: int | None = None) -> None:
        super().__init__(last)
        self.last, self.wait, self.status = last, wait, status


def status_error(exc: httpx.HTTPStatusError, what: str, cls: type[SourceError] = SourceError) -> SourceError:
    """A SourceError (or subclass) carrying the status of httpx's HTTPStatusError; no body text."""
    status = exc.response.status_code
    return cls(f"{what}: HTTP {status}", status=status)


def _backoff(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    """Retry-After when the vendor gave one (up to max_retry_after), else exponential backoff
    with up to 25 % jitter, capped by max_delay."""
    exponential = tenacity.wait_exponential(multiplier=policy.base_delay, max=policy.max_delay)

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, _Again) and exc.wait is not None:
            delay = exc.wait
        else:
            delay = min(exponential(state) * (1 + random.random() / 4), policy.max_delay)
        return min(delay, policy.max_retry_after)

    return wait


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

    def failure(exc: httpx.HTTPStatusError) -> Exception:
        """What an error answer means: another attempt (_Again) or a SourceError to raise."""
        resp, status = exc.response, exc.response.status_code
        limited = throttle(resp)
        if limited is not None:
            reason = f" ({limited.reason})" if limited.reason else ""
            if not limited.retry:
                return SourceRateLimitedError(
                    f"{what}: rate limited, HTTP {status}{reason}; not retried in this run",
                    limited.wait,
                    status=status,
                )
            if limited.wait is not None and limited.wait > policy.max_retry_after:
                return SourceRateLimitedError(
                    f"{what}: rate limited, HTTP {status}{reason}; Retry-After "
                    f"{limited.wait:.0f} s is beyond {policy.max_retry_after:.0f} s",
                    limited.wait,
                    status=status,
                )
            return _Again(f"HTTP {status}{reason}", limited.wait, status)
        if status == 401:
            return status_error(exc, what, SourceAuthError)
        if status not in RETRY_STATUS:
            return status_error(exc, what)
        return _Again(f"HTTP {status}", retry_after_seconds(resp.headers.get("Retry-After")), status)

    def attempt() -> Any:
        try:
            resp = client.request(method, url, params=params, json=body, data=form, headers=headers)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _Again(type(exc).__name__) from None
        if resp.status_code >= 400:
            if empty is not None and empty(resp):
                return None
            try:
                resp.raise_for_status()
            except httpx.HTTPStatusError as exc:
                raise failure(exc) from None
        if raw:
            return resp.text
        try:
            return resp.json()
        except ValueError:
            raise SourceError(
                f"{what}: response is not JSON (HTTP {resp.status_code})", status=resp.status_code
            ) from None

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=_backoff(policy),
        retry=tenacity.retry_if_exception_type(_Again),
        sleep=lambda seconds: policy.sleep(float(seconds)),
        reraise=True,
    )
    try:
        return retrying(attempt)
    except _Again as exc:
        raise SourceError(
            f"{what}: gave up after {policy.max_attempts} attempts ({exc.last})", status=exc.status
        ) from None
