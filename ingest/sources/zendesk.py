"""Zendesk Support: tickets and their comments via the cursor-based incremental export.

GET /api/v2/incremental/tickets/cursor.json?start_time=T (first) or ?cursor=C, with users
sideloaded; `end_of_stream` ends a run; tickets with status "deleted" become tombstones.
Comments come from /api/v2/tickets/{id}/comments.json (bounded concurrency).

The incremental export is for admins only (an agent's token gets 403) and is rate limited to
10 requests a minute (30 with the High Volume add-on), shared by every caller of the account:
429s carry Retry-After. live_ids re-reads the whole export (the only listing that includes
archived tickets) with the largest page Zendesk allows, to spend as few of those requests as it can.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from ingest.config import ZendeskSourceConfig
from ingest.errors import SourceError
from ingest.models import Cursor, Page, RecordFailure, SourceRecord, Tombstone
from ingest.sources.common import bounded_map, consent_from, tombstone
from ingest.sources.http_retry import RetryPolicy
from ingest.sources.vendor_base import VendorSource, checked, found, parse_time

CURSOR_TAG = "zendesk-export-cursor"
EXPORT_PAGE_MAX = 1000  # per_page of the cursor-based incremental export
SHOW_MANY_MAX = 100  # ids of one tickets/show_many or users/show_many call
SYSTEM = "zendesk"


@dataclass(frozen=True, slots=True)
class ZendeskTicket:
    """One ticket with what the fetch step read for it: its comments and the users (requester)
    sideloaded by the export or read by id."""

    ticket: dict[str, Any]
    comments: tuple[dict[str, Any], ...] = ()
    users: Mapping[str, dict[str, Any]] = field(default_factory=dict)


def custom_field(ticket: dict[str, Any], field: str) -> Any:
    for item in ticket.get("custom_fields") or []:
        if str(item.get("id")) == field:
            return item.get("value")
    return None


def to_record_fields(
    ticket: dict[str, Any], comments: list[dict[str, Any]], users: dict[str, dict[str, Any]], subdomain: str
) -> dict[str, Any]:
    """Pure mapping of one Zendesk ticket (+ comments, sideloaded users) to our record contract."""
    requester = users.get(str(ticket.get("requester_id")), {})
    lines = []
    for c in comments:
        who = "customer" if str(c.get("author_id")) == str(ticket.get("requester_id")) else "agent"
        text = " ".join(str(c.get("plain_body") or c.get("body") or "").split())
        if text:
            lines.append(f"[{who}{'' if c.get('public', True) else ', internal'}] {text}")
    body = "\n".join(lines) or str(ticket.get("description") or "")
    updated = parse_time(ticket.get("updated_at"))
    return {
        "record_id": str(ticket.get("id")),
        "record_type": "ticket",
        "url": f"https://{subdomain}.zendesk.com/agent/tickets/{ticket.get('id')}",
        "version": ticket.get("updated_at"),
        "updated_at": updated.isoformat() if updated else None,
        "title": ticket.get("subject") or "",
        "body": body,
        "account_id": f"zendesk-org-{ticket['organization_id']}" if ticket.get("organization_id") else "",
        "owner_id": str(ticket.get("assignee_id") or "unassigned"),
        "team_ids": [f"zendesk-group-{ticket['group_id']}"] if ticket.get("group_id") else [],
        "contacts": [
            {
                "contact_id": str(ticket.get("requester_id")),
                "name": requester.get("name") or "",
                "email": requester.get("email") or "",
                "phone": requester.get("phone") or "",
            }
        ]
        if ticket.get("requester_id")
        else [],
    }


def to_record(item: ZendeskTicket, config: ZendeskSourceConfig) -> SourceRecord | RecordFailure:
    """Pure: one fetched ticket -> a record of the contract, or a failure saying why not. Consent
    comes from the ticket's custom field (consent.field)."""
    ticket = item.ticket
    fields = to_record_fields(ticket, list(item.comments), dict(item.users), config.subdomain)
    fields["consent"] = consent_from(custom_field(ticket, config.consent.field), config.consent)
    return checked(fields, config, system=SYSTEM, locator=f"ticket {ticket.get('id')}")


