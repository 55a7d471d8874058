from __future__ import annotations

from pathlib import Path

import pytest

from ingest.config import FileSourceConfig
from rag_service.config import ApiKey, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_demo_config_loads_with_resolved_paths() -> None:
    s = load_settings(ROOT / "config" / "demo.yaml")
    assert [x.name for x in s.sources] == ["northwind-files", "contoso-files", "globex-files"]
    assert all(
        isinstance(x, FileSourceConfig) and x.path.is_absolute() and x.path.is_dir() for x in s.sources
    )
    assert s.index.backend == "edge"
    assert s.state.url.startswith("sqlite:///")


def test_env_overrides_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_RAG_API__MAX_TOP_K", "7")
    monkeypatch.setenv("CRM_RAG_API__DEFAULT_TOP_K", "3")
    assert load_settings(ROOT / "config" / "demo.yaml").api.max_top_k == 7


def test_qdrant_url_selects_server_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:6333")
    s = load_settings(ROOT / "config" / "demo.yaml")
    assert s.index.backend == "qdrant" and s.index.qdrant_url == "http://127.0.0.1:6333"


def test_production_refuses_demo_keys() -> None:
    demo = load_settings(ROOT / "config" / "demo.yaml")
    with pytest.raises(ValueError, match="demo API keys"):
        Settings.model_validate({**demo.model_dump(), "environment": "production"})


def test_production_needs_keys() -> None:
    with pytest.raises(ValueError, match="at least one API key"):
        Settings(environment="production")


def test_keys_must_be_hashes() -> None:
    with pytest.raises(ValueError, match="sha256"):
        ApiKey(name="k", sha256="plain-text-key", role="admin", tenants=("*",))


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_partition_names_must_fit_the_state_columns(tmp_path: Path) -> None:
    ok = FileSourceConfig(name="a" * 60, tenant_id="tt", path=tmp_path, partitions=16)
    assert Settings(sources=(ok,)).sources[0].partitions == 16
    with pytest.raises(ValueError, match="too long for 16 partitions"):
        Settings(sources=(ok.model_copy(update={"name": "a" * 62}),))
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        FileSourceConfig(name="big", tenant_id="tt", path=tmp_path, partitions=0)


def test_relative_data_dir_from_the_environment_means_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_RAG_DATA_DIR", "mydata")
    s = load_settings(ROOT / "config" / "demo.yaml")
    assert s.data_dir == tmp_path / "mydata"
    assert s.index.path == tmp_path / "mydata" / "index"
    assert s.state.url == f"sqlite:///{tmp_path / 'mydata' / 'state.db'}"
    monkeypatch.delenv("CRM_RAG_DATA_DIR")  # in the file, relative to the file's folder
    assert load_settings(ROOT / "config" / "demo.yaml").data_dir == (ROOT / "var" / "demo").resolve()
