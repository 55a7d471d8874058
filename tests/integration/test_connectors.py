"""Vendor connectors against fakes of their HTTP APIs (documented shapes): paging, incremental
cursor, deletions, rate limits, consent mapping, record links, ACL fields; through the real pipeline."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from ingest import payload as P
from ingest.config import (
    ConsentMapping,
    GongSourceConfig,
    HubSpotSourceConfig,
    SalesforceSourceConfig,
    ZendeskSourceConfig,
)
from ingest.jobs.model import JobKind
from ingest.models import RecordRef
from ingest.sources.gong import GongSource
from ingest.sources.http_retry import RetryPolicy
from ingest.sources.hubspot import HubSpotSource
from ingest.sources.salesforce import SalesforceSource
from ingest.sources.zendesk import ZendeskSource
from rag_service.services import Services, build_services
from tests.conftest import make_settings
from tests.fakes.vendors import FakeGong, FakeHubSpot, FakeSalesforce, FakeZendesk, iso

TOKEN = SecretStr("very-secret-token-123")


class Harness:
    def __init__(self, services: Services, fake: Any, sleeps: list[float], name: str) -> None:
        self.services, self.fake, self.sleeps, self.name = services, fake, sleeps, name

    def sync(self) -> Any:
        return self.services.run(self.name, actor="t")

    def payloads(self) -> dict[str, dict[str, Any]]:
        return {p[P.RECORD_ID]: p for p in self.services.index.scroll_payloads(tenant_id="acme")}


@pytest.fixture
def harness(tmp_path: Path, embedder: Any, redactor: Any) -> Iterator[Any]:
    made: list[Services] = []

    def make(config: Any, source_cls: Any, fake: Any, base_url: str) -> Harness:
        settings = make_settings(tmp_path / "var", tmp_path).model_copy(update={"sources": (config,)})
        services = build_services(settings, embedder=embedder, redactor=redactor)
        made.append(services)
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:
            sleeps.append(seconds)
            fake.advance(seconds)  # the vendor's clock moves while we wait

        client = httpx.Client(base_url=base_url, transport=httpx.MockTransport(fake))
        services.sources[config.name] = source_cls(config, client, RetryPolicy(max_attempts=4, sleep=sleep))
        return Harness(services, fake, sleeps, config.name)

    yield make
    for s in made:
        s.close()


def test_hubspot_notes(harness: Any) -> None:
    fake = FakeHubSpot()
    for i in range(5):
        fake.add(str(1000 + i), minute=i + 1, body=f"Renewal note {i}: wants SSO before Q3.", contact="501")
    fake.add("1099", minute=6, body="Note about a contact who revoked consent.", contact="502")
    config = HubSpotSourceConfig(
        name="acme-hubspot-notes",
        tenant_id="acme",
        token=TOKEN,
        object_type="notes",
        portal_id="4455",
        page_size=2,
    )
    h = harness(config, HubSpotSource, fake, "https://api.hubapi.com")
    fake.faults = [
        httpx.Response(
            429, headers={"Retry-After": "2"}, json={"status": "error", "policyName": "TEN_SECONDLY_ROLLING"}
        )
    ]
    first = h.sync()
    assert first.status == "succeeded", first.error
    assert first.counts["pages"] == 3  # 6 results, 2 per page
    assert first.counts["indexed"] == 5
    assert first.counts["excluded"] == 1  # its only contact revoked consent
    assert h.sleeps == [2.0]
    payload = h.payloads()["1003"]
    assert payload[P.RECORD_URL] == "https://app.hubspot.com/contacts/4455/record/0-46/1003"
    assert payload[P.ACL_OWNER] == "77"
    assert payload[P.ACL_TEAMS] == ["9"]
    assert payload[P.ACCOUNT_ID] == "hubspot-company-8800"
    assert "<p>" not in payload[P.TEXT]
    assert "Ingrid" not in str(h.payloads())  # known contact redacted

    # incremental: one edit and one archived note
    fake.add("1002", minute=30, body="Renewal note 2 (edited): SSO signed off.", contact="501")
    fake.archived["1004"] = iso(31)
    second = h.sync()
    # the 5-minute lookback re-reads the notes since minute 1 (skipped by their fingerprint)
    assert second.counts["fetched"] == 7  # six notes and one tombstone
    assert second.counts["embedded"] == 1
    assert second.counts["deleted"] == 1
    assert "1004" not in h.payloads()
    assert "edited" in h.payloads()["1002"][P.TEXT]
    bodies = [r.content for r in fake.requests if r.url.path.endswith("/search")]
    assert b'"hs_lastmodifieddate"' in bodies[-1] and b'"ASCENDING"' in bodies[-1]
    assert all(r.headers["Authorization"] == "Bearer very-secret-token-123" for r in fake.requests)
    assert sorted(h.services.sources[h.name].live_ids()) == sorted(fake.notes)


def hs_config(**kw: Any) -> HubSpotSourceConfig:
    return HubSpotSourceConfig(
        name="acme-hubspot-notes", tenant_id="acme", token=TOKEN, object_type="notes", portal_id="4455", **kw
    )


def test_hubspot_more_than_10k_records_in_one_millisecond(harness: Any) -> None:
    """Issue 17 point 5: a search pages through 10,000 results at most; 10,050 notes modified in
    the same millisecond (a month-end batch update) are each read once, paging on hs_object_id."""
    fake = FakeHubSpot()
    stamp = "2026-10-31T23:59:59.123Z"
    for i in range(10_050):
        fake.add(str(100_000 + i), minute=0, body="Batch update", contact=None, stamp=stamp)
    fake.add("99", minute=1, body="Before", contact=None)
    h = harness(hs_config(page_size=200), HubSpotSource, fake, "https://api.hubapi.com")
    report = h.sync()
    assert report.status == "succeeded", report.error
    assert report.counts["fetched"] == 10_051
    assert report.counts["excluded"] == 10_051  # no contacts: no consent
    searches = [json.loads(r.content) for r in fake.requests if r.url.path.endswith("/search")]
    assert max(int(b.get("after") or 0) + b["limit"] for b in searches) <= 10_000
    with pytest.raises(ValidationError, match="page_size"):
        hs_config(page_size=500)  # the search API's limit is 200


def test_hubspot_batch_reads_stay_within_vendor_limits(harness: Any) -> None:
    """Issue 17 points 5 and 11: contacts batch read takes 100 inputs; associations come from the
    v4 batch read and every page of them is followed (here 250 contacts on one note in pages of
    100, the last one revoked: cut at the first page, the note would be indexed)."""
    fake = FakeHubSpot()
    for i in range(150):
        cid = str(7000 + i)
        fake.contacts[cid] = {
            "id": cid,
            "properties": {"firstname": f"P{i}", "ai_assistant_consent": "granted"},
        }
        fake.add(str(1000 + i), minute=1, body=f"Note {i}", contact=cid)
    fake.assoc_page = 100
    crowd = [str(20_000 + i) for i in range(250)]
    for cid in crowd:
        fake.contacts[cid] = {"id": cid, "properties": {"firstname": "X", "ai_assistant_consent": "granted"}}
    fake.contacts[crowd[-1]]["properties"]["ai_assistant_consent"] = "revoked"
    fake.add("5000", minute=2, body="Webinar follow-up", contact=None)
    fake.note_contacts["5000"] = crowd
    h = harness(hs_config(page_size=200), HubSpotSource, fake, "https://api.hubapi.com")
    report = h.sync()
    assert report.status == "succeeded", report.error
    assert report.counts["indexed"] == 150
    assert report.counts["excluded"] == 1, report.counts  # one of its 250 contacts revoked
    reads = [
        json.loads(r.content) for r in fake.requests if r.url.path == "/crm/v3/objects/contacts/batch/read"
    ]
    assert len(reads) >= 2 and all(len(b["inputs"]) <= 100 for b in reads)
    assert not any("/associations/contacts" in r.url.path and r.method == "GET" for r in fake.requests)


def test_hubspot_lookback_reads_records_the_search_index_had_not_caught_up_with(harness: Any) -> None:
    """Issue 17 point 8: search lags writes; a note written at minute 4 that becomes searchable
    after a run has moved its cursor to minute 5 is read by the next run's lookback."""
    fake = FakeHubSpot()
    fake.add("1001", minute=5, body="Indexed at once", contact="501")
    fake.add("1000", minute=4, body="Indexed late", contact="501", searchable=False)
    h = harness(hs_config(), HubSpotSource, fake, "https://api.hubapi.com")
    assert h.sync().counts["indexed"] == 1
    fake.add("1000", minute=4, body="Indexed late", contact="501")
    report = h.sync()
    assert report.counts["indexed"] == 1
    assert "1000" in h.payloads()


