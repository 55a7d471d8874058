"""Helpers shared by the benchmarks (and the console test): a live uvicorn on 127.0.0.1 in a
thread, and demo-style settings pointed at a private data directory."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from ingest.config import SourceConfig
from rag_service.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (random port) until the block ends; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def bench_settings(data_dir: Path, sources: Sequence[SourceConfig] | None = None) -> Settings:
    """The demo configuration (keys, policies, canaries) on a private data dir; demo sources by
    default; no rate limit."""
    base = load_settings(ROOT / "config" / "demo.yaml")
    return Settings.model_validate(
        {
            **base.model_dump(),
            "data_dir": data_dir,
            "sources": tuple(sources) if sources is not None else base.sources,
            "index": base.index.model_copy(update={"path": data_dir / "index"}),
            "state": {"url": f"sqlite:///{data_dir / 'state.db'}"},
            # benchmarks measure the engine, not the per-key limiter
            "api": base.api.model_copy(
                update={"rate_limit_per_minute": 10_000_000, "rate_limit_burst": 1_000_000}
            ),
        }
    )
