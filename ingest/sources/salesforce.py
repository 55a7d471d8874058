"""Salesforce: Cases (+ CaseComments), Notes, ContentNotes and call Tasks via REST SOQL.

Incremental by SystemModstamp (ContentNote documents no SystemModstamp: LastModifiedDate there),
ORDER BY that stamp and Id, ties resolved against the cursor; `queryAll` so deleted rows
(IsDeleted = true, while in the recycle bin) become tombstones; `nextRecordsUrl` paging with
`Sforce-Query-Options: batchSize` (200..2,000). Lookups by id (Contacts, CaseComments,
ContentDocumentLinks) are split so that each GET URI stays far below the 16,384-byte limit on URI
plus headers (414/431 beyond it). live_ids uses queryAll with IsDeleted = false, so archived
Tasks and Events, which `query` hides, stay live. A 403 REQUEST_LIMIT_EXCEEDED (the org's
24-hour API quota) fails the run without retrying; with `oauth` an expired session (401) is
refreshed once and the call repeated.
Consent comes from a field on the linked Contact (consent.field, e.g. AI_Assistant_Consent__c).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote_plus

import httpx

from ingest.config import SalesforceSourceConfig
from ingest.errors import SourceAuthError, SourceError
from ingest.models import Cursor, Page, RecordFailure, SourceRecord, Tombstone
from ingest.sources.common import bounded_map, consent_from, tombstone
from ingest.sources.http_retry import RetryPolicy, Throttle, default_throttle, request_json
from ingest.sources.vendor_base import VendorSource, checked, found, html_to_text, parse_time

# object type -> (sObject, fields, extra WHERE, modification stamp)
SOQL = {
    "cases": (
        "Case",
        "Id, CaseNumber, Subject, Description, OwnerId, AccountId, ContactId, SystemModstamp, IsDeleted",
        "",
        "SystemModstamp",
    ),
    "notes": ("Note", "Id, Title, Body, ParentId, OwnerId, SystemModstamp, IsDeleted", "", "SystemModstamp"),
    # Lightning notes: the body is a separate blob (/sobjects/ContentNote/{Id}/Content), links via
    # ContentDocumentLink (a ContentNote id is its ContentDocument id); the ContentNote object
    # reference lists LastModifiedDate, not SystemModstamp
    "content_notes": (
        "ContentNote",
        "Id, Title, TextPreview, OwnerId, LastModifiedDate, IsDeleted",
        "",
        "LastModifiedDate",
    ),
    "calls": (
        "Task",
        "Id, Subject, Description, OwnerId, WhoId, WhatId, CallType, SystemModstamp, IsDeleted",
        "TaskSubtype = 'Call' AND ",
        "SystemModstamp",
    ),
}
_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")
# URI + headers must stay under 16,384 bytes (Salesforce help 000386264); id lookups keep the
# URI under half of that, leaving the rest for headers (an OAuth session id is ~112 bytes)
URI_BUDGET = 8_000
SYSTEM = "salesforce"


@dataclass(frozen=True, slots=True)
class SalesforceRow:
    """One row with what the fetch step read for it: its linked Contact and, for Cases, the case
    comments; a ContentNote's row already carries its body blob (Body) and link (ParentId)."""

    row: dict[str, Any]
    contact: dict[str, Any] | None = None
    comments: tuple[dict[str, Any], ...] = ()


def soql_time(iso: str) -> str:
    ts = parse_time(iso)
    if ts is None:
        raise ValueError("bad timestamp")
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def contact_of(row: dict[str, Any]) -> str | None:
    for key in ("ContactId", "WhoId", "ParentId"):
        value = row.get(key)
        if isinstance(value, str) and value.startswith("003"):  # 003 = Contact key prefix
            return value
    return None


def account_of(row: dict[str, Any]) -> str:
    for key in ("AccountId", "WhatId", "ParentId"):
        value = row.get(key)
        if isinstance(value, str) and value.startswith("001"):  # 001 = Account key prefix
            return f"sf-account-{value}"
    return ""


