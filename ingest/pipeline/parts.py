"""What a refresh is built from: the wiring bag the API, the job runner and rebuilds hand to a
Refresher. Only the refresher reads it; the stages it calls take just what they use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from ingest.index.base import IndexStore
from ingest.models import RecordRef, RunCounts, RunReport
from ingest.stages.chunking import Chunker
from ingest.stages.embedding import Embedder
from ingest.stages.lexical import LexicalEncoder
from ingest.stages.staging import Stager
from ingest.stages.writer import Provenance
from ingest.store.privacy import PrivacyLedger
from ingest.store.state import StateStore
from policies.consent import ConsentPolicy
from policies.redaction import Redactor

Progress = Callable[[str, RunCounts], None]
# a test seam: called at named points of every page ("fetched": before its write intents are
# announced, "staged": redacted and embedded, nothing written yet, "committed": state committed,
# intents not yet withdrawn) with the page's record refs; a test can hold a page there
PageHook = Callable[[str, Sequence[RecordRef]], None]


@dataclass(frozen=True, slots=True)
class PipelineParts:
    state: StateStore
    index: IndexStore
    embedder: Embedder
    redactor: Redactor
    consent: ConsentPolicy
    chunker: Chunker
    privacy: PrivacyLedger
    lexical: LexicalEncoder | None = None  # the sparse vector beside the dense one (ingest/stages/lexical.py)
    lock_ttl: timedelta = timedelta(hours=1)
    max_delete_share: float = 0.15
    guard_min_records: int = 20
    on_run: Callable[[RunReport], None] | None = None  # observer (metrics); never raises into a run
    stop: threading.Event | None = None  # set on shutdown: runs end after the page in flight
    page_hook: PageHook | None = None
    future_skew: timedelta = timedelta(minutes=5)  # records dated later are held (ingest/stages/horizon.py)
    stager: Stager | None = None  # where redaction + embedding run (ingest/stages/staging.py); None: here

    @property
    def provenance(self) -> Provenance:
        return Provenance(
            redaction_policy=self.redactor.policy_version,
            detector=self.redactor.detector_version,
            model_id=self.embedder.model_id,
            chunker=self.chunker.signature,
            lexical=self.lexical.signature if self.lexical is not None else None,
        )