class ZendeskSource(VendorSource):
    kind: ClassVar[str] = "zendesk"
    system = SYSTEM

    def __init__(
        self,
        config: ZendeskSourceConfig,
        client: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._zd = config
        super().__init__(config, client, policy)

    def base_url(self) -> str:
        return self._zd.base_url or f"https://{self._zd.subdomain}.zendesk.com"

    def _comments(self, ticket_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        url: str | None = f"/api/v2/tickets/{ticket_id}/comments.json"
        while url:
            body = self.call("GET", url, what="comments")
            out.extend(body.get("comments", []))
            url = body.get("next_page")
        return out

    def _enrich(self, tickets: list[dict[str, Any]], users: dict[str, dict[str, Any]]) -> list[ZendeskTicket]:
        """The network part: each ticket's comments (bounded concurrency)."""
        comments = bounded_map(lambda t: self._comments(str(t["id"])), tickets, self._zd.concurrency)
        return [ZendeskTicket(t, tuple(c), users) for t, c in zip(tickets, comments, strict=True)]

    def _records(
        self, tickets: list[dict[str, Any]], users: dict[str, dict[str, Any]]
    ) -> list[SourceRecord | RecordFailure]:
        return [to_record(item, self._zd) for item in self._enrich(tickets, users)]

    def _export(self, cursor: Cursor | None, per_page: int | None = None) -> Iterator[dict[str, Any]]:
        size = min(per_page or self._zd.page_size, EXPORT_PAGE_MAX)
        params: dict[str, Any] = {"include": "users", "per_page": size}
        if cursor is not None and cursor.last_id == CURSOR_TAG and cursor.watermark:
            params["cursor"] = cursor.watermark
        else:
            start = parse_time(self._zd.start_from)
            params["start_time"] = int(start.timestamp()) if start else 0
        while True:
            try:
                body: dict[str, Any] = self.call(
                    "GET", "/api/v2/incremental/tickets/cursor.json", params=params, what="incremental export"
                )
            except SourceError as exc:
                if exc.status != 403:
                    raise
                raise SourceError(
                    f"{self.name}: incremental export: HTTP 403; Zendesk allows the incremental export "
                    "to admins only: use an admin user's API token",
                    status=403,
                ) from None
            yield body
            if body.get("end_of_stream") or not body.get("after_cursor"):
                return
            params = {"include": "users", "per_page": size, "cursor": body["after_cursor"]}

    def pages(self, *, cursor: Cursor | None) -> Iterator[Page]:
        current = cursor or Cursor()
        for body in self._export(cursor):
            users = {str(u["id"]): u for u in body.get("users", [])}
            live = [t for t in body.get("tickets", []) if t.get("status") != "deleted"]
            gone: list[Tombstone] = []
            for t in body.get("tickets", []):
                when = parse_time(t.get("updated_at"))
                if t.get("status") == "deleted" and when is not None:
                    gone.append(tombstone(self.tenant_id, self.name, str(t["id"]), when))
            items = self._records(live, users)
            if body.get("after_cursor"):
                current = Cursor(watermark=body["after_cursor"], last_id=CURSOR_TAG)
            yield Page(
                records=tuple(i for i in items if isinstance(i, SourceRecord)),
                deletions=tuple(gone),
                failures=tuple(i for i in items if isinstance(i, RecordFailure)),
                next_cursor=current,
            )

    def _show_many(self, kind: str, ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for k in range(0, len(ids), SHOW_MANY_MAX):
            chunk = ",".join(ids[k : k + SHOW_MANY_MAX])
            body = self.call("GET", f"/api/v2/{kind}/show_many.json", params={"ids": chunk}, what=kind)
            out.extend(body.get(kind, []))
        return out

    def _ticket(self, ticket_id: str) -> dict[str, Any] | None:
        try:
            ticket: dict[str, Any] | None = self.call(
                "GET", f"/api/v2/tickets/{ticket_id}.json", what="ticket"
            ).get("ticket")
        except SourceError as exc:
            if exc.status == 404:
                return None
            raise
        return ticket

    def get_many(self, record_ids: Sequence[str]) -> dict[str, SourceRecord]:
        """tickets/show_many (100 ids a call) and their requesters from users/show_many. An id
        show_many leaves out is asked for once more by itself (Show Ticket also answers for
        archived tickets; a 404 means gone); ticket ids are numeric, anything else cannot exist."""
        ids = [i for i in dict.fromkeys(record_ids) if i.isdigit()]
        tickets = self._show_many("tickets", ids)
        shown = {str(t.get("id")) for t in tickets}
        tickets += [t for i in ids if i not in shown and (t := self._ticket(i)) is not None]
        tickets = [t for t in tickets if t.get("status") != "deleted"]
        requesters = sorted({str(t["requester_id"]) for t in tickets if t.get("requester_id")})
        users = {str(u["id"]): u for u in self._show_many("users", requesters)}
        return found(self._records(tickets, users))

    def live_ids(self) -> Iterator[str]:
        latest: dict[str, bool] = {}
        for body in self._export(None, per_page=EXPORT_PAGE_MAX):
            for t in body.get("tickets", []):
                latest[str(t["id"])] = t.get("status") != "deleted"
        yield from sorted(i for i, alive in latest.items() if alive)
