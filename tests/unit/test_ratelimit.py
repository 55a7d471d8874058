from __future__ import annotations

from rag_service.ratelimit import RateLimiter


def test_token_bucket_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") == 0.0
    wait = limiter.acquire("a")
    assert 0.9 < wait <= 1.0
    assert limiter.acquire("b") == 0.0  # other keys are not affected
    now[0] = 1.0
    assert limiter.acquire("a") == 0.0