def to_record_fields(
    row: dict[str, Any],
    *,
    object_type: str,
    instance_url: str,
    contact: dict[str, Any] | None,
    comments: list[dict[str, Any]],
) -> dict[str, Any]:
    """Pure mapping of one Salesforce row (+ linked Contact, case comments) to our record contract."""
    sobject = SOQL[object_type][0]
    if object_type == "cases":
        title = f"Case {row.get('CaseNumber') or ''}: {row.get('Subject') or ''}".strip()
        parts = [str(row.get("Description") or "")]
        parts += [
            f"[{'public' if c.get('IsPublished') else 'internal'} comment] {c.get('CommentBody') or ''}"
            for c in comments
        ]
        body = "\n".join(p for p in parts if p.strip())
    elif object_type in ("notes", "content_notes"):
        title, body = (
            str(row.get("Title") or ""),
            html_to_text(str(row.get("Body") or row.get("TextPreview") or "")),
        )
    else:
        title, body = f"Call: {row.get('Subject') or ''}".strip(), str(row.get("Description") or "")
    stamp = SOQL[object_type][3]
    updated = parse_time(row.get(stamp))
    return {
        "record_id": str(row.get("Id")),
        "record_type": "ticket" if object_type == "cases" else "note",
        "url": f"{instance_url.rstrip('/')}/lightning/r/{sobject}/{row.get('Id')}/view",
        "version": row.get(stamp),
        "updated_at": updated.isoformat() if updated else None,
        "title": title,
        "body": body,
        "account_id": account_of(row),
        "owner_id": row.get("OwnerId"),
        "team_ids": [],
        "contacts": [
            {
                "contact_id": contact["Id"],
                "name": contact.get("Name") or "",
                "email": contact.get("Email") or "",
                "phone": contact.get("Phone") or "",
                "identifiers": [v for k in ("MobilePhone",) if (v := contact.get(k))],
            }
        ]
        if contact
        else [],
    }


def to_record(item: SalesforceRow, config: SalesforceSourceConfig) -> SourceRecord | RecordFailure:
    """Pure: one fetched row -> a record of the contract, or a failure saying why not. Consent
    comes from the linked Contact's field (consent.field); no Contact: no consent."""
    fields = to_record_fields(
        item.row,
        object_type=config.object_type,
        instance_url=config.base_url,
        contact=item.contact,
        comments=list(item.comments),
    )
    fields["consent"] = consent_from((item.contact or {}).get(config.consent.field), config.consent)
    locator = f"{SOQL[config.object_type][0]} {item.row.get('Id')}"
    return checked(fields, config, system=SYSTEM, locator=locator)


