"""Configuration errors never echo values; tokens from env vars or files; unique API keys
(issue 19, defects 15 and 16)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.config import HubSpotSourceConfig
from rag_service.auth import KeyRing
from rag_service.config import ApiKey, AuthConfig, ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "SUPERSECRET-TOKEN-123"


def config(tmp_path: Path, body: dict[str, object]) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps({"data_dir": str(tmp_path / "var"), **body}))  # JSON is YAML
    return path


def test_a_source_missing_base_url_does_not_print_its_token(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        {"sources": [{"kind": "http_json", "name": "acme-api", "tenant_id": "acme", "token": SECRET}]},
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert SECRET not in text and "input_value" not in text
    assert "sources.0.http_json.base_url" in text and "Field required" in text
    assert err.value.__cause__ is None and err.value.__suppress_context__


@pytest.mark.parametrize(
    "source",
    [
        {"kind": "hubspot", "name": "hs", "tenant_id": "acme", "token": SECRET, "portal_id": SECRET},
        {"kind": "zendesk", "name": "zd", "tenant_id": "acme", "token": SECRET, "subdomain": 7},
        {"kind": SECRET, "name": "x1", "tenant_id": "acme", "token": SECRET},
        {"kind": "gong", "name": "g1", "tenant_id": "acme", "token": SECRET, "interval_seconds": SECRET},
        {"kind": "http_json", "name": "a1", "tenant_id": "acme", "base_url": "https://x", "tokne": SECRET},
    ],
)
def test_no_configuration_error_echoes_a_value(tmp_path: Path, source: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(config(tmp_path, {"sources": [source]}))
    assert SECRET not in str(err.value)


def test_invalid_yaml_is_reported_by_position_only(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(f'sources:\n  - {{kind: http_json, token: "{SECRET}"\n  bad: [\n')
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        load_settings(path)
    assert SECRET not in str(err.value)


def test_the_cli_prints_configuration_errors_without_secrets(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        {"sources": [{"kind": "http_json", "name": "acme-api", "tenant_id": "acme", "token": SECRET}]},
    )
    cli = [sys.executable, "-m", "rag_service.cli", "--config", str(path), "audit", "verify"]
    out = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert "configuration error" in out.stderr and "base_url" in out.stderr
    assert SECRET not in out.stderr + out.stdout


def hubspot(**token: object) -> dict[str, object]:
    return {
        "kind": "hubspot",
        "name": "hs",
        "tenant_id": "acme",
        "object_type": "notes",
        "portal_id": "1",
        **token,
    }


def test_tokens_from_an_environment_variable_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_HS_TOKEN", SECRET)
    secret_file = tmp_path / "hs-token"
    secret_file.write_text(SECRET + "\n")
    by_env = load_settings(config(tmp_path, {"sources": [hubspot(token_env="ACME_HS_TOKEN")]}))
    by_file = load_settings(config(tmp_path, {"sources": [hubspot(token_file=str(secret_file))]}))
    for settings in (by_env, by_file):
        source = settings.sources[0]
        assert isinstance(source, HubSpotSourceConfig)
        assert source.token.get_secret_value() == SECRET
        assert SECRET not in repr(settings)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ({"token_env": "NOT_SET_ANYWHERE_19"}, "NOT_SET_ANYWHERE_19 named by token_env is not set"),
        ({"token_file": "relative/token"}, "token_file must be an absolute path"),
        ({"token_file": "/nonexistent/crm-rag/token"}, "cannot be read"),
        ({"token": SECRET, "token_env": "ACME_HS_TOKEN"}, "only one of token, token_env and token_file"),
    ],
)
def test_token_sources_fail_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("ACME_HS_TOKEN", SECRET)
    with pytest.raises(ConfigError, match=message) as err:
        load_settings(config(tmp_path, {"sources": [hubspot(**token)]}))
    assert SECRET not in str(err.value)


def key(name: str, secret: str) -> ApiKey:
    return ApiKey(name=name, sha256=hashlib.sha256(secret.encode()).hexdigest(), role="admin", tenants=("*",))


def test_two_api_keys_with_the_same_hash_are_refused_at_startup(tmp_path: Path) -> None:
    keys = (key("ops", "same-key"), key("backup-ops", "same-key"))
    with pytest.raises(ValueError, match="backup-ops, ops have the same sha256"):
        Settings(auth=AuthConfig(keys=keys))
    body: dict[str, object] = {"auth": {"keys": [k.model_dump() for k in keys]}}
    with pytest.raises(ConfigError, match="same sha256") as err:
        load_settings(config(tmp_path, body))
    assert keys[0].sha256 not in str(err.value)
    with pytest.raises(ValueError, match="same sha256"):
        KeyRing(keys)
    with pytest.raises(ValueError, match="names must be unique"):
        Settings(auth=AuthConfig(keys=(key("ops", "a"), key("ops", "b"))))
