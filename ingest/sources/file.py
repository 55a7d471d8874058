"""Drop-folder source: JSONL exports of CRM records (the embedded default).

Each `*.jsonl` file under the folder holds one JSON object per line: a record following the
data contract (ingest/stages/contract.py) or a tombstone `{"record_id": ..., "deleted": true,
"updated_at": ...}`. Incremental by cursor (updated_at, record_id): records at the cursor's
timestamp are re-read (ties are never lost), only the cursor's own record is skipped. Each line
stands alone: one that cannot be read or breaks the contract is a failure, the rest go on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from pydantic import TypeAdapter, ValidationError

from ingest.config import FileSourceConfig
from ingest.errors import SourceError
from ingest.models import Cursor, Page, RecordFailure, RecordRef, SourceRecord, Tombstone
from ingest.stages.contract import ContractViolation, parse_json, raw_digest, shape_problem, validate_record

_aware = TypeAdapter(datetime)


@dataclass(frozen=True, slots=True)
class _Scan:
    records: list[SourceRecord]
    tombstones: list[Tombstone]
    failures: list[RecordFailure]


class FileSource:
    kind: ClassVar[str] = "file"

    def __init__(self, config: FileSourceConfig) -> None:
        self._config = config

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def tenant_id(self) -> str:
        return self._config.tenant_id

    def _files(self) -> list[Path]:
        folder = self._config.path
        if not folder.is_dir():
            raise SourceError(f"source {self.name}: drop folder does not exist")
        return sorted(folder.glob("*.jsonl"))

    def _tombstone(self, raw: dict[str, object], locator: str) -> Tombstone | RecordFailure:
        rid = raw.get("record_id")
        try:
            if not isinstance(rid, str) or not rid:
                raise ValueError("record_id")
            deleted_at = _aware.validate_python(raw.get("updated_at"))
            if deleted_at.tzinfo is None:
                raise ValueError("updated_at")
        except (ValidationError, ValueError):
            return RecordFailure(
                source=self.name,
                locator=locator,
                record_id=rid if isinstance(rid, str) else None,
                reason="tombstone: needs record_id and a timezone-aware updated_at",
                raw_sha256=raw_digest(raw),
            )
        ref = RecordRef(tenant_id=self.tenant_id, source=self.name, record_id=rid)
        return Tombstone(ref=ref, deleted_at=deleted_at)

    def _scan(self, after: tuple[datetime, str] | None = None, only: frozenset[str] | None = None) -> _Scan:
        """Every line, or (with `after`, a cursor) only lines that may be new: a line whose
        record_id and ISO updated_at put it before the cursor (or at the cursor's own record) is
        skipped before the (costlier) contract validation. Anything unclear is validated as usual.
        With `only`, lines of other record ids are skipped before validation too.
        Lines are read as bytes: one that is not UTF-8, not JSON or breaks the contract in any
        way becomes a failure of its own; the other lines go on."""
        scan = _Scan([], [], [])
        for path in self._files():
            with path.open("rb") as fh:
                for lineno, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        self._read_line(scan, line, f"{path.name}:{lineno}", after, only)
                    except Exception as exc:  # whatever one line does, the others go on
                        scan.failures.append(
                            self._failure(f"{path.name}:{lineno}", line, f"unreadable ({type(exc).__name__})")
                        )
        return scan

    def _failure(self, locator: str, line: bytes, reason: str) -> RecordFailure:
        return RecordFailure(
            source=self.name,
            locator=locator,
            record_id=None,
            reason=reason,
            raw_sha256=hashlib.sha256(line.strip()).hexdigest(),
        )

    def _read_line(
        self,
        scan: _Scan,
        line: bytes,
        locator: str,
        after: tuple[datetime, str] | None,
        only: frozenset[str] | None = None,
    ) -> None:
        cfg = self._config
        try:
            raw = parse_json(line)
        except ContractViolation as exc:
            scan.failures.append(self._failure(locator, line, exc.reason))
            return
        if after is not None and _not_after(raw, after):
            return
        rid = raw.get("record_id") if isinstance(raw, dict) else None
        if only is not None and not (isinstance(rid, str) and rid in only):
            return  # another record (or no readable id: never one of these)
        digest = hashlib.sha256(line.strip()).hexdigest()
        if isinstance(raw, dict) and raw.get("deleted") is True:
            problem = shape_problem(raw)
            item = self._tombstone(raw, locator) if problem is None else self._failure(locator, line, problem)
            if isinstance(item, Tombstone):
                scan.tombstones.append(item)
            else:
                scan.failures.append(item.model_copy(update={"raw_sha256": digest}))
            return
        result = validate_record(
            raw,
            tenant_id=cfg.tenant_id,
            source=cfg.name,
            system=cfg.system,
            locator=locator,
            raw_sha256=digest,
        )
        if isinstance(result, SourceRecord):
            scan.records.append(result)
        else:
            scan.failures.append(result)

    def _latest(self, scan: _Scan) -> dict[str, SourceRecord | Tombstone]:
        """Latest event per record id (a later line or timestamp wins; a tombstone is an event)."""
        latest: dict[str, SourceRecord | Tombstone] = {}
        items: list[SourceRecord | Tombstone] = [*scan.records, *scan.tombstones]
        for item in items:
            rid, ts = _key(item)
            prev = latest.get(rid)
            if prev is None or ts >= _key(prev)[1]:
                latest[rid] = item
        return latest

    def pages(self, *, cursor: Cursor | None) -> Iterator[Page]:
        mark = None
        if cursor is not None and cursor.watermark is not None:
            mark = (_aware.validate_python(cursor.watermark), cursor.last_id or "")
        scan = self._scan(after=mark)
        items = sorted(self._latest(scan).values(), key=lambda it: (_key(it)[1], _key(it)[0]))
        if mark is not None:
            items = [it for it in items if _after(_key(it)[1], _key(it)[0], mark)]
        failures = tuple(scan.failures)
        size = self._config.page_size
        if not items:
            if failures:
                yield Page(records=(), failures=failures, next_cursor=cursor or Cursor())
            return
        for start in range(0, len(items), size):
            batch = items[start : start + size]
            last_id, last_ts = _key(batch[-1])
            yield Page(
                records=tuple(it for it in batch if isinstance(it, SourceRecord)),
                deletions=tuple(it for it in batch if isinstance(it, Tombstone)),
                failures=failures if start == 0 else (),
                next_cursor=Cursor(watermark=last_ts.isoformat(), last_id=last_id),
            )

    def get(self, record_id: str) -> SourceRecord | None:
        return self.get_many([record_id]).get(record_id)

    def get_many(self, record_ids: Sequence[str]) -> dict[str, SourceRecord]:
        """One pass over the folder for all of these ids (their latest event each)."""
        wanted = frozenset(record_ids)
        latest = self._latest(self._scan(only=wanted))
        return {rid: item for rid, item in latest.items() if rid in wanted and isinstance(item, SourceRecord)}

    def live_ids(self) -> Iterator[str]:
        yield from (record.record_id for record in self.live_records())

    def live_records(self) -> Iterator[SourceRecord]:
        """The current version of every live record (reconcile compares content, not only ids)."""
        latest = self._latest(self._scan())
        yield from (item for _, item in sorted(latest.items()) if isinstance(item, SourceRecord))


def _key(item: SourceRecord | Tombstone) -> tuple[str, datetime]:
    if isinstance(item, SourceRecord):
        return item.record_id, item.updated_at
    return item.ref.record_id, item.deleted_at


def _after(when: datetime, rid: str, mark: tuple[datetime, str]) -> bool:
    """Is (when, rid) new relative to the cursor? Ties on the timestamp are re-read (a record that
    arrived later with the same updated_at and a smaller id must not be lost); only the cursor's
    own record is known to be done. Re-read ties are cheap: the fingerprint skips them."""
    return when > mark[0] or (when == mark[0] and rid != mark[1])


def _not_after(raw: object, mark: tuple[datetime, str]) -> bool:
    """True when the raw line is certainly not new relative to the cursor."""
    if not isinstance(raw, dict):
        return False
    rid, stamp = raw.get("record_id"), raw.get("updated_at")
    if not isinstance(rid, str) or not isinstance(stamp, str):
        return False
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return False
    return when.tzinfo is not None and not _after(when, rid, mark)