def test_hubspot_daily_limit_is_not_retried(harness: Any) -> None:
    """Issue 17 point 12: HubSpot names its policy in the 429 body; DAILY fails the run at once."""
    fake = FakeHubSpot()
    fake.add("1000", minute=1, body="x", contact="501")
    h = harness(hs_config(), HubSpotSource, fake, "https://api.hubapi.com")
    fake.faults = [
        httpx.Response(
            429,
            json={
                "status": "error",
                "message": "You have reached your daily limit.",
                "errorType": "RATE_LIMIT",
                "policyName": "DAILY",
            },
        )
    ]
    report = h.sync()
    assert report.status == "failed"
    assert "DAILY" in (report.error or "") and "daily limit" not in (report.error or "")
    assert h.sleeps == [] and len(fake.requests) == 1
    fake.faults = [httpx.Response(429, json={"status": "error", "policyName": "TEN_SECONDLY_ROLLING"})]
    assert h.sync().status == "succeeded"
    assert h.sleeps == [10.0]  # no Retry-After: the rolling ten-second window


def test_zendesk_tickets_with_comments_and_deleted(harness: Any) -> None:
    fake = FakeZendesk()
    for i in range(1, 6):
        fake.add(i, minute=i, subject=f"Export to CSV fails ({i})", consent="granted")
    fake.add(6, minute=6, subject="No consent recorded", consent=None)
    config = ZendeskSourceConfig(
        name="acme-zendesk",
        tenant_id="acme",
        token=SecretStr("admin@acme.example/token:abc"),
        subdomain="acme",
        page_size=2,
        consent=ConsentMapping(field="360001"),
    )
    h = harness(config, ZendeskSource, fake, "https://acme.zendesk.com")
    first = h.sync()
    assert first.status == "succeeded", first.error
    assert first.counts["pages"] == 3
    assert first.counts["indexed"] == 5
    assert first.counts["excluded"] == 1  # fail closed: no consent value
    payload = h.payloads()["3"]
    assert payload[P.RECORD_URL] == "https://acme.zendesk.com/agent/tickets/3"
    assert payload[P.RECORD_TYPE] == "ticket"
    assert payload[P.ACL_TEAMS] == ["zendesk-group-7"]
    assert "[customer] Customer says" in payload[P.TEXT]
    assert "[agent, internal]" in payload[P.TEXT]
    assert fake.requests[0].headers["Authorization"].startswith("Basic ")
    # cursor: the next run resumes from after_cursor and sees only the new events
    fake.add(2, minute=40, subject="Export to CSV fails (2) - fixed in 5.1", consent="granted")
    fake.add(5, minute=41, subject="spam", consent="granted", status="deleted")
    fake.faults = [httpx.Response(429, headers={"Retry-After": "60"})]
    second = h.sync()
    assert second.status == "succeeded"
    assert h.sleeps == [60.0]
    assert second.counts["fetched"] == 2  # one record and one tombstone
    assert second.counts["deleted"] == 1
    assert "5" not in h.payloads()
    assert "fixed in 5.1" in h.payloads()["2"][P.TEXT]
    export_calls = [r for r in fake.requests if r.url.path.endswith("cursor.json")]
    assert base64.b64decode(export_calls[-1].url.params["cursor"]) == b"export:6"
    assert "start_time" in export_calls[0].url.params


