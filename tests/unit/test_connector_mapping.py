"""The vendor mappings are pure functions of raw JSON: tested as tables, no I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from ingest.config import (
    ConsentMapping,
    GongSourceConfig,
    HubSpotSourceConfig,
    SalesforceSourceConfig,
    ZendeskSourceConfig,
)
from ingest.models import RecordFailure, SourceRecord
from ingest.sources import gong, hubspot, salesforce, zendesk
from ingest.sources.common import consent_from, weakest
from ingest.sources.vendor_base import html_to_text
from ingest.stages.contract import validate_record
from policies.models import ConsentStatus
from rag_service.config import load_settings


def check(fields: dict[str, Any]) -> SourceRecord:
    record = validate_record(
        {**fields, "consent": {"assistant_use": "granted"}},
        tenant_id="t",
        source="s",
        system="x",
        locator="l",
    )
    assert isinstance(record, SourceRecord), record
    return record


@pytest.mark.parametrize(
    ("object_type", "props", "title", "body", "kind"),
    [
        (
            "notes",
            {"hs_note_body": "<p>Line one</p><p>Line <b>two</b></p>"},
            "",
            "Line one\n\nLine two",  # paragraphs stay paragraphs
            "note",
        ),
        (
            "tickets",
            {"subject": "Login fails", "content": "Since Monday"},
            "Login fails",
            "Since Monday",
            "ticket",
        ),
        (
            "calls",
            {"hs_call_title": "QBR", "hs_call_body": "<div>Discussed renewal</div>"},
            "Call: QBR",
            "Discussed renewal",
            "note",
        ),
    ],
)
def test_hubspot_mapping(object_type: str, props: dict[str, str], title: str, body: str, kind: str) -> None:
    obj = {
        "id": "42",
        "properties": {**props, "hs_lastmodifieddate": "2026-10-01T09:00:00Z", "hubspot_owner_id": "7"},
    }
    fields = hubspot.to_record_fields(
        obj,
        object_type=object_type,
        portal_id="99",
        contacts=[
            {"id": "5", "properties": {"firstname": "Ana", "lastname": "Li", "email": "ana@x.example"}}
        ],
        company_id=None,
    )
    record = check(fields)
    assert (record.title, record.body, record.record_type) == (title, body, kind)
    assert record.contacts[0].name == "Ana Li"
    assert record.url.endswith(f"/record/{hubspot.OBJECT_TYPE_IDS[object_type]}/42")


@pytest.mark.parametrize(
    ("object_type", "row", "title"),
    [
        (
            "cases",
            {
                "CaseNumber": "0001",
                "Subject": "Broken",
                "Description": "d",
                "ContactId": "003AAAAAAAAAAAAAAA",
            },
            "Case 0001: Broken",
        ),
        ("notes", {"Title": "Met CFO", "Body": "Budget ok", "ParentId": "001AAAAAAAAAAAAAAA"}, "Met CFO"),
        (
            "calls",
            {"Subject": "Intro call", "Description": "Talked", "WhoId": "003AAAAAAAAAAAAAAA"},
            "Call: Intro call",
        ),
    ],
)
def test_salesforce_mapping(object_type: str, row: dict[str, str], title: str) -> None:
    raw = {
        "Id": "500AAAAAAAAAAAAAAA",
        "OwnerId": "005AAAAAAAAAAAAAAA",
        "SystemModstamp": "2026-10-01T09:00:00.000+0000",
        **row,
    }
    contact = {"Id": "003AAAAAAAAAAAAAAA", "Name": "Bo", "Email": "bo@x.example"}
    fields = salesforce.to_record_fields(
        raw,
        object_type=object_type,
        instance_url="https://i.example",
        contact=contact if salesforce.contact_of(raw) else None,
        comments=[],
    )
    record = check(fields)
    assert record.title == title
    assert (
        record.url
        == f"https://i.example/lightning/r/{salesforce.SOQL[object_type][0]}/500AAAAAAAAAAAAAAA/view"
    )
    assert record.account_id == ("sf-account-001AAAAAAAAAAAAAAA" if object_type == "notes" else "")


def test_zendesk_mapping_labels_customer_and_internal_comments() -> None:
    ticket = {
        "id": 7,
        "subject": "Refund",
        "requester_id": 1,
        "assignee_id": 2,
        "group_id": 3,
        "updated_at": "2026-10-01T09:00:00Z",
        "description": "d",
    }
    comments = [
        {"author_id": 1, "plain_body": "Please refund", "public": True},
        {"author_id": 2, "plain_body": "Checking with billing", "public": False},
    ]
    record = check(
        zendesk.to_record_fields(ticket, comments, {"1": {"name": "Cy", "email": "cy@x.example"}}, "acme")
    )
    assert record.body == "[customer] Please refund\n[agent, internal] Checking with billing"
    assert record.acl.owner_id == "2"
    assert record.acl.team_ids == ("zendesk-group-3",)


def test_gong_turns_merge_consecutive_monologues() -> None:
    parties = {
        "a": {"name": "Rep", "affiliation": "Internal"},
        "b": {"name": "Buyer", "affiliation": "External"},
    }
    transcript = [
        {"speakerId": "a", "sentences": [{"start": 0, "text": "Hello."}]},
        {"speakerId": "b", "sentences": [{"start": 10, "text": "Hi."}]},
        {"speakerId": "b", "sentences": [{"start": 20, "text": "Pricing?"}]},
    ]
    turns = gong.turns_from(transcript, parties)
    assert [(t["role"], t["text"]) for t in turns] == [("rep", "Hello."), ("customer", "Hi. Pricing?")]


def test_consent_mapping_fails_closed() -> None:
    m = ConsentMapping()
    assert consent_from("Granted", m) == {"assistant_use": ConsentStatus.GRANTED}
    assert consent_from("opt_out", m) == {"assistant_use": ConsentStatus.REVOKED}
    assert consent_from("maybe", m) == {}
    assert consent_from(None, m) == {}
    g, r = {"assistant_use": ConsentStatus.GRANTED}, {"assistant_use": ConsentStatus.REVOKED}
    assert weakest([g, g], "assistant_use") == g
    assert weakest([g, r], "assistant_use") == r
    assert weakest([g, {}], "assistant_use") == {}
    assert weakest([], "assistant_use") == {}


def test_html_to_text_keeps_sections_paragraphs_and_lines() -> None:
    assert html_to_text("<p>a&amp;b</p><ul><li>x</li><li>y</li></ul>") == "a&b\n\nx\ny"
    rich = (
        "<h2>Setup</h2><p>Plug it in.<br>Then   wait.</p><h2>Reset</h2><div>Hold the button</div><h3> </h3>"
    )
    assert html_to_text(rich) == "## Setup\n\nPlug it in.\nThen wait.\n\n## Reset\n\nHold the button"
    assert html_to_text("plain") == "plain" and html_to_text(None) == ""


def test_many_sources_per_tenant_each_with_a_schedule(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("""
sources:
  - {kind: hubspot, name: acme-hs-notes, tenant_id: acme, object_type: notes, portal_id: "1", token: t1,
     interval_seconds: 60}
  - {kind: hubspot, name: acme-hs-tickets, tenant_id: acme, object_type: tickets, portal_id: "1", token: t1,
     interval_seconds: 120}
  - {kind: zendesk, name: acme-zd, tenant_id: acme, subdomain: acme, token: "me@acme.example/token:k",
     consent: {field: "360001"}}
  - {kind: salesforce, name: acme-sf-cases, tenant_id: acme, object_type: cases, base_url: "https://acme.my.salesforce.com",
     token: t3, consent: {field: AI_Assistant_Consent__c}}
  - {kind: gong, name: acme-gong, tenant_id: acme, token: "key:secret", interval_seconds: 900}
