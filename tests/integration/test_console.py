"""The admin/auditor console page, rendered by real headless Chromium against a live uvicorn."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bench.live import live_server
from ingest.models import RecordRef
from rag_service.app import create_app
from rag_service.services import Services

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_console_is_self_contained(client: TestClient) -> None:
    resp = client.get("/console")
    assert resp.status_code == 200
    assert "default-src 'self'" in resp.headers["content-security-policy"]
    assert not re.findall(r"""(?:src|href)=["']https?://""", resp.text), "no CDN or external resources"


@pytest.fixture(scope="module")
def live(demo_services: Services) -> Iterator[str]:
    with live_server(
        create_app(demo_services.settings, services=demo_services, start_scheduler=False)
    ) as url:
        yield url


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (scripts/test.sh installs it on CI machines)")
        pytest.skip("chromium not installed")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


def test_console_lists_sources_quarantine_and_index(live: str, tmp_path: Path) -> None:
    dom = chromium(tmp_path, "--dump-dom", f"{live}/console#key=demo-admin-key").stdout
    for source in ("northwind-files", "contoso-files", "globex-files"):
        assert f'data-source="{source}"' in dom
    assert 'class="ok">succeeded' in dom
    assert "live generation <b>g" in dom
    assert "invalid JSON" in dom  # quarantine reasons are listed
    assert 'id="error" role="alert"></div>' in dom  # no error shown


def test_console_shows_provenance_with_redaction_markers(
    live: str, tmp_path: Path, demo_services: Services
) -> None:
    from PIL import Image

    payload = next(
        p
        for p in demo_services.index.scroll_payloads(tenant_id="northwind")
        if p["redaction"]["counts"].get("PERSON")
    )
    ref = RecordRef(tenant_id="northwind", source=payload["source"], record_id=payload["record_id"])
    chunk_id = demo_services.index.record_chunks(ref)[0].id
    url = f"{live}/console#key=demo-auditor-key&admin=0&chunk={chunk_id}"
    dom = chromium(tmp_path, "--dump-dom", url).stdout
    assert '<mark class="pii">&lt;PERSON&gt;</mark>' in dom
    assert payload["record_id"] in dom
    shot = tmp_path / "console.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,1100", url)
    image = Image.open(shot).convert("RGB")
    pixels: list[tuple[int, int, int]] = list(image.getdata())  # type: ignore[arg-type]
    marks = sum(1 for r, g, b in pixels if abs(r - 255) < 8 and abs(g - 224) < 10 and abs(b - 138) < 12)
    assert marks > 100, "the redaction markers must be visibly highlighted in the rendered page"
    thumb: list[tuple[int, int, int]] = list(image.resize((64, 64)).getdata())  # type: ignore[arg-type]
    assert len(set(thumb)) > 10, "the page rendered more than a blank screen"
