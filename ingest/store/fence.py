"""Write fence between pages in flight and erasures / revocations.

A page announces the records it may write (`hold`) before it reads the suppressions, and withdraws
them once its writes are committed (`release`). An erasure or revocation commits its suppression
first and then waits until no announced write of its records (or, for an erasure, of its tenant)
is left (`settle`). Whatever the interleaving, one side sees the other: either the page sees the
suppression and writes nothing, or the purge runs after the page has committed. Only then may a
receipt say "verified". Intents of a process that died, or older than their TTL, do not count.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ingest.store.runs import owner_is_dead
from ingest.store.tables import write_intents
from ingest.timeutil import aware, utcnow


class WriteFence:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def hold(self, tenant_id: str, record_keys: Sequence[str], owner: str, ttl: timedelta) -> None:
        if not record_keys:
            return
        expires = utcnow() + ttl
        with self._engine.begin() as conn:
            conn.execute(
                sa.insert(write_intents),
                [
                    {"owner": owner, "record_key": key, "tenant_id": tenant_id, "expires_at": expires}
                    for key in sorted(set(record_keys))
                ],
            )

    def release(self, owner: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(sa.delete(write_intents).where(write_intents.c.owner == owner))

    def in_flight(self, tenant_id: str, record_keys: Sequence[str] | None = None) -> set[str]:
        """Owners of writes announced and still pending: for these records, or (None) anywhere in
        the tenant. Intents left by a dead process or past their TTL are removed on the way."""
        query = sa.select(write_intents.c.owner, write_intents.c.expires_at).where(
            write_intents.c.tenant_id == tenant_id
        )
        if record_keys is not None:
            query = query.where(write_intents.c.record_key.in_(list(record_keys)))
        now = utcnow()
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        gone = {r.owner for r in rows if (aware(r.expires_at) or now) < now or owner_is_dead(r.owner)}
        if gone:
            with self._engine.begin() as conn:
                conn.execute(sa.delete(write_intents).where(write_intents.c.owner.in_(sorted(gone))))
        return {r.owner for r in rows} - gone

    def settle(
        self, tenant_id: str, record_keys: Sequence[str] | None, *, timeout: float, poll: float = 0.05
    ) -> bool:
        """Wait until the writes of these records (None: of the tenant) that are in flight now have
        been committed. Pages starting later read the suppression already committed by the caller,
        so they are not waited for (a busy tenant cannot starve an erasure). False on timeout."""
        deadline = time.monotonic() + timeout
        waiting = self.in_flight(tenant_id, record_keys)
        while waiting:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
            waiting &= self.in_flight(tenant_id, record_keys)
        return True
