"""HubSpot CRM v3: notes, tickets and call engagements.

Incremental by hs_lastmodifieddate with the search API. A search pages with `after` at most
10,000 results deep (400 beyond), and `limit` is at most 200. So a run reads forward with
`hs_lastmodifieddate GT T` sorted by that timestamp; before the window runs out it drains the
last timestamp reached with `hs_lastmodifieddate EQ T AND hs_object_id GT id` sorted by
hs_object_id (re-queried by id, never by `after`, so any number of records sharing one
millisecond is read exactly once), then goes on after T. The search index lags writes, so each
run starts `lookback_seconds` behind its cursor (re-reads are skipped by their fingerprint).

Associations to contacts and companies come from the v4 batch association read (up to 1,000
objects a call, following each object's `paging.next.after`), contacts from the batch read (up
to 100 a call). Deletions come from the archived list. Consent comes from a configurable
property on the object, else from the associated contacts (all must have granted).

429s: HubSpot names its policy in the body (`policyName`): TEN_SECONDLY_ROLLING and SECONDLY
are waited out; DAILY fails the run at once (it resets at midnight in the portal's time zone).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx

from ingest.config import ConsentMapping, HubSpotSourceConfig
from ingest.models import Cursor, Page, RecordFailure, SourceRecord, Tombstone
from ingest.sources.common import consent_from, tombstone, weakest
from ingest.sources.http_retry import RetryPolicy, Throttle, retry_after_seconds
from ingest.sources.vendor_base import VendorSource, checked, found, html_to_text, parse_time
from policies.models import ConsentStatus

OBJECT_TYPE_IDS = {"notes": "0-46", "tickets": "0-5", "calls": "0-48"}
PROPERTIES = {
    "notes": ["hs_note_body", "hs_timestamp"],
    "tickets": ["subject", "content", "hs_pipeline_stage"],
    "calls": ["hs_call_title", "hs_call_body", "hs_call_direction"],
}
COMMON = ["hs_lastmodifieddate", "hubspot_owner_id", "hubspot_team_id"]
SEARCH_WINDOW = 10_000  # results one search can page through
BATCH_READ_MAX = 100  # inputs of an object batch read
ASSOCIATION_BATCH_MAX = 1_000  # inputs of a v4 association batch read
RATE_POLICIES = ("TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY")
SYSTEM = "hubspot"


@dataclass(frozen=True, slots=True)
class HubSpotObject:
    """One HubSpot object with what the enrich step fetched for it: its associated contacts (with
    their consent property) and its first associated company."""

    obj: dict[str, Any]
    contacts: tuple[dict[str, Any], ...] = ()
    company_id: str | None = None


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
) -> dict[str, Any]:
    """Pure mapping of one HubSpot object (+ its associated contacts) to our record contract
    (consent: see `consent_of`)."""
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
    }


def consent_of(item: HubSpotObject, mapping: ConsentMapping) -> dict[str, ConsentStatus]:
    """The object's own consent property when it has one, else its associated contacts' (every
    one of them must have granted); none: no consent (fail closed)."""
    own = consent_from((item.obj.get("properties") or {}).get(mapping.field), mapping)
    if own:
        return own
    people = [consent_from((c.get("properties") or {}).get(mapping.field), mapping) for c in item.contacts]
    return weakest(people, mapping.tag)


def to_record(
    item: HubSpotObject, config: HubSpotSourceConfig, *, index: int = 0
) -> SourceRecord | RecordFailure:
    """Pure: one fetched HubSpot object -> a record of the contract, or a failure saying why not.
    `index` is its place in the search answer (the failure's locator)."""
    fields = to_record_fields(
        item.obj,
        object_type=config.object_type,
        portal_id=config.portal_id,
        contacts=list(item.contacts),
        company_id=item.company_id,
    )
    fields["consent"] = consent_of(item, config.consent)
    return checked(fields, config, system=SYSTEM, locator=f"search result {index} id {item.obj.get('id')}")


class HubSpotSource(VendorSource):
    kind: ClassVar[str] = "hubspot"
    system = SYSTEM

    def __init__(
        self,
        config: HubSpotSourceConfig,
        client: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._hs = config
        super().__init__(config, client, policy)

    # ------------------------------------------------------------------ limits

    def throttle(self, resp: httpx.Response) -> Throttle | None:
        if resp.status_code != 429:
            return None
        try:
            policy = str(resp.json().get("policyName") or "")
        except (ValueError, AttributeError):
            policy = ""
        policy = policy if policy in RATE_POLICIES else ""
        reason = f"HubSpot {policy}" if policy else ""
        if policy == "DAILY":
            return Throttle(retry=False, reason=reason)
        wait = retry_after_seconds(resp.headers.get("Retry-After"))
        if wait is None and policy == "TEN_SECONDLY_ROLLING":
            interval = resp.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
            wait = int(interval) / 1000 if interval.isdigit() else 10.0
        elif wait is None and policy == "SECONDLY":
            wait = 1.0
        return Throttle(wait=wait, reason=reason)

    # ------------------------------------------------------------------ fetching

    def _associations(self, ids: list[str], to: str) -> dict[str, list[str]]:
        """Associated `to` ids of each object, from the v4 batch read (all pages of each)."""
        out: dict[str, list[str]] = {i: [] for i in ids}
        pending: list[dict[str, str]] = [{"id": i} for i in dict.fromkeys(ids)]
        while pending:
            chunk, pending = pending[:ASSOCIATION_BATCH_MAX], pending[ASSOCIATION_BATCH_MAX:]
            body = self.call(
                "POST",
                f"/crm/v4/associations/{self._hs.object_type}/{to}/batch/read",
                what=f"associations to {to}",
                body={"inputs": chunk},
            )  # 207 lists objects without associations under `errors`: none to read
            for result in body.get("results", []):
                source = str((result.get("from") or {}).get("id"))
                out.setdefault(source, []).extend(
                    str(t["toObjectId"]) for t in result.get("to", []) if "toObjectId" in t
                )
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after:
                    pending.append({"id": source, "after": str(after)})
        return out

    def _contacts(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        props = ["firstname", "lastname", "email", "phone", "mobilephone", "hs_additional_emails"]
        props.append(self._hs.consent.field)
        unique = sorted(set(ids))
        out: dict[str, dict[str, Any]] = {}
        for k in range(0, len(unique), BATCH_READ_MAX):
            body = self.call(
                "POST",
                "/crm/v3/objects/contacts/batch/read",
                what="contacts batch read",
                body={"properties": props, "inputs": [{"id": i} for i in unique[k : k + BATCH_READ_MAX]]},
            )
            out.update({str(c["id"]): c for c in body.get("results", [])})
        return out

    def _enrich(self, objs: list[dict[str, Any]]) -> list[HubSpotObject]:
        """Every network call a page needs: associations, then the associated contacts."""
        if not objs:
            return []
        ids = [str(o["id"]) for o in objs]
        to_contacts = self._associations(ids, "contacts")
        to_companies = self._associations(ids, "companies")
        contacts = self._contacts([c for i in ids for c in to_contacts.get(i, [])])
        out: list[HubSpotObject] = []
        for obj in objs:
            company_ids = to_companies.get(str(obj["id"]), [])
            people = tuple(contacts[c] for c in to_contacts.get(str(obj["id"]), []) if c in contacts)
            out.append(HubSpotObject(obj, people, company_ids[0] if company_ids else None))
        return out

    def _records(self, objs: list[dict[str, Any]]) -> list[SourceRecord | RecordFailure]:
        return [to_record(item, self._hs, index=i) for i, item in enumerate(self._enrich(objs))]

    def _search(self, filters: list[tuple[str, str, str]], sort: str, after: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": p, "operator": op, "value": v} for p, op, v in filters]}
            ],
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
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
        """Cursor (T, id): every record modified before T is done, and those modified at T up to
        hs_object_id id ("": none at T known done)."""
        limit = self._hs.page_size
        if cursor and cursor.watermark:
            at, last_id = parse_time(cursor.watermark), cursor.last_id or ""
            if self._hs.lookback_seconds and at is not None:
                at, last_id = at - timedelta(seconds=self._hs.lookback_seconds), ""
        else:
            at, last_id = parse_time(self._hs.start_from), ""
        assert at is not None
        start = at
        current = cursor or Cursor(watermark=at.isoformat())

        def position(c: Cursor) -> tuple[datetime, int]:
            when = parse_time(c.watermark)
            assert when is not None
            lid = c.last_id or ""
            return when, int(lid) if lid.isdigit() else 0

        def page(objs: list[dict[str, Any]], reached: Cursor) -> Page:
            nonlocal current
            if position(reached) > position(current):  # never behind the stored cursor
                current = reached
            items = self._records(objs)
            return Page(
                records=tuple(r for r in items if isinstance(r, SourceRecord)),
                failures=tuple(r for r in items if isinstance(r, RecordFailure)),
                next_cursor=current,
            )

        seen_at: set[str] = set()  # ids already read at timestamp `at` by the forward search
        while True:
            ms = str(int(at.timestamp() * 1000))
            while True:  # the records sharing timestamp `at`, by hs_object_id
                filters = [("hs_lastmodifieddate", "EQ", ms)]
                if last_id:
                    filters.append(("hs_object_id", "GT", last_id))
                body = self._search(filters, "hs_object_id", None)
                results = body.get("results", [])
                if results:
                    last_id = str(results[-1]["id"])
                    fresh = [o for o in results if str(o["id"]) not in seen_at]
                    yield page(fresh, Cursor(watermark=at.isoformat(), last_id=last_id))
                if len(results) < limit or not ((body.get("paging") or {}).get("next") or {}).get("after"):
                    break
            after: str | None = None
            offset = 0
            reached = at
            while True:  # forward from `at`, within one search's 10,000-result window
                body = self._search([("hs_lastmodifieddate", "GT", ms)], "hs_lastmodifieddate", after)
                results = body.get("results", [])
                offset += len(results)
                stamps = [
                    parse_time((o.get("properties") or {}).get("hs_lastmodifieddate") or o.get("updatedAt"))
                    for o in results
                ]
                if results:
                    top = max([reached, *(t for t in stamps if t is not None)])
                    if top > reached:
                        reached, seen_at = top, set()
                    seen_at |= {str(o["id"]) for o, t in zip(results, stamps, strict=True) if t == reached}
                    yield page(results, Cursor(watermark=reached.isoformat(), last_id=""))
                after = ((body.get("paging") or {}).get("next") or {}).get("after")
                if not after or offset + limit > SEARCH_WINDOW:
                    break
            if not after:
                break
            at, last_id = reached, ""  # drain the ties at `reached`, then go on after it
        gone = self._archived_since(start)
        if gone:
            yield Page(records=(), deletions=tuple(gone), next_cursor=current)

    def get_many(self, record_ids: Sequence[str]) -> dict[str, SourceRecord]:
        """Objects batch read (100 ids a call; unknown or archived ids are listed under `errors`
        with a 207); HubSpot object ids are numeric, anything else cannot exist."""
        ids = [i for i in dict.fromkeys(record_ids) if i.isdigit()]
        props = PROPERTIES[self._hs.object_type] + COMMON + [self._hs.consent.field]
        objs: list[dict[str, Any]] = []
        for k in range(0, len(ids), BATCH_READ_MAX):
            body = self.call(
                "POST",
                f"/crm/v3/objects/{self._hs.object_type}/batch/read",
                what="batch read",
                body={"properties": props, "inputs": [{"id": i} for i in ids[k : k + BATCH_READ_MAX]]},
            )
            objs.extend(body.get("results", []))
        return found(self._records(objs))

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
