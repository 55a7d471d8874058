"""Mass-deletion guard for sync runs: stop before a page whose tombstones would push the run's
deletions past the configured share of the source, until an admin confirms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.errors import IngestError
from ingest.models import Page
from ingest.store.state import AuditEvent

if TYPE_CHECKING:
    from ingest.pipeline import PipelineParts


class MassDeletionError(IngestError):
    """A run would delete more than the allowed share of a source; an admin must confirm."""


class DeletionGuard:
    """Stops a run before the page that would push its deletions past max_delete_share."""

    def __init__(self, parts: PipelineParts, source: str, *, allow: bool) -> None:
        self._p = parts
        self._source = source
        self._allow = allow
        self._base = parts.state.ledger_count(source, "indexed")
        self._deleted = 0

    def check(self, page: Page, *, actor: str, run_id: str) -> None:
        self._deleted += len(page.deletions)
        p = self._p
        if self._allow or self._base < p.guard_min_records:
            return
        share = self._deleted / self._base
        if share > p.max_delete_share:
            p.state.audit(
                AuditEvent(
                    actor=actor,
                    action="mass_deletion_blocked",
                    source=self._source,
                    run_id=run_id,
                    details={
                        "tombstones": self._deleted,
                        "share": round(share, 4),
                        "limit": p.max_delete_share,
                    },
                )
            )
            raise MassDeletionError(
                f"this run would delete {self._deleted} of {self._base} records ({share:.0%}); "
                "an admin must confirm (sync with confirm_deletions)"
            )
