"""Drive real headless Chromium over the DevTools protocol: navigate, click with the mouse, type
with the keyboard, wait for the DOM, take screenshots. One browser per test module."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WIDTH, HEIGHT = 1280, 900

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    f"--window-size={WIDTH},{HEIGHT}",
]


def require_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (scripts/test.sh installs it on CI machines)")
        pytest.skip("chromium not installed")
    return CHROMIUM


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float


class Page:
    """One tab, attached with a flat session."""

    def __init__(self, ws: ClientConnection, session: str) -> None:
        self._ws = ws
        self._session = session
        self._next = 0
        self.console_errors: list[str] = []

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next += 1
        msg_id = self._next
        self._ws.send(
            json.dumps({"id": msg_id, "method": method, "params": params or {}, "sessionId": self._session})
        )
        while True:
            msg = json.loads(self._ws.recv(timeout=60))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            self._event(msg)

    def _event(self, msg: dict[str, Any]) -> None:
        if msg.get("method") == "Runtime.exceptionThrown":
            self.console_errors.append(str(msg["params"]["exceptionDetails"].get("text")))
        elif msg.get("method") == "Log.entryAdded" and msg["params"]["entry"]["level"] == "error":
            entry = msg["params"]["entry"]
            if not str(entry.get("url", "")).endswith("/favicon.ico"):  # the browser asks on its own
                self.console_errors.append(f"{entry.get('text')} {entry.get('url', '')}")

    def js(self, expression: str) -> Any:
        res = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression[:80]}: {res['exceptionDetails'].get('text')}")
        return res["result"].get("value")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait("document.readyState === 'complete'")

    def wait(self, expression: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression!r}; errors: {self.console_errors}")
            time.sleep(0.1)

    def box(self, selector: str) -> Box:
        """The element's box in the viewport (scrolled into view first), in CSS pixels."""
        rect = self.js(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)}); if (!el) return null;"
            " el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
            " return {x: r.x, y: r.y, width: r.width, height: r.height}; })()"
        )
        if rect is None:
            raise AssertionError(f"no element {selector!r}")
        return Box(**rect)

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        b = self.box(selector)
        x, y = b.x + b.width / 2, b.y + b.height / 2
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    def type(self, selector: str, text: str) -> None:
        """Focus the field, clear it, and type as the keyboard would."""
        found = f"document.querySelector({json.dumps(selector)})"
        self.js(f"(() => {{ const el = {found}; el.focus(); el.select?.(); }})()")
        self.send("Input.insertText", {"text": text})

    def key(self, name: str, code: int) -> None:
        """Press and release one key (e.g. "Enter", 13; "Tab", 9; "Escape", 27)."""
        for kind in ("rawKeyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                {"type": kind, "key": name, "code": name, "windowsVirtualKeyCode": code},
            )
        if name == "Enter":
            self.send("Input.dispatchKeyEvent", {"type": "char", "text": "\r"})

    def text(self, selector: str) -> str:
        return str(self.js(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''"))

    def html(self, selector: str = "body") -> str:
        return str(self.js(f"document.querySelector({json.dumps(selector)})?.outerHTML ?? ''"))

    def screenshot(self) -> Any:
        from PIL import Image

        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def region_pixels(image: Any, box: Box) -> list[tuple[int, int, int]]:
    crop = image.crop((int(box.x), int(box.y), int(box.x + box.width), int(box.y + box.height)))
    pixels: list[tuple[int, int, int]] = list(crop.getdata())
    return pixels


def ink(image: Any, box: Box, background: tuple[int, int, int] = (255, 255, 255)) -> float:
    """Share of the box's pixels that differ from the background (text, borders, fills)."""
    pixels = region_pixels(image, box)
    if not pixels:
        return 0.0
    return sum(1 for p in pixels if max(abs(a - b) for a, b in zip(p, background, strict=True)) > 40) / len(
        pixels
    )


@contextmanager
def browser(profile: Path) -> Iterator[Page]:
    """Start Chromium, open one tab, yield it; the browser is stopped at the end."""
    exe = require_chromium()
    proc = subprocess.Popen(
        [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        ws_url = None
        deadline = time.monotonic() + 60
        while ws_url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError("chromium exited before it listened")
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            ws_url = found.group(1) if found else None
        if ws_url is None:
            raise RuntimeError("chromium did not start its DevTools endpoint")
        with connect(ws_url, max_size=None, open_timeout=30) as ws:
            ws.send(json.dumps({"id": 1, "method": "Target.createTarget", "params": {"url": "about:blank"}}))
            target = _reply(ws, 1)["targetId"]
            ws.send(
                json.dumps(
                    {
                        "id": 2,
                        "method": "Target.attachToTarget",
                        "params": {"targetId": target, "flatten": True},
                    }
                )
            )
            page = Page(ws, _reply(ws, 2)["sessionId"])
            page.send("Page.enable")
            page.send("Runtime.enable")
            page.send("Log.enable")
            page.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
            )
            yield page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _reply(ws: ClientConnection, msg_id: int) -> dict[str, Any]:
    while True:
        msg = json.loads(ws.recv(timeout=60))
        if msg.get("id") == msg_id:
            result: dict[str, Any] = msg["result"]
            return result
