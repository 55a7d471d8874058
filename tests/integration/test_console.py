"""The console in real headless Chromium (DevTools protocol) against a live uvicorn: one small
data set, one app and one browser for the module. Each flow asserts on the DOM and checks a
screenshot for the regions it expects."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from bench.live import live_server
from ingest.models import RecordRef
from ingest.pipeline import Refresher
from ingest.stages.embedding import Embedder
from policies.redaction import PresidioRedactor
from rag_service.app import create_app
from rag_service.services import Services, build_services
from tests.browser.cdp import Page, browser, ink, region_pixels
from tests.conftest import DEMO, KEYS, make_settings
from tests.integration.helpers import demo_subset

RECORDS_PER_FILE = 8
ERASED_EMAIL = "maria.oconnor@bluewater.example"  # the contact of N-nor-0001


@pytest.fixture(scope="module")
def small(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, redactor: PresidioRedactor
) -> Iterator[Services]:
    """The demo's first records of each file (and its malformed lines); globex in 2 partitions."""
    base = tmp_path_factory.mktemp("console")
    data = demo_subset(DEMO / "crm", base / "crm", RECORDS_PER_FILE)
    settings = make_settings(base / "var", data)
    sources = tuple(
        s.model_copy(update={"partitions": 2}) if s.tenant_id == "globex" else s for s in settings.sources
    )
    services = build_services(
        settings.model_copy(update={"sources": sources}), embedder=embedder, redactor=redactor
    )
    for cfg in sources:
        services.run(cfg.name, actor="test")
    yield services
    services.close()


@pytest.fixture(scope="module")
def live(small: Services) -> Iterator[str]:
    with live_server(create_app(small.settings, services=small, start_scheduler=False)) as url:
        yield url


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    with browser(tmp_path_factory.mktemp("chromium")) as tab:
        yield tab


def sign_in(page: Page, live: str, role: str) -> None:
    """Open the console and type the key, submitted with the Enter key."""
    page.goto(f"{live}/console")
    page.js("sessionStorage.clear()")
    page.goto(f"{live}/console")
    page.type("#key", KEYS[role])
    page.key("Enter", 13)
    page.wait(f"document.querySelector('#whoami').textContent.includes('{role}')")


def no_error(page: Page) -> None:
    assert page.text("#error") == "", page.text("#error")
    assert not page.console_errors, page.console_errors


def test_console_is_self_contained(live: str) -> None:
    html = httpx.get(f"{live}/console")
    csp = html.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
    assert assets and all(a.startswith("/console/static/") for a in assets), assets
    scripts = re.findall(r"""from "\./([a-z]+\.js)\"""", httpx.get(f"{live}/console/static/app.js").text)
    for name in {*(a.rsplit("/", 1)[1] for a in assets), *scripts}:
        body = httpx.get(f"{live}/console/static/{name}")
        assert body.status_code == 200, name
        assert "unsafe-inline" not in body.headers["content-security-policy"]
        assert not re.findall(r"https?://(?!crm\.)", body.text), f"{name} names an external resource"
        assert "localStorage." not in body.text and "document.cookie" not in body.text
    assert httpx.get(f"{live}/console/static/..%2Fconsole.html").status_code == 404


def test_admin_sees_sources_with_index_counts_and_partitions(page: Page, live: str, small: Services) -> None:
    sign_in(page, live, "admin")
    page.wait("document.querySelectorAll('#sources tbody tr[data-source]').length === 3")
    no_error(page)
    assert page.js("location.href") == f"{live}/console", "the key never stays in the address bar"
    assert page.js("sessionStorage.getItem('crmKey')") == KEYS["admin"]
    assert page.js("localStorage.length") == 0
    held = small.index.source_tenants()
    for cfg in small.settings.sources:
        cell = page.text(f'#sources tr[data-source="{cfg.name}"] td[data-col="index"]')
        assert f"{held[cfg.name][cfg.tenant_id]} chunks" in cell, cell
        records = small.state.ledger_for_source(cfg.name, "indexed")
        assert cell.startswith(f"{len(records)} records"), cell
    assert page.js("document.querySelectorAll('tr.partition').length") == 2
    assert "globex-files#1" in page.text("#sources")
    assert "invalid JSON" in page.text("#quarantine")
    # keyboard: the tabs are a tablist; arrow keys move between pages
    page.js("document.querySelector('#tab-sources').focus()")
    page.key("ArrowRight", 39)
    page.wait("!document.querySelector('#page-runs').hidden && document.activeElement.id === 'tab-runs'")
    page.wait("document.querySelectorAll('#runs tbody tr').length >= 4")
    page.key("ArrowLeft", 37)
    page.wait("!document.querySelector('#page-sources').hidden")
    shot = page.screenshot()
    assert ink(shot, page.box("#sources")) > 0.02, "the sources table is drawn"
    assert ink(shot, page.box("header"), background=(31, 59, 87)) > 0.01