""")
    settings = load_settings(cfg)
    assert [s.kind for s in settings.sources] == ["hubspot", "hubspot", "zendesk", "salesforce", "gong"]
    assert [s.interval_seconds for s in settings.sources] == [60, 120, 300, 300, 900]
    assert "t1" not in repr(settings)


def _party(*values: object) -> dict[str, object]:
    fields = [{"name": "AI_Assistant_Consent__c", "value": v} for v in values]
    return {
        "id": "2",
        "affiliation": "External",
        "context": [
            {
                "system": "Salesforce",
                "objects": [{"objectType": "Contact", "objectId": "003", "fields": fields}],
            }
        ],
    }


@pytest.mark.parametrize(
    ("party", "expected"),
    [
        (_party("Granted"), {"assistant_use": ConsentStatus.GRANTED}),
        (_party("Granted", "opt_out"), {"assistant_use": ConsentStatus.REVOKED}),  # two CRM records
        (_party(None), {}),
        (_party(), {}),  # linked, but the field is not there: fail closed
        ({"id": "2", "affiliation": "External"}, {}),  # no Extended context at all
        ({"id": "2", "ai_assistant_consent": "granted"}, {}),  # not a Party attribute
    ],
)
def test_gong_consent_comes_from_the_party_crm_context(
    party: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert gong.party_consent(party, ConsentMapping(field="AI_Assistant_Consent__c")) == expected


@pytest.mark.parametrize(
    ("status", "body", "empty"),
    [
        (404, {"requestId": "r", "errors": ["No calls found corresponding to the provided filters"]}, True),
        (404, {"requestId": "r", "errors": ["Not found"]}, False),
        (400, {"errors": ["No calls found corresponding to the provided filters"]}, False),
        (404, ["unexpected"], False),
    ],
)
def test_gong_empty_answer(status: int, body: Any, empty: bool) -> None:
    assert gong.no_calls_found(httpx.Response(status, json=body)) is empty


# ------------------------------------------------------------- to_record: fetched item -> record, pure

GRANTED = {"assistant_use": ConsentStatus.GRANTED}
REVOKED = {"assistant_use": ConsentStatus.REVOKED}


def _hs_contact(cid: str, consent: str | None) -> dict[str, Any]:
    return {"id": cid, "properties": {"firstname": f"P{cid}", "ai_assistant_consent": consent}}


@pytest.mark.parametrize(
    ("own", "contacts", "expected"),
    [
        ("granted", [], GRANTED),  # the object's own property decides
        ("revoked", [("1", "granted")], REVOKED),
        (None, [("1", "granted"), ("2", "granted")], GRANTED),  # else every contact must grant
        (None, [("1", "granted"), ("2", "opt_out")], REVOKED),
        (None, [("1", "granted"), ("2", None)], {}),
        (None, [], {}),  # nothing known: no consent (fail closed)
    ],
)
def test_hubspot_to_record_consent_is_typed_not_a_magic_key(
    own: str | None, contacts: list[tuple[str, str | None]], expected: dict[str, ConsentStatus]
) -> None:
    config = HubSpotSourceConfig(
        name="hs", tenant_id="acme", token=SecretStr("x"), object_type="notes", portal_id="99"
    )
    item = hubspot.HubSpotObject(
        obj={
            "id": "42",
            "properties": {
                "hs_note_body": "<p>Renewal</p>",
                "hs_lastmodifieddate": "2026-10-01T09:00:00Z",
                "hubspot_owner_id": "7",
                "ai_assistant_consent": own,
            },
        },
        contacts=tuple(_hs_contact(c, v) for c, v in contacts),
        company_id="8800",
    )
    assert hubspot.consent_of(item, config.consent) == expected
    record = hubspot.to_record(item, config, index=3)
    assert isinstance(record, SourceRecord)
    assert dict(record.consent) == expected
    assert (record.source, record.system, record.account_id) == ("hs", "hubspot", "hubspot-company-8800")
    assert not hasattr(record, "_consent_value")


def test_zendesk_to_record_takes_the_fetched_comments_and_users() -> None:
    config = ZendeskSourceConfig(
        name="zd",
        tenant_id="acme",
        token=SecretStr("a@b/token:k"),
        subdomain="acme",
        consent=ConsentMapping(field="360001"),
    )
    ticket = {
        "id": 7,
        "subject": "Refund",
        "requester_id": 1,
        "updated_at": "2026-10-01T09:00:00Z",
        "custom_fields": [{"id": 360001, "value": "granted"}],
    }
    item = zendesk.ZendeskTicket(
        ticket, ({"author_id": 1, "plain_body": "Please refund"},), {"1": {"name": "Cy"}}
    )
    record = zendesk.to_record(item, config)
    assert isinstance(record, SourceRecord)
    assert (record.body, record.contacts[0].name, dict(record.consent)) == (
        "[customer] Please refund",
        "Cy",
        GRANTED,
    )
    broken = zendesk.to_record(zendesk.ZendeskTicket({"id": 8, "subject": "x"}), config)
    assert isinstance(broken, RecordFailure)  # no updated_at: a failure value, never an exception
    assert broken.locator == "ticket 8"


def test_salesforce_to_record_takes_the_fetched_contact_and_comments() -> None:
    config = SalesforceSourceConfig(
        name="sf",
        tenant_id="acme",
        token=SecretStr("x"),
        object_type="cases",
        base_url="https://i.example",
        consent=ConsentMapping(field="AI_Assistant_Consent__c"),
    )
    row = {
        "Id": "500AAAAAAAAAAAAAAA",
        "CaseNumber": "1",
        "Subject": "Broken",
        "Description": "Scanner crashes",
        "OwnerId": "005AAAAAAAAAAAAAAA",
        "ContactId": "003AAAAAAAAAAAAAAA",
        "SystemModstamp": "2026-10-01T09:00:00.000+0000",
    }
    contact = {"Id": "003AAAAAAAAAAAAAAA", "Name": "Bo", "AI_Assistant_Consent__c": "Granted"}
    comment = {"CommentBody": "Workaround confirmed", "IsPublished": True}
    record = salesforce.to_record(salesforce.SalesforceRow(row, contact, (comment,)), config)
    assert isinstance(record, SourceRecord)
    assert record.body == "Scanner crashes\n[public comment] Workaround confirmed"
    assert dict(record.consent) == GRANTED
    alone = salesforce.to_record(salesforce.SalesforceRow(row), config)
    assert isinstance(alone, SourceRecord) and dict(alone.consent) == {}  # no Contact: fail closed


def test_gong_to_record_takes_the_fetched_transcript() -> None:
    config = GongSourceConfig(
        name="gong",
        tenant_id="acme",
        token=SecretStr("k:s"),
        consent=ConsentMapping(field="AI_Assistant_Consent__c"),
    )
    call = {
        "metaData": {
            "id": "770001",
            "started": "2026-10-01T09:00:00Z",
            "url": "https://app.gong.io/c",
            "primaryUserId": "9",
        },
        "parties": [
            {"speakerId": "a", "affiliation": "Internal", "name": "Rep"},
            {"speakerId": "b", "affiliation": "External", "name": "Buyer", **_party("Granted")},
        ],
    }
    transcript = ({"speakerId": "b", "sentences": [{"start": 0, "text": "Pricing?"}]},)
    record = gong.to_record(gong.GongCall(call, transcript), config)
    assert isinstance(record, SourceRecord)
    assert [t.text for t in record.turns] == ["Pricing?"]
    assert dict(record.consent) == GRANTED
