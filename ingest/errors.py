"""Exception tree of the ingest package. Batch runs report per-record failures as values;
these exceptions are for failures of a whole run or of a store."""


class IngestError(Exception):
    """Base class."""


class SourceError(IngestError):
    """A source could not be read (after retries)."""


class StoreError(IngestError):
    """The index store or the state store failed."""


class StoreLockedError(StoreError):
    """Another process owns the embedded index directory."""


class SourceBusyError(IngestError):
    """A sync or reindex of this source is already running."""


class UnknownSourceError(IngestError):
    """No source instance with that name is configured."""
