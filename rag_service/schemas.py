"""Request and response models of the HTTP API."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ingest.timeutil import Timestamp

RecordTypeName = Literal["note", "ticket", "transcript"]
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$"
_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


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
    context_token_budget: int | None = Field(
        default=None,
        ge=1,
        description="return the ranked chunk texts (redacted, as stored) up to this many tokens "
        "(cl100k) in `context`; default: none returned. At most the service's api.max_context_tokens",
    )
    generate: bool | None = Field(
        default=None,
        description="answer with the configured generator (true) or extractively (false); default: "
        "the generator when one is configured. true without a configured generator is 422",
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
    record_version: str
    content_hash: str  # of the record version the chunk was made from
    score: float = Field(description="cosine similarity of question and chunk (what min_score applies to)")
    snippet: str
    rank_score: float = Field(description="the fused (or single-leg) score the sources are ordered by")
    dense_rank: int | None = Field(
        default=None, description="rank in the dense leg (1 = best); null: not a candidate"
    )
    lexical_rank: int | None = Field(
        default=None, description="rank in the lexical (BM25) leg; null: not a candidate"
    )


class ChunkRef(BaseModel):
    """Which chunk of which record version: the provenance every quote, citation and context chunk
    carries beside sources[n - 1]."""

    model_config = ConfigDict(frozen=True)

    n: int  # the source: sources[n - 1]
    chunk_id: str
    record_id: str
    record_version: str
    content_hash: str


class ChunkRefFields(TypedDict):
    n: int
    chunk_id: str
    record_id: str
    record_version: str
    content_hash: str


def chunk_ref(src: Source) -> ChunkRefFields:
    """The ChunkRef fields of a source, to build a Span, Citation or ContextChunk from."""
    return ChunkRefFields(
        n=src.n,
        chunk_id=src.chunk_id,
        record_id=src.record_id,
        record_version=src.record_version,
        content_hash=src.content_hash,
    )


class Span(ChunkRef):
    """Words of one chunk: `text` is the chunk's stored (redacted) text [start:end], exactly as
    GET /audit/chunks/{chunk_id} shows it (payload.text), from record_version / content_hash."""

    start: int
    end: int
    text: str


class Citation(Span):
    """A generated sentence's citation, verified: the span is the chunk's sentence that supports it
    best; `lexical` and `cosine` are the support scores the thresholds were applied to."""

    lexical: float
    cosine: float


class Claim(BaseModel):
    """One sentence of a generated answer. Only supported claims carry citations (and appear in
    `answer`); an unsupported one is flagged with the reason and no citation."""

    model_config = ConfigDict(frozen=True)

    text: str
    supported: bool
    citations: list[Citation]
    reason: str | None = None  # why a citation (or the whole claim) was rejected


class Generation(BaseModel):
    """What the generator did for this query."""

    model_config = ConfigDict(frozen=True)

    status: Literal["generated", "fallback"]
    reason: str | None = None  # why the extractive answer was returned instead
    model: str
    claims: int = 0  # sentences the generator returned
    supported: int = 0
    dropped: int = 0  # unsupported claims left out of `claims` (generator.grounding.unsupported: drop)
    took_ms: float = 0.0


class ContextChunk(ChunkRef):
    """A ranked chunk for a frontend's own model: the stored (redacted) text; provenance beside it
    and in sources[n - 1]."""

    tokens: int
    text: str


class Context(BaseModel):
    model_config = ConfigDict(frozen=True)

    token_budget: int
    tokens: int  # the chunks' total
    chunks: list[ContextChunk]
    left_out: int  # relevant sources that did not fit the budget


class QueryResponse(BaseModel):
    answer: str
    answer_mode: Literal["extractive", "generated"] = "extractive"
    # the extractive answer's sentences with their offsets (empty for a generated answer)
    quotes: list[Span] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)  # a generated answer's sentences
    generation: Generation | None = None  # null when no generator was asked
    sources: list[Source]
    context: Context | None = None  # only when context_token_budget is given
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


class CitationCheck(BaseModel):
    """A span as /query returned it (a quote or a citation; other fields are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    chunk_id: str = Field(pattern=_UUID)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str = Field(max_length=20_000)
    record_version: str
    content_hash: str


class CitationAuditRequest(Strict):
    """Re-check an answer later: each span against the chunk as stored now; with `claim` (a
    generated sentence), also whether each cited chunk still supports it."""

    citations: list[CitationCheck] = Field(min_length=1, max_length=50)
    claim: str | None = Field(default=None, min_length=1, max_length=2_000)


class CitationVerdict(BaseModel):
    chunk_id: str
    # verified: same record version and content hash, and the chunk's text[start:end] is the quote;
    # changed: the record has a newer version (or other content) since; text_mismatch: the words at
    # those offsets differ; no_such_chunk: gone (deleted, erased, re-chunked) or not this key's tenant
    status: Literal["verified", "changed", "text_mismatch", "no_such_chunk"]
    record_version: str | None = None  # as stored now
    content_hash: str | None = None
    supports: bool | None = None  # with `claim`: the chunk supports it under today's thresholds
    lexical: float | None = None
    cosine: float | None = None
    reason: str | None = None