def zd_config(email: str = "admin@acme.example", **kw: Any) -> ZendeskSourceConfig:
    return ZendeskSourceConfig(
        name="acme-zendesk",
        tenant_id="acme",
        token=SecretStr(f"{email}/token:abc"),
        subdomain="acme",
        consent=ConsentMapping(field="360001"),
        **kw,
    )


def test_zendesk_export_needs_an_admin(harness: Any) -> None:
    """Issue 17 point 6: the incremental export answers 403 to an agent's token."""
    fake = FakeZendesk()
    fake.add(1, minute=1, subject="Export fails", consent="granted")
    h = harness(zd_config("agent@acme.example"), ZendeskSource, fake, "https://acme.zendesk.com")
    report = h.sync()
    assert report.status == "failed"
    assert "HTTP 403" in (report.error or "") and "admin" in (report.error or "")


def test_zendesk_reconcile_is_spaced_out(harness: Any) -> None:
    """Issue 17 point 10: reconcile re-reads the whole export; a Zendesk source reconciles daily
    by default, other sources keep the global interval."""
    h = harness(zd_config(), ZendeskSource, FakeZendesk(), "https://acme.zendesk.com")
    every = {(s.job.kind, s.job.target): s.interval_seconds for s in h.services.jobs.plan()}
    assert every[(JobKind.RECONCILE, "acme-zendesk")] == 86_400
    assert every[(JobKind.SYNC, "acme-zendesk")] == 300
    assert zd_config(reconcile_interval_seconds=7200).reconcile_interval_seconds == 7200
    assert hs_config().reconcile_interval_seconds is None  # the global reconcile interval


