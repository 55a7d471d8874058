"""Backend-neutral filter spec: IndexFilter -> plain conditions each backend translates."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest import payload as P
from ingest.index.base import IndexFilter
from ingest.models import RecordRef

NO_MATCH = "\u0000no-access"  # a value no payload holds: ACL with no identity matches nothing


@dataclass(frozen=True, slots=True)
class Match:
    key: str
    value: str | int


@dataclass(frozen=True, slots=True)
class MatchAnyOf:
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DateRange:
    key: str
    gte: str | None
    lte: str | None


@dataclass(frozen=True, slots=True)
class IntRange:
    key: str
    gte: int


Condition = Match | MatchAnyOf | DateRange | IntRange


@dataclass(frozen=True, slots=True)
class FilterSpec:
    must: tuple[Condition, ...] = ()
    should: tuple[Condition, ...] = ()  # at least one must hold (when non-empty)
    must_not: tuple[Condition, ...] = field(default=())


def search_spec(where: IndexFilter) -> FilterSpec:
    must: list[Condition] = [Match(P.TENANT_ID, where.tenant_id)]
    should: list[Condition] = []
    if where.purpose is not None:
        must.append(Match(P.PURPOSES, where.purpose))
    if where.enforce_acl:
        if where.acl_user:
            should.append(Match(P.ACL_OWNER, where.acl_user))
        if where.acl_teams:
            should.append(MatchAnyOf(P.ACL_TEAMS, tuple(where.acl_teams)))
        if not should:
            must.append(Match(P.ACL_OWNER, NO_MATCH))
    if where.record_types:
        must.append(MatchAnyOf(P.RECORD_TYPE, tuple(where.record_types)))
    if where.account_ids:
        must.append(MatchAnyOf(P.ACCOUNT_ID, tuple(where.account_ids)))
    if where.updated_from or where.updated_to:
        must.append(
            DateRange(
                P.SOURCE_UPDATED_AT,
                where.updated_from.isoformat() if where.updated_from else None,
                where.updated_to.isoformat() if where.updated_to else None,
            )
        )
    must_not: list[Condition] = []
    if where.exclude_record_keys:
        must_not.append(MatchAnyOf(P.RECORD_KEY, tuple(where.exclude_record_keys)))
    return FilterSpec(must=tuple(must), should=tuple(should), must_not=tuple(must_not))


def record_spec(ref: RecordRef, *, first_index: int | None = None) -> FilterSpec:
    must: list[Condition] = [Match(P.TENANT_ID, ref.tenant_id), Match(P.RECORD_KEY, ref.key)]
    if first_index is not None:
        must.append(IntRange(P.CHUNK_INDEX, first_index))
    return FilterSpec(must=tuple(must))


def tenant_spec(tenant_id: str | None) -> FilterSpec | None:
    return None if tenant_id is None else FilterSpec(must=(Match(P.TENANT_ID, tenant_id),))


def source_spec(tenant_id: str, source: str) -> FilterSpec:
    return FilterSpec(must=(Match(P.TENANT_ID, tenant_id), Match(P.SOURCE, source)))