def add_note(small: Services, record_id: str, updated_at: str) -> None:
    """A new record at the northwind source (the next sync indexes it)."""
    notes = Path(str(small.settings.source("northwind-files").path)) / "notes.jsonl"  # type: ignore[union-attr]
    record = json.loads(notes.read_text().splitlines()[0])
    record.update(
        record_id=record_id,
        url=f"https://crm.northwind.example/notes/{record_id}",
        updated_at=updated_at,
        body="Renewal call booked for November.",
    )
    with notes.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    assert small.source("northwind-files").get(record_id) is not None


def test_sync_now_runs_and_finishes(page: Page, live: str, small: Services) -> None:
    add_note(small, "N-nor-9001", "2026-10-20T10:00:00+00:00")
    sign_in(page, live, "admin")
    page.wait("document.querySelectorAll('#sources tbody tr[data-source]').length === 3")
    page.click('#sources button[data-action="sync"][data-name="northwind-files"]')
    page.wait("document.querySelector('#activity li[data-status]') !== null")
    page.wait("document.querySelector('#activity li').dataset.status === 'succeeded'", timeout=60)
    no_error(page)
    line = page.text("#activity li")
    assert "sync northwind-files" in line and "indexed 1" in line, line
    run = small.state.list_runs(source="northwind-files", limit=1)[0]
    assert run["actor"] == "admin:demo-admin" and run["counts"]["indexed"] == 1
    page.click("#tab-runs")
    page.wait(f"document.querySelector('#runs tr[data-run=\"{run['run_id']}\"]') !== null")
    row = page.text(f'#runs tr[data-run="{run["run_id"]}"]')
    assert "admin:demo-admin" in row and "succeeded" in row and "indexed 1" in row
    # the status filter goes to the server
    page.js("document.querySelector('#run-status').value = 'failed'")
    page.click("#runfilter button[type=submit]")
    page.wait(f"document.querySelector('#runs tr[data-run=\"{run['run_id']}\"]') === null")
    box = page.box("#runfilter")
    assert ink(page.screenshot(), box) > 0.01
    page.click("#tab-sources")
    # destructive actions ask first; Escape cancels and nothing runs
    before = len(small.state.list_runs(limit=500))
    page.wait("document.querySelectorAll('#sources tbody tr[data-source]').length === 3")
    page.click('#sources button[data-action="reindex"][data-name="northwind-files"]')
    page.wait("document.querySelector('#confirm').open")
    assert "Reindex northwind-files?" in page.text("#confirm")
    page.key("Escape", 27)
    page.wait("!document.querySelector('#confirm').open")
    assert len(small.state.list_runs(limit=500)) == before


def test_a_run_in_progress_shows_live_progress(page: Page, live: str, small: Services) -> None:
    """A sync held after its first page is committed: the console shows it running with what it
    has written so far, on the Sources page and on the Runs page, then finished."""
    gate, held = threading.Event(), threading.Event()

    def hold(point: str, refs: Sequence[RecordRef]) -> None:
        if point == "committed" and any(r.record_id == "N-nor-9002" for r in refs):
            held.set()
            gate.wait(60)

    add_note(small, "N-nor-9002", "2026-10-21T10:00:00+00:00")
    original = small.refresher
    small.refresher = Refresher(dataclasses.replace(small.parts, page_hook=hold))
    try:
        sign_in(page, live, "admin")
        page.wait("document.querySelectorAll('#sources tbody tr[data-source]').length === 3")
        page.click('#sources button[data-action="sync"][data-name="northwind-files"]')
        assert held.wait(30)
        page.wait("document.querySelector('#activity li')?.innerText.includes('1 records written')")
        assert page.js("document.querySelector('#activity li').dataset.status") == "running"
        page.click("#tab-runs")
        running = '#runs tr[data-status="running"]'
        page.wait(f"document.querySelector('{running}')?.innerText.includes('1 records written')")
        assert "admin:demo-admin" in page.text(running)
        shot = page.screenshot()
        assert ink(shot, page.box(running)) > 0.03
        progress = page.box(f"{running} progress")
        assert progress.width > 20 and ink(shot, progress) > 0.1, "a progress bar is drawn"
    finally:
        gate.set()
        small.refresher = original
    page.wait("document.querySelector('#runs tr[data-status=\"running\"]') === null")  # the page polls
    page.wait("document.querySelector('#activity li').dataset.status === 'succeeded'")
    no_error(page)


def test_index_page_asks_before_a_rebuild(page: Page, live: str, small: Services) -> None:
    sign_in(page, live, "admin")
    page.click("#tab-index")
    page.wait("document.querySelector('#index').innerText.includes('live generation')")
    no_error(page)
    live_generation = httpx.get(f"{live}/admin/index", headers={"X-API-Key": KEYS["admin"]}).json()
    assert f"live generation {live_generation['live_generation']}" in page.text("#index")
    assert page.js("document.querySelector('#rollback').disabled") is True  # no previous generation
    assert page.js("document.querySelectorAll('#stale tbody tr').length") == 3
    before = len(small.state.list_runs(limit=500))
    page.click("#rebuild")
    page.wait("document.querySelector('#confirm').open")
    assert page.js("document.activeElement.id") == "confirm-cancel", "Cancel has the focus first"
    shot = page.screenshot()
    assert ink(shot, page.box("#confirm")) > 0.02
    page.key("Enter", 13)  # on Cancel
    page.wait("!document.querySelector('#confirm').open")
    assert len(small.state.list_runs(limit=500)) == before


