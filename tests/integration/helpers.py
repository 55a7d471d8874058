"""Small helpers shared by integration tests (scoped API keys, records, timestamps, polling)."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from rag_service.app import create_app
from rag_service.config import ApiKey, AuthConfig
from rag_service.services import Services


def scoped_client(demo_services: Services) -> TestClient:
    def key(name: str, role: str, tenants: tuple[str, ...]) -> ApiKey:
        return ApiKey(
            name=name,
            sha256=hashlib.sha256(name.encode()).hexdigest(),
            role=role,  # type: ignore[arg-type]
            tenants=tenants,
        )

    settings = demo_services.settings.model_copy(
        update={
            "auth": AuthConfig(
                keys=(
                    key("nw-assistant", "assistant", ("northwind",)),
                    key("nw-auditor", "auditor", ("northwind",)),
                    key("nw-admin", "admin", ("northwind",)),
                )
            )
        }
    )
    return TestClient(create_app(settings, services=demo_services, start_scheduler=False))


def rec(i: int, **kw: Any) -> dict[str, Any]:
    return {
        "record_id": f"N-{i}",
        "record_type": "note",
        "updated_at": f"2026-10-01T10:{i:02d}:00+00:00",
        "url": f"https://crm.example/N-{i}",
        "owner_id": "u-1",
        "consent": {"assistant_use": "granted"},
        "body": f"Note {i} about the shipping contract and renewal terms.",
        **kw,
    }


LOOKS_LIKE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


NOT_OURS = frozenset({"text", "snippet", "answer", "question", "version", "record_version"})


def stamps(value: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """(json path, string) for every timestamp-looking string outside free-text fields."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in NOT_OURS:
                yield from stamps(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from stamps(item, f"{path}[{i}]")
    elif isinstance(value, str) and LOOKS_LIKE_TIME.search(value):
        yield path, value


def wait_for(engine: sa.Engine, sql: str, done: Callable[[list[Any]], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with engine.connect() as conn:
                rows = list(conn.execute(sa.text(sql)))
        except sa.exc.ProgrammingError:
            rows = []  # the workers are still starting (no tables yet)
        if done(rows):
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for: {sql}")


def demo_subset(demo_crm: Path, into: Path, per_file: int) -> Path:
    """The first `per_file` records of each demo file (and every malformed line), one folder per
    tenant as in the demo: for tests whose assertions do not depend on the size of the data."""
    for tenant in sorted(demo_crm.iterdir()):
        (into / tenant.name).mkdir(parents=True)
        for f in tenant.glob("*.jsonl"):
            lines = f.read_text().splitlines(keepends=True)
            keep = lines if f.name == "malformed.jsonl" else lines[:per_file]
            (into / tenant.name / f.name).write_text("".join(keep))
    return into
