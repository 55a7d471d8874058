"""The one settings tree. Built once (load_settings) and passed in; no module-level instance.

Sources of values, strongest first: environment (CRM_RAG_ prefix, nested with "__"), then the
YAML config file (--config or CRM_RAG_CONFIG), then defaults. QDRANT_URL / QDRANT_API_KEY
select the Qdrant server backend.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from ingest.config import (
    ChunkingConfig,
    EmbeddingConfig,
    FileSourceConfig,
    IndexConfig,
    IngestConfig,
    LexicalConfig,
    PrivacyConfig,
    ReconcileConfig,
    SchedulerConfig,
    SourceConfig,
    StateConfig,
    resolve_token,
)
from ingest.jobs.rebuild import Canary

Role = Literal["assistant", "admin", "auditor"]

# pydantic error context keys that carry schema constraints only. Any other (an "error" text, a
# union "tag") may quote the input, so such messages are replaced (config errors, API 422 bodies).
SAFE_ERROR_CONTEXT = frozenset(
    {"min_length", "max_length", "actual_length", "pattern", "expected", "gt", "ge", "lt", "le"}
    | {"multiple_of", "max_digits", "decimal_places", "whole_digits", "field_type", "discriminator"}
    | {"expected_tags"}
)


class ConfigError(ValueError):
    """The configuration is invalid. The message names locations and rules, never values."""


def describe_config_errors(exc: ValidationError) -> str:
    """One line per error: where, and what rule failed; never the input (it may hold secrets)."""
    lines: list[str] = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        ctx = set(err.get("ctx") or {})
        if err["type"] == "value_error":
            msg = err["msg"]  # our own validators: they name fields, never values
        elif ctx - SAFE_ERROR_CONTEXT:
            msg = f"invalid value ({err['type']})"
        else:
            msg = err["msg"]
        lines.append(f"{where}: {msg}")
    return f"{len(lines)} configuration error(s):\n  " + "\n  ".join(lines)


# sha256 of the keys shipped in config/demo.yaml; refused when environment=production
DEMO_KEY_HASHES = frozenset(
    hashlib.sha256(k.encode()).hexdigest()
    for k in ("demo-assistant-key", "demo-admin-key", "demo-auditor-key")
)


# compose.yaml ships placeholder secrets (`change-me-qdrant-key`, `change-me-db-password`) so that
# `docker compose up` works for a try-out; environment=production refuses every one of them
PLACEHOLDER_PREFIX = "change-me"


def placeholder_secrets(settings: Settings) -> list[str]:
    """The settings whose secret still is a placeholder (named, never shown)."""
    from sqlalchemy.engine import make_url

    found: list[str] = []
    key = settings.index.qdrant_api_key
    if key is not None and key.get_secret_value().startswith(PLACEHOLDER_PREFIX):
        found.append("index.qdrant_api_key (QDRANT_API_KEY)")
    try:
        password = make_url(settings.state.url).password
    except Exception:  # not a URL SQLAlchemy can parse: the state store says so when it opens
        password = None
    if password is not None and str(password).startswith(PLACEHOLDER_PREFIX):
        found.append("state.url password (POSTGRES_PASSWORD)")
    for source in settings.sources:
        for name in ("token", "client_secret", "refresh_token"):
            secret = getattr(source, name, None) or getattr(getattr(source, "oauth", None), name, None)
            if isinstance(secret, SecretStr) and secret.get_secret_value().startswith(PLACEHOLDER_PREFIX):
                found.append(f"sources.{source.name}.{name}")
    return found


class ApiKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # keys are stored hashed, never in clear
    role: Role
    tenants: tuple[str, ...] = Field(min_length=1)  # "*" = every tenant


class AuthConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    keys: tuple[ApiKey, ...] = ()


class ApiConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_body_bytes: int = Field(default=16_384, ge=1024)
    max_question_chars: int = Field(default=2_000, ge=10)
    max_top_k: int = Field(default=20, ge=1, le=100)
    default_top_k: int = Field(default=5, ge=1, le=100)
    snippet_chars: int = Field(default=300, ge=50)
    # hits scoring under this cosine similarity are not sources; with none left /query says
    # "no answer" and why (chosen on ../shared/data/retrieval-dev: bench/README.md)
    min_score: float = Field(default=0.15, ge=0.0, le=1.0)
    max_context_tokens: int = Field(default=8_000, ge=100)  # largest context_token_budget of /query
    rate_limit_per_minute: int = Field(default=600, ge=1)  # per API key, every endpoint
    rate_limit_burst: int = Field(default=60, ge=1)
    # memory: buckets per API process; state: shared by every replica through the state store
    # (use with PostgreSQL when running several API replicas)
    rate_limit_store: Literal["memory", "state"] = "memory"


class GroundingConfig(BaseModel):
    """When a cited chunk supports a generated sentence: at least `min_lexical` of the sentence's
    content words (stemmed) occur in the chunk, its best sentence (or the whole chunk) has cosine
    >= `min_cosine` with it (the embedding model of the index), and every number it states occurs
    in the chunk."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_lexical: float = Field(default=0.5, ge=0.0, le=1.0)
    min_cosine: float = Field(default=0.5, ge=-1.0, le=1.0)
    # flag: unsupported sentences are listed in `claims` with supported=false and no citation;
    # drop: they are left out (counted). Either way they never appear in `answer`.
    unsupported: Literal["flag", "drop"] = "flag"


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _resolve_api_key(data: Any) -> Any:
    return resolve_token(data, "api_key")


