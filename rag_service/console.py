"""The console: one HTML page with its style and script modules, all served by this service.

Strict CSP: scripts and styles only from this origin (no inline script, no CDN); the page talks
only to this service's own API with the key the user typed (kept in the tab's sessionStorage),
so roles and tenant scope are checked server-side as for any client."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import FastAPI, HTTPException, status
from fastapi.responses import HTMLResponse, Response

STATIC = Path(__file__).parent / "static"
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONSOLE_CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_NAME = re.compile(r"^[a-z][a-z0-9_]*\.(?:js|css)$")


def mount_console(app: FastAPI) -> None:
    """GET /console and GET /console/static/{name}; the files are read once, here."""
    page = (STATIC / "console.html").read_text(encoding="utf-8")
    assets = {
        p.name: p.read_text(encoding="utf-8")
        for p in sorted((STATIC / "console").iterdir())
        if _NAME.match(p.name)
    }

    @app.get("/console", include_in_schema=False, response_class=HTMLResponse)
    def console_page() -> HTMLResponse:
        """Admin, auditor and assistant console (see README, Console)."""
        return HTMLResponse(page, headers=HEADERS)

    @app.get("/console/static/{name}", include_in_schema=False)
    def console_asset(name: str) -> Response:
        body = assets.get(name)
        if body is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
        return Response(body, media_type=MEDIA_TYPES[Path(name).suffix], headers=HEADERS)
