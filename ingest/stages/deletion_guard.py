"""Mass-deletion guard for sync runs: stop before a page whose tombstones would push the run's
deletions past the configured share of the source, until an admin confirms."""

from __future__ import annotations

from typing import Protocol

from ingest.errors import IngestError
from ingest.models import Page
from ingest.store.ledger import LedgerStatus
from ingest.store.state import AuditEvent


class GuardState(Protocol):
    """The part of the state store the guard uses: the source's size, and the audit log."""

    def ledger_count(self, source: str, status: LedgerStatus) -> int: ...

    def audit(self, *events: AuditEvent) -> None: ...


class MassDeletionError(IngestError):
    """A run would delete more than the allowed share of a source; an admin must confirm."""


class DeletionGuard:
    """Stops a run before the page that would push its deletions past max_delete_share."""

    def __init__(
        self, *, state: GuardState, source: str, allow: bool, max_share: float, min_records: int
    ) -> None:
        self._state = state
        self._source = source
        self._allow = allow
        self._max_share = max_share
        self._min_records = min_records
        self._base = state.ledger_count(source, "indexed")
        self._deleted = 0

    def check(self, page: Page, *, actor: str, run_id: str) -> None:
        self._deleted += len(page.deletions)
        if self._allow or self._base < self._min_records:
            return
        share = self._deleted / self._base
        if share > self._max_share:
            self._state.audit(
                AuditEvent(
                    actor=actor,
                    action="mass_deletion_blocked",
                    source=self._source,
                    run_id=run_id,
                    details={
                        "tombstones": self._deleted,
                        "share": round(share, 4),
                        "limit": self._max_share,
                    },
                )
            )
            raise MassDeletionError(
                f"this run would delete {self._deleted} of {self._base} records ({share:.0%}); "
                "an admin must confirm (sync with confirm_deletions)"
            )
