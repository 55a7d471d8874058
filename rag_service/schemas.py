"""Request and response models of the HTTP API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ingest.timeutil import Timestamp

RecordTypeName = Literal["note", "ticket", "transcript"]
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EndUser(Strict):
    """The person the assistant answers for; their CRM identity drives record-level ACL."""

    user_id: str = Field(pattern=_ID)
    team_ids: list[str] = Field(default_factory=list, max_length=50)


class QueryFilters(Strict):
    """Narrow the search; every key is optional and they combine with AND. Lists match any of
    their values; an empty list or a missing key does not filter."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"record_types": ["ticket"]},
                {"account_ids": ["acct-bluewater"], "updated_from": "2026-09-01T00:00:00Z"},
            ]
        }
    )

    record_types: list[RecordTypeName] = Field(
        default_factory=list,
        max_length=3,
        description="note, ticket and/or transcript (plural key, a list)",
        examples=[["ticket", "transcript"]],
    )
    account_ids: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="CRM account ids (the record's account_id)",
        examples=[["acct-bluewater"]],
    )
    updated_from: AwareDatetime | None = Field(
        default=None,
        description="records updated at or after this time (RFC 3339 with a zone)",
        examples=["2026-09-01T00:00:00Z"],
    )
    updated_to: AwareDatetime | None = Field(
        default=None,
        description="records updated at or before this time (RFC 3339 with a zone)",
        examples=["2026-10-31T23:59:59+00:00"],
    )


class QueryRequest(Strict):
    question: str = Field(min_length=3)
    tenant_id: str = Field(pattern=_ID)
    purpose: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    user: EndUser
    filters: QueryFilters = QueryFilters()
    top_k: int | None = Field(default=None, ge=1)
    answer_token_budget: int = Field(default=200, ge=20, le=2000)
    min_score: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="drop hits scoring under this (cosine similarity); default: the service's api.min_score",
    )
    retrieval: Literal["hybrid", "dense", "lexical"] | None = Field(
        default=None,
        description="hybrid: dense and lexical (BM25) legs fused; dense or lexical: one leg; "
        "default: the service's retrieval.mode",
    )


class Source(BaseModel):
    n: int
    chunk_id: str
    record_id: str
    record_type: str
    record_url: str
    source: str
    system: str
    updated_at: Timestamp
    score: float = Field(description="cosine similarity of question and chunk (what min_score applies to)")
    snippet: str
    rank_score: float = Field(description="the fused (or single-leg) score the sources are ordered by")
    dense_rank: int | None = Field(
        default=None, description="rank in the dense leg (1 = best); null: not a candidate"
    )
    lexical_rank: int | None = Field(
        default=None, description="rank in the lexical (BM25) leg; null: not a candidate"
    )


class QueryResponse(BaseModel):
    answer: str
    sources: list[Source]
    # why there is no answer (nothing scored at or above min_score); null when there is one
    no_answer: str | None = None
    tenant_id: str
    purpose: str
    took_ms: float
    retrieval: str = Field(
        default="dense",
        description="the retrieval mode used (dense when the index has no lexical vectors yet)",
    )


class RunAccepted(BaseModel):
    """202 for an asynchronous admin action: poll `location` (GET /admin/runs/{run_id})."""

    run_id: str
    source: str
    kind: str
    status: str
    location: str


class ErasurePreview(BaseModel):
    """An erasure's dry run: the records (and chunks) it would erase now; nothing is changed."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["dry_run"] = "dry_run"
    tenant_id: str
    records: list[str]  # record keys tenant:source:record_id, as in the receipt
    chunks: int


class NothingToDo(BaseModel):
    """200 when an admin action finds no work (no run is started)."""

    status: Literal["nothing_to_do"] = "nothing_to_do"
    source: str
    detail: str


class ReindexRequest(Strict):
    source: str = Field(pattern=_ID)
    record_id: str | None = Field(default=None, pattern=_ID)
    wait: bool = False


class RunView(BaseModel):
    run_id: str
    source: str
    kind: str
    actor: str
    status: str
    started_at: Timestamp
    finished_at: Timestamp | None
    counts: dict[str, int]
    error: str | None


class ChunkProvenance(BaseModel):
    chunk_id: str
    payload: dict[str, Any]


class ErasureRequest(Strict):
    tenant_id: str = Field(pattern=_ID)
    contact_id: str | None = Field(default=None, pattern=_ID)
    email: str | None = Field(default=None, min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, min_length=7, max_length=32, pattern=r"^\+?[0-9 ().\-]{7,32}$")


class Lifted(BaseModel):
    lifted: int  # suppressions removed


class RevokeRequest(Strict):
    tenant_id: str = Field(pattern=_ID)
    source: str = Field(pattern=_ID)
    record_id: str = Field(pattern=_ID)
