"""Per-API-key token buckets. Over the limit: 429 with Retry-After.

`RateLimiter` keeps the buckets in process memory (one API process). `SharedRateLimiter` keeps
them in the state store, so several API replicas on one PostgreSQL enforce one limit per key:
each request takes the key's row lock (SELECT ... FOR UPDATE), refills by elapsed time and takes a
token in one short transaction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ingest.store.tables import rate_buckets


class Limiter(Protocol):
    def acquire(self, key: str) -> float:
        """0.0 if allowed; otherwise seconds until one request would be allowed."""
        ...


def _take(tokens: float, elapsed: float, rate: float, burst: float) -> tuple[float, float]:
    """(tokens left, wait): refill by elapsed seconds, then take one token if there is one."""
    tokens = min(burst, tokens + max(0.0, elapsed) * rate)
    if tokens >= 1.0:
        return tokens - 1.0, 0.0
    return tokens, (1.0 - tokens) / rate if rate > 0 else 60.0


class RateLimiter:
    def __init__(self, per_minute: int, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self._burst, now))
            tokens, wait = _take(tokens, now - last, self._rate, self._burst)
            self._buckets[key] = (tokens, now)
            return wait


class SharedRateLimiter:
    def __init__(
        self,
        engine: Engine,
        per_minute: int,
        burst: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock

    def acquire(self, key: str) -> float:
        for _ in range(3):  # a first request of a key may race another replica's insert
            try:
                return self._acquire(key)
            except sa.exc.IntegrityError:
                continue
        return 1.0  # fail closed: still contended after retries

    def _acquire(self, key: str) -> float:
        now = self._clock()
        with self._engine.begin() as conn:
            row = conn.execute(
                sa.select(rate_buckets.c.tokens, rate_buckets.c.updated_at)
                .where(rate_buckets.c.key == key)
                .with_for_update()
            ).first()
            if row is None:
                tokens, wait = _take(self._burst, 0.0, self._rate, self._burst)
                conn.execute(sa.insert(rate_buckets).values(key=key, tokens=tokens, updated_at=now))
                return wait
            last = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
            tokens, wait = _take(float(row.tokens), (now - last).total_seconds(), self._rate, self._burst)
            conn.execute(
                sa.update(rate_buckets).where(rate_buckets.c.key == key).values(tokens=tokens, updated_at=now)
            )
            return wait
