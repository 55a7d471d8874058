"""Exception tree of the ingest package. Batch runs report per-record failures as values;
these exceptions are for failures of a whole run or of a store."""


class IngestError(Exception):
    """Base class."""


class SourceError(IngestError):
    """A source could not be read (after retries). `status` is the HTTP status of the answer that
    ended the call (None: no answer, e.g. a timeout, or not an HTTP source)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SourceAuthError(SourceError):
    """The source refused our credentials (HTTP 401): expired or revoked."""


class SourceRateLimitedError(SourceError):
    """The source's quota is spent for longer than a run should wait (a daily limit, or a
    Retry-After beyond the policy's cap): the run fails now and the next scheduled run retries."""

    def __init__(self, message: str, retry_after: float | None = None, *, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class StoreError(IngestError):
    """The index store or the state store failed."""


class StoreLockedError(StoreError):
    """Another process owns the embedded index directory."""


class StoreBusyError(StoreError):
    """The index is already doing this maintenance (a fold-in is running)."""


class LiveIndexMissingError(StoreError):
    """The state store names a live generation the Qdrant server does not hold (its alias is
    gone): the server lost data or QDRANT_URL names another server. Never papered over with a new,
    empty collection, since the ledger would then skip every record as unchanged."""


class SourceBusyError(IngestError):
    """A sync or reindex of this source is already running."""


class UnknownSourceError(IngestError):
    """No source instance with that name is configured."""
