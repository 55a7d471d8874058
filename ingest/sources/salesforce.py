"""Salesforce: Cases (+ CaseComments), Notes and call Tasks via REST SOQL.

Incremental by SystemModstamp (ORDER BY SystemModstamp, Id; ties resolved against the cursor),
`queryAll` so deleted rows (IsDeleted = true) become tombstones, `nextRecordsUrl` paging.
Consent comes from a field on the linked Contact (consent.field, e.g. AI_Assistant_Consent__c).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx

from ingest.config import SalesforceSourceConfig
from ingest.errors import SourceError
from ingest.models import Cursor, Page, RecordFailure, SourceRecord, Tombstone
from ingest.sources.common import bounded_map, consent_from, tombstone
from ingest.sources.http_retry import RetryPolicy
from ingest.sources.vendor_base import VendorSource, html_to_text, parse_time

SOQL = {
    "cases": (
        "Case",
        "Id, CaseNumber, Subject, Description, OwnerId, AccountId, ContactId, SystemModstamp, IsDeleted",
        "",
    ),
    "notes": ("Note", "Id, Title, Body, ParentId, OwnerId, SystemModstamp, IsDeleted", ""),
    # Lightning notes: the body is a separate blob (/sobjects/ContentNote/{Id}/Content), links via
    # ContentDocumentLink (a ContentNote id is its ContentDocument id)
    "content_notes": ("ContentNote", "Id, Title, TextPreview, OwnerId, SystemModstamp, IsDeleted", ""),
    "calls": (
        "Task",
        "Id, Subject, Description, OwnerId, WhoId, WhatId, CallType, SystemModstamp, IsDeleted",
        "TaskSubtype = 'Call' AND ",
    ),
}
_ID = re.compile(r"^[A-Za-z0-9]{15,18}$")


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
    updated = parse_time(row.get("SystemModstamp"))
    return {
        "record_id": str(row.get("Id")),
        "record_type": "ticket" if object_type == "cases" else "note",
        "url": f"{instance_url.rstrip('/')}/lightning/r/{sobject}/{row.get('Id')}/view",
        "version": row.get("SystemModstamp"),
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


class SalesforceSource(VendorSource):
    kind: ClassVar[str] = "salesforce"
    system = "salesforce"

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

    def _query(self, soql: str, *, all_rows: bool) -> Iterator[list[dict[str, Any]]]:
        endpoint = "queryAll" if all_rows else "query"
        body = self.call(
            "GET", f"/services/data/{self._sf.api_version}/{endpoint}", params={"q": soql}, what=f"{endpoint}"
        )
        while True:
            yield body.get("records", [])
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return
            body = self.call("GET", body["nextRecordsUrl"], what="next records")

    @staticmethod
    def _in(ids: list[str]) -> str:
        safe = [i for i in ids if _ID.match(i)]
        if len(safe) != len(ids):
            raise SourceError("unexpected id format from Salesforce")
        return ", ".join(f"'{i}'" for i in safe)

    def _contacts(self, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        ids = sorted({c for c in (contact_of(r) for r in rows) if c})
        if not ids:
            return {}
        fields = f"Id, Name, Email, Phone, MobilePhone, {self._sf.consent.field}"
        soql = f"SELECT {fields} FROM Contact WHERE Id IN ({self._in(ids)})"
        return {c["Id"]: c for batch in self._query(soql, all_rows=False) for c in batch}

    def _comments(self, rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        if self._sf.object_type != "cases" or not rows:
            return {}
        soql = (
            "SELECT ParentId, CommentBody, IsPublished, CreatedDate FROM CaseComment "
            f"WHERE ParentId IN ({self._in([r['Id'] for r in rows])}) ORDER BY CreatedDate"
        )
        out: dict[str, list[dict[str, Any]]] = {}
        for batch in self._query(soql, all_rows=False):
            for c in batch:
                out.setdefault(c["ParentId"], []).append(c)
        return out

    def _content_notes(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Fetch each note's body blob and its first linked Contact / Account (as ParentId)."""
        if self._sf.object_type != "content_notes" or not rows:
            return rows
        soql = (
            "SELECT ContentDocumentId, LinkedEntityId FROM ContentDocumentLink "
            f"WHERE ContentDocumentId IN ({self._in([r['Id'] for r in rows])})"
        )
        links: dict[str, list[str]] = {}
        for batch in self._query(soql, all_rows=False):
            for link in batch:
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

    def _map(self, rows: list[dict[str, Any]]) -> list[SourceRecord | RecordFailure]:
        rows = self._content_notes(rows)
        contacts = self._contacts(rows)
        comments = self._comments(rows)
        out: list[SourceRecord | RecordFailure] = []
        for row in rows:
            contact = contacts.get(contact_of(row) or "")
            fields = to_record_fields(
                row,
                object_type=self._sf.object_type,
                instance_url=self.base_url(),
                contact=contact,
                comments=comments.get(row["Id"], []),
            )
            fields["consent"] = consent_from((contact or {}).get(self._sf.consent.field), self._sf.consent)
            out.append(self.validate(fields, f"{SOQL[self._sf.object_type][0]} {row.get('Id')}"))
        return out

    def _select(self, where: str) -> str:
        sobject, fields, extra = SOQL[self._sf.object_type]
        return f"SELECT {fields} FROM {sobject} WHERE {extra}{where}"

    def pages(self, *, cursor: Cursor | None) -> Iterator[Page]:
        start = cursor.watermark if cursor and cursor.watermark else self._sf.start_from
        mark = (parse_time(start), cursor.last_id if cursor and cursor.last_id else "")
        soql = self._select(f"SystemModstamp >= {soql_time(start)} ORDER BY SystemModstamp, Id")
        current = cursor or Cursor()
        for batch in self._query(soql, all_rows=True):
            rows = [r for r in batch if (parse_time(r.get("SystemModstamp")), r.get("Id")) > mark]  # type: ignore[operator]
            gone: list[Tombstone] = []
            alive = []
            for r in rows:
                when = parse_time(r.get("SystemModstamp"))
                if r.get("IsDeleted") and when is not None:
                    gone.append(tombstone(self.tenant_id, self.name, str(r["Id"]), when))
                else:
                    alive.append(r)
            items = self._map(alive)
            if rows:
                last = rows[-1]
                current = Cursor(
                    watermark=str(parse_time(last["SystemModstamp"]).isoformat()),  # type: ignore[union-attr]
                    last_id=str(last["Id"]),
                )
            yield Page(
                records=tuple(i for i in items if isinstance(i, SourceRecord)),
                deletions=tuple(gone),
                failures=tuple(i for i in items if isinstance(i, RecordFailure)),
                next_cursor=current,
            )

    def get(self, record_id: str) -> SourceRecord | None:
        rows = [
            r
            for batch in self._query(self._select(f"Id IN ({self._in([record_id])})"), all_rows=False)
            for r in batch
        ]
        if not rows:
            return None
        item = self._map(rows)[0]
        return item if isinstance(item, SourceRecord) else None

    def live_ids(self) -> Iterator[str]:
        sobject, _, extra = SOQL[self._sf.object_type]
        where = f" WHERE {extra.removesuffix(' AND ')}" if extra else ""
        for batch in self._query(f"SELECT Id FROM {sobject}{where}", all_rows=False):
            yield from (str(r["Id"]) for r in batch)
