"""Blue/green rebuild: build a new index generation from the sources, verify it, swap it in
atomically, keep the previous one for rollback. Queries keep using the live generation until the
swap, so they never see a half-built index."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ingest.errors import IngestError, StoreError
from ingest.governance.erasure import replay_suppressions
from ingest.index.base import IndexFilter, IndexStore
from ingest.index.generations import Generations
from ingest.index.switchable import SwitchableIndex
from ingest.models import RecordRef
from ingest.pipeline import PipelineParts, Refresher
from ingest.sources.base import Source
from ingest.stages.embedding import Embedder
from ingest.store.generation_state import NoPreviousGenerationError
from ingest.store.locks import locked
from ingest.store.privacy import PrivacyLedger
from ingest.store.state import AuditEvent, StateStore


class Canary(BaseModel):
    """A question whose answer must come from a known record in every verified generation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    question: str
    purpose: str
    user_id: str
    team_ids: tuple[str, ...] = ()
    expect_record_id: str
    top_k: int = Field(default=5, ge=1, le=50)


class Check(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    ok: bool
    detail: str
    skipped: bool = False  # not applicable (a canary whose record was erased, revoked or deleted)


class RebuildReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: Literal["swapped", "failed_verification", "failed_build", "rolled_back"]
    generation: str
    previous: str | None
    checks: list[Check]
    chunks: int
    seconds: float


class RebuildError(IngestError):
    pass


_BUSY = "a source is busy (a sync, reindex or reconcile is running); try again later"


def canary_gone(
    canary: Canary, sources: Sequence[Source], ledgers: Sequence[StateStore], privacy: PrivacyLedger
) -> str | None:
    """Why a canary's record may no longer be found (erased, revoked, deleted or excluded), or None
    if it must be. `ledgers`: the new generation's ledger first, then the live one. A record no
    ledger knows is not excused: a canary naming it is misconfigured and fails."""
    refs = [
        RecordRef(tenant_id=canary.tenant_id, source=s.name, record_id=canary.expect_record_id)
        for s in sources
        if s.tenant_id == canary.tenant_id
    ]
    for suppression in privacy.for_refs(refs).values():
        return "erased" if suppression.reason == "erasure" else "consent revoked through the API"
    found = [e for led in ledgers for e in led.ledger_get_many(refs).values()]
    if (
        found
        and found[0].status != "indexed"
        and not any(e.status == "indexed" for e in ledgers[0].ledger_get_many(refs).values())
    ):
        return f"{found[0].status} ({found[0].reason or 'no reason recorded'})"
    return None


def verify(
    store: IndexStore,
    ledger: StateStore,
    sources: Sequence[Source],
    canaries: Sequence[Canary],
    privacy: PrivacyLedger,
    embedder: Embedder,
    live_ledger: StateStore | None = None,
) -> list[Check]:
    checks: list[Check] = []
    for src in sources:
        expected = {e.record_id: e.chunk_count for e in ledger.ledger_for_source(src.name, "indexed")}
        held = store.record_chunk_counts(src.tenant_id, src.name)
        wrong = sorted(rid for rid in set(expected) | set(held) if expected.get(rid, 0) != held.get(rid, 0))
        checks.append(
            Check(
                name=f"ledger_counts:{src.name}",
                ok=not wrong,
                detail=f"{len(expected)} records expected, {len(wrong)} differ",
            )
        )
    for canary in canaries:
        gone = canary_gone(canary, sources, [ledger, *([live_ledger] if live_ledger else [])], privacy)
        if gone is not None:  # canaries follow erasure, revocation and deletion: skipped, and said so
            checks.append(
                Check(
                    name=f"canary:{canary.tenant_id}:{canary.expect_record_id}",
                    ok=True,
                    skipped=True,
                    detail=f"skipped: its record is {gone}",
                )
            )
            continue
        hits = store.search(
            embedder.embed_query(canary.question),
            where=IndexFilter(
                tenant_id=canary.tenant_id,
                purpose=canary.purpose,
                acl_user=canary.user_id,
                acl_teams=canary.team_ids,
                exclude_record_keys=privacy.suppressed_keys(canary.tenant_id),
            ),
            limit=canary.top_k,
        )
        ids = [str(h.payload.get("record_id")) for h in hits]
        checks.append(
            Check(
                name=f"canary:{canary.tenant_id}:{canary.expect_record_id}",
                ok=canary.expect_record_id in ids,
                detail=f"rank {ids.index(canary.expect_record_id) + 1}"
                if canary.expect_record_id in ids
                else "missing",
            )
        )
    leftovers = sum(store.count(ref=s.ref) for s in privacy.all())
    checks.append(
        Check(
            name="suppressed_zero_hits",
            ok=leftovers == 0,
            detail=f"{leftovers} chunks of erased/revoked records",
        )
    )
    return checks


def rebuild(
    *,
    gens: Generations,
    live: SwitchableIndex,
    parts: PipelineParts,
    sources: Sequence[Source],
    canaries: Sequence[Canary],
    actor: str,
    lock_keys: Sequence[str] | None = None,
    optimize: bool = True,
) -> RebuildReport:
    """Build, verify, swap. The caller holds the rebuild lock; every source's (and partition's)
    lock is held here for the whole run. The build writes its ledger into a scratch store in a
    temporary folder; once verified, that ledger is staged in the state store and swapped in with
    the pointer (and the server's alias) in one transaction."""
    started = time.perf_counter()
    state, privacy = parts.state, parts.privacy
    names = [s.name for s in sources]
    with locked(state, lock_keys or names, tag="rebuild", ttl=parts.lock_ttl, busy=_BUSY):
        previous = gens.pointer().live
        generation, store = gens.create()
        swapped = False
        with (
            tempfile.TemporaryDirectory(prefix=f"crm-rag-{generation}-") as work,
            StateStore(f"sqlite:///{Path(work) / 'ledger.db'}") as scratch,
        ):
            try:
                build = Refresher(dataclasses.replace(parts, index=store, state=scratch))
                failed = [
                    r
                    for r in (build.run(src, kind="reindex", actor=actor) for src in sources)
                    if r.status != "succeeded"
                ]
                replay_suppressions(privacy, store)
                store.flush()
                checks = [
                    Check(name=f"build:{r.source}", ok=False, detail=r.error or "failed") for r in failed
                ]
                if optimize and not failed:  # vector index built before the checks run against it
                    try:
                        store = gens.optimized(generation, store)
                    except StoreError as exc:  # the new generation is dropped below; live is untouched
                        store = gens.open(generation)
                        checks.append(Check(name="optimize", ok=False, detail=str(exc)))
                checks += verify(
                    store, scratch, sources, canaries, privacy, parts.embedder, live_ledger=state
                )
                chunks = store.count()
                if not all(c.ok for c in checks):
                    status: Literal["failed_verification", "failed_build"] = (
                        "failed_build" if failed else "failed_verification"
                    )
                    state.audit(
                        AuditEvent(
                            actor=actor,
                            action="rebuild_failed",
                            details={
                                "generation": generation,
                                "failed_checks": [c.name for c in checks if not c.ok],
                            },
                        )
                    )
                    return RebuildReport(
                        status=status,
                        generation=generation,
                        previous=previous,
                        checks=checks,
                        chunks=chunks,
                        seconds=round(time.perf_counter() - started, 2),
                    )
                gens.state.stage_ledger(generation, scratch, names)
                gens.promote(generation, names)  # ledgers, pointer and alias: one transaction
                swapped = True
                _suppressions_to_ledger(state, privacy)
                old = live.swap(gens.live_store_after_switch(store), generation)
                old.close()
                replay_suppressions(privacy, live)  # an erasure that raced the swap
            finally:
                if not swapped:  # failed checks or an error: the new generation goes, live is untouched
                    store.close()
                    gens.drop(generation)
    state.audit(
        AuditEvent(
            actor=actor,
            action="alias_swap",
            details={"live": generation, "previous": previous, "chunks": chunks, "checks": len(checks)},
        )
    )
    return RebuildReport(
        status="swapped",
        generation=generation,
        previous=previous,
        checks=checks,
        chunks=chunks,
        seconds=round(time.perf_counter() - started, 2),
    )


def rollback(
    *,
    gens: Generations,
    live: SwitchableIndex,
    parts: PipelineParts,
    sources: Sequence[Source],
    actor: str,
    lock_keys: Sequence[str] | None = None,
) -> RebuildReport:
    """Make the previous generation live again, with the ledger that matches it (both read from the
    state store, so any process can roll back a rebuild another one ran). The caller holds the
    rebuild lock."""
    started = time.perf_counter()
    state, privacy = parts.state, parts.privacy
    if gens.pointer().previous is None:
        raise RebuildError("there is no previous generation to roll back to")
    names = [s.name for s in sources]
    with locked(state, lock_keys or names, tag="rollback", ttl=parts.lock_ttl, busy=_BUSY):
        try:
            pointer = gens.roll_back(names)
        except NoPreviousGenerationError as exc:
            raise RebuildError(str(exc)) from None
        live.swap(gens.open_live(), pointer.live).close()
        replay_suppressions(privacy, live)  # erasures since the swap hold for the old generation too
        _suppressions_to_ledger(state, privacy)
    state.audit(
        AuditEvent(
            actor=actor, action="rollback", details={"live": pointer.live, "previous": pointer.previous}
        )
    )
    return RebuildReport(
        status="rolled_back",
        generation=pointer.live,
        previous=pointer.previous,
        checks=[],
        chunks=live.count(),
        seconds=round(time.perf_counter() - started, 2),
    )


def _suppressions_to_ledger(state: StateStore, privacy: PrivacyLedger) -> None:
    """A ledger copied from another generation must still show what was erased or revoked since."""
    for s in privacy.all():
        status: Literal["erased", "excluded"] = "erased" if s.reason == "erasure" else "excluded"
        state.mark_ledger([s.ref], status=status, reason=s.reason)
