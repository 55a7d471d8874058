"""A local OpenAI-compatible chat server on 127.0.0.1 (a real socket: the process boundary).
Each test sets `reply`, a function of the request body that returns (status, body bytes, delay
in seconds); every request body is kept in `requests`."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], tuple[int, bytes, float]]
_SOURCE = re.compile(r"(?:^|\n\n)\[(\d+)\] ")


def completion(content: str) -> bytes:
    return json.dumps(
        {
            "id": "cmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        }
    ).encode()


def prompt_sources(body: dict[str, Any]) -> dict[int, str]:
    """Source number -> chunk text, read back from the prompt's user message."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    block = user.split("Sources:\n\n", 1)[1].rsplit("\n\nQuestion: ", 1)[0]
    marks = list(_SOURCE.finditer(block))
    return {
        int(m.group(1)): block[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(block)]
        for i, m in enumerate(marks)
    }


class FakeChat:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.reply: Reply = lambda body: (200, completion("Nothing to say."), 0.0)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                body = json.loads(raw)
                fake.requests.append(body)
                fake.headers.append(dict(self.headers))
                status, content, delay = fake.reply(body)
                time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @contextmanager
    def running(self) -> Iterator[FakeChat]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
