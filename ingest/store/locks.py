"""One helper for the cross-process locks of the state store: a source's, each partition's
("<source>#<p>") and the rebuild lock. The API, the CLI, `serve` and `worker` all take their locks
through `locked`, so every path holds the same keys."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from ingest.errors import SourceBusyError
from ingest.store.runs import SOURCE_BUSY, RunsAndLocks, lock_owner

REBUILD_LOCK = "*rebuild"  # not a valid source name: one rebuild, rollback or first generation at a time
REBUILD_BUSY = "a rebuild or rollback is already running"


@contextmanager
def locked(
    state: RunsAndLocks,
    keys: Sequence[str],
    *,
    tag: str,
    ttl: timedelta,
    owner: str | None = None,
    busy: str = SOURCE_BUSY,
    wait_seconds: float = 0.0,
) -> Iterator[str]:
    """Hold every lock of `keys` (in this order) or none: SourceBusyError(busy) when one is held
    by someone else, after retrying for up to `wait_seconds`. Yields the owner (host:pid:tag:...),
    which `refresh_lock` needs; every lock taken is released on the way out."""
    owner = owner or lock_owner(f"{tag}:{uuid.uuid4().hex}")
    deadline = time.monotonic() + wait_seconds
    held: list[str] = []
    try:
        for key in keys:
            while not state.try_lock(key, owner, ttl):
                if time.monotonic() >= deadline:
                    raise SourceBusyError(busy)
                time.sleep(0.2)
            held.append(key)
        yield owner
    finally:
        for key in reversed(held):
            state.unlock(key, owner)
