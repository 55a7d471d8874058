"""Gong: call transcripts (speaker-attributed) with call metadata and participants.

POST /v2/calls/extensive (filter fromDateTime, parties exposed, cursor paging) for metadata and
participants; POST /v2/calls/transcript for the sentences. Consecutive sentences of one speaker
form a turn. Gong answers a filter that matches no call with 404 {"errors": ["No calls found
corresponding to the provided filters"]}: that is an empty result, not a failure.

Consent is per participant and lives in the CRM: a `Party` has no consent attribute, but with
contentSelector.context = "Extended" each party carries its CRM records under
parties[].context[].objects[].fields[{name, value}]; consent.field names that CRM field (e.g.
AI_Assistant_Consent__c). Every external participant must have granted (all values found for a
party must grant); internal ones (the company's own reps) need not.

`fromDateTime` filters on a call's start, but a call is listed only after Gong has processed it:
each run re-reads `lookback_seconds` behind its cursor (unchanged calls are skipped by their
fingerprint downstream). Gong reports no deletions: reconciliation (live_ids) removes calls that
disappear.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import httpx

from ingest.config import ConsentMapping, GongSourceConfig
from ingest.models import Cursor, Page, RecordFailure, SourceRecord
from ingest.sources.common import consent_from, weakest
from ingest.sources.http_retry import RetryPolicy
from ingest.sources.vendor_base import VendorSource, checked, found, parse_time
from policies.models import ConsentStatus

CONTENT_SELECTOR = {"context": "Extended", "contextTiming": ["Now"], "exposedFields": {"parties": True}}
SYSTEM = "gong"


@dataclass(frozen=True, slots=True)
class GongCall:
    """One call (metadata + parties with their Extended CRM context) with its transcript, as the
    fetch step read them."""

    call: dict[str, Any]
    transcript: tuple[dict[str, Any], ...] = ()


def turns_from(transcript: list[dict[str, Any]], parties: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Gong monologues -> our speaker turns (merging consecutive monologues of one speaker)."""
    turns: list[dict[str, Any]] = []
    for mono in transcript:
        speaker = str(mono.get("speakerId"))
        text = " ".join(str(s.get("text") or "").strip() for s in mono.get("sentences") or []).strip()
        if not text:
            continue
        if turns and turns[-1]["speaker_id"] == speaker:
            turns[-1]["text"] += " " + text
            continue
        party = parties.get(speaker, {})
        affiliation = str(party.get("affiliation") or "Unknown")
        starts = [s.get("start") for s in mono.get("sentences") or [] if isinstance(s.get("start"), int)]
        turns.append(
            {
                "speaker_id": speaker,
                "speaker_name": party.get("name") or "",
                "role": {"Internal": "rep", "External": "customer"}.get(affiliation, "other"),
                "text": text,
                "start_ms": starts[0] if starts else None,
            }
        )
    return turns


def no_calls_found(resp: httpx.Response) -> bool:
    """Gong's empty result: 404 with "No calls found corresponding to the provided filters" (a 404
    for any other reason, e.g. a wrong base URL, stays an error)."""
    if resp.status_code != 404:
        return False
    try:
        errors = resp.json().get("errors")
    except (ValueError, AttributeError):
        return False
    return isinstance(errors, list) and any(str(e).startswith("No calls found") for e in errors)


def party_field_values(party: dict[str, Any], field: str) -> list[Any]:
    """Values of the CRM field `field` on every CRM object linked to a party (Extended context)."""
    return [
        f.get("value")
        for ctx in party.get("context") or []
        for obj in ctx.get("objects") or []
        for f in obj.get("fields") or []
        if f.get("name") == field
    ]


def party_consent(party: dict[str, Any], mapping: ConsentMapping) -> dict[str, ConsentStatus]:
    """A participant's consent from its CRM records; none found, or any not granting: not granted."""
    return weakest([consent_from(v, mapping) for v in party_field_values(party, mapping.field)], mapping.tag)


def to_record_fields(
    call: dict[str, Any], transcript: list[dict[str, Any]], team_ids: list[str]
) -> dict[str, Any]:
    """Pure mapping of one Gong call (+ transcript) to our record contract (consent set by caller)."""
    meta = call.get("metaData") or {}
    parties = {str(p.get("speakerId")): p for p in call.get("parties") or [] if p.get("speakerId")}
    started = parse_time(meta.get("started"))
    externals = [p for p in call.get("parties") or [] if p.get("affiliation") == "External"]
    return {
        "record_id": str(meta.get("id")),
        "record_type": "transcript",
        "url": meta.get("url"),
        "version": meta.get("started"),
        "updated_at": started.isoformat() if started else None,
        "title": meta.get("title") or "",
        "turns": turns_from(transcript, parties),
        "account_id": "",
        "owner_id": str(meta.get("primaryUserId") or ""),
        "team_ids": team_ids,
        "contacts": [
            {
                "contact_id": str(p.get("id") or p.get("speakerId")),
                "name": p.get("name") or "",
                "email": p.get("emailAddress") or "",
                "phone": p.get("phoneNumber") or "",
            }
            for p in externals
        ],
    }


