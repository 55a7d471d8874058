"""Read-only CLI commands: query, status, check-config, audit. `status`, `check-config` and
`audit` read the settings and the state store only, so they run next to `serve`."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from rag_service.cli_errors import CliFailure, sqlite_path
from rag_service.config import Settings
from rag_service.timestamps import dumps

if TYPE_CHECKING:
    from ingest.store.state import StateStore


def _existing_state(settings: Settings) -> StateStore:
    """Open the state store for reading; a SQLite file that does not exist yet is not created."""
    from ingest.store.state import StateStore

    db = sqlite_path(settings.state.url)
    if db is not None and not db.is_file():
        raise CliFailure(
            f"no state store at {db}: nothing has run with this data folder yet",
            "check --config / CRM_RAG_DATA_DIR, or run `crm-rag sync` first",
        )
    return StateStore(settings.state.url)


def cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    """The API's query path (same checks, filters, ACL and suppression) from the command line. It
    opens the embedded index, so with `serve` running ask the API instead."""
    from pydantic import ValidationError

    from rag_service.config import describe_config_errors
    from rag_service.querying import QueryRefused, answer, check_query, retrieve
    from rag_service.schemas import QueryRequest
    from rag_service.services import build_services

    filters: dict[str, object] = {"record_types": args.record_type or [], "account_ids": args.account or []}
    filters |= {"updated_from": args.updated_from, "updated_to": args.updated_to}
    try:
        body = QueryRequest.model_validate(
            {
                "question": args.question,
                "tenant_id": args.tenant,
                "purpose": args.purpose,
                "user": {"user_id": args.user, "team_ids": args.team or []},
                "filters": filters,
                "top_k": args.top_k,
                "retrieval": args.retrieval,
            }
        )
    except ValidationError as exc:
        lines = describe_config_errors(exc).split("\n", 1)[1]
        raise CliFailure(f"invalid query:\n{lines}", "see crm-rag query -h", code=2) from None
    services = build_services(settings)
    try:
        started = time.perf_counter()
        top_k = check_query(services, body)
        result = answer(
            services, body, retrieve(services, body, top_k), round((time.perf_counter() - started) * 1000, 2)
        )
    except QueryRefused as exc:
        known = sorted({s.tenant_id for s in settings.sources}) if exc.status == 404 else []
        hint = f"configured tenants: {', '.join(known)}" if known else "see crm-rag query -h"
        raise CliFailure(exc.detail, hint, code=2) from None
    finally:
        services.close()
    print(dumps(result, indent=1))
    return 0


def cmd_check_config(args: argparse.Namespace, settings: Settings) -> int:
    """The configuration as loaded (secrets left out), with the policies validated. Exit 1 when it
    lacks what a working service needs (sources, keys, valid policies)."""
    from rag_service.status import config_summary

    summary = config_summary(settings)
    print(dumps(summary, indent=1))
    for problem in summary["problems"]:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if summary["problems"] else 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Per source: records, chunks, quarantine, last run and error, freshness, completeness, next
    run. Reads the state store only, so it runs next to `serve`."""
    from rag_service.status import source_status

    state = _existing_state(settings)
    try:
        for row in source_status(settings, state):
            print(dumps(row))
    finally:
        state.close()
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    state = _existing_state(settings)
    try:
        if args.action == "verify":
            ok, checked, bad = state.verify_audit_chain()
            print(dumps({"ok": ok, "events_checked": checked, "first_bad_event_id": bad}))
            return 0 if ok else 1
        if args.action == "export":
            out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
            try:
                for row in reversed(state.list_audit(limit=args.limit)):
                    out.write(dumps(row) + "\n")
            finally:
                if out is not sys.stdout:
                    out.close()
            return 0
        for run in state.list_runs(limit=args.limit):
            print(dumps(run))
        return 0
    finally:
        state.close()
