"""Command line: crm-rag serve | worker | sync | reindex | reconcile | retire-source | rebuild | optimize |
query | check-config | status | audit."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

from ingest.models import RecordRef, RunCounts, RunReport
from ingest.pipeline import Progress
from rag_service.cli_errors import CliFailure, explain
from rag_service.cli_read import cmd_audit, cmd_check_config, cmd_query, cmd_status
from rag_service.config import Settings, load_settings
from rag_service.logs import STDERR, setup_logging
from rag_service.timestamps import dumps


def _progress(started: float) -> Progress:
    def report(source: str, counts: RunCounts) -> None:
        elapsed = time.perf_counter() - started
        STDERR.progress(
            f"[{source}] pages {counts.pages}  fetched {counts.fetched}  indexed {counts.indexed}  "
            f"unchanged {counts.unchanged}  excluded {counts.excluded}  quarantined {counts.quarantined}  "
            f"chunks {counts.chunks_written}  {elapsed:6.1f}s"
        )

    return report


def _print_report(report: RunReport) -> None:
    STDERR.end_progress()
    print(dumps(report))


def _check_sources(names: list[str] | None, settings: Settings) -> None:
    """Unknown source names fail fast (exit 2), before any model is loaded."""
    known = [s.name for s in settings.sources]
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise CliFailure(
            f"unknown source{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
            f"configured sources: {', '.join(known) or '(none: add sources to the config file)'}",
            code=2,
        )


def _sync_all(settings: Settings, names: list[str] | None, kind: str) -> int:
    from rag_service.services import build_services

    _check_sources(names, settings)

    services = build_services(settings)
    failed = 0
    try:
        for cfg in settings.sources:
            if names and cfg.name not in names:
                continue
            started = time.perf_counter()
            report = services.run(
                cfg.name,
                kind="reindex" if kind == "reindex" else "sync",
                actor="cli",
                progress=_progress(started),
            )
            _print_report(report)
            failed += report.status != "succeeded"
    finally:
        services.close()
    return 1 if failed else 0


def _empty_service(settings: Settings) -> list[str]:
    """What makes a service that starts but can do nothing useful (said out loud at startup)."""
    gaps: list[str] = []
    if not settings.sources:
        gaps.append("no sources configured: nothing will be indexed (config: sources)")
    if not settings.auth.keys:
        gaps.append("no API keys configured: every endpoint but /healthz, /readyz, /metrics answers 401")
    return gaps


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from rag_service.app import create_app
    from rag_service.services import build_services

    for gap in _empty_service(settings):
        print(f"warning: {gap}", file=sys.stderr)
    print("loading models and opening the index ...", file=sys.stderr)
    services = build_services(settings, serving=True)
    if args.sync_first:
        for cfg in settings.sources:
            started = time.perf_counter()
            _print_report(services.run(cfg.name, actor="startup", progress=_progress(started)))
    # the app closes the services on shutdown (SIGTERM/SIGINT): runs in flight finish their page first
    app = create_app(
        settings,
        services=services,
        start_scheduler=not args.no_scheduler and settings.scheduler.enabled,
        owns_services=True,
    )
    host = args.host or settings.api.host
    port = args.port or settings.api.port
    print(f"serving on http://{host}:{port}  (OpenAPI docs at /docs)", file=sys.stderr)
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    finally:
        services.close()
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Background worker: no HTTP; claims due jobs (syncs, reprocess-stale, reconcile, scheduled
    rebuilds) from the shared schedule (PostgreSQL for several workers) until SIGTERM/SIGINT, then
    lets the page in flight finish."""
    import signal
    import socket
    import threading

    from rag_service.services import build_services

    services = build_services(settings)
    worker = args.name or f"{socket.gethostname()}-{os.getpid()}"
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    services.start_worker(worker, args.tick)
    print(f"worker {worker} running ({len(settings.sources)} sources)", file=sys.stderr, flush=True)
    try:
        stop.wait()
    finally:
        services.close()
    return 0


