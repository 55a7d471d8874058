"""The Source protocol every CRM connector implements."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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

    def get_many(self, record_ids: Sequence[str]) -> dict[str, SourceRecord]:
        """The current version of each of these records, by id, in as few reads as the source
        allows (a vendor's batch read, one pass over a folder); an id missing from the answer no
        longer exists (or no longer passes the contract), as `get` would answer None."""
        ...

    def live_ids(self) -> Iterator[str]:
        """Ids of all records that currently exist at the source (deletion reconciliation)."""
        ...