def test_zendesk_export_rate_limit_and_long_retry_after(harness: Any) -> None:
    """Issue 17 points 10 and 12: 10 export requests a minute, shared with syncs: live_ids reads
    the export with the largest pages; a Retry-After above the old 60 s cap is waited in full,
    one beyond max_retry_after_seconds fails the run instead of hammering the vendor."""
    fake = FakeZendesk()
    for i in range(1, 13):
        fake.add(i, minute=i, subject=f"Ticket {i}", consent="denied")
    h = harness(zd_config(page_size=1), ZendeskSource, fake, "https://acme.zendesk.com")
    report = h.sync()
    assert report.status == "succeeded", report.error
    assert report.counts["fetched"] == 12
    assert any(s >= 50 for s in h.sleeps)  # the 11th export request in a minute waited
    exports = len([r for r in fake.requests if r.url.path.endswith("cursor.json")])
    assert len(list(h.services.sources[h.name].live_ids())) == 12
    assert len([r for r in fake.requests if r.url.path.endswith("cursor.json")]) - exports == 1
    h.sleeps.clear()
    fake.faults = [httpx.Response(429, headers={"Retry-After": "120"})]
    fake.add(13, minute=13, subject="Ticket 13", consent="denied")
    assert h.sync().status == "succeeded"
    assert h.sleeps[0] == 120.0  # not cut to 60 s
    fake.faults = [httpx.Response(429, headers={"Retry-After": "7200"})]
    late = h.sync()
    assert late.status == "failed"
    assert "Retry-After 7200 s" in (late.error or "")


def test_salesforce_cases_query_all_and_paging(harness: Any) -> None:
    fake = FakeSalesforce()
    for n in range(1, 6):
        fake.add(n, minute=n, subject=f"Scanner firmware {n} crashes", contact="0035g000001AAAAAA1")
    fake.add(6, minute=6, subject="Contact without consent", contact="0035g000001AAAAAA2")
    config = SalesforceSourceConfig(
        name="acme-sf-cases",
        tenant_id="acme",
        token=TOKEN,
        object_type="cases",
        base_url="https://acme.my.salesforce.com",
        consent=ConsentMapping(field="AI_Assistant_Consent__c"),
    )
    h = harness(config, SalesforceSource, fake, "https://acme.my.salesforce.com")
    first = h.sync()
    assert first.status == "succeeded", first.error
    assert first.counts["pages"] == 3  # nextRecordsUrl paging, 2 rows a page
    assert first.counts["indexed"] == 5
    assert first.counts["excluded"] == 1
    payload = h.payloads()["5005g000001CASE003"]
    assert payload[P.RECORD_URL] == "https://acme.my.salesforce.com/lightning/r/Case/5005g000001CASE003/view"
    assert payload[P.ACL_OWNER] == "0055g000000OWNER1"
    assert payload[P.ACCOUNT_ID] == "sf-account-0015g000000ACCT01"
    assert "Customer confirmed the workaround" in payload[P.TEXT]
    assert any("/queryAll" in p for p in fake.paths())
    fake.add(2, minute=50, subject="Scanner firmware 2 fixed", contact="0035g000001AAAAAA1")
    fake.add(4, minute=51, subject="gone", contact="0035g000001AAAAAA1", deleted=True)
    fake.faults = [httpx.Response(503)]
    second = h.sync()
    assert second.status == "succeeded"
    assert len(h.sleeps) == 1
    assert second.counts["fetched"] == 2  # one record and one tombstone
    assert second.counts["deleted"] == 1
    assert "5005g000001CASE004" not in h.payloads()
    assert "SystemModstamp >= 2026-10-01T09:06:00Z" in fake.soql[-3]
    assert "ORDER BY SystemModstamp, Id" in fake.soql[-3]


