"""HubSpot CRM v3: notes, tickets and call engagements.

Incremental by hs_lastmodifieddate with the search API (sorted ascending, paged with `after`;
the 10,000-result window of a search is handled by restarting from the last timestamp seen),
associations to contacts and companies (v4 associations + contacts batch read), deletions from
the archived list. Consent comes from a configurable property on the object, else from the
associated contacts (all must have granted).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, ClassVar

import httpx

from ingest.config import HubSpotSourceConfig
from ingest.models import Cursor, Page, RecordFailure, SourceRecord, Tombstone
from ingest.sources.common import bounded_map, consent_from, tombstone, weakest
from ingest.sources.http_retry import RetryPolicy
from ingest.sources.vendor_base import VendorSource, html_to_text, parse_time

OBJECT_TYPE_IDS = {"notes": "0-46", "tickets": "0-5", "calls": "0-48"}
PROPERTIES = {
    "notes": ["hs_note_body", "hs_timestamp"],
    "tickets": ["subject", "content", "hs_pipeline_stage"],
    "calls": ["hs_call_title", "hs_call_body", "hs_call_direction"],
}
COMMON = ["hs_lastmodifieddate", "hubspot_owner_id", "hubspot_team_id"]
SEARCH_WINDOW = 10_000


def _contact(contact: dict[str, Any]) -> dict[str, Any]:
    """A HubSpot contact as the contract's Contact: every identifier HubSpot holds for the person."""
    props = contact.get("properties") or {}
    extra = [props.get("mobilephone") or "", *str(props.get("hs_additional_emails") or "").split(";")]
    return {
        "contact_id": str(contact.get("id")),
        "name": " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p),
        "email": props.get("email") or "",
        "phone": props.get("phone") or "",
        "identifiers": [v.strip() for v in extra if v.strip()],
    }


def to_record_fields(
    obj: dict[str, Any],
    *,
    object_type: str,
    portal_id: str,
    contacts: list[dict[str, Any]],
    company_id: str | None,
    consent_field: str,
) -> dict[str, Any]:
    """Pure mapping of one HubSpot object (+ its associated contacts) to our record contract."""
    props = obj.get("properties") or {}
    if object_type == "tickets":
        title, body = props.get("subject") or "", props.get("content") or ""
    elif object_type == "calls":
        title, body = (
            f"Call: {props.get('hs_call_title') or ''}".strip(),
            html_to_text(props.get("hs_call_body")),
        )
    else:
        title, body = "", html_to_text(props.get("hs_note_body"))
    people = [_contact(c) for c in contacts]
    updated = parse_time(props.get("hs_lastmodifieddate") or obj.get("updatedAt"))
    return {
        "record_id": str(obj.get("id")),
        "record_type": "ticket" if object_type == "tickets" else "note",
        "url": f"https://app.hubspot.com/contacts/{portal_id}/record/{OBJECT_TYPE_IDS[object_type]}/{obj.get('id')}",
        "version": props.get("hs_lastmodifieddate") or obj.get("updatedAt"),
        "updated_at": updated.isoformat() if updated else None,
        "title": title,
        "body": body,
        "account_id": f"hubspot-company-{company_id}" if company_id else "",
        "owner_id": props.get("hubspot_owner_id"),
        "team_ids": [props["hubspot_team_id"]] if props.get("hubspot_team_id") else [],
        "contacts": people,
        "_consent_value": props.get(consent_field),
    }