class GeneratorConfig(BaseModel):
    """An OpenAI-compatible chat endpoint (POST {base_url}/chat/completions) that writes the answer
    from the redacted chunks. Off by default: /query answers extractively. `api_key` is a secret:
    give it as `api_key_env` (an environment variable's name) or `api_key_file` (absolute path)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    base_url: str = ""  # e.g. https://llm.internal/v1
    model: str = ""
    api_key: SecretStr | None = None  # sent as a Bearer token; none for endpoints without auth
    timeout_seconds: float = Field(default=20.0, gt=0, le=300)  # per read, and the whole call
    connect_timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    max_tokens: int = Field(default=400, ge=16, le=8_000)  # of the reply
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_context_tokens: int = Field(default=3_000, ge=100, le=100_000)  # chunk text in the prompt
    grounding: GroundingConfig = GroundingConfig()

    _api_key = model_validator(mode="before")(_resolve_api_key)  # api_key_env / api_key_file

    @model_validator(mode="after")
    def _complete(self) -> GeneratorConfig:
        if self.enabled and not (self.base_url and self.model):
            raise ValueError("generator.enabled needs generator.base_url and generator.model")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError("generator.base_url must start with http:// or https://")
        return self

    @property
    def is_loopback(self) -> bool:
        return urlsplit(self.base_url).hostname in _LOOPBACK


RetrievalMode = Literal["hybrid", "dense", "lexical"]


class RetrievalConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # hybrid: dense + lexical legs fused; dense / lexical: one leg. An index without lexical
    # vectors (created before them; a rebuild adds them) answers dense, and says so.
    mode: RetrievalMode = "hybrid"
    candidates: int = Field(default=50, ge=1, le=500)  # per leg, before fusion
    rrf_k: float = Field(default=2.0, gt=0.0)
    lexical_weight_max: float = Field(default=1.5, ge=0.0)
    lexical_gap_scale: float = Field(default=3.0, ge=0.0)
    lexical_gap_floor: float = Field(default=0.2, ge=0.0, le=1.0)
    gap_rank: int = Field(default=10, ge=2)


class RebuildConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    canaries: tuple[Canary, ...] = ()  # verification gate: each must find its record in the new index
    # build the new generation's HNSW index (edge: in a child process) before verifying and swapping
    optimize: bool = True
    interval_seconds: int | None = Field(default=None, ge=3600)  # scheduled rebuilds; None: on demand only


class PolicyPaths(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    consent: Path | None = None  # default: policies/consent.yaml
    redaction: Path | None = None  # default: policies/redaction.yaml


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CRM_RAG_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    environment: Literal["dev", "production"] = "dev"
    data_dir: Path = Path("var")
    api: ApiConfig = ApiConfig()
    auth: AuthConfig = AuthConfig()
    policies: PolicyPaths = PolicyPaths()
    sources: tuple[SourceConfig, ...] = ()
    chunking: ChunkingConfig = ChunkingConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    index: IndexConfig = IndexConfig()
    lexical: LexicalConfig = LexicalConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    state: StateConfig = StateConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    ingest: IngestConfig = IngestConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    rebuild: RebuildConfig = RebuildConfig()
    generator: GeneratorConfig = GeneratorConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        names = [s.name for s in self.sources]
        if len(names) != len(set(names)):
            raise ValueError("source names must be unique")
        for s in self.sources:  # "<name>#<p>" names cursors, locks and runs (64 characters at most)
            if s.partitions > 1 and len(s.name) + 1 + len(str(s.partitions - 1)) > 64:
                raise ValueError(f"source {s.name!r}: name too long for {s.partitions} partitions")
        hashes = [k.sha256 for k in self.auth.keys]
        if len(hashes) != len(set(hashes)):
            dup = sorted({k.name for k in self.auth.keys if hashes.count(k.sha256) > 1})
            raise ValueError(f"API keys {', '.join(dup)} have the same sha256: every key must be unique")
        key_names = [k.name for k in self.auth.keys]
        if len(key_names) != len(set(key_names)):
            raise ValueError("API key names must be unique (they name the caller and its rate limit)")
        if self.api.default_top_k > self.api.max_top_k:
            raise ValueError("api.default_top_k must not exceed api.max_top_k")
        if self.environment == "production":
            if not self.auth.keys:
                raise ValueError("production needs at least one API key")
            if any(k.sha256 in DEMO_KEY_HASHES for k in self.auth.keys):
                raise ValueError("the demo API keys must not be used in production")
            if self.index.backend == "qdrant" and self.index.qdrant_api_key is None:
                raise ValueError("production with a Qdrant server needs index.qdrant_api_key")
            gen = self.generator
            if gen.enabled and not gen.base_url.startswith("https://") and not gen.is_loopback:
                raise ValueError("production sends prompts only over https (generator.base_url)")
            placeholders = placeholder_secrets(self)
            if placeholders:
                raise ValueError(
                    f"production refuses the placeholder secrets compose ships ({PLACEHOLDER_PREFIX}-...): "
                    f"set real values for {', '.join(placeholders)}"
                )
        return self

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)


def _resolve(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings tree. Relative paths in the YAML file resolve against its folder; a
    relative CRM_RAG_DATA_DIR against the current directory."""
    raw_path = config_file or os.environ.get("CRM_RAG_CONFIG")
    path = Path(raw_path).resolve() if raw_path else None
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")

    class _FromFile(Settings):
        model_config = SettingsConfigDict(yaml_file=path)

    base = path.parent if path else Path.cwd()
    try:
        return _load(_FromFile, base, overrides)
    except ValidationError as exc:
        raise ConfigError(describe_config_errors(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None


def _load(cls: type[Settings], base: Path, overrides: dict[str, Any]) -> Settings:
    settings: Settings = cls(**overrides)
    # a relative path typed in the environment means the current directory, not the file's folder
    data_base = Path.cwd() if os.environ.get("CRM_RAG_DATA_DIR") and "data_dir" not in overrides else base
    updates: dict[str, Any] = {"data_dir": _resolve(settings.data_dir, data_base)}
    updates["sources"] = tuple(
        s.model_copy(update={"path": _resolve(s.path, base)}) if isinstance(s, FileSourceConfig) else s
        for s in settings.sources
    )
    index = settings.index
    qdrant_url = os.environ.get("QDRANT_URL")
    if qdrant_url:
        key = os.environ.get("QDRANT_API_KEY")
        index = index.model_copy(
            update={
                "backend": "qdrant",
                "qdrant_url": qdrant_url,
                "qdrant_api_key": SecretStr(key) if key else index.qdrant_api_key,
            }
        )
    if "index" not in settings.model_fields_set or index.path == IndexConfig().path:
        index = index.model_copy(update={"path": updates["data_dir"] / "index"})
    else:
        index = index.model_copy(update={"path": _resolve(index.path, base)})
    updates["index"] = index
    if settings.state.url == StateConfig().url:
        updates["state"] = StateConfig(url=f"sqlite:///{updates['data_dir'] / 'state.db'}")
    policies = settings.policies
    updates["policies"] = PolicyPaths(
        consent=_resolve(policies.consent, base) if policies.consent else None,
        redaction=_resolve(policies.redaction, base) if policies.redaction else None,
    )
    return Settings.model_validate({**settings.model_dump(), **updates})