def test_salesforce_content_notes_fetch_body_and_links(harness: Any) -> None:
    fake = FakeSalesforce()
    fake.add_content_note(
        1, 1, "Met the CFO", "<p>Budget approved for <b>fleet telematics</b>.</p>", "0035g000001AAAAAA1"
    )
    fake.add_content_note(2, 2, "Unlinked note", "<p>No contact linked.</p>", "0015g000000ACCT01")
    config = SalesforceSourceConfig(
        name="acme-sf-notes",
        tenant_id="acme",
        token=TOKEN,
        object_type="content_notes",
        base_url="https://acme.my.salesforce.com",
        consent=ConsentMapping(field="AI_Assistant_Consent__c"),
    )
    h = harness(config, SalesforceSource, fake, "https://acme.my.salesforce.com")
    report = h.sync()
    assert report.status == "succeeded", report.error
    assert report.counts["indexed"] == 1
    assert report.counts["excluded"] == 1  # linked only to an account: no contact consent, fail closed
    # issue 17 point 4: ContentNote has LastModifiedDate, no SystemModstamp (400 INVALID_FIELD)
    assert any("FROM ContentNote WHERE LastModifiedDate >= " in q for q in fake.soql)
    payload = h.payloads()["0695g000001NOTE001"]
    assert "Budget approved for fleet telematics." in payload[P.TEXT]
    assert payload[P.RECORD_URL].endswith("/lightning/r/ContentNote/0695g000001NOTE001/view")


def sf_config(object_type: str = "cases", **kw: Any) -> SalesforceSourceConfig:
    base: dict[str, Any] = {"token": TOKEN}
    base.update(kw)
    return SalesforceSourceConfig(
        name="acme-sf",
        tenant_id="acme",
        object_type=object_type,  # type: ignore[arg-type]
        base_url="https://acme.my.salesforce.com",
        consent=ConsentMapping(field="AI_Assistant_Consent__c"),
        **base,
    )


def test_salesforce_long_id_lists_are_split_and_batch_size_is_sent(harness: Any) -> None:
    """Issue 17 point 3: 700 cases with 700 contacts in one answer would put 700 ids into one
    GET URI (414 past 16,384 bytes); the lookups are split. The page size goes out as
    Sforce-Query-Options: batchSize."""
    fake = FakeSalesforce()
    fake.page = 2000
    for n in range(700):
        contact = f"0035g00000{n:08d}"
        fake.contacts[contact] = {"attributes": {"type": "Contact"}, "Id": contact, "Name": f"P {n}"}
        fake.add(n, minute=1, subject=f"Case {n}", contact=contact)  # no consent: excluded, not embedded
    h = harness(sf_config(page_size=2000), SalesforceSource, fake, "https://acme.my.salesforce.com")
    report = h.sync()
    assert report.status == "succeeded", report.error
    assert report.counts["excluded"] == 700
    contact_queries = [q for q in fake.soql if " FROM Contact " in q]
    assert len(contact_queries) > 1
    assert all(len(q) < 8000 for q in contact_queries)
    assert set(fake.batch_sizes) == {"batchSize=2000"}


def test_salesforce_live_ids_keep_archived_tasks(harness: Any) -> None:
    """Issue 17 point 9: `query` hides archived Tasks; live_ids uses queryAll, IsDeleted = false."""
    fake = FakeSalesforce()
    fake.add_task(1, minute=1, subject="Discovery", contact="0035g000001AAAAAA1")
    fake.add_task(2, minute=2, subject="Old call", contact="0035g000001AAAAAA1", archived=True)
    h = harness(sf_config("calls"), SalesforceSource, fake, "https://acme.my.salesforce.com")
    assert h.sync().counts["indexed"] == 2
    assert sorted(h.services.sources[h.name].live_ids()) == ["00T5g000001TASK001", "00T5g000001TASK002"]
    assert h.services.reconcile(h.name, actor="t").stale_records == 0
    assert "00T5g000001TASK002" in h.payloads()