class HubSpotSource(VendorSource):
    kind: ClassVar[str] = "hubspot"
    system = "hubspot"

    def __init__(
        self,
        config: HubSpotSourceConfig,
        client: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._hs = config
        super().__init__(config, client, policy)

    # ------------------------------------------------------------------ fetching

    def _associated(self, object_id: str, to: str) -> list[str]:
        body = self.call(
            "GET",
            f"/crm/v4/objects/{self._hs.object_type}/{object_id}/associations/{to}",
            what=f"associations to {to}",
        )
        return [str(r["toObjectId"]) for r in body.get("results", []) if "toObjectId" in r]

    def _contacts(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        props = ["firstname", "lastname", "email", "phone", "mobilephone", "hs_additional_emails"]
        props.append(self._hs.consent.field)
        body = self.call(
            "POST",
            "/crm/v3/objects/contacts/batch/read",
            what="contacts batch read",
            body={"properties": props, "inputs": [{"id": i} for i in sorted(set(ids))]},
        )
        return {str(c["id"]): c for c in body.get("results", [])}

    def _enrich(self, objs: list[dict[str, Any]]) -> list[SourceRecord | RecordFailure]:
        links = bounded_map(
            lambda o: (
                self._associated(str(o["id"]), "contacts"),
                self._associated(str(o["id"]), "companies"),
            ),
            objs,
            self._hs.concurrency,
        )
        contacts = self._contacts([c for ids, _ in links for c in ids])
        out: list[SourceRecord | RecordFailure] = []
        for i, (obj, (contact_ids, company_ids)) in enumerate(zip(objs, links, strict=True)):
            people = [contacts[c] for c in contact_ids if c in contacts]
            fields = to_record_fields(
                obj,
                object_type=self._hs.object_type,
                portal_id=self._hs.portal_id,
                contacts=people,
                company_id=company_ids[0] if company_ids else None,
                consent_field=self._hs.consent.field,
            )
            own = consent_from(fields.pop("_consent_value"), self._hs.consent)
            fields["consent"] = own or weakest(
                [
                    consent_from((c.get("properties") or {}).get(self._hs.consent.field), self._hs.consent)
                    for c in people
                ],
                self._hs.consent.tag,
            )
            out.append(self.validate(fields, f"search result {i} id {obj.get('id')}"))
        return out

    def _search(self, since_ms: int, after: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(since_ms)}
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": PROPERTIES[self._hs.object_type] + COMMON + [self._hs.consent.field],
            "limit": self._hs.page_size,
        }
        if after:
            body["after"] = after
        result: dict[str, Any] = self.call(
            "POST", f"/crm/v3/objects/{self._hs.object_type}/search", what="search", body=body
        )
        return result

    def _archived_since(self, since: datetime) -> list[Tombstone]:
        out: list[Tombstone] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"archived": "true", "limit": 100}
            if after:
                params["after"] = after
            body = self.call("GET", f"/crm/v3/objects/{self._hs.object_type}", params=params, what="archived")
            for obj in body.get("results", []):
                when = parse_time(obj.get("archivedAt"))
                if when is not None and when > since:
                    out.append(tombstone(self.tenant_id, self.name, str(obj["id"]), when))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    # ------------------------------------------------------------------ Source protocol

    def pages(self, *, cursor: Cursor | None) -> Iterator[Page]:
        start = parse_time(cursor.watermark if cursor and cursor.watermark else self._hs.start_from)
        assert start is not None
        mark = (start, cursor.last_id if cursor and cursor.last_id else "")
        since_ms = int(start.timestamp() * 1000)
        after: str | None = None
        offset = 0
        current = cursor or Cursor(watermark=start.isoformat())
        while True:
            body = self._search(since_ms, after)
            objs = []
            for obj in body.get("results", []):
                ts = parse_time(
                    (obj.get("properties") or {}).get("hs_lastmodifieddate") or obj.get("updatedAt")
                )
                if ts is not None and (ts, str(obj["id"])) > (mark[0], mark[1]):
                    objs.append(obj)
            items = self._enrich(objs)
            records = tuple(r for r in items if isinstance(r, SourceRecord))
            if records:
                last = max(records, key=lambda r: (r.updated_at, r.record_id))
                current = Cursor(watermark=last.updated_at.isoformat(), last_id=last.record_id)
            yield Page(
                records=records,
                failures=tuple(r for r in items if isinstance(r, RecordFailure)),
                next_cursor=current,
            )
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            offset += len(body.get("results", []))
            if not after:
                break
            if offset + self._hs.page_size > SEARCH_WINDOW:  # a search never pages past 10k: restart
                last_ts = parse_time(current.watermark) or start
                since_ms, after, offset = int(last_ts.timestamp() * 1000), None, 0
                mark = (last_ts, current.last_id or "")
        gone = self._archived_since(start)
        if gone:
            yield Page(records=(), deletions=tuple(gone), next_cursor=current)

    def get(self, record_id: str) -> SourceRecord | None:
        try:
            obj = self.call(
                "GET",
                f"/crm/v3/objects/{self._hs.object_type}/{record_id}",
                what="get",
                params={
                    "properties": ",".join(
                        PROPERTIES[self._hs.object_type] + COMMON + [self._hs.consent.field]
                    )
                },
            )
        except Exception as exc:
            if "HTTP 404" in str(exc):
                return None
            raise
        item = self._enrich([obj])[0]
        return item if isinstance(item, SourceRecord) else None

    def live_ids(self) -> Iterator[str]:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after"] = after
            body = self.call("GET", f"/crm/v3/objects/{self._hs.object_type}", params=params, what="list")
            yield from (str(o["id"]) for o in body.get("results", []))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
