"""A CRM export API that already speaks our record contract (paged JSON over HTTP).

    GET {base}/records?updated_after=ISO&after_id=ID&limit=N
        -> {"records": [...], "deleted": [{"record_id", "updated_at"}], "has_more": bool}
    GET {base}/records/{id}  -> record | 404
    GET {base}/ids?offset=K&limit=N -> {"ids": [...], "has_more": bool}

Pages come back ordered by (updated_at, record_id); the cursor is the last pair seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import httpx
from pydantic import AwareDatetime, TypeAdapter, ValidationError

from ingest.config import HttpJsonSourceConfig
from ingest.errors import SourceError
from ingest.models import Cursor, Page, RecordFailure, RecordRef, SourceRecord, Tombstone
from ingest.sources.http_retry import RetryPolicy, get_json
from ingest.stages.contract import raw_digest, validate_record

_when = TypeAdapter(AwareDatetime)


def build_client(config: HttpJsonSourceConfig) -> httpx.Client:
    headers = {"Accept": "application/json", "User-Agent": "crm-rag-refresh"}
    if config.token is not None:
        headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
    return httpx.Client(base_url=config.base_url, headers=headers, timeout=config.timeout_seconds)


class HttpJsonSource:
    kind: ClassVar[str] = "http_json"

    def __init__(
        self,
        config: HttpJsonSourceConfig,
        client: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._config = config
        self._client = client or build_client(config)
        self._policy = policy or RetryPolicy(max_attempts=config.max_attempts)

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def tenant_id(self) -> str:
        return self._config.tenant_id

    def _map(self, raw: Any, locator: str) -> SourceRecord | RecordFailure:
        cfg = self._config
        return validate_record(
            raw, tenant_id=cfg.tenant_id, source=cfg.name, system=cfg.system, locator=locator
        )

    def _tombstone(self, raw: Any, locator: str) -> Tombstone | RecordFailure:
        try:
            rid = raw["record_id"]
            if not isinstance(rid, str) or not rid:
                raise ValueError
            ref = RecordRef(tenant_id=self.tenant_id, source=self.name, record_id=rid)
            return Tombstone(ref=ref, deleted_at=_when.validate_python(raw["updated_at"]))
        except (KeyError, TypeError, ValueError, ValidationError):
            return RecordFailure(
                source=self.name,
                locator=locator,
                record_id=None,
                reason="deleted entry needs record_id and updated_at",
                raw_sha256=raw_digest(raw),
            )

    def pages(self, *, cursor: Cursor | None) -> Iterator[Page]:
        current = cursor or Cursor()
        page_no = 0
        while True:
            params: dict[str, Any] = {"limit": self._config.page_size}
            if current.watermark:
                params["updated_after"] = current.watermark
                # the first page of a run re-reads the cursor's timestamp: a record that arrived
                # later with the same updated_at and a smaller id is not lost (the fingerprint
                # skips the ones already indexed); later pages page on by (updated_at, id)
                params["after_id"] = (current.last_id or "") if page_no else ""
            body = get_json(
                self._client,
                "/records",
                params=params,
                policy=self._policy,
                what=f"source {self.name} page {page_no}",
            )
            if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                raise SourceError(f"source {self.name}: page {page_no} does not have a records list")
            records: list[SourceRecord] = []
            failures: list[RecordFailure] = []
            deletions: list[Tombstone] = []
            last: tuple[str, str] | None = None
            for i, raw in enumerate(body["records"]):
                item = self._map(raw, f"page {page_no} record {i}")
                if isinstance(item, SourceRecord):
                    key = (item.updated_at.isoformat(), item.record_id)
                    last = max(last or ("", ""), key)
                    if not page_no and cursor is not None and key == (cursor.watermark, cursor.last_id):
                        continue  # the cursor's own record: done in an earlier run
                    records.append(item)
                else:
                    failures.append(item)
            for i, raw in enumerate(body.get("deleted") or []):
                tomb = self._tombstone(raw, f"page {page_no} deleted {i}")
                if isinstance(tomb, Tombstone):
                    deletions.append(tomb)
                    last = max(last or ("", ""), (tomb.deleted_at.isoformat(), tomb.ref.record_id))
                else:
                    failures.append(tomb)
            if last is not None:
                current = Cursor(watermark=last[0], last_id=last[1])
            yield Page(
                records=tuple(records),
                deletions=tuple(deletions),
                failures=tuple(failures),
                next_cursor=current,
            )
            page_no += 1
            if not body.get("has_more") or last is None:
                return

    def get(self, record_id: str) -> SourceRecord | None:
        try:
            raw = get_json(
                self._client, f"/records/{record_id}", policy=self._policy, what=f"source {self.name} record"
            )
        except SourceError as exc:
            if exc.status == 404:
                return None
            raise
        item = self._map(raw, "record")
        return item if isinstance(item, SourceRecord) else None

    def get_many(self, record_ids: Sequence[str]) -> dict[str, SourceRecord]:
        """The export API has no batch read: one GET per id."""
        got = ((rid, self.get(rid)) for rid in dict.fromkeys(record_ids))
        return {rid: record for rid, record in got if record is not None}

    def live_ids(self) -> Iterator[str]:
        offset = 0
        while True:
            body = get_json(
                self._client,
                "/ids",
                params={"offset": offset, "limit": 1000},
                policy=self._policy,
                what=f"source {self.name} ids",
            )
            ids = body.get("ids", []) if isinstance(body, dict) else []
            yield from (str(i) for i in ids)
            offset += len(ids)
            if not body.get("has_more") or not ids:
                return
