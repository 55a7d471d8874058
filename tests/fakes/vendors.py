"""In-memory fakes of the vendor APIs, answering with the request/response shapes the vendors
document (HubSpot CRM v3/v4, Zendesk incremental export, Salesforce REST query, Gong v2).
Each fake serves its data set, pages it, and answers queued faults (429, 5xx) first."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx


def iso(minute: int) -> str:
    return datetime(2026, 10, 1, 9, minute, tzinfo=UTC).isoformat().replace("+00:00", "Z")


class Fake:
    def __init__(self) -> None:
        self.faults: list[httpx.Response] = []
        self.requests: list[httpx.Request] = []
        self.now = 0.0  # seconds on the fake's clock: moves only when the client sleeps

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.faults:
            return self.faults.pop(0)
        return self.handle(request)

    def handle(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


# ------------------------------------------------------------------------------------------- HubSpot


HUBSPOT_SEARCH_LIMIT_MAX = 200  # CRM search guide: `limit` at most 200 per page
HUBSPOT_SEARCH_WINDOW = 10_000  # CRM search guide: a search pages through 10,000 results at most
HUBSPOT_BATCH_READ_MAX = 100  # CRM objects v3 batch read: 100 inputs
HUBSPOT_ASSOCIATION_BATCH_MAX = 1_000  # changelog "Batch Read Limit for HubSpot Associations API"


def hs_error(status: int, category: str, message: str, **extra: Any) -> httpx.Response:
    body = {"status": "error", "message": message, "correlationId": "aeb5f871-7f07-4993-9211-075dc63e7cbf"}
    return httpx.Response(status, json={**body, "category": category, **extra})


class FakeHubSpot(Fake):
    """POST /crm/v3/objects/notes/search, POST /crm/v4/associations/notes/{to}/batch/read,
    POST /crm/v3/objects/{notes,contacts}/batch/read, GET /crm/v3/objects/notes(?archived=true).

    As HubSpot's public API specs (HubSpot/HubSpot-public-api-spec-collection: CRM objects v3,
    associations v4) and the CRM search guide describe: {"total", "results": [{"id",
    "properties", "createdAt", "updatedAt", "archived"}], "paging": {"next": {"after"}}}; 400
    for a search `limit` over 200, for paging past 10,000 results, and for batch reads over
    100 (objects) or 1,000 (associations) inputs; 207 with `errors` for objects without
    associations and for notes a batch read cannot find (unknown or archived); association
    lists paged per object (`assoc_page`). A note written with
    `searchable=False` is not in the search index yet (the index lags writes)."""

    assoc_page = 500

    def __init__(self) -> None:
        super().__init__()
        self.notes: dict[str, dict[str, Any]] = {}
        self.archived: dict[str, str] = {}
        self.unindexed: set[str] = set()
        self.contacts: dict[str, dict[str, Any]] = {
            "501": {
                "id": "501",
                "properties": {
                    "firstname": "Ingrid",
                    "lastname": "Lindqvist",
                    "email": "ingrid@nordic.example",
                    "ai_assistant_consent": "granted",
                },
            },
            "502": {
                "id": "502",
                "properties": {
                    "firstname": "Tomasz",
                    "lastname": "Kowalski",
                    "email": "tomasz@nordic.example",
                    "ai_assistant_consent": "revoked",
                },
            },
        }
        self.note_contacts: dict[str, list[str]] = {}
        self.note_companies: dict[str, list[str]] = {}

    def add(
        self,
        note_id: str,
        minute: int,
        body: str,
        contact: str | None,
        searchable: bool = True,
        stamp: str | None = None,
    ) -> None:
        when = stamp or iso(minute).replace("Z", ".000Z")
        self.notes[note_id] = {
            "id": note_id,
            "archived": False,
            "createdAt": iso(0),
            "updatedAt": when,
            "properties": {
                "hs_note_body": f"<p>{body}</p>",
                "hs_lastmodifieddate": when,
                "hubspot_owner_id": "77",
                "hubspot_team_id": "9",
                "hs_object_id": note_id,
            },
        }
        self.note_contacts[note_id] = [contact] if contact else []
        self.note_companies[note_id] = ["8800"]
        if searchable:
            self.unindexed.discard(note_id)
        else:
            self.unindexed.add(note_id)

    @staticmethod
    def _ms(note: dict[str, Any]) -> int:
        stamp = note["properties"]["hs_lastmodifieddate"].replace("Z", "+00:00")
        return int(datetime.fromisoformat(stamp).timestamp() * 1000)

    def _matches(self, note: dict[str, Any], flt: dict[str, Any]) -> bool:
        prop, op, value = flt["propertyName"], flt["operator"], int(flt["value"])
        have = self._ms(note) if prop == "hs_lastmodifieddate" else int(note["properties"][prop])
        return {"EQ": have == value, "GT": have > value, "GTE": have >= value, "LT": have < value}[op]

    def _search(self, body: dict[str, Any]) -> httpx.Response:
        limit = int(body.get("limit", 10))
        after = int(body.get("after") or 0)
        if limit > HUBSPOT_SEARCH_LIMIT_MAX:
            return hs_error(400, "VALIDATION_ERROR", "limit must be at most 200")
        if after + limit > HUBSPOT_SEARCH_WINDOW:
            return hs_error(400, "VALIDATION_ERROR", "Paging past 10,000 results is not supported")
        groups = body.get("filterGroups") or [{"filters": []}]
        rows = [
            n
            for i, n in self.notes.items()
            if i not in self.unindexed and any(all(self._matches(n, f) for f in g["filters"]) for g in groups)
        ]
        (sort,) = body.get("sorts") or [{"propertyName": "hs_object_id"}]  # one sort at most
        if sort["propertyName"] == "hs_lastmodifieddate":
            rows.sort(key=self._ms)  # ties in no promised order: here, newest id first
            rows.sort(key=lambda n: (self._ms(n), -int(n["id"])))
        else:
            rows.sort(key=lambda n: int(n["id"]))
        props = set(body.get("properties") or []) | {"hs_object_id", "hs_lastmodifieddate", "hs_createdate"}
        page = [
            {**n, "properties": {k: v for k, v in n["properties"].items() if k in props}}
            for n in rows[after : after + limit]
        ]
        out: dict[str, Any] = {"total": len(rows), "results": page}
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit), "link": "?after=" + str(after + limit)}}
        return httpx.Response(200, json=out)

    def _associations(self, to: str, inputs: list[dict[str, str]]) -> httpx.Response:
        if len(inputs) > HUBSPOT_ASSOCIATION_BATCH_MAX:
            return hs_error(400, "VALIDATION_ERROR", "at most 1000 inputs")
        results, errors = [], []
        for item in inputs:
            linked = (self.note_contacts if to == "contacts" else self.note_companies).get(item["id"], [])
            start = int(item.get("after") or 0)
            if not linked:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": "No associations found",
                        "context": {"fromObjectId": [item["id"]]},
                        "errors": [],
                        "links": {},
                    }
                )
                continue
            result: dict[str, Any] = {
                "from": {"id": item["id"]},
                "to": [
                    {
                        "toObjectId": i,
                        "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 202, "label": None}],
                    }
                    for i in linked[start : start + self.assoc_page]
                ],
            }
            if start + self.assoc_page < len(linked):
                result["paging"] = {"next": {"after": str(start + self.assoc_page), "link": None}}
            results.append(result)
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": "2026-10-01T09:00:00.000Z",
            "completedAt": "2026-10-01T09:00:00.100Z",
        }
        if errors:
            out |= {"errors": errors, "numErrors": len(errors)}
        return httpx.Response(207 if errors else 200, json=out)

    def _batch_read_notes(self, body: dict[str, Any]) -> httpx.Response:
        inputs = body["inputs"]
        if len(inputs) > HUBSPOT_BATCH_READ_MAX:
            return hs_error(400, "VALIDATION_ERROR", "at most 100 inputs")
        props = set(body.get("properties") or []) | {"hs_object_id", "hs_lastmodifieddate", "hs_createdate"}
        ids = [i["id"] for i in inputs]
        live = [i for i in ids if i in self.notes and i not in self.archived]
        missing = [i for i in ids if i not in live]
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": [
                {
                    **self.notes[i],
                    "properties": {k: v for k, v in self.notes[i]["properties"].items() if k in props},
                }
                for i in live
            ],
            "startedAt": "2026-10-01T09:00:00.000Z",
            "completedAt": "2026-10-01T09:00:00.100Z",
        }
        if missing:
            error = {
                "status": "error",
                "category": "OBJECT_NOT_FOUND",
                "message": "Could not get some NOTE objects, they may be deleted or not exist.",
                "context": {"ids": missing},
            }
            out |= {"errors": [error], "numErrors": 1}
        return httpx.Response(207 if missing else 200, json=out)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/crm/v3/objects/notes/search" and request.method == "POST":
            return self._search(json.loads(request.content))
        m = re.fullmatch(r"/crm/v4/associations/notes/(contacts|companies)/batch/read", path)
        if m and request.method == "POST":
            return self._associations(m.group(1), json.loads(request.content)["inputs"])
        if path == "/crm/v3/objects/contacts/batch/read":
            inputs = json.loads(request.content)["inputs"]
            if len(inputs) > HUBSPOT_BATCH_READ_MAX:
                return hs_error(400, "VALIDATION_ERROR", "at most 100 inputs")
            ids = [i["id"] for i in inputs]
            return httpx.Response(
                200,
                json={
                    "status": "COMPLETE",
                    "results": [self.contacts[i] for i in ids if i in self.contacts],
                    "startedAt": "2026-10-01T09:00:00.000Z",
                    "completedAt": "2026-10-01T09:00:00.100Z",
                },
            )
        if path == "/crm/v3/objects/notes/batch/read" and request.method == "POST":
            return self._batch_read_notes(json.loads(request.content))
        if path == "/crm/v3/objects/notes" and request.url.params.get("archived") == "true":
            return httpx.Response(
                200,
                json={
                    "results": [
                        {"id": i, "archived": True, "archivedAt": when, "properties": {}}
                        for i, when in self.archived.items()
                    ]
                },
            )
        if path == "/crm/v3/objects/notes":
            return httpx.Response(200, json={"results": [{"id": i} for i in sorted(self.notes)]})
        return hs_error(404, "OBJECT_NOT_FOUND", "resource not found")


# ------------------------------------------------------------------------------------------- Zendesk


ZENDESK_EXPORT_PER_MINUTE = 10  # incremental exports: 10 requests a minute (Zendesk API reference)


class FakeZendesk(Fake):
    """GET /api/v2/incremental/tickets/cursor.json (start_time | cursor, include=users),
    GET /api/v2/tickets/{id}/comments.json, GET /api/v2/tickets/{id}.json,
    GET /api/v2/{tickets,users}/show_many.json?ids=1,2 (at most 100 ids; unknown or deleted
    tickets are left out, 404 from Show Ticket). `hidden` ids are left out of tickets/show_many
    but answered by Show Ticket (the reading path for tickets show_many may not list).

    As Zendesk's incremental export reference describes: an opaque base64 `after_cursor`,
    `after_url` and `end_of_stream`; per_page at most 1,000; admins only (403 for an agent);
    10 requests a minute (429 with Retry-After, on the fake's clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.admins = {"admin@acme.example"}
        self.export_times: list[float] = []
        self.tickets: list[dict[str, Any]] = []  # change log, in export order
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.hidden: set[int] = set()

    def _current(self) -> dict[int, dict[str, Any]]:
        """Each ticket's latest state (the change log's last entry for it)."""
        return {t["id"]: t for t in self.tickets}

    def _user(self, ticket: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": ticket["requester_id"],
            "name": f"Requester {ticket['id']}",
            "email": f"requester{ticket['id']}@client.example",
        }

    def _show_many(self, kind: str, request: httpx.Request) -> httpx.Response:
        ids = [int(i) for i in request.url.params.get("ids", "").split(",") if i]
        if len(ids) > 100:
            return httpx.Response(400, json={"error": "InvalidValue", "description": "at most 100 ids"})
        live = {i: t for i, t in self._current().items() if t["status"] != "deleted"}
        if kind == "tickets":
            rows = [live[i] for i in ids if i in live and i not in self.hidden]
        else:
            users = {t["requester_id"]: self._user(t) for t in live.values()}
            rows = [users[i] for i in ids if i in users]
        return httpx.Response(
            200, json={kind: rows, "next_page": None, "previous_page": None, "count": len(rows)}
        )

    def add(
        self, ticket_id: int, minute: int, subject: str, consent: str | None, status: str = "open"
    ) -> None:
        self.tickets.append(
            {
                "id": ticket_id,
                "url": f"https://acme.zendesk.com/api/v2/tickets/{ticket_id}.json",
                "subject": subject,
                "description": f"{subject} (description)",
                "status": status,
                "requester_id": 9000 + ticket_id,
                "assignee_id": 42,
                "group_id": 7,
                "organization_id": 3,
                "updated_at": iso(minute),
                "created_at": iso(0),
                "custom_fields": [{"id": 360001, "value": consent}],
                "tags": [],
            }
        )
        self.comments[ticket_id] = [
            {
                "id": 1,
                "type": "Comment",
                "author_id": 9000 + ticket_id,
                "public": True,
                "created_at": iso(minute),
                "body": f"Customer says: {subject}",
                "plain_body": f"Customer says: {subject}",
            },
            {
                "id": 2,
                "type": "Comment",
                "author_id": 42,
                "public": False,
                "created_at": iso(minute),
                "body": "Internal: escalate to tier 2",
                "plain_body": "Internal: escalate to tier 2",
            },
        ]

    def _export(self, request: httpx.Request) -> httpx.Response:
        email = (
            base64.b64decode(request.headers["Authorization"].removeprefix("Basic ")).decode().split("/")[0]
        )
        if email not in self.admins:
            return httpx.Response(
                403,
                json={
                    "error": "Forbidden",
                    "description": "You do not have access to this page. Please contact the account owner "
                    "of this help desk for further help.",
                },
            )
        recent = [t for t in self.export_times if self.now - t < 60]
        if len(recent) >= ZENDESK_EXPORT_PER_MINUTE:
            wait = math.ceil(60 - (self.now - recent[0]))
            return httpx.Response(
                429, headers={"Retry-After": str(wait)}, json={"error": "APIRateLimitExceeded"}
            )
        self.export_times = [*recent, self.now]
        per_page = int(request.url.params.get("per_page", "1000"))
        if per_page > 1000:
            return httpx.Response(400, json={"error": "InvalidPaginationParameter"})
        cursor = request.url.params.get("cursor")
        pos = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
        batch = self.tickets[pos : pos + per_page]
        end = pos + len(batch)
        after = base64.b64encode(f"export:{end}".encode()).decode()
        users = [self._user(t) for t in batch]
        return httpx.Response(
            200,
            json={
                "tickets": batch,
                "users": users,
                "after_cursor": after,
                "after_url": f"https://acme.zendesk.com{request.url.path}?cursor={after}",
                "before_cursor": base64.b64encode(f"export:{pos}".encode()).decode(),
                "before_url": None,
                "end_of_stream": end >= len(self.tickets),
            },
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v2/incremental/tickets/cursor.json":
            return self._export(request)
        m = re.fullmatch(r"/api/v2/(tickets|users)/show_many.json", path)
        if m:
            return self._show_many(m.group(1), request)
        m = re.fullmatch(r"/api/v2/tickets/(\d+).json", path)
        if m:
            ticket = self._current().get(int(m.group(1)))
            if ticket is not None and ticket["status"] != "deleted":
                return httpx.Response(200, json={"ticket": ticket})
        m = re.fullmatch(r"/api/v2/tickets/(\d+)/comments.json", path)
        if m:
            return httpx.Response(
                200,
                json={
                    "comments": self.comments.get(int(m.group(1)), []),
                    "next_page": None,
                    "previous_page": None,
                    "count": 2,
                },
            )
        return httpx.Response(404, json={"error": "RecordNotFound", "description": "Not found"})


# ------------------------------------------------------------------------------------------ Salesforce


# Fields each sObject documents (Salesforce Object Reference: Case, CaseComment, Contact, Note,
# ContentNote, ContentDocumentLink, Task), enough to answer 400 INVALID_FIELD the way the API does
# for a field the object does not have (custom fields end in __c).
SF_FIELDS = {
    "Case": {"Id", "CaseNumber", "Subject", "Description", "OwnerId", "AccountId", "ContactId",
             "SystemModstamp", "LastModifiedDate", "CreatedDate", "IsDeleted", "Status"},
    "CaseComment": {"Id", "ParentId", "CommentBody", "IsPublished", "CreatedDate", "SystemModstamp",
                    "IsDeleted"},
    "Contact": {"Id", "Name", "Email", "Phone", "MobilePhone", "AccountId", "SystemModstamp", "IsDeleted"},
    "Note": {"Id", "Title", "Body", "ParentId", "OwnerId", "IsPrivate", "SystemModstamp", "LastModifiedDate",
             "CreatedDate", "IsDeleted"},
    "ContentNote": {"Id", "Title", "TextPreview", "Content", "ContentModifiedDate", "ContentSize", "OwnerId",
                    "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "FileType",
                    "FileExtension", "IsDeleted", "IsReadOnly", "SharingPrivacy", "LatestContentId"},
    "ContentDocumentLink": {"Id", "ContentDocumentId", "LinkedEntityId", "ShareType", "Visibility",
                            "SystemModstamp", "IsDeleted"},
    "Task": {"Id", "Subject", "Description", "OwnerId", "WhoId", "WhatId", "CallType", "TaskSubtype",
             "SystemModstamp", "LastModifiedDate", "IsDeleted", "IsArchived", "Status"},
}  # fmt: skip
SF_URI_AND_HEADERS_MAX = 16_384  # Salesforce help article 000386264: 414 (URI) / 431 (headers)


def sf_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json=[{"message": message, "errorCode": code}])


class FakeSalesforce(Fake):
    """GET /services/data/v60.0/queryAll?q=SOQL and /query, nextRecordsUrl paging, ContentNote
    content, POST /services/oauth2/token. Answers as the REST API documents: {"totalSize", "done",
    "nextRecordsUrl", "records": [{"attributes": {...}, ...}]}; 400 INVALID_FIELD for fields an
    object does not have; 414/431 past 16,384 bytes of URI and headers; 401 INVALID_SESSION_ID
    for an expired session; `query` hides archived Tasks and deleted rows, `queryAll` does not;
    records the Sforce-Query-Options batch sizes asked for."""

    page = 2  # rows per answer: Salesforce may answer with fewer than the batchSize asked for
    client_id, client_secret, refresh_token = "3MVG9-client", "client-secret-1", "5Aep-refresh"

    def __init__(self) -> None:
        super().__init__()
        self.cases: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.contacts: dict[str, dict[str, Any]] = {
            "0035g000001AAAAAA1": {
                "attributes": {"type": "Contact"},
                "Id": "0035g000001AAAAAA1",
                "Name": "Aisha Rahman",
                "Email": "aisha@client.example",
                "AI_Assistant_Consent__c": "Granted",
            },
            "0035g000001AAAAAA2": {
                "attributes": {"type": "Contact"},
                "Id": "0035g000001AAAAAA2",
                "Name": "Diego Alvarez",
                "Email": "diego@client.example",
                "AI_Assistant_Consent__c": None,
            },
        }
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.soql: list[str] = []
        self.batch_sizes: list[str] = []
        self.content_notes: list[dict[str, Any]] = []
        self.note_bodies: dict[str, str] = {}
        self.note_links: dict[str, str] = {}
        self.sessions: set[str] | None = None  # None: any bearer token is a live session
        self.issued = 0

    def expire_sessions(self) -> None:
        self.sessions = set()

    def add(self, n: int, minute: int, subject: str, contact: str, deleted: bool = False) -> None:
        case_id = f"5005g000001CASE{n:03d}"
        self.cases = [c for c in self.cases if c["Id"] != case_id]
        self.cases.append(
            {
                "attributes": {"type": "Case", "url": f"/services/data/v60.0/sobjects/Case/{case_id}"},
                "Id": case_id,
                "CaseNumber": f"0000{n}",
                "Subject": subject,
                "Description": f"{subject}: details",
                "OwnerId": "0055g000000OWNER1",
                "AccountId": "0015g000000ACCT01",
                "ContactId": contact,
                "SystemModstamp": iso(minute).replace("Z", ".000+0000"),
                "IsDeleted": deleted,
            }
        )

    def add_task(self, n: int, minute: int, subject: str, contact: str, archived: bool = False) -> None:
        task_id = f"00T5g000001TASK{n:03d}"
        self.tasks = [t for t in self.tasks if t["Id"] != task_id]
        self.tasks.append(
            {
                "attributes": {"type": "Task", "url": f"/services/data/v60.0/sobjects/Task/{task_id}"},
                "Id": task_id,
                "Subject": subject,
                "Description": f"{subject}: notes",
                "OwnerId": "0055g000000OWNER1",
                "WhoId": contact,
                "WhatId": "0015g000000ACCT01",
                "CallType": "Outbound",
                "TaskSubtype": "Call",
                "SystemModstamp": iso(minute).replace("Z", ".000+0000"),
                "IsDeleted": False,
                "IsArchived": archived,
            }
        )

    def add_content_note(self, n: int, minute: int, title: str, html: str, linked: str) -> None:
        note_id = f"0695g000001NOTE{n:03d}"
        self.content_notes = [c for c in self.content_notes if c["Id"] != note_id]
        self.content_notes.append(
            {
                "attributes": {"type": "ContentNote"},
                "Id": note_id,
                "Title": title,
                "TextPreview": html[:20],
                "OwnerId": "0055g000000OWNER1",
                "LastModifiedDate": iso(minute).replace("Z", ".000+0000"),
                "IsDeleted": False,
            }
        )
        self.note_bodies[note_id] = html
        self.note_links[note_id] = linked

    def _answer(self, rows: list[dict[str, Any]]) -> httpx.Response:
        head, rest = rows[: self.page], rows[self.page :]
        out: dict[str, Any] = {"totalSize": len(rows), "done": not rest, "records": head}
        if rest:
            token = f"01gQ{len(self.pending):08d}-{self.page}"
            self.pending[token] = rest
            out["nextRecordsUrl"] = f"/services/data/v60.0/query/{token}"
        return httpx.Response(200, json=out)

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        grant = form.get("grant_type")
        ok = form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret
        if grant == "refresh_token":
            ok = ok and form.get("refresh_token") == self.refresh_token
        elif grant != "client_credentials":
            ok = False
        if not ok:
            return httpx.Response(
                400, json={"error": "invalid_grant", "error_description": "authentication failure"}
            )
        self.issued += 1
        session = f"00D5g000000ORG1!session-{self.issued}"
        if self.sessions is not None:
            self.sessions.add(session)
        return httpx.Response(
            200,
            json={
                "access_token": session,
                "instance_url": "https://acme.my.salesforce.com",
                "id": "https://login.salesforce.com/id/00D5g000000ORG1/0055g000000OWNER1",
                "token_type": "Bearer",
                "issued_at": "1790000000000",
                "signature": "c2lnbmF0dXJl",
            },
        )

    @staticmethod
    def _bad_fields(soql: str) -> list[str]:
        m = re.match(r"SELECT (.+?) FROM (\w+)(?: WHERE (.*))?$", soql)
        if not m or m.group(2) not in SF_FIELDS:
            return ["<malformed>"]
        where = re.sub(r"'[^']*'", "", m.group(3) or "")
        named = [f.strip() for f in m.group(1).split(",")]
        named += re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*(?:>=|<=|=|>|<|IN\b)", where)
        named += [f.strip() for f in (where.split("ORDER BY")[1].split(",") if "ORDER BY" in where else [])]
        return [f for f in named if f not in SF_FIELDS[m.group(2)] and not f.endswith("__c")]

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/services/oauth2/token" and request.method == "POST":
            return self._token(request)
        uri = len(str(request.url).encode())
        if uri > SF_URI_AND_HEADERS_MAX:
            return httpx.Response(414, text="URI Too Long")
        if uri + sum(len(k) + len(v) + 4 for k, v in request.headers.items()) > SF_URI_AND_HEADERS_MAX:
            return httpx.Response(431, text="Request Header Fields Too Large")
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.sessions is not None and bearer not in self.sessions:
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if "Sforce-Query-Options" in request.headers:
            self.batch_sizes.append(request.headers["Sforce-Query-Options"])
        m = re.fullmatch(r"/services/data/v60.0/query/(.+)", path)
        if m:
            return self._answer(self.pending.pop(m.group(1)))
        m = re.fullmatch(r"/services/data/v60.0/sobjects/ContentNote/(\w+)/Content", path)
        if m:
            return httpx.Response(
                200, text=self.note_bodies[m.group(1)], headers={"Content-Type": "text/html"}
            )
        if path not in ("/services/data/v60.0/queryAll", "/services/data/v60.0/query"):
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        soql = parse_qs(request.url.query.decode())["q"][0]
        self.soql.append(soql)
        bad = self._bad_fields(soql)
        if bad:
            return sf_error(400, "INVALID_FIELD", f"No such column '{bad[0]}' on entity")
        ids = re.findall(r"'([A-Za-z0-9]{15,18})'", soql)
        if " FROM Contact " in soql:
            return self._answer([self.contacts[i] for i in ids if i in self.contacts])
        if " FROM ContentDocumentLink " in soql:
            return self._answer(
                [
                    {
                        "attributes": {"type": "ContentDocumentLink"},
                        "ContentDocumentId": i,
                        "LinkedEntityId": self.note_links[i],
                    }
                    for i in ids
                    if i in self.note_links
                ]
            )
        if " FROM CaseComment " in soql:
            return self._answer(
                [
                    {
                        "attributes": {"type": "CaseComment"},
                        "ParentId": i,
                        "CommentBody": "Customer confirmed the workaround.",
                        "IsPublished": True,
                        "CreatedDate": iso(1).replace("Z", ".000+0000"),
                    }
                    for i in ids
                ]
            )
        if " FROM ContentNote " in soql:
            table, stamp = self.content_notes, "LastModifiedDate"
        elif " FROM Task " in soql:
            table, stamp = self.tasks, "SystemModstamp"
        else:
            table, stamp = self.cases, "SystemModstamp"
        if path.endswith("queryAll"):
            rows = list(table)
        else:  # `query` hides deleted rows and archived activities
            rows = [c for c in table if not c["IsDeleted"] and not c.get("IsArchived")]
        if "IsDeleted = false" in soql:
            rows = [c for c in rows if not c["IsDeleted"]]
        since = re.search(stamp + r" >= (\S+)", soql)
        if since:
            floor = datetime.fromisoformat(since.group(1).replace("Z", "+00:00"))
            rows = [
                c for c in rows if datetime.fromisoformat(c[stamp].replace(".000+0000", "+00:00")) >= floor
            ]
        if ids:
            rows = [c for c in rows if c["Id"] in ids]
        rows = sorted(rows, key=lambda c: (c[stamp], c["Id"]))
        if soql.startswith("SELECT Id FROM"):
            rows = [{"attributes": c["attributes"], "Id": c["Id"]} for c in rows]
        return self._answer(rows)


# ------------------------------------------------------------------------------------------------ Gong


class FakeGong(Fake):
    """POST /v2/calls/extensive (cursor), POST /v2/calls/transcript, GET /v2/calls.

    As Gong's API V2 OpenAPI document describes (e.g. as vendored in cedricziel/gong-rs
    spec/openapi.json): a `Party` has only id, emailAddress, name, title, userId, speakerId,
    context, affiliation, phoneNumber and methods; CRM data arrives only with
    contentSelector.context "Extended", under parties[].context[].objects[].fields[{name, value}]
    ("Basic" gives the objects without fields); a filter matching no call answers 404 {"errors":
    ["No calls found corresponding to the provided filters"]}; lists carry `records.cursor`.
    A call is listed only once processed (`process`), though filters apply to its start time."""

    page = 2
    consent_field = "AI_Assistant_Consent__c"

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, dict[str, Any]] = {}
        self.transcripts: dict[str, list[dict[str, Any]]] = {}
        self.unprocessed: set[str] = set()

    def add(self, call_id: str, minute: int, customer_consent: str | None, processed: bool = True) -> None:
        if not processed:
            self.unprocessed.add(call_id)
        self.calls[call_id] = {
            "metaData": {
                "id": call_id,
                "url": f"https://app.gong.io/call?id={call_id}",
                "title": f"Discovery {call_id}",
                "scheduled": iso(minute),
                "started": iso(minute),
                "duration": 1800,
                "primaryUserId": "234599484848423",
                "direction": "Conference",
                "scope": "External",
                "media": "Video",
                "language": "eng",
                "workspaceId": "623457276584334",
            },
            "parties": [
                {
                    "id": "1",
                    "speakerId": "6432345678555530067",
                    "name": "Mateo Herrera",
                    "emailAddress": "mateo@seller.example",
                    "affiliation": "Internal",
                    "userId": "234599484848423",
                    "methods": ["Invitee"],
                    "context": [],
                },
                {
                    "id": "2",
                    "speakerId": "6432345678555530068",
                    "name": "Yuki Tanaka",
                    "title": "Head of Operations",
                    "emailAddress": "yuki@buyer.example",
                    "affiliation": "External",
                    "methods": ["Invitee"],
                    "context": [
                        {
                            "system": "Salesforce",
                            "objects": [
                                {
                                    "objectType": "Contact",
                                    "objectId": "0035g000001AAAAAA1",
                                    "timing": "Now",
                                    "fields": [
                                        {"name": "Email", "value": "yuki@buyer.example"},
                                        {"name": self.consent_field, "value": customer_consent},
                                    ],
                                },
                                {
                                    "objectType": "Account",
                                    "objectId": "0015g000000ACCT01",
                                    "timing": "Now",
                                    "fields": [{"name": "Name", "value": "Buyer Ltd"}],
                                },
                            ],
                        }
                    ],
                },
            ],
        }
        self.transcripts[call_id] = [
            {
                "speakerId": "6432345678555530067",
                "topic": "Intro",
                "sentences": [
                    {"start": 0, "end": 4000, "text": "Thanks for joining, Yuki."},
                    {"start": 4000, "end": 9000, "text": "Let's review the fleet telematics pilot."},
                ],
            },
            {
                "speakerId": "6432345678555530068",
                "topic": "Pricing",
                "sentences": [{"start": 9000, "end": 15000, "text": "We need pricing for three depots."}],
            },
            {
                "speakerId": "6432345678555530068",
                "topic": "Pricing",
                "sentences": [{"start": 15000, "end": 19000, "text": "Call me on +44 20 7946 0321."}],
            },
        ]

    def process(self, call_id: str) -> None:
        self.unprocessed.discard(call_id)

    @staticmethod
    def no_calls() -> httpx.Response:
        return httpx.Response(
            404,
            json={
                "requestId": "4al018gzaztcr8nbukw",
                "errors": ["No calls found corresponding to the provided filters"],
            },
        )

    def _page(self, rows: list[Any], cursor: str | None) -> tuple[list[Any], dict[str, Any]]:
        start = int(base64.b64decode(cursor).decode()) if cursor else 0
        head = rows[start : start + self.page]
        records: dict[str, Any] = {
            "totalRecords": len(rows),
            "currentPageSize": len(head),
            "currentPageNumber": start // self.page,
        }
        if start + self.page < len(rows):
            records["cursor"] = base64.b64encode(str(start + self.page).encode()).decode()
        return head, records

    def _listed(self, flt: dict[str, Any]) -> list[dict[str, Any]]:
        rows = sorted(
            (c for i, c in self.calls.items() if i not in self.unprocessed),
            key=lambda c: (c["metaData"]["started"], c["metaData"]["id"]),
        )
        if "callIds" in flt:
            rows = [c for c in rows if c["metaData"]["id"] in flt["callIds"]]
        if flt.get("fromDateTime"):
            floor = datetime.fromisoformat(flt["fromDateTime"].replace("Z", "+00:00"))
            rows = [
                c
                for c in rows
                if datetime.fromisoformat(c["metaData"]["started"].replace("Z", "+00:00")) >= floor
            ]
        return rows

    @staticmethod
    def _with_context(call: dict[str, Any], level: str) -> dict[str, Any]:
        """Parties as /v2/calls/extensive shows them for contentSelector.context = level."""
        parties = []
        for p in call["parties"]:
            party = {k: v for k, v in p.items() if k != "context"}
            if level in ("Basic", "Extended"):
                party["context"] = [
                    {
                        "system": ctx["system"],
                        "objects": [
                            o if level == "Extended" else {k: v for k, v in o.items() if k != "fields"}
                            for o in ctx["objects"]
                        ],
                    }
                    for ctx in p.get("context", [])
                ]
            parties.append(party)
        return {**call, "parties": parties}

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/calls/extensive":
            body = json.loads(request.content)
            selector = body.get("contentSelector") or {}
            rows = self._listed(body["filter"])
            if not rows:
                return self.no_calls()
            head, records = self._page(rows, body.get("cursor"))
            exposed = (selector.get("exposedFields") or {}).get("parties")
            calls = [
                self._with_context(c, selector.get("context", "None"))
                if exposed
                else {"metaData": c["metaData"]}
                for c in head
            ]
            return httpx.Response(
                200, json={"requestId": "4al018gzaztcr8nbukw", "records": records, "calls": calls}
            )
        if path == "/v2/calls/transcript":
            ids = json.loads(request.content)["filter"]["callIds"]
            found = [i for i in ids if i in self.transcripts and i not in self.unprocessed]
            if not found:
                return self.no_calls()
            return httpx.Response(
                200,
                json={
                    "requestId": "x",
                    "records": {
                        "totalRecords": len(found),
                        "currentPageSize": len(found),
                        "currentPageNumber": 0,
                    },
                    "callTranscripts": [{"callId": i, "transcript": self.transcripts[i]} for i in found],
                },
            )
        if path == "/v2/calls":
            rows = self._listed({"fromDateTime": request.url.params.get("fromDateTime")})
            if not rows:
                return self.no_calls()
            head, records = self._page(rows, request.url.params.get("cursor"))
            return httpx.Response(
                200, json={"requestId": "y", "records": records, "calls": [c["metaData"] for c in head]}
            )
        return httpx.Response(404, json={"requestId": "z", "errors": ["Not found"]})


FAKES: dict[str, Callable[[], Fake]] = {
    "hubspot": FakeHubSpot,
    "zendesk": FakeZendesk,
    "salesforce": FakeSalesforce,
    "gong": FakeGong,
}
