"""Source faults over HTTP (httpx.MockTransport stands in for the CRM): timeouts, 5xx and 429 with
Retry-After are retried with backoff; persistent failure fails the run visibly, cursor unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.config import HttpJsonSourceConfig
from ingest.errors import SourceAuthError, SourceError, SourceRateLimitedError
from ingest.models import Cursor
from ingest.sources.http_json import HttpJsonSource
from ingest.sources.http_retry import RetryPolicy, retry_after_seconds
from rag_service.services import Services, build_services
from tests.conftest import make_settings


def record(i: int) -> dict[str, Any]:
    return {
        "record_id": f"R-{i:03d}",
        "record_type": "ticket",
        "updated_at": f"2026-10-01T10:{i:02d}:00+00:00",
        "url": f"https://crm.example/t/{i}",
        "owner_id": "u-1",
        "consent": {"support_ai": "granted"},
        "body": f"Ticket {i}: the export job times out for large accounts.",
    }


class FakeCrm:
    """Serves /records pages in (updated_at, record_id) order; `faults` are answered first."""

    def __init__(self, n: int) -> None:
        self.records = [record(i) for i in range(n)]
        self.faults: list[Any] = []
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, Exception):
                raise fault
            assert isinstance(fault, httpx.Response)
            return fault
        if request.url.path == "/api/records":
            after = (request.url.params.get("updated_after", ""), request.url.params.get("after_id", ""))
            limit = int(request.url.params["limit"])
            rest = [r for r in self.records if (r["updated_at"], r["record_id"]) > after]
            return httpx.Response(
                200, json={"records": rest[:limit], "deleted": [], "has_more": len(rest) > limit}
            )
        return httpx.Response(404, json={"error": "not found"})


@pytest.fixture
def env(tmp_path: Path, embedder: Any, redactor: Any) -> Iterator[tuple[Services, FakeCrm, list[float]]]:
    settings = make_settings(tmp_path / "var", tmp_path)
    config = HttpJsonSourceConfig(
        name="acme-api", tenant_id="acme", base_url="https://crm.example/api", page_size=4, max_attempts=4
    )
    settings = settings.model_copy(update={"sources": (config,)})
    services = build_services(settings, embedder=embedder, redactor=redactor)
    crm = FakeCrm(10)
    sleeps: list[float] = []
    client = httpx.Client(base_url=config.base_url, transport=httpx.MockTransport(crm))
    services.sources["acme-api"] = HttpJsonSource(
        config, client, RetryPolicy(max_attempts=4, sleep=sleeps.append)
    )
    yield services, crm, sleeps
    services.close()


def test_transient_faults_are_retried(env: tuple[Services, FakeCrm, list[float]]) -> None:
    services, crm, sleeps = env
    req = httpx.Request("GET", "https://crm.example/api/records")
    crm.faults = [
        httpx.ReadTimeout("slow", request=req),
        httpx.Response(503),
        httpx.Response(429, headers={"Retry-After": "7"}),
    ]
    report = services.run("acme-api", actor="t")
    assert report.status == "succeeded"
    assert report.counts["indexed"] == 10
    assert report.counts["pages"] == 3
    assert len(sleeps) == 3
    assert sleeps[2] == 7.0  # Retry-After honoured
    assert sleeps[0] < sleeps[1] < 7  # exponential backoff before that


def test_persistent_failure_fails_the_run_and_keeps_the_cursor(
    env: tuple[Services, FakeCrm, list[float]],
) -> None:
    services, crm, _ = env
    assert services.run("acme-api", actor="t").status == "succeeded"
    cursor = services.state.get_cursor("acme-api")
    crm.records.append(record(30))
    crm.faults = [httpx.Response(502)] * 4
    report = services.run("acme-api", actor="t")
    assert report.status == "failed"
    assert report.error is not None
    assert "gave up after 4 attempts (HTTP 502)" in report.error
    assert services.state.get_cursor("acme-api") == cursor
    run = services.state.list_runs(source="acme-api", limit=1)[0]
    assert run["status"] == "failed"
    assert "HTTP 502" in run["error"]
    again = services.run("acme-api", actor="t")
    assert again.counts["indexed"] == 1


def test_client_errors_are_not_retried(env: tuple[Services, FakeCrm, list[float]]) -> None:
    services, crm, sleeps = env
    crm.faults = [httpx.Response(401, json={"error": "token secret-xyz expired"})]
    report = services.run("acme-api", actor="t")
    assert report.status == "failed"
    assert "HTTP 401" in (report.error or "")
    assert "secret-xyz" not in (report.error or "")
    assert sleeps == []


def test_source_errors_carry_the_http_status(env: tuple[Services, FakeCrm, list[float]]) -> None:
    services, crm, sleeps = env
    source = services.sources["acme-api"]
    assert source.get("R-404") is None  # 404: gone, told by the status, not by the message
    crm.faults = [httpx.Response(502)] * 4
    with pytest.raises(SourceError) as gave_up:
        list(source.pages(cursor=None))
    assert gave_up.value.status == 502 and len(sleeps) == 3
    crm.faults = [httpx.Response(403)]
    with pytest.raises(SourceError) as refused:
        list(source.pages(cursor=None))
    assert refused.value.status == 403 and len(sleeps) == 3  # not retried
    crm.faults = [httpx.Response(401)]
    with pytest.raises(SourceAuthError) as auth:
        list(source.pages(cursor=None))
    assert auth.value.status == 401
    req = httpx.Request("GET", "https://crm.example/api/records")
    crm.faults = [httpx.ConnectTimeout("slow", request=req)] * 4
    with pytest.raises(SourceError, match=r"gave up after 4 attempts \(ConnectTimeout\)") as timed_out:
        list(source.pages(cursor=None))
    assert timed_out.value.status is None


def test_retry_after_as_http_date_is_waited_and_capped(env: tuple[Services, FakeCrm, list[float]]) -> None:
    from email.utils import format_datetime

    services, crm, sleeps = env
    source = services.sources["acme-api"]
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    crm.faults = [httpx.Response(503, headers={"Retry-After": soon})]
    assert len(list(source.pages(cursor=None))) == 3
    assert len(sleeps) == 1 and 35 <= sleeps[0] <= 40
    crm.faults = [httpx.Response(429, headers={"Retry-After": "7200"})]  # beyond max_retry_after
    with pytest.raises(SourceRateLimitedError) as late:
        list(source.pages(cursor=None))
    assert (late.value.status, late.value.retry_after, len(sleeps)) == (429, 7200.0, 1)


@pytest.mark.parametrize(("value", "expected"), [("5", 5.0), (None, None), ("soon", None), ("0", 0.0)])
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(value) == expected


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Tue, 24 Nov 2026 12:00:30 GMT", now) == 30.0


def test_a_tie_on_the_cursor_timestamp_is_not_lost(env: tuple[Services, FakeCrm, list[float]]) -> None:
    """Issue 19, defect 2: a record that arrives later with the cursor's updated_at and an id
    sorting before the cursor's id is still fetched. Ties are re-read on the next run (skipped by
    their fingerprint); the cursor's own record is not."""
    services, crm, _ = env
    assert services.run("acme-api", actor="t").counts["indexed"] == 10
    assert services.state.get_cursor("acme-api") == Cursor(watermark=record(9)["updated_at"], last_id="R-009")
    crm.records.append({**record(5), "record_id": "R-0055", "updated_at": record(9)["updated_at"]})
    report = services.run("acme-api", actor="t")
    assert (report.counts["fetched"], report.counts["indexed"]) == (1, 1)
    idle = services.run("acme-api", actor="t")
    assert (idle.counts["fetched"], idle.counts["unchanged"], idle.counts["embedded"]) == (1, 1, 0)