def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    return _sync_all(settings, args.source or None, "sync")


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    if args.record:
        from rag_service.services import build_services

        if not args.source or len(args.source) != 1:
            print("--record needs exactly one --source", file=sys.stderr)
            return 2
        _check_sources(args.source, settings)
        services = build_services(settings)
        try:
            source = services.source(args.source[0])
            ref = RecordRef(tenant_id=source.tenant_id, source=source.name, record_id=args.record)
            if source.get(args.record) is None and services.state.ledger_get(ref) is None:
                raise CliFailure(
                    f"record {args.record!r} not found in source {source.name!r} (neither in the source "
                    "nor in the index)",
                    "record ids are the CRM's own ids, as in the `record_id` of a query source",
                    code=2,
                )
            report = services.reindex_record(source.name, args.record, actor="cli")  # under the source lock
        finally:
            services.close()
        _print_report(report)
        return 0 if report.status == "succeeded" else 1
    return _sync_all(settings, args.source or None, "reindex")


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from rag_service.services import build_services

    _check_sources(args.source, settings)
    services = build_services(settings)
    worst = 0
    try:
        for cfg in settings.sources:
            if args.source and cfg.name not in args.source:
                continue
            report = services.reconcile(cfg.name, confirm=args.confirm, actor="cli", dry_run=args.dry_run)
            print(dumps(report))
            if report.status == "needs_confirmation":
                worst = 3
    finally:
        services.close()
    return worst


def cmd_retire_source(args: argparse.Namespace, settings: Settings) -> int:
    """Purge a source removed from the configuration (chunks, ledger, cursors, quarantine)."""
    from ingest.errors import IngestError
    from rag_service.services import build_services

    if not args.yes:
        print(f"this deletes every chunk and ledger row of source {args.name!r}; add --yes", file=sys.stderr)
        return 2
    services = build_services(settings)
    try:
        receipts = services.retire_source(args.name, actor="cli")
    except IngestError as exc:
        print(f"cannot retire: {exc}", file=sys.stderr)
        return 1
    finally:
        services.close()
    for receipt in receipts:
        print(dumps(receipt))
    return 0 if all(r.verified for r in receipts) else 1


def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from rag_service.services import build_services

    services = build_services(settings)
    try:
        if args.rollback:
            report = services.rollback(actor="cli")
        else:
            print("building a new index generation from every source ...", file=sys.stderr)
            report = services.rebuild(actor="cli")
    finally:
        services.close()
    print(dumps(report, indent=1))
    return 0 if report.status in ("swapped", "rolled_back") else 1


