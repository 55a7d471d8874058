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
    assert "postgres" in dockerfile  # the postgres extra is installed
    assert "USER app" in dockerfile
    config = yaml.safe_load((ROOT / "config" / "compose.yaml").read_text())
    assert config["data_dir"] == "/data"