def test_salesforce_request_limit_exceeded_is_not_retried(harness: Any) -> None:
    """Issue 17 point 12: the org's 24-hour quota answers 403 REQUEST_LIMIT_EXCEEDED."""
    fake = FakeSalesforce()
    fake.add(1, minute=1, subject="Scanner", contact="0035g000001AAAAAA1")
    h = harness(sf_config(), SalesforceSource, fake, "https://acme.my.salesforce.com")
    fake.faults = [
        httpx.Response(
            403, json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
        )
    ]
    report = h.sync()
    assert report.status == "failed"
    assert "REQUEST_LIMIT_EXCEEDED" in (report.error or "")
    assert h.sleeps == [] and len(fake.requests) == 1


def test_salesforce_refreshes_an_expired_session(harness: Any) -> None:
    """Issue 17 point 7: sessions expire (401 INVALID_SESSION_ID); with `oauth` the connector
    gets a new one from the token endpoint and carries on."""
    fake = FakeSalesforce()
    fake.expire_sessions()  # no live session yet: the first call needs a token
    fake.add(1, minute=1, subject="Scanner", contact="0035g000001AAAAAA1")
    oauth = {
        "client_id": fake.client_id,
        "client_secret": fake.client_secret,
        "refresh_token": fake.refresh_token,
    }
    config = SalesforceSourceConfig.model_validate(
        {
            "name": "acme-sf",
            "tenant_id": "acme",
            "object_type": "cases",
            "base_url": "https://acme.my.salesforce.com",
            "consent": {"field": "AI_Assistant_Consent__c"},
            "oauth": oauth,  # no token: the first session comes from the token endpoint
        }
    )
    h = harness(config, SalesforceSource, fake, "https://acme.my.salesforce.com")
    assert h.sync().status == "succeeded"
    assert fake.issued == 1
    fake.expire_sessions()  # two hours later
    fake.add(2, minute=2, subject="Printer", contact="0035g000001AAAAAA1")
    report = h.sync()
    assert report.status == "succeeded", report.error
    assert report.counts["indexed"] == 1
    assert fake.issued == 2
    token_calls = [r for r in fake.requests if r.url.path == "/services/oauth2/token"]
    assert all(b"grant_type=refresh_token" in r.content for r in token_calls)
    assert "client-secret-1" not in repr(config)


def gong_config(**kw: Any) -> GongSourceConfig:
    return GongSourceConfig(
        name="acme-gong",
        tenant_id="acme",
        token=SecretStr("access-key:access-secret"),
        owner_team_ids=("team-sales",),
        consent=ConsentMapping(field="AI_Assistant_Consent__c"),
        **kw,
    )


def test_gong_transcripts_with_per_participant_consent(harness: Any) -> None:
    fake = FakeGong()
    for i in range(1, 5):
        fake.add(f"77000{i}", minute=i, customer_consent="granted")
    fake.add("770009", minute=9, customer_consent=None)  # external participant never consented
    h = harness(gong_config(), GongSource, fake, "https://api.gong.io")
    fake.faults = [httpx.Response(429, headers={"Retry-After": "1"})]
    first = h.sync()
    assert first.status == "succeeded", first.error
    assert first.counts["pages"] == 3
    assert first.counts["indexed"] == 4
    assert first.counts["excluded"] == 1
    assert h.sleeps == [1.0]
    payload = h.payloads()["770002"]
    assert payload[P.RECORD_TYPE] == "transcript"
    assert payload[P.RECORD_URL] == "https://app.gong.io/call?id=770002"
    assert payload[P.ACL_TEAMS] == ["team-sales"]
    text = payload[P.TEXT]
    assert "S1 rep:" in text and "S2 customer: We need pricing for three depots. Call me on" in text
    assert "7946" not in text and "Yuki" not in text and "Mateo" not in text
    fake.add("770005", minute=20, customer_consent="granted")
    second = h.sync()
    assert second.counts["indexed"] == 1  # the lookback re-reads the others: skipped unchanged
    assert second.counts["embedded"] == 1
    # Gong reports no deletions: reconciliation removes a call that disappeared
    del fake.calls["770001"]
    report = h.services.reconcile(h.name, actor="t")
    assert report.stale_records == 1
    assert h.services.index.count(ref=RecordRef(tenant_id="acme", source=h.name, record_id="770001")) == 0