def cmd_optimize(args: argparse.Namespace, settings: Settings) -> int:
    """Build the HNSW index of the live edge shard; the serving process must be stopped (it owns
    the shard). A rebuild does the same for its new generation without stopping anything."""
    from datetime import timedelta

    from ingest.index.fold_in import active_dir
    from ingest.index.generations import EdgeGenerations
    from ingest.index.optimize import optimize_shard
    from ingest.store.state import StateStore

    if settings.index.backend != "edge":
        print("the Qdrant server builds its indexes itself; nothing to do", file=sys.stderr)
        return 0
    with StateStore(settings.state.url) as state:  # the live generation is recorded there
        gens = EdgeGenerations(
            settings.index.path,
            0,  # the dimension is unused for an existing shard
            state,
            index_name=settings.index.collection,
            lock_ttl=timedelta(seconds=settings.scheduler.lock_ttl_seconds),
        )
        live = gens.pointer().live
    print(dumps(optimize_shard(active_dir(gens.shard_slot(live)))))
    return 0


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options accepted before and after the subcommand. After it they default to SUPPRESS, so a
    value given before the subcommand is not overwritten."""

    def default(value: object) -> object:
        return value if top else argparse.SUPPRESS

    parser.add_argument(
        "--config",
        type=Path,
        default=default(None),
        help="YAML config file (default: $CRM_RAG_CONFIG); accepted before or after the subcommand",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=LOG_LEVELS,
        default=default("WARNING"),
        metavar="LEVEL",
        help="log level on stderr, any case: debug, info, warning (default), error, critical",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="show the full traceback of a failure instead of one line and a hint",
    )


def _sources_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--source",
        nargs="+",
        action="extend",
        metavar="NAME",
        help=f"source name(s) to {what} (repeatable: --source a b or --source a --source b; default all)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-rag", description=__doc__)
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help, description=help)
        _common(cmd, top=False)
        return cmd

    serve = command("serve", "run the HTTP API (and the scheduler)")
    serve.add_argument("--host", help="interface to bind (default: api.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: api.port, 8000)")
    serve.add_argument("--sync-first", action="store_true", help="sync every source before serving")
    serve.add_argument(
        "--no-scheduler", action="store_true", help="do not run scheduled syncs in this process (API only)"
    )
    serve.set_defaults(func=cmd_serve)

    work = command(
        "worker",
        "run scheduled jobs (sync, reprocess-stale, reconcile) without HTTP (several may share PostgreSQL)",
    )
    work.add_argument("--name", help="worker id (default host-pid)")
    work.add_argument(
        "--tick",
        type=int,
        help="seconds between looks at the shared schedule (default: scheduler.tick_seconds)",
    )
    work.set_defaults(func=cmd_worker)

    sync = command("sync", "incremental sync of sources (all by default)")
    _sources_option(sync, "sync")
    sync.set_defaults(func=cmd_sync)

    reindex = command("reindex", "re-process sources or one record from scratch")
    _sources_option(reindex, "re-process")
    reindex.add_argument("--record", metavar="ID", help="one record id (needs exactly one --source)")
    reindex.set_defaults(func=cmd_reindex)

    recon = command("reconcile", "remove stale chunks, report index completeness")
    _sources_option(recon, "reconcile")
    recon.add_argument("--confirm", action="store_true", help="allow deleting more than max_delete_share")
    recon.add_argument(
        "--dry-run",
        action="store_true",
        help="list the records whose chunks would go or be re-processed; change nothing",
    )
    recon.set_defaults(func=cmd_reconcile)

    retire = command("retire-source", "purge a source removed from the configuration (audit event, receipt)")
    retire.add_argument("name", help="name of the source that is no longer configured")
    retire.add_argument("--yes", action="store_true", help="really delete its chunks and ledger")
    retire.set_defaults(func=cmd_retire_source)

    rebuild = command("rebuild", "blue/green rebuild: build, verify, swap (or --rollback)")
    rebuild.add_argument("--rollback", action="store_true", help="make the previous generation live again")
    rebuild.set_defaults(func=cmd_rebuild)

    optimize = command("optimize", "build the vector index of the live edge shard (service stopped)")
    optimize.set_defaults(func=cmd_optimize)

    ask = command("query", "ask a question as POST /query does (same filters and ACL); not while serve runs")
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--tenant", required=True, help="tenant id (as in the sources' tenant_id)")
    ask.add_argument(
        "--purpose", required=True, help="purpose of use, e.g. support_assistant (consent policy)"
    )
    ask.add_argument("--user", required=True, help="CRM user id the answer is for (record ACL: owner)")
    ask.add_argument("--team", nargs="+", action="extend", help="the user's team id(s) (record ACL: teams)")
    ask.add_argument(
        "--record-type", nargs="+", action="extend", help="filter: note, ticket and/or transcript"
    )
    ask.add_argument("--account", nargs="+", action="extend", help="filter: CRM account id(s)")
    ask.add_argument(
        "--updated-from", help="filter: updated at or after (RFC 3339, e.g. 2026-09-01T00:00:00Z)"
    )
    ask.add_argument("--updated-to", help="filter: updated at or before (RFC 3339)")
    ask.add_argument("--top-k", type=int, help="number of sources (default: api.default_top_k)")
    ask.add_argument(
        "--retrieval",
        choices=("hybrid", "dense", "lexical"),
        type=str.lower,
        help="dense and lexical legs fused, or one leg (default: retrieval.mode)",
    )
    ask.set_defaults(func=cmd_query)

    check = command("check-config", "validate the configuration and policies; print them without secrets")
    check.set_defaults(func=cmd_check_config)

    stat = command("status", "per source: records, chunks, last run and error, freshness, next run")
    stat.set_defaults(func=cmd_status)

    audit = command("audit", "audit log: verify the hash chain, export JSON lines, list runs")
    audit.add_argument(
        "action",
        choices=["verify", "export", "runs"],
        help="verify: check the hash chain; export: audit events as JSON lines; runs: job runs",
    )
    audit.add_argument("--out", metavar="FILE", help="export: write to FILE instead of stdout")
    audit.add_argument("--limit", type=int, default=100_000, help="at most this many events or runs")
    audit.set_defaults(func=cmd_audit)
    return parser


def _fail(failure: CliFailure) -> int:
    STDERR.line(f"error: {failure.message}")
    if failure.hint:
        STDERR.line(f"hint: {failure.hint}")
    return failure.code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    # qdrant-client warns before its first request fails; the failure itself is explained below
    warnings.filterwarnings("ignore", message="Failed to obtain server version", category=UserWarning)
    if args.config is None and not any(k.upper().startswith("CRM_RAG_") for k in os.environ):
        return _fail(
            CliFailure(
                "no configuration: neither --config nor CRM_RAG_CONFIG nor any CRM_RAG_ variable is set",
                "start from config/demo.yaml: crm-rag --config config/demo.yaml ... (README, Configuration)",
                code=2,
            )
        )
    try:
        settings = load_settings(args.config)
    except Exception as exc:
        if args.debug:
            raise
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        code: int = args.func(args, settings)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`crm-rag audit export | head`): stop quietly; the interpreter's
        # final flush must not hit the closed pipe again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        failure = explain(exc, settings)
        if failure is None or args.debug:
            raise
        return _fail(failure)
    return code


if __name__ == "__main__":
    sys.exit(main())
