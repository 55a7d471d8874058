"""Split one large source across workers: partition p of n owns the records whose id hashes to p.

Each partition keeps its own cursor, lock, schedule row and job runs under the key
"<source>#<p>", so workers process disjoint records of the same source at the same time and a
record is never processed by two of them. Records keep their source name (ledger, index and
provenance do not change with the partition count). Every partition reads the source's change
feed and keeps its share: fetching is repeated per partition, the expensive part (redaction,
embedding, upserts) is not. Whole-source operations (reconcile, reprocess, rebuild) take every
partition's lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.models import Page, RunReport

SEPARATOR = "#"


def bucket(record_id: str, count: int) -> int:
    """Stable across processes and releases (not Python's salted hash)."""
    return int.from_bytes(hashlib.blake2b(record_id.encode(), digest_size=8).digest(), "big") % count


@dataclass(frozen=True, slots=True)
class Partition:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"partition {self.index} of {self.count} does not exist")

    def key(self, source: str) -> str:
        """Name of this partition's cursor, lock, schedule and runs (the source name when whole)."""
        return source if self.count == 1 else f"{source}{SEPARATOR}{self.index}"

    def owns(self, record_id: str | None) -> bool:
        if self.count == 1:
            return True
        # a quarantined line without a usable id is reported by partition 0 only
        return bucket(record_id, self.count) == self.index if record_id else self.index == 0

    def filter(self, page: Page) -> Page:
        if self.count == 1:
            return page
        return page.model_copy(
            update={
                "records": tuple(r for r in page.records if self.owns(r.record_id)),
                "deletions": tuple(t for t in page.deletions if self.owns(t.ref.record_id)),
                "failures": tuple(f for f in page.failures if self.owns(f.record_id)),
            }
        )


WHOLE = Partition()


def partitions(count: int) -> list[Partition]:
    return [Partition(i, count) for i in range(count)]


def keys(source: str, count: int) -> list[str]:
    return [p.key(source) for p in partitions(count)]


def key_like(source: str) -> str:
    """SQL LIKE pattern (escape character: backslash) for the partition keys of `source`;
    "_" in a source name is escaped, so it matches itself only."""
    escaped = source.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}{SEPARATOR}%"


def split_key(key: str) -> tuple[str, int | None]:
    """ "crm#3" -> ("crm", 3); "crm" -> ("crm", None)."""
    name, sep, index = key.rpartition(SEPARATOR)
    if sep and index.isdigit():
        return name, int(index)
    return key, None


def combine_reports(source: str, reports: Sequence[RunReport]) -> RunReport:
    """One report for a source run partition by partition: counts added up, the first error."""
    counts: dict[str, int] = {}
    redacted: dict[str, int] = {}
    for report in reports:
        for key, value in report.counts.items():
            counts[key] = counts.get(key, 0) + value
        for key, value in report.redacted.items():
            redacted[key] = redacted.get(key, 0) + value
    errors = [f"{r.source}: {r.error}" for r in reports if r.error]
    return RunReport(
        run_id=reports[0].run_id,
        source=source,
        kind=reports[0].kind,
        status="failed" if errors else "succeeded",
        started_at=min(r.started_at for r in reports),
        finished_at=max(r.finished_at for r in reports),
        counts=counts,
        redacted=dict(sorted(redacted.items())),
        error="; ".join(errors) or None,
    )
