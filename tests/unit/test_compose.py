"""compose.yaml is checked statically (no Docker engine here); the same processes are exercised
directly by the PostgreSQL, worker and shutdown tests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_services_and_pinned_images() -> None:
    services = load()["services"]
    assert set(services) == {"qdrant", "postgres", "api", "worker"}
    assert re.fullmatch(r"qdrant/qdrant:v1\.20\.\d+", services["qdrant"]["image"])
    assert re.fullmatch(r"postgres:\d+\.\d+[\w.-]*", services["postgres"]["image"])
    for name in ("api", "worker"):
        assert services[name]["build"] == "."
        assert "image" not in services[name] or ":latest" not in services[name]["image"]


def test_health_secrets_and_dependencies() -> None:
    services = load()["services"]
    for name in ("qdrant", "postgres", "api"):
        assert services[name]["healthcheck"]["test"], name
    assert "QDRANT__SERVICE__API_KEY" in services["qdrant"]["environment"]
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["QDRANT_URL"] == "http://qdrant:6333"
        assert env["CRM_RAG_STATE__URL"].startswith("postgresql+psycopg://")
        assert env["QDRANT_API_KEY"]
        deps = services[name]["depends_on"]
        assert deps["qdrant"]["condition"] == deps["postgres"]["condition"] == "service_healthy"
    assert "--no-scheduler" in services["api"]["command"]  # the worker owns the schedule
    assert "worker" in services["worker"]["command"]


def test_volumes_are_declared() -> None:
    data = load()
    used = {v.split(":")[0] for s in data["services"].values() for v in s.get("volumes", [])}
    assert used <= set(data["volumes"])
    assert {"qdrant-storage", "postgres-data"} <= used


def test_dockerfile_and_compose_config_exist() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "postgres" in dockerfile  # the postgres extra is installed: from the lock, hash-checked
    assert "--require-hashes --no-deps --no-build-isolation -r requirements.lock" in dockerfile
    locked = (ROOT / "requirements.lock").read_text()
    assert "\npsycopg-binary==" in locked and "\nalembic==" in locked
    assert "USER app" in dockerfile
    config = yaml.safe_load((ROOT / "config" / "compose.yaml").read_text())
    assert config["data_dir"] == "/data"


def test_api_and_worker_keep_no_state_volume() -> None:
    """Issue 11: with QDRANT_URL set, index generations, ledgers and schedules live in Qdrant and
    PostgreSQL; the API and the worker mount nothing (the ONNX graph is baked into the image)."""
    services = load()["services"]
    for name in ("api", "worker"):
        assert services[name]["environment"]["QDRANT_URL"]
        assert not services[name].get("volumes"), name


def _compose_env(**values: str) -> dict[str, str]:
    """The api/worker environment as compose resolves it (`${VAR:-default}`)."""
    env = load()["services"]["api"]["environment"]
    pattern = re.compile(r"\$\{(\w+):-([^}]*)\}")
    return {k: pattern.sub(lambda m: values.get(m.group(1), m.group(2)), str(v)) for k, v in env.items()}


def test_production_refuses_the_placeholder_secrets_compose_ships(monkeypatch: Any) -> None:
    import json

    import pytest

    from rag_service.config import ConfigError, load_settings

    key = {"name": "ops", "role": "admin", "tenants": ["*"], "sha256": "0" * 64}
    monkeypatch.setenv("CRM_RAG_ENVIRONMENT", "production")
    monkeypatch.setenv("CRM_RAG_AUTH__KEYS", json.dumps([key]))
    for name, value in _compose_env().items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(ROOT / "config" / "compose.yaml")
    message = str(refused.value)
    assert "placeholder" in message and "POSTGRES_PASSWORD" in message
    assert "change-me-db-password" not in message  # named, never shown
    for name, value in _compose_env(POSTGRES_PASSWORD="p-91bd").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(ROOT / "config" / "compose.yaml")
    message = str(refused.value)
    assert "placeholder" in message and "QDRANT_API_KEY" in message
    assert "change-me-qdrant-key" not in message
    for name, value in _compose_env(QDRANT_API_KEY="k-7f3a9", POSTGRES_PASSWORD="p-91bd").items():
        monkeypatch.setenv(name, value)
    settings = load_settings(ROOT / "config" / "compose.yaml")
    assert settings.environment == "production" and settings.index.backend == "qdrant"
