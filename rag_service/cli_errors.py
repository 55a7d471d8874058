"""Expected CLI failures as one clear line and a hint, never a traceback (`--debug` shows it).

`explain(exc, settings)` maps an exception to a `CliFailure` or returns None for a real bug, which
the CLI re-raises. Messages name settings, URLs (passwords hidden) and causes, never record content.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest.errors import LiveIndexMissingError, SourceBusyError, StoreLockedError, UnknownSourceError
from rag_service.config import ConfigError, Settings


@dataclass(frozen=True)
class CliFailure(Exception):
    """A failure the user can fix: printed as `error: ...` + `hint: ...`, exit `code`."""

    message: str
    hint: str = ""
    code: int = 1

    def __str__(self) -> str:
        return self.message


def safe_url(url: str) -> str:
    """A database URL with its password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"


def sqlite_path(url: str) -> Path | None:
    """The file of a sqlite URL (None for other databases or in-memory)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url[len(prefix) :] in ("", ":memory:"):
        return None
    return Path(url[len(prefix) :])


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def _cause(exc: BaseException) -> str:
    """The innermost OS-level reason ("connection refused", "name or service not known")."""
    for err in reversed(_chain(exc)):
        if isinstance(err, ConnectionRefusedError):
            return "connection refused"
        if isinstance(err, OSError) and err.strerror:
            return err.strerror.lower()
    text = str(_chain(exc)[-1]).lower()
    for known in ("connection refused", "name or service not known", "timed out", "no route to host"):
        if known in text:
            return known
    return type(_chain(exc)[-1]).__name__


def _is_unreachable(exc: BaseException) -> bool:
    import httpx

    names = {"ResponseHandlingException", "UnexpectedResponse"}
    return any(
        isinstance(err, ConnectionError | httpx.TransportError | TimeoutError) or type(err).__name__ in names
        for err in _chain(exc)
    )


def explain(exc: BaseException, settings: Settings | None) -> CliFailure | None:
    if isinstance(exc, CliFailure):
        return exc
    if isinstance(exc, StoreLockedError):
        return CliFailure(str(exc), "while `crm-rag serve` runs, use the admin API (POST /admin/...)")
    if isinstance(exc, LiveIndexMissingError):
        return CliFailure(
            str(exc),
            "restore the server's snapshot of that collection (README, Backup and restore), or check "
            "that QDRANT_URL names the right server; nothing was created",
        )
    if isinstance(exc, SourceBusyError):
        return CliFailure(f"busy: {exc}", "wait for the running job (crm-rag status / GET /admin/runs)")
    if isinstance(exc, UnknownSourceError):
        known = ", ".join(s.name for s in settings.sources) if settings else ""
        return CliFailure(str(exc), f"configured sources: {known or '(none)'}", code=2)
    if isinstance(exc, ConfigError):
        return CliFailure(f"configuration error: {exc}", "fix the config file or CRM_RAG_ variables", 2)
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError) and settings is not None:
        return CliFailure(
            f"cannot open the state store {safe_url(settings.state.url)}: {_cause(exc)}",
            "check state.url (CRM_RAG_STATE__URL) and that the database server or folder exists",
        )
    if settings is not None and settings.index.backend == "qdrant" and _is_unreachable(exc):
        return CliFailure(
            f"cannot reach the Qdrant server at {settings.index.qdrant_url}: {_cause(exc)}",
            "is the server running? check QDRANT_URL (or index.qdrant_url) and QDRANT_API_KEY",
        )
    return None
