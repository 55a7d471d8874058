"""Shared fixtures: real models loaded once per session, the demo set ingested once."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.config import EmbeddingConfig
from ingest.models import RunReport
from ingest.stages.embedding import Embedder, make_embedder
from policies.redaction import PresidioRedactor
from rag_service.app import create_app
from rag_service.config import Settings, load_settings
from rag_service.services import Services, build_services

ROOT = Path(__file__).resolve().parents[1]

# Markers (pyproject.toml): `postgres` follows the pg_url fixture; `multiprocess` marks the modules
# whose tests start other processes (serve, worker, CLI, child builds, a browser); `slow` the
# tests that take longest (bench floors, end-to-end runs). `-m "not slow"` is the quick loop.
MULTIPROCESS_MODULES = {
    "test_benchmarks",
    "test_cli_first_hour",
    "test_cli_output",
    "test_compose_processes",
    "test_console",
    "test_crash",
    "test_fold_in",
    "test_index_health",
    "test_readme_commands",
    "test_shutdown",
    "test_topology",
    "test_workers",
}
SLOW_MODULES = {"test_retrieval_dev_floor", "test_pii_eval", "test_benchmarks", "test_crash", "test_workers"}


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        module = _module(item)
        if "pg_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
        if module in MULTIPROCESS_MODULES:
            item.add_marker(pytest.mark.multiprocess)
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    # the longest modules first (otherwise in collection order): the two xdist workers take whole
    # modules in this order, so neither is left with a long one at the end
    items.sort(key=lambda i: (_module(i) not in SLOW_MODULES, _module(i) not in MULTIPROCESS_MODULES))


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


def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's temporary folder: under pytest-xdist the workers' own folders are inside it."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def demo_snapshot(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, redactor: PresidioRedactor
) -> tuple[Path, list[RunReport]]:
    """The demo set ingested once per run, closed: a folder (CRM data + data dir) that fixtures
    copy, and the initial run reports. Under pytest-xdist the first worker that needs it builds it
    (a file lock), the others wait and read it."""
    root = run_dir(tmp_path_factory)
    base, done = root / "demo-snapshot", root / "demo-snapshot.reports.jsonl"
    with (root / "demo-snapshot.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(base, ignore_errors=True)
            shutil.copytree(DEMO / "crm", base / "crm")
            settings = make_settings(base / "var", base / "crm")
            services = build_services(settings, embedder=embedder, redactor=redactor)
            try:
                built = [services.run(cfg.name, actor="test") for cfg in services.settings.sources]
            finally:
                services.close()
            done.write_text("".join(r.model_dump_json() + "\n" for r in built))
    return base, [RunReport.model_validate_json(line) for line in done.read_text().splitlines()]


def open_demo_copy(
    snapshot: tuple[Path, list[Any]], into: Path, embedder: Embedder, redactor: PresidioRedactor
) -> Services:
    base, reports = snapshot
    shutil.copytree(base, into, ignore=shutil.ignore_patterns("*.lock"))
    services = build_services(make_settings(into / "var", into / "crm"), embedder=embedder, redactor=redactor)
    services.initial_reports = reports  # type: ignore[attr-defined]
    return services


def _footprint(services: Services) -> tuple[int, int]:
    return len(services.state.list_runs(limit=100_000)), services.index.count()


@pytest.fixture(scope="session")
def demo_services(
    tmp_path_factory: pytest.TempPathFactory,
    demo_snapshot: tuple[Path, list[Any]],
    embedder: Embedder,
    redactor: PresidioRedactor,
) -> Iterator[Services]:
    """Shared by the whole session, so read-only: a test that syncs, reindexes, revokes or erases
    uses `fresh_demo` (its own copy). Checked at the end of the session."""
    services = open_demo_copy(demo_snapshot, tmp_path_factory.mktemp("demo") / "d", embedder, redactor)
    yield services
    services.close()


@pytest.fixture(autouse=True)
def _demo_stays_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that uses the shared demo services leaves them as it found them (job runs and
    chunks); one that must change them uses `fresh_demo`."""
    if "demo_services" not in request.fixturenames:
        yield
        return
    services: Services = request.getfixturevalue("demo_services")
    before = _footprint(services)
    yield
    after = _footprint(services)
    assert after == before, f"the test changed the shared demo services (runs, chunks): {before} -> {after}"


@pytest.fixture
def fresh_demo(
    tmp_path: Path, demo_snapshot: tuple[Path, list[Any]], embedder: Embedder, redactor: PresidioRedactor
) -> Iterator[tuple[Services, TestClient]]:
    """This test's own copy of the ingested demo set, and a client on it."""
    services = open_demo_copy(demo_snapshot, tmp_path / "demo", embedder, redactor)
    try:
        with TestClient(create_app(services.settings, services=services, start_scheduler=False)) as c:
            yield services, c
    finally:
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
