"""The Source protocol every CRM connector implements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Protocol

from ingest.models import Cursor, Page, SourceRecord


class Source(Protocol):
    kind: ClassVar[str]

    @property
    def name(self) -> str: ...

    @property
    def tenant_id(self) -> str: ...

    def pages(self, *, cursor: Cursor | None) -> Iterator[Page]:
        """Records changed after `cursor`, oldest first, in pages; each page names the cursor
        to resume from once the page is durably indexed."""
        ...

    def get(self, record_id: str) -> SourceRecord | None:
        """The current version of one record, or None when it no longer exists."""
        ...

    def live_ids(self) -> Iterator[str]:
        """Ids of all records that currently exist at the source (deletion reconciliation)."""
        ...