class SalesforceSource(VendorSource):
    kind: ClassVar[str] = "salesforce"
    system = SYSTEM

    def __init__(
        self,
        config: SalesforceSourceConfig,
        client: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._sf = config
        if not re.fullmatch(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?", config.consent.field):
            raise ValueError("consent.field must be a Salesforce field API name")
        super().__init__(config, client, policy)
        self._session = config.token.get_secret_value()
        self._session_lock = threading.Lock()

    # ------------------------------------------------------------------ session and limits

    def auth_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._session}",
            "Accept": "application/json",
            "User-Agent": "crm-rag-refresh",
        }

    def throttle(self, resp: httpx.Response) -> Throttle | None:
        """403 REQUEST_LIMIT_EXCEEDED is the org's rolling 24-hour API quota: not retried now."""
        if resp.status_code == 403:
            try:
                codes = {str(e.get("errorCode")) for e in resp.json() if isinstance(e, dict)}
            except (ValueError, TypeError, AttributeError):
                codes = set()
            if "REQUEST_LIMIT_EXCEEDED" in codes:
                return Throttle(retry=False, reason="Salesforce REQUEST_LIMIT_EXCEEDED")
        return default_throttle(resp)

    def _refresh_session(self, stale: str) -> None:
        """A new session from the OAuth token endpoint (refresh-token or client-credentials flow)."""
        oauth = self._sf.oauth
        assert oauth is not None
        with self._session_lock:
            if self._session != stale:  # another thread refreshed already
                return
            form = {"client_id": oauth.client_id, "client_secret": oauth.client_secret.get_secret_value()}
            if oauth.refresh_token is not None:
                form |= {
                    "grant_type": "refresh_token",
                    "refresh_token": oauth.refresh_token.get_secret_value(),
                }
            else:
                form["grant_type"] = "client_credentials"
            body = request_json(
                self._client,
                "POST",
                oauth.token_url or f"{self.base_url().rstrip('/')}/services/oauth2/token",
                form=form,
                policy=self._policy,
                what=f"{self.name}: OAuth token",
                headers={"Accept": "application/json"},
            )
            token = body.get("access_token") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                raise SourceAuthError(f"{self.name}: OAuth token response has no access_token")
            self._session = token

    def call(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        raw: bool = False,
        headers: dict[str, str] | None = None,
        empty: Callable[[httpx.Response], bool] | None = None,
    ) -> Any:
        def once() -> Any:
            return super(SalesforceSource, self).call(
                method, url, what=what, params=params, body=body, raw=raw, headers=headers, empty=empty
            )

        if self._sf.oauth is None:
            return once()
        session = self._session
        if not session:
            self._refresh_session(session)
        try:
            return once()
        except SourceAuthError:  # INVALID_SESSION_ID: the session expired; refresh once
            self._refresh_session(session)
            return once()

    # ------------------------------------------------------------------ queries

    def _query(self, soql: str, *, all_rows: bool) -> Iterator[list[dict[str, Any]]]:
        endpoint = "queryAll" if all_rows else "query"
        options = {"Sforce-Query-Options": f"batchSize={self._sf.page_size}"}
        body = self.call(
            "GET",
            f"/services/data/{self._sf.api_version}/{endpoint}",
            params={"q": soql},
            what=f"{endpoint}",
            headers=options,
        )
        while True:
            yield body.get("records", [])
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return
            body = self.call("GET", body["nextRecordsUrl"], what="next records", headers=options)

    @staticmethod
    def _in(ids: list[str]) -> str:
        safe = [i for i in ids if _ID.match(i)]
        if len(safe) != len(ids):
            raise SourceError("unexpected id format from Salesforce")
        return ", ".join(f"'{i}'" for i in safe)

    def _by_ids(self, soql_for: Callable[[str], str], ids: list[str]) -> Iterator[dict[str, Any]]:
        """Rows of soql_for("'id1', 'id2', ...") over all ids, in as many queries as it takes to
        keep each GET URI within URI_BUDGET bytes."""
        path = f"{self.base_url().rstrip('/')}/services/data/{self._sf.api_version}/query?q="
        fixed = len(path) + len(quote_plus(soql_for("")))
        chunk: list[str] = []
        size = fixed
        for i in ids:
            cost = len(quote_plus(f"'{i}', "))
            if chunk and size + cost > URI_BUDGET:
                yield from (
                    r for batch in self._query(soql_for(self._in(chunk)), all_rows=False) for r in batch
                )
                chunk, size = [], fixed
            chunk.append(i)
            size += cost
        if chunk:
            yield from (r for batch in self._query(soql_for(self._in(chunk)), all_rows=False) for r in batch)

    def _contacts(self, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        ids = sorted({c for c in (contact_of(r) for r in rows) if c})
        fields = f"Id, Name, Email, Phone, MobilePhone, {self._sf.consent.field}"
        return {
            c["Id"]: c for c in self._by_ids(lambda i: f"SELECT {fields} FROM Contact WHERE Id IN ({i})", ids)
        }

    def _comments(self, rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        if self._sf.object_type != "cases" or not rows:
            return {}
        out: dict[str, list[dict[str, Any]]] = {}
        for c in self._by_ids(
            lambda i: (
                "SELECT ParentId, CommentBody, IsPublished, CreatedDate FROM CaseComment "
                f"WHERE ParentId IN ({i}) ORDER BY CreatedDate"
            ),
            [r["Id"] for r in rows],
        ):
            out.setdefault(c["ParentId"], []).append(c)
        return out

    def _content_notes(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Fetch each note's body blob and its first linked Contact / Account (as ParentId)."""
        if self._sf.object_type != "content_notes" or not rows:
            return rows
        links: dict[str, list[str]] = {}
        for link in self._by_ids(
            lambda i: (
                "SELECT ContentDocumentId, LinkedEntityId FROM ContentDocumentLink "
                f"WHERE ContentDocumentId IN ({i})"
            ),
            [r["Id"] for r in rows],
        ):
            links.setdefault(link["ContentDocumentId"], []).append(str(link["LinkedEntityId"]))

        def body(row: dict[str, Any]) -> str:
            text: str = self.call(
                "GET",
                f"/services/data/{self._sf.api_version}/sobjects/ContentNote/{row['Id']}/Content",
                what="note content",
                raw=True,
            )
            return text

        bodies = bounded_map(body, rows, self._sf.concurrency)
        out = []
        for row, text in zip(rows, bodies, strict=True):
            linked = links.get(row["Id"], [])
            parent = next((i for i in linked if i.startswith("003")), None) or next(
                (i for i in linked if i.startswith("001")), None
            )
            out.append({**row, "Body": text, "ParentId": parent})
        return out

    def _enrich(self, rows: list[dict[str, Any]]) -> list[SalesforceRow]:
        """The network part: ContentNote bodies and links, linked Contacts, case comments."""
        rows = self._content_notes(rows)
        contacts = self._contacts(rows)
        comments = self._comments(rows)
        return [
            SalesforceRow(row, contacts.get(contact_of(row) or ""), tuple(comments.get(row["Id"], [])))
            for row in rows
        ]

    def _records(self, rows: list[dict[str, Any]]) -> list[SourceRecord | RecordFailure]:
        return [to_record(item, self._sf) for item in self._enrich(rows)]

    def _select(self, where: str) -> str:
        sobject, fields, extra, _ = SOQL[self._sf.object_type]
        return f"SELECT {fields} FROM {sobject} WHERE {extra}{where}"

    def pages(self, *, cursor: Cursor | None) -> Iterator[Page]:
        stamp = SOQL[self._sf.object_type][3]
        start = cursor.watermark if cursor and cursor.watermark else self._sf.start_from
        mark = (parse_time(start), cursor.last_id if cursor and cursor.last_id else "")
        soql = self._select(f"{stamp} >= {soql_time(start)} ORDER BY {stamp}, Id")
        current = cursor or Cursor()
        for batch in self._query(soql, all_rows=True):
            rows = [r for r in batch if (parse_time(r.get(stamp)), r.get("Id")) > mark]  # type: ignore[operator]
            gone: list[Tombstone] = []
            alive = []
            for r in rows:
                when = parse_time(r.get(stamp))
                if r.get("IsDeleted") and when is not None:
                    gone.append(tombstone(self.tenant_id, self.name, str(r["Id"]), when))
                else:
                    alive.append(r)
            items = self._records(alive)
            if rows:
                last = rows[-1]
                current = Cursor(
                    watermark=str(parse_time(last[stamp]).isoformat()),  # type: ignore[union-attr]
                    last_id=str(last["Id"]),
                )
            yield Page(
                records=tuple(i for i in items if isinstance(i, SourceRecord)),
                deletions=tuple(gone),
                failures=tuple(i for i in items if isinstance(i, RecordFailure)),
                next_cursor=current,
            )

    def get_many(self, record_ids: Sequence[str]) -> dict[str, SourceRecord]:
        """SELECT ... WHERE Id IN (...), split to keep each GET URI within URI_BUDGET; `query`
        leaves deleted rows out (gone). An id that is not a Salesforce id fails the call."""
        rows = list(self._by_ids(lambda i: self._select(f"Id IN ({i})"), list(dict.fromkeys(record_ids))))
        return found(self._records(rows))

    def live_ids(self) -> Iterator[str]:
        """queryAll with IsDeleted = false: `query` hides archived Tasks and Events, which are
        still live records (reconcile would delete them from the index)."""
        sobject, _, extra, _ = SOQL[self._sf.object_type]
        for batch in self._query(f"SELECT Id FROM {sobject} WHERE {extra}IsDeleted = false", all_rows=True):
            yield from (str(r["Id"]) for r in batch)