def to_record(item: GongCall, config: GongSourceConfig) -> SourceRecord | RecordFailure:
    """Pure: one fetched call -> a record of the contract, or a failure saying why not. Every
    external participant must have granted consent."""
    call = item.call
    call_id = str((call.get("metaData") or {}).get("id"))
    fields = to_record_fields(call, list(item.transcript), list(config.owner_team_ids))
    externals = [p for p in call.get("parties") or [] if p.get("affiliation") == "External"]
    fields["consent"] = weakest([party_consent(p, config.consent) for p in externals], config.consent.tag)
    return checked(fields, config, system=SYSTEM, locator=f"call {call_id}")


class GongSource(VendorSource):
    kind: ClassVar[str] = "gong"
    system = SYSTEM

    def __init__(
        self, config: GongSourceConfig, client: httpx.Client | None = None, policy: RetryPolicy | None = None
    ) -> None:
        self._gong = config
        super().__init__(config, client, policy)

    def _transcripts(self, call_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        if not call_ids:
            return {}
        out: dict[str, list[dict[str, Any]]] = {}
        cursor: str | None = None
        while True:
            body: dict[str, Any] = {"filter": {"callIds": call_ids}}
            if cursor:
                body["cursor"] = cursor
            resp = self.call(
                "POST", "/v2/calls/transcript", what="transcripts", body=body, empty=no_calls_found
            )
            if resp is None:
                return out
            for item in resp.get("callTranscripts", []):
                out[str(item.get("callId"))] = item.get("transcript") or []
            cursor = (resp.get("records") or {}).get("cursor")
            if not cursor:
                return out

    def _enrich(self, calls: list[dict[str, Any]]) -> list[GongCall]:
        """The network part: the transcripts of these calls (one paged request)."""
        transcripts = self._transcripts([str((c.get("metaData") or {}).get("id")) for c in calls])
        return [
            GongCall(c, tuple(transcripts.get(str((c.get("metaData") or {}).get("id")), []))) for c in calls
        ]

    def _records(self, calls: list[dict[str, Any]]) -> list[SourceRecord | RecordFailure]:
        return [to_record(item, self._gong) for item in self._enrich(calls)]

    def _extensive(self, flt: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        cursor: str | None = None
        while True:
            body: dict[str, Any] = {"filter": flt, "contentSelector": CONTENT_SELECTOR}
            if cursor:
                body["cursor"] = cursor
            resp = self.call("POST", "/v2/calls/extensive", what="calls", body=body, empty=no_calls_found)
            if resp is None:
                return
            yield resp.get("calls", [])
            cursor = (resp.get("records") or {}).get("cursor")
            if not cursor:
                return

    def pages(self, *, cursor: Cursor | None) -> Iterator[Page]:
        floor = parse_time(self._gong.start_from)
        mark = parse_time(cursor.watermark) if cursor and cursor.watermark else None
        start = floor if mark is None else mark - timedelta(seconds=self._gong.lookback_seconds)
        if floor is not None and start is not None and start < floor:
            start = floor
        since = start.isoformat().replace("+00:00", "Z") if start else self._gong.start_from
        current = cursor or Cursor()
        for batch in self._extensive({"fromDateTime": since}):
            batch = sorted(
                batch, key=lambda c: (str((c.get("metaData") or {}).get("started")), str(c["metaData"]["id"]))
            )
            items = self._records(batch)
            records = tuple(i for i in items if isinstance(i, SourceRecord))
            if records:  # the cursor only moves forward; the lookback re-reads behind it
                last = max(records, key=lambda r: (r.updated_at, r.record_id))
                seen = parse_time(current.watermark) if current.watermark else None
                if seen is None or (last.updated_at, last.record_id) > (seen, current.last_id or ""):
                    current = Cursor(watermark=last.updated_at.isoformat(), last_id=last.record_id)
            yield Page(
                records=records,
                failures=tuple(i for i in items if isinstance(i, RecordFailure)),
                next_cursor=current,
            )

    def get_many(self, record_ids: Sequence[str]) -> dict[str, SourceRecord]:
        """One calls/extensive read filtered by callIds (Gong's 404 "No calls found": none)."""
        if not record_ids:
            return {}
        ids = list(dict.fromkeys(record_ids))
        return found(self._records([c for batch in self._extensive({"callIds": ids}) for c in batch]))

    def live_ids(self) -> Iterator[str]:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"fromDateTime": self._gong.start_from}
            if cursor:
                params["cursor"] = cursor
            resp = self.call("GET", "/v2/calls", params=params, what="call list", empty=no_calls_found)
            if resp is None:
                return
            yield from (str(c.get("id")) for c in resp.get("calls", []))
            cursor = (resp.get("records") or {}).get("cursor")
            if not cursor:
                return
