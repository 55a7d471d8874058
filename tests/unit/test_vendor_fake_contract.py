"""Contract test of the vendor fakes: every answer a fake gives is checked against the fields,
types and limits the vendor documents. The checks are written here from the published documents
named in each one (no vendor spec file is copied into the repository)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.fakes.vendors import Fake, FakeGong, FakeHubSpot, FakeSalesforce, FakeZendesk

Check = Callable[[httpx.Request, httpx.Response], None]


def is_iso(value: Any) -> bool:
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00").replace(".000+0000", "+00:00"))
    except ValueError:
        return False
    return True


def client(fake: Fake, base: str) -> httpx.Client:
    return httpx.Client(base_url=base, transport=httpx.MockTransport(fake))


# ------------------------------------------------------------------------------------------- HubSpot
# HubSpot/HubSpot-public-api-spec-collection, CRM objects v3 (notes, contacts): search answers
# CollectionResponseWithTotalSimplePublicObjectForwardPaging {total: int, results:
# [SimplePublicObject {id: str, properties: {str: str|null}, createdAt, updatedAt: date-time,
# archived: bool}], paging?: {next: {after: str}}}; batch read answers BatchResponseSimplePublicObject
# {status: PENDING|PROCESSING|CANCELED|COMPLETE, results, startedAt, completedAt}.
# Associations v4: batch/read answers BatchResponsePublicAssociationMultiWithLabel {results:
# [{from: {id}, to: [{toObjectId, associationTypes: [{category, typeId: int}]}], paging?}]},
# 207 adds errors and numErrors.
BATCH_STATUS = {"PENDING", "PROCESSING", "CANCELED", "COMPLETE"}
CATEGORIES = {"HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED"}


def check_simple_object(obj: dict[str, Any]) -> None:
    assert isinstance(obj["id"], str)
    assert all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in obj["properties"].items())
    assert is_iso(obj["createdAt"]) and is_iso(obj["updatedAt"])
    assert isinstance(obj["archived"], bool)


def check_hubspot(request: httpx.Request, response: httpx.Response) -> None:
    body = response.json()
    if response.status_code >= 400:  # Error {category, correlationId, message}
        assert {"category", "correlationId", "message"} <= body.keys()
        return
    path = request.url.path
    if path.endswith("/search"):
        assert isinstance(body["total"], int)
        for obj in body["results"]:
            check_simple_object(obj)
        if "paging" in body:
            assert isinstance(body["paging"]["next"]["after"], str)
    elif "/crm/v4/associations/" in path:
        assert body["status"] in BATCH_STATUS and is_iso(body["startedAt"]) and is_iso(body["completedAt"])
        for result in body["results"]:
            assert isinstance(result["from"]["id"], str)
            for to in result["to"]:
                assert isinstance(to["toObjectId"], str)
                assert all(
                    t["category"] in CATEGORIES and isinstance(t["typeId"], int)
                    for t in to["associationTypes"]
                )
        assert (response.status_code == 207) == ("errors" in body)
        if "errors" in body:
            assert body["numErrors"] == len(body["errors"])
    elif path.endswith("/batch/read"):
        assert body["status"] in BATCH_STATUS
        assert all(isinstance(c["id"], str) and isinstance(c["properties"], dict) for c in body["results"])
        if path.startswith("/crm/v3/objects/notes/"):  # 207 lists the ids it could not read
            assert (response.status_code == 207) == ("errors" in body)
            for obj in body["results"]:
                check_simple_object(obj)


def hubspot_search(http: httpx.Client, **kw: Any) -> httpx.Response:
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"}]}
        ],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["hs_note_body"],
        "limit": 2,
        **kw,
    }
    return http.post("/crm/v3/objects/notes/search", json=body)


def test_hubspot_fake_answers_as_documented() -> None:
    fake = FakeHubSpot()
    for i in range(5):
        fake.add(str(1000 + i), minute=i, body="b", contact="501" if i % 2 else None)
    http = client(fake, "https://api.hubapi.com")
    first = hubspot_search(http)
    hubspot_search(http, after=first.json()["paging"]["next"]["after"])
    http.post(
        "/crm/v4/associations/notes/contacts/batch/read", json={"inputs": [{"id": i} for i in fake.notes]}
    )
    http.post("/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": "501"}], "properties": []})
    fake.archived["1004"] = "2026-10-01T09:30:00Z"
    read = {"inputs": [{"id": "1000"}, {"id": "1004"}, {"id": "9"}], "properties": ["hs_note_body"]}
    partial = http.post("/crm/v3/objects/notes/batch/read", json=read)
    assert partial.status_code == 207 and [o["id"] for o in partial.json()["results"]] == ["1000"]
    assert partial.json()["errors"][0]["context"]["ids"] == ["1004", "9"]
    # limits, CRM search guide: limit <= 200, 10,000 results per search; batch read 100 inputs;
    # associations batch read 1,000 inputs (developer changelog, February 2025)
    assert hubspot_search(http, limit=201).status_code == 400
    assert hubspot_search(http, limit=200, after="9900").status_code == 400
    assert (
        http.post("/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": "1"}] * 101}).status_code
        == 400
    )
    assoc = http.post("/crm/v4/associations/notes/contacts/batch/read", json={"inputs": [{"id": "1"}] * 1001})
    assert assoc.status_code == 400
    for request, response in zip(fake.requests, responses(fake), strict=True):
        check_hubspot(request, response)


# ------------------------------------------------------------------------------------------- Zendesk
# Zendesk Support API, "Incremental Exports" reference and guide: the cursor-based ticket export
# answers {tickets: [...], after_cursor: opaque str, after_url: str, before_cursor, end_of_stream:
# bool}, per_page at most 1,000; only admins may use it (403 otherwise); 10 requests a minute,
# then 429 with Retry-After. Ticket comments reference: {comments: [{id, type, author_id, body,
# plain_body, public: bool, created_at}], next_page, previous_page, count}. Tickets reference,
# Show Multiple Tickets: GET /api/v2/tickets/show_many?ids=1,2 (up to 100) -> {tickets: [...]};
# Users reference, Show Many Users -> {users: [...]}; Show Ticket -> {ticket: {...}} or 404.


def check_zendesk(request: httpx.Request, response: httpx.Response) -> None:
    body = response.json()
    if response.status_code == 429:
        assert response.headers["Retry-After"].isdigit()
        return
    if response.status_code >= 400:
        assert "error" in body
        return
    if request.url.path.endswith("cursor.json"):
        assert isinstance(body["tickets"], list) and isinstance(body["end_of_stream"], bool)
        base64.b64decode(body["after_cursor"], validate=True)  # opaque, base64
        assert body["after_cursor"] in body["after_url"]
        for t in body["tickets"]:
            assert isinstance(t["id"], int) and is_iso(t["updated_at"]) and isinstance(t["status"], str)
    elif request.url.path.endswith("show_many.json"):
        kind = request.url.path.split("/")[-2]
        assert isinstance(body[kind], list) and all(isinstance(x["id"], int) for x in body[kind])
        asked = {int(i) for i in request.url.params["ids"].split(",")}
        assert {x["id"] for x in body[kind]} <= asked
    elif re.fullmatch(r"/api/v2/tickets/\d+\.json", request.url.path):
        assert isinstance(body["ticket"]["id"], int) and is_iso(body["ticket"]["updated_at"])
    else:
        assert {"comments", "next_page", "previous_page", "count"} <= body.keys()
        for c in body["comments"]:
            assert (
                isinstance(c["public"], bool) and isinstance(c["author_id"], int) and is_iso(c["created_at"])
            )


def test_zendesk_fake_answers_as_documented() -> None:
    fake = FakeZendesk()
    for i in range(1, 4):
        fake.add(i, minute=i, subject="s", consent="granted")
    admin = {"Authorization": "Basic " + base64.b64encode(b"admin@acme.example/token:k").decode()}
    agent = {"Authorization": "Basic " + base64.b64encode(b"agent@acme.example/token:k").decode()}
    http = client(fake, "https://acme.zendesk.com")
    url = "/api/v2/incremental/tickets/cursor.json"
    page = http.get(url, params={"start_time": 0, "per_page": 2}, headers=admin).json()
    http.get(url, params={"cursor": page["after_cursor"], "per_page": 2}, headers=admin)
    http.get("/api/v2/tickets/1/comments.json", headers=admin)
    shown = http.get("/api/v2/tickets/show_many.json", params={"ids": "1,3,99"}, headers=agent).json()
    assert [t["id"] for t in shown["tickets"]] == [1, 3]
    http.get("/api/v2/users/show_many.json", params={"ids": "9001,9003"}, headers=agent)
    http.get("/api/v2/tickets/2.json", headers=agent)
    assert http.get("/api/v2/tickets/99.json", headers=agent).status_code == 404
    many = ",".join(str(i) for i in range(101))
    assert http.get("/api/v2/tickets/show_many.json", params={"ids": many}, headers=agent).status_code == 400
    assert http.get(url, params={"start_time": 0}, headers=agent).status_code == 403
    assert http.get(url, params={"start_time": 0, "per_page": 1001}, headers=admin).status_code == 400
    codes = [http.get(url, params={"start_time": 0}, headers=admin).status_code for _ in range(8)]
    assert codes[-1] == 429  # the 11th export request within a minute
    for request, response in zip(fake.requests, responses(fake), strict=True):
        check_zendesk(request, response)


# ---------------------------------------------------------------------------------------- Salesforce
# Salesforce REST API Developer Guide, "Query" and "QueryAll" resources: {totalSize: int, done:
# bool, nextRecordsUrl (when not done), records: [{attributes: {type, url?}, ...fields}]}; errors
# are a list of {message, errorCode}. Object Reference: ContentNote has LastModifiedDate, no
# SystemModstamp (400 INVALID_FIELD). Help article 000386264: URI + headers <= 16,384 bytes.


def check_salesforce(request: httpx.Request, response: httpx.Response) -> None:
    if response.status_code in (414, 431) or request.url.path.endswith("/Content"):
        return
    body = response.json()
    if response.status_code >= 400:
        assert all({"message", "errorCode"} <= e.keys() for e in body)
        return
    assert isinstance(body["totalSize"], int) and isinstance(body["done"], bool)
    assert ("nextRecordsUrl" in body) == (not body["done"])
    assert all(isinstance(r["attributes"]["type"], str) for r in body["records"])


def test_salesforce_fake_answers_as_documented() -> None:
    fake = FakeSalesforce()
    for n in range(1, 4):
        fake.add(n, minute=n, subject="s", contact="0035g000001AAAAAA1")
    fake.add_content_note(1, 1, "t", "<p>x</p>", "0035g000001AAAAAA1")
    http = client(fake, "https://acme.my.salesforce.com")
    q = "/services/data/v60.0/queryAll"
    first = http.get(q, params={"q": "SELECT Id, SystemModstamp FROM Case WHERE IsDeleted = false"}).json()
    http.get(first["nextRecordsUrl"])
    http.get(q, params={"q": "SELECT Id, Name FROM Contact WHERE Id IN ('0035g000001AAAAAA1')"})
    bad = http.get(q, params={"q": "SELECT Id, SystemModstamp FROM ContentNote"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    ids = ", ".join(f"'0035g0000{i:09d}'" for i in range(600))
    soql = f"SELECT Id FROM Contact WHERE Id IN ({ids})"  # noqa: S608 - fixed test ids
    assert http.get(q, params={"q": soql}).status_code == 414
    for request, response in zip(fake.requests, responses(fake), strict=True):
        check_salesforce(request, response)


# ------------------------------------------------------------------------------------------------ Gong
# Gong API V2 OpenAPI document (e.g. cedricziel/gong-rs spec/openapi.json): list answers carry
# records {totalRecords, currentPageSize, currentPageNumber: int, cursor?: str}; Party has only
# the properties below; context [{system, objects: [{objectType, objectId, timing, fields: [{name,
# value}]}]}], fields only with contentSelector.context "Extended"; an empty filter answers 404
# {errors: ["No calls found corresponding to the provided filters"]}.
PARTY = {
    "id",
    "emailAddress",
    "name",
    "title",
    "userId",
    "speakerId",
    "context",
    "affiliation",
    "phoneNumber",
    "methods",
}


def check_gong(request: httpx.Request, response: httpx.Response) -> None:
    body = response.json()
    if response.status_code == 404:
        assert isinstance(body["errors"], list) and all(isinstance(e, str) for e in body["errors"])
        return
    records = body["records"]
    assert all(isinstance(records[k], int) for k in ("totalRecords", "currentPageSize", "currentPageNumber"))
    assert isinstance(records.get("cursor", ""), str)
    extended = (
        request.method == "POST"
        and (json.loads(request.content).get("contentSelector") or {}).get("context") == "Extended"
    )
    for call in body.get("calls", []):
        meta = call.get("metaData", call)
        assert isinstance(meta["id"], str) and is_iso(meta["started"])
        for party in call.get("parties", []):
            assert party.keys() <= PARTY
            for ctx in party.get("context", []):
                for obj in ctx["objects"]:
                    assert ("fields" in obj) == extended
                    assert all(f.keys() == {"name", "value"} for f in obj.get("fields", []))


def test_gong_fake_answers_as_documented() -> None:
    fake = FakeGong()
    for i in range(1, 4):
        fake.add(f"77000{i}", minute=i, customer_consent="granted")
    http = client(fake, "https://api.gong.io")
    for context in ("Extended", "Basic"):
        selector = {"context": context, "exposedFields": {"parties": True}}
        first = http.post("/v2/calls/extensive", json={"filter": {}, "contentSelector": selector}).json()
        cursor = first["records"]["cursor"]
        http.post("/v2/calls/extensive", json={"filter": {}, "contentSelector": selector, "cursor": cursor})
    http.post("/v2/calls/transcript", json={"filter": {"callIds": ["770001"]}})
    http.get("/v2/calls")
    empty = http.post("/v2/calls/extensive", json={"filter": {"fromDateTime": "2030-01-01T00:00:00Z"}})
    assert empty.status_code == 404
    assert empty.json()["errors"] == ["No calls found corresponding to the provided filters"]
    for request, response in zip(fake.requests, responses(fake), strict=True):
        check_gong(request, response)


# ------------------------------------------------------------------------------------------- helpers


def responses(fake: Fake) -> list[httpx.Response]:
    """The answers the fake gave, in the order of its requests (recorded by the fixture below)."""
    answers: list[httpx.Response] = fake.__dict__.get("answers", [])
    return answers


@pytest.fixture(autouse=True)
def _record_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep each fake's answers next to its requests, so that every answer is checked."""
    original = Fake.__call__

    def call(self: Fake, request: httpx.Request) -> httpx.Response:
        response = original(self, request)
        self.__dict__.setdefault("answers", []).append(response)
        return response

    monkeypatch.setattr(Fake, "__call__", call)