def test_erasure_request_shows_its_receipt(page: Page, live: str, small: Services) -> None:
    ref = RecordRef(tenant_id="northwind", source="northwind-files", record_id="N-nor-0001")
    assert small.index.count(ref=ref) > 0
    sign_in(page, live, "admin")
    page.click("#tab-privacy")
    page.wait("document.querySelectorAll('#redactions tbody tr').length === 3")
    assert "PERSON" in page.text("#redactions")
    page.js("document.querySelector('#erasure-tenant').value = 'northwind'")
    page.type("#erasure-email", ERASED_EMAIL)
    page.click("#erasure-submit")
    page.wait("document.querySelector('#confirm').open")
    assert "Erase this contact?" in page.text("#confirm") and small.index.count(ref=ref) > 0
    page.click("#confirm-ok")
    page.wait("document.querySelectorAll('#receipts tbody tr').length === 1", timeout=60)
    no_error(page)
    receipt = page.text("#receipts tbody tr")
    assert "erasure" in receipt and "verified" in receipt and "not verified" not in receipt, receipt
    assert small.index.count(ref=ref) == 0
    assert ERASED_EMAIL not in page.html("#receipts")
    shot = page.screenshot()
    assert ink(shot, page.box("#receipts tbody tr")) > 0.03
    green = [p for p in region_pixels(shot, page.box("#receipts tbody tr")) if p[1] > 100 and p[0] < 60]
    assert len(green) > 20, "the verified state is shown in green"
    # the auditor lists the same receipt and checks it again against the index now
    sign_in(page, live, "auditor")
    page.click("#tab-privacy")
    page.wait("document.querySelector('#receipts button[data-check]') !== null")
    page.click("#receipts button[data-check]")
    page.wait("document.querySelector('#receipts').innerText.includes('still 0 chunks now')")


def test_auditor_follows_a_record_to_its_chunk(page: Page, live: str, small: Services) -> None:
    record_id = "N-nor-0002"
    sign_in(page, live, "auditor")
    page.wait("document.querySelector('#chain').innerText.includes('verified')")
    page.type("#ev-action", "index_write")
    page.type("#ev-tenant", "northwind")
    page.key("Enter", 13)
    button = f'#events button[data-record*="{record_id}"]'
    actions = "[...document.querySelectorAll('#events tbody tr td:nth-child(3)')].map((td) => td.textContent)"
    page.wait(f"{actions}.every((a) => a === 'index_write') && document.querySelector('{button}') !== null")
    assert page.js(f"{actions}.length") >= 1
    page.click(button)
    page.wait("document.querySelectorAll('#record-chunks button[data-chunk]').length > 0")
    assert "indexed" in page.text("#history")
    assert "PERSON" in page.text("#history"), "the history shows the redaction summary"
    page.click("#record-chunks button[data-chunk]")
    page.wait("document.querySelector('#chunk-text') !== null")
    no_error(page)
    html = page.html("#chunk-text")
    assert '<mark class="pii">&lt;PERSON&gt;</mark>' in html
    assert "Mateo Petrova" not in page.text("#provenance")
    shot = page.screenshot()
    box = page.box("#chunk-text")
    marks = sum(
        1
        for r, g, b in region_pixels(shot, box)
        if abs(r - 255) < 8 and abs(g - 224) < 10 and abs(b - 138) < 12
    )
    assert marks > 100, "the redaction markers are visibly highlighted"
    assert ink(shot, box, background=(248, 250, 252)) > 0.02


def test_query_playground_answers_with_sources(page: Page, live: str) -> None:
    sign_in(page, live, "assistant")
    assert page.js("document.querySelectorAll('#tabs button').length") == 1
    page.type("#q-question", "Which customer asked for SAML single sign-on with Okta?")
    page.click("#ask")
    page.wait("document.querySelectorAll('#answer-sources li[data-chunk]').length > 0", timeout=60)
    no_error(page)
    assert "N-nor-0003" in page.text("#answer-sources")
    assert page.text("#answer-text").strip()
    shot = page.screenshot()
    assert ink(shot, page.box("#answer-sources")) > 0.02


def test_roles_are_checked_by_the_server_not_the_page(page: Page, live: str) -> None:
    sign_in(page, live, "auditor")
    status = page.js(
        "fetch('/admin/sources/northwind-files/sync', {method: 'POST', headers: {'X-API-Key':"
        " sessionStorage.getItem('crmKey')}}).then((r) => r.status)"
    )
    assert status == 403
    page.click("#forget")
    assert page.js("sessionStorage.getItem('crmKey')") is None
    assert page.js("document.querySelectorAll('#tabs button').length") == 0
    page.type("#key", "not-a-key")
    page.key("Enter", 13)
    page.wait("document.querySelector('#error').textContent.includes('401')")
    assert page.js("sessionStorage.getItem('crmKey')") is None, "an unknown key is not kept"
    assert page.js("document.querySelectorAll('#tabs button').length") == 0
