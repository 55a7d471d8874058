"""Base of the vendor connectors: HTTP client with auth, retries, contract validation."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import httpx

from ingest.config import VendorSourceConfig
from ingest.models import RecordFailure, SourceRecord
from ingest.sources.http_retry import RetryPolicy, Throttle, default_throttle, request_json
from ingest.stages.contract import validate_record

HEADINGS = {f"h{n}": n for n in range(1, 7)}
BLOCKS = ("p", "div", "ul", "ol", "table", "blockquote", "pre")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in HEADINGS:  # a Markdown heading: the chunker's section boundary
            self.parts.append("\n\n" + "#" * HEADINGS[tag] + " ")
        elif tag in BLOCKS:
            self.parts.append("\n\n")
        elif tag in ("br", "li", "tr"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in HEADINGS or tag in BLOCKS:
            self.parts.append("\n\n")


def html_to_text(value: str | None) -> str:
    """CRM rich text (HTML) -> plain text that keeps its structure; pure. Headings become Markdown
    headings and blocks are separated by a blank line, so chunking can cut at sections and
    paragraphs; within a block, one line per line break or list item."""
    if not value:
        return ""
    parser = _Text()
    parser.feed(value)
    blocks = []
    for block in "".join(parser.parts).split("\n\n"):
        lines = [" ".join(line.split()) for line in block.splitlines()]
        text = "\n".join(line for line in lines if line)
        if text and text.strip("# "):
            blocks.append(text)
    return "\n\n".join(blocks)


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 or epoch milliseconds -> aware datetime."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def found(items: Sequence[SourceRecord | RecordFailure]) -> dict[str, SourceRecord]:
    """get_many's answer: the records that passed the contract, by id."""
    return {item.record_id: item for item in items if isinstance(item, SourceRecord)}


def checked(
    fields: dict[str, Any], config: VendorSourceConfig, *, system: str, locator: str
) -> SourceRecord | RecordFailure:
    """Pure: a vendor's mapped fields through the data contract, as a record of this source."""
    return validate_record(
        fields, tenant_id=config.tenant_id, source=config.name, system=system, locator=locator
    )


class VendorSource:
    """Common plumbing (HTTP client, auth, retries). A subclass fetches and enriches (all its
    network calls) and hands each fetched item to its module's pure `to_record`."""

    system = "vendor"

    def __init__(
        self,
        config: VendorSourceConfig,
        client: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._cfg = config
        self._client = client or httpx.Client(base_url=self.base_url(), timeout=config.timeout_seconds)
        self._policy = policy or RetryPolicy(
            max_attempts=config.max_attempts, max_retry_after=config.max_retry_after_seconds
        )

    def base_url(self) -> str:
        return self._cfg.base_url

    def auth_headers(self) -> dict[str, str]:
        """`user:secret` tokens go as HTTP Basic (Gong access key, Zendesk `email/token:key`);
        anything else as a Bearer token (HubSpot private app, Salesforce/Zendesk OAuth)."""
        token = self._cfg.token.get_secret_value()
        basic = ":" in token
        auth = f"Basic {base64.b64encode(token.encode()).decode()}" if basic else f"Bearer {token}"
        return {"Authorization": auth, "Accept": "application/json", "User-Agent": "crm-rag-refresh"}

    @property
    def name(self) -> str:
        return self._cfg.name

    @property
    def tenant_id(self) -> str:
        return self._cfg.tenant_id

    def get_many(self, record_ids: Sequence[str]) -> dict[str, SourceRecord]:
        raise NotImplementedError

    def get(self, record_id: str) -> SourceRecord | None:
        return self.get_many([record_id]).get(record_id)

    def throttle(self, resp: httpx.Response) -> Throttle | None:
        """How this vendor says "slow down" (see http_retry.Throttle); 429 + Retry-After here."""
        return default_throttle(resp)

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
        return request_json(
            self._client,
            method,
            url,
            params=params,
            body=body,
            policy=self._policy,
            what=f"{self.name}: {what}",
            headers={**self.auth_headers(), **(headers or {})},
            raw=raw,
            throttle=self.throttle,
            empty=empty,
        )