def test_gong_consent_comes_from_the_extended_crm_context(harness: Any) -> None:
    """Issue 17 point 2: a Party has no consent attribute; the CRM field arrives only with
    contentSelector.context = "Extended" under parties[].context[].objects[].fields."""
    fake = FakeGong()
    fake.add("770001", minute=1, customer_consent="granted")
    fake.add("770002", minute=2, customer_consent="revoked")
    h = harness(gong_config(), GongSource, fake, "https://api.gong.io")
    report = h.sync()
    assert (report.counts["indexed"], report.counts["excluded"]) == (1, 1)
    assert set(h.payloads()) == {"770001"}
    asked = [json.loads(r.content) for r in fake.requests if r.url.path == "/v2/calls/extensive"]
    assert all(a["contentSelector"]["context"] == "Extended" for a in asked)


def test_gong_empty_windows_are_empty_not_failures(harness: Any) -> None:
    """Issue 17 point 1: Gong answers 404 "No calls found ..." on an empty window; pages, get()
    and live_ids() treat it as no calls. Any other 404 still fails."""
    fake = FakeGong()
    h = harness(gong_config(), GongSource, fake, "https://api.gong.io")
    report = h.sync()
    assert report.status == "succeeded", report.error
    assert report.counts["fetched"] == 0
    source = h.services.sources[h.name]
    assert source.get("123") is None
    assert list(source.live_ids()) == []
    fake.add("770001", minute=1, customer_consent="granted")
    assert h.sync().counts["indexed"] == 1
    fake.faults = [httpx.Response(404, json={"requestId": "z", "errors": ["Not found"]})]
    assert h.sync().status == "failed"


def test_gong_calls_processed_late_are_not_lost(harness: Any) -> None:
    """Issue 17 point 8: Gong filters on start time but lists a call only once processed; a call
    that started before the cursor and appears later is read by the lookback."""
    fake = FakeGong()
    fake.add("770001", minute=1, customer_consent="granted")
    fake.add("770002", minute=2, customer_consent="granted", processed=False)  # still processing
    fake.add("770003", minute=3, customer_consent="granted")
    h = harness(gong_config(), GongSource, fake, "https://api.gong.io")
    assert h.sync().counts["indexed"] == 2
    fake.process("770002")
    later = h.sync()
    assert later.status == "succeeded", later.error
    assert later.counts["indexed"] == 1
    assert "770002" in h.payloads()


def test_credentials_never_appear_in_errors(harness: Any) -> None:
    fake = FakeHubSpot()
    fake.faults = [httpx.Response(401, json={"message": "token very-secret-token-123 is expired"})]
    config = HubSpotSourceConfig(
        name="acme-hubspot-notes", tenant_id="acme", token=TOKEN, object_type="notes", portal_id="4455"
    )
    h = harness(config, HubSpotSource, fake, "https://api.hubapi.com")
    report = h.sync()
    assert report.status == "failed"
    assert "HTTP 401" in (report.error or "")
    assert "very-secret" not in (report.error or "")
    assert "very-secret" not in repr(config)
    runs = h.services.state.list_runs(source=h.name)
    assert "very-secret" not in str(runs)


# ------------------------------------------------------------------ get_many: batched where the API allows


