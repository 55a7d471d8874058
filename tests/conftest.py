"""Shared fixtures: real models loaded once per session, the demo set ingested once."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.config import EmbeddingConfig
from ingest.embedding import Embedder, make_embedder
from policies.redaction import PresidioRedactor
from rag_service.app import create_app
from rag_service.config import Settings, load_settings
from rag_service.services import Services, build_services

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"
KEYS = {"assistant": "demo-assistant-key", "admin": "demo-admin-key", "auditor": "demo-auditor-key"}


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return make_embedder(EmbeddingConfig())


@pytest.fixture(scope="session")
def redactor() -> PresidioRedactor:
    return PresidioRedactor.from_file()


@pytest.fixture(scope="session")
def truth() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DEMO / "truth.json").read_text())
    return data


def make_settings(base: Path, data_copy: Path, **extra: Any) -> Settings:
    """Demo config pointed at a private copy of the data and a private data dir."""
    settings = load_settings(ROOT / "config" / "demo.yaml")
    sources = tuple(s.model_copy(update={"path": data_copy / s.tenant_id}) for s in settings.sources)
    return Settings.model_validate(
        {
            **settings.model_dump(),
            "data_dir": base,
            "sources": sources,
            "index": settings.index.model_copy(update={"path": base / "index"}),
            "state": {"url": f"sqlite:///{base / 'state.db'}"},
            # tests hammer the API from one key; the limiter has its own tests
            "api": settings.api.model_copy(
                update={"rate_limit_per_minute": 1_000_000, "rate_limit_burst": 100_000}
            ),
            **extra,
        }
    )


@pytest.fixture(scope="session")
def demo_services(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: Embedder,
    redactor: PresidioRedactor,
) -> Iterator[Services]:
    base = tmp_path_factory.mktemp("demo")
    data = base / "crm"
    shutil.copytree(DEMO / "crm", data)
    services = build_services(make_settings(base / "var", data), embedder=embedder, redactor=redactor)
    reports = [services.run(cfg.name, actor="test") for cfg in services.settings.sources]
    services.initial_reports = reports  # type: ignore[attr-defined]
    yield services
    services.close()


@pytest.fixture(scope="session")
def client(demo_services: Services) -> Iterator[TestClient]:
    app = create_app(demo_services.settings, services=demo_services, start_scheduler=False)
    with TestClient(app) as c:
        yield c


def headers(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


PG_ADMIN = os.environ.get("CRM_RAG_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server (required on CI, skipped elsewhere)."""
    import uuid

    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"crmrag_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        if os.environ.get("CI"):
            raise  # CI machines run PostgreSQL: its absence is a failure there
        pytest.skip(f"no PostgreSQL server reachable ({type(exc).__name__})")
    yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()