def test_hubspot_get_many_is_one_batch_read_and_reprocess_uses_it(harness: Any) -> None:
    fake = FakeHubSpot()
    for i in range(4):
        fake.add(str(1000 + i), minute=i + 1, body=f"Renewal note {i}", contact="501")
    h = harness(hs_config(), HubSpotSource, fake, "https://api.hubapi.com")
    assert h.sync().counts["indexed"] == 4
    fake.archived["1003"] = iso(5)
    fake.requests.clear()
    source = h.services.sources[h.name]
    got = source.get_many(["1000", "1002", "1003", "999", "not-an-id"])
    assert sorted(got) == ["1000", "1002"]  # archived, unknown and malformed ids: gone
    assert got["1000"].contacts[0].name == "Ingrid Lindqvist"
    reads = [r for r in fake.requests if r.url.path == "/crm/v3/objects/notes/batch/read"]
    assert len(reads) == 1 and len(json.loads(reads[0].content)["inputs"]) == 4
    assert not any(
        r.method == "GET" and r.url.path.startswith("/crm/v3/objects/notes/") for r in fake.requests
    )
    assert source.get("1003") is None and source.get("1001") is not None
    fake.requests.clear()
    assert source.get_many([str(5000 + i) for i in range(150)]) == {}
    reads = [r for r in fake.requests if r.url.path == "/crm/v3/objects/notes/batch/read"]
    assert [len(json.loads(r.content)["inputs"]) for r in reads] == [100, 50]
    # reprocess reads each batch of ids at once; the archived note is deleted
    fake.requests.clear()
    report = h.services.refresher.reprocess(source, ["1000", "1001", "1003"], actor="t", force=True)
    assert report.status == "succeeded", report.error
    assert report.counts["deleted"] == 1
    assert sorted(h.payloads()) == ["1000", "1001", "1002"]
    assert len([r for r in fake.requests if r.url.path == "/crm/v3/objects/notes/batch/read"]) == 1


def test_zendesk_get_many_uses_show_many(harness: Any) -> None:
    fake = FakeZendesk()
    for i in range(1, 4):
        fake.add(i, minute=i, subject=f"Ticket {i}", consent="granted")
    fake.add(3, minute=10, subject="spam", consent="granted", status="deleted")
    fake.hidden.add(2)  # left out of show_many (as an archived ticket may be): Show Ticket answers
    h = harness(zd_config(), ZendeskSource, fake, "https://acme.zendesk.com")
    source = h.services.sources[h.name]
    got = source.get_many(["1", "2", "3", "77", "x"])
    assert sorted(got) == ["1", "2"]
    assert got["1"].contacts[0].name == "Requester 1"
    assert "[customer] Customer says: Ticket 1" in got["1"].body
    paths = fake.paths()
    assert paths.count("/api/v2/tickets/show_many.json") == 1
    assert paths.count("/api/v2/users/show_many.json") == 1
    singles = sorted(p for p in paths if re.fullmatch(r"/api/v2/tickets/\d+\.json", p))
    assert singles == ["/api/v2/tickets/2.json", "/api/v2/tickets/3.json", "/api/v2/tickets/77.json"]
    assert source.get("3") is None and source.get("1") is not None


def test_salesforce_get_many_is_one_soql_in(harness: Any) -> None:
    fake = FakeSalesforce()
    for n in range(1, 4):
        fake.add(n, minute=n, subject=f"Scanner {n}", contact="0035g000001AAAAAA1")
    fake.add(3, minute=9, subject="gone", contact="0035g000001AAAAAA1", deleted=True)
    h = harness(sf_config(), SalesforceSource, fake, "https://acme.my.salesforce.com")
    source = h.services.sources[h.name]
    ids = ["5005g000001CASE001", "5005g000001CASE002", "5005g000001CASE003"]
    got = source.get_many(ids)
    assert sorted(got) == ids[:2]  # the deleted case is gone
    assert "Customer confirmed the workaround." in got["5005g000001CASE001"].body
    cases = [q for q in fake.soql if " FROM Case " in q]
    assert len(cases) == 1 and all(f"'{i}'" in cases[0] for i in ids)


def test_gong_get_many_is_one_extensive_read(harness: Any) -> None:
    fake = FakeGong()
    fake.add("770001", minute=1, customer_consent="granted")
    fake.add("770002", minute=2, customer_consent="revoked")
    h = harness(gong_config(), GongSource, fake, "https://api.gong.io")
    source = h.services.sources[h.name]
    got = source.get_many(["770001", "770002", "999"])
    assert sorted(got) == ["770001", "770002"]  # consent is decided downstream, not here
    asked = [json.loads(r.content) for r in fake.requests if r.url.path == "/v2/calls/extensive"]
    assert [a["filter"]["callIds"] for a in asked] == [["770001", "770002", "999"]]
    assert source.get_many([]) == {}
