"""Issue 20: the CLI a newcomer meets. Expected failures print one line and a hint, never a
traceback; options parse as the README shows them. The real CLI runs in a subprocess."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ingest.index.generations import EdgeGenerations
from ingest.stages.embedding import Embedder
from ingest.store.audit_log import AuditEvent
from ingest.store.state import StateStore
from policies.redaction import PresidioRedactor
from rag_service.app import create_app
from rag_service.cli import _empty_service, build_parser
from rag_service.config import Settings, load_settings
from rag_service.services import Services, build_services
from rag_service.timestamps import PATTERN
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
DEMO_CRM = ROOT / "demo" / "crm"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag_service.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def one_source_config(tmp_path: Path) -> Path:
    config = tmp_path / "cfg.yaml"
    config.write_text(
        json.dumps(
            {
                "data_dir": str(tmp_path / "var"),
                "sources": [
                    {"kind": "file", "name": "nw", "tenant_id": "northwind"}
                    | {"path": str(DEMO_CRM / "northwind")}
                ],
            }
        )
    )
    return config


def assert_clean_failure(out: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert out.returncode == code, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("error: "), out.stderr
    assert "hint: " in out.stderr
    for needle in needles:
        assert needle in out.stderr


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_has_help() -> None:
    parser = build_parser()
    for name, sub in {"": parser, **_subparsers(parser)}.items():
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name or 'crm-rag'} {action.option_strings or action.dest} has no help"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["sync", "--source", "a", "b"], ["a", "b"]),
        (["sync", "--source", "a", "--source", "b"], ["a", "b"]),
        (["sync", "--source", "a", "b", "--source", "c"], ["a", "b", "c"]),
        (["sync"], None),
    ],
)
def test_source_takes_several_names(argv: list[str], expected: list[str] | None) -> None:
    assert build_parser().parse_args(argv).source == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["--config", "x.yaml", "--log-level", "info", "sync"],
        ["sync", "--config", "x.yaml", "--log-level", "Info"],
        ["--log-level", "error", "sync", "--config", "x.yaml", "--log-level", "INFO"],
    ],
)
def test_config_and_log_level_anywhere_and_any_case(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.config == Path("x.yaml")
    assert args.log_level == "INFO"
    assert args.debug is False


def test_config_before_the_subcommand_is_kept() -> None:
    args = build_parser().parse_args(["--config", "x.yaml", "--debug", "audit", "verify"])
    assert args.config == Path("x.yaml")
    assert args.debug is True


def test_unknown_source_fails_fast_with_the_known_names(tmp_path: Path) -> None:
    config = one_source_config(tmp_path)
    started = time.perf_counter()
    out = cli("sync", "--config", str(config), "--source", "nope")
    # fails before any model is loaded (loading takes several seconds)
    assert time.perf_counter() - started < 15
    assert_clean_failure(out, 2, "unknown source: nope", "configured sources: nw")
    assert not (tmp_path / "var").exists()


def test_audit_on_a_new_data_folder_says_so(tmp_path: Path) -> None:
    config = one_source_config(tmp_path)
    for action in ("verify", "export", "runs"):
        out = cli("audit", action, "--config", str(config))
        assert_clean_failure(out, 1, "no state store at", "run `crm-rag sync` first")
    assert not (tmp_path / "var").exists()  # looking does not create it
    debug = cli("audit", "verify", "--config", str(config), "--debug")
    assert "Traceback" in debug.stderr


def test_audit_export_into_a_closed_pipe(tmp_path: Path) -> None:
    db = tmp_path / "var" / "state.db"
    db.parent.mkdir()
    with StateStore(f"sqlite:///{db}") as state:
        state.audit(*(AuditEvent(actor="test", action="probe", details={"n": i}) for i in range(3000)))
    config = one_source_config(tmp_path)
    cmd = f"{sys.executable} -m rag_service.cli --config {config} audit export | head -n 1"
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert json.loads(out.stdout)["action"] in {"probe", "versions"}
    assert "Traceback" not in out.stderr
    assert "BrokenPipe" not in out.stderr


def test_unreachable_qdrant_names_url_and_cause(tmp_path: Path) -> None:
    config = one_source_config(tmp_path)
    out = cli("sync", "--config", str(config), env={"QDRANT_URL": "http://127.0.0.1:9"})
    assert_clean_failure(out, 1, "http://127.0.0.1:9", "connection refused")
    assert len(out.stderr.strip().splitlines()) == 2  # the error and the hint, nothing else


def test_second_process_on_the_same_index(tmp_path: Path) -> None:
    config = one_source_config(tmp_path)
    settings = load_settings(config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    state = StateStore(settings.state.url)
    gens = EdgeGenerations(
        settings.index.path, 384, state, index_name=settings.index.collection, lock_ttl=timedelta(minutes=5)
    )
    store = gens.open_live()  # this process owns the shard now
    try:
        out = cli("sync", "--config", str(config))
    finally:
        store.close()
        state.close()
    assert_clean_failure(out, 1, "in use by another process", "admin API")


def test_reindex_of_an_unknown_record(tmp_path: Path) -> None:
    config = one_source_config(tmp_path)
    out = cli("reindex", "--config", str(config), "--source", "nw", "--record", "DOES-NOT-EXIST")
    assert_clean_failure(out, 2, "'DOES-NOT-EXIST' not found in source 'nw'")
    assert "succeeded" not in out.stdout


def test_no_configuration_at_all_is_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CRM_RAG_")}
    out = subprocess.run(
        [sys.executable, "-m", "rag_service.cli", "serve"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert_clean_failure(out, 2, "no configuration", "config/demo.yaml")
    assert not (tmp_path / "var").exists()


def test_an_empty_service_is_not_ready(
    tmp_path: Path, embedder: Embedder, redactor: PresidioRedactor
) -> None:
    settings = Settings.model_validate(
        {"data_dir": tmp_path, "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"}}
        | {"index": {"path": tmp_path / "index"}}
    )
    assert [gap.split(":")[0] for gap in _empty_service(settings)] == [
        "no sources configured",
        "no API keys configured",
    ]
    services = build_services(settings, embedder=embedder, redactor=redactor)
    try:
        with TestClient(create_app(settings, services=services, start_scheduler=False)) as client:
            ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["sources"] == "none configured"
    finally:
        services.close()


def test_status_reads_the_state_next_to_the_index_owner(tmp_path: Path, demo_services: Services) -> None:
    settings = demo_services.settings  # its process owns the index: status must not need it
    config = tmp_path / "cfg.yaml"
    config.write_text(
        json.dumps(
            {
                "data_dir": str(settings.data_dir),
                "state": {"url": settings.state.url},
                "sources": [s.model_dump(mode="json") for s in settings.sources],
            }
        )
    )
    out = cli("status", "--config", str(config))
    assert out.returncode == 0, out.stderr
    rows = {row["source"]: row for row in map(json.loads, out.stdout.splitlines())}
    assert set(rows) == {s.name for s in settings.sources}
    for row in rows.values():
        assert row["records"]["indexed"] > 0 and row["chunks"] >= row["records"]["indexed"]
        assert row["last_run"]["status"] == "succeeded"
        assert PATTERN.fullmatch(row["last_run"]["finished_at"])
        assert row["freshness_seconds"] is not None and row["next_run_due"]
    assert rows["contoso-files"]["quarantined"] == 5


def test_check_config(tmp_path: Path) -> None:
    demo = cli("check-config", "--config", str(ROOT / "config" / "demo.yaml"))
    assert demo.returncode == 0, demo.stderr
    summary = json.loads(demo.stdout)
    assert summary["problems"] == [] and summary["api_keys"] == {"admin": 1, "assistant": 1, "auditor": 1}
    assert summary["policies"]["consent"] and summary["policies"]["redaction"]
    assert "sha256" not in demo.stdout
    empty = tmp_path / "empty.yaml"
    empty.write_text("data_dir: ./var\n")
    out = cli("check-config", "--config", str(empty))
    assert out.returncode == 1
    assert "problem: no sources configured" in out.stderr and "problem: no API keys" in out.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("api: {port: 0}\n")
    invalid = cli("check-config", "--config", str(bad))
    assert invalid.returncode == 2
    assert "api.port" in invalid.stderr
    assert "Traceback" not in invalid.stderr


def test_query_from_the_cli(tmp_path: Path, demo_snapshot: tuple[Path, list[Any]]) -> None:
    """On a copy of the ingested demo set."""
    shutil.copytree(demo_snapshot[0], tmp_path / "demo", ignore=shutil.ignore_patterns("*.lock"))
    settings = make_settings(tmp_path / "demo" / "var", tmp_path / "demo" / "crm")
    config = tmp_path / "cfg.yaml"
    config.write_text(
        json.dumps(
            {
                "data_dir": str(settings.data_dir),
                "state": {"url": settings.state.url},
                "index": {"path": str(settings.index.path)},
                "sources": [s.model_dump(mode="json") for s in settings.sources],
            }
        )
    )
    ask = ["query", "Which customer asked for SAML single sign-on with Okta?", "--config", str(config)]
    ask += ["--tenant", "northwind", "--purpose", "support_assistant", "--user", "u-no-03"]
    ask += ["--team", "team-northwind-sales"]
    out = cli(*ask)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["answer"] and "N-nor-0003" in [s["record_id"] for s in result["sources"]]
    tickets = json.loads(cli(*ask, "--record-type", "ticket", "--top-k", "3").stdout)
    assert tickets["sources"] and {s["record_type"] for s in tickets["sources"]} == {"ticket"}
    unknown = cli(*[a if a != "northwind" else "initech" for a in ask])
    assert_clean_failure(unknown, 2, "no such tenant", "configured tenants: contoso, globex, northwind")
    wrong = cli(*ask, "--record-type", "tickets")
    assert_clean_failure(wrong, 2, "invalid query", "filters.record_types.0")


def test_reindex_of_one_record_takes_the_source_lock(tmp_path: Path) -> None:
    """Issue 11: `crm-rag reindex --record` went around the source lock the API path takes."""
    from ingest.store.runs import lock_owner

    config = one_source_config(tmp_path)
    settings = load_settings(config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    record = json.loads((DEMO_CRM / "northwind" / "notes.jsonl").read_text().splitlines()[0])["record_id"]
    with StateStore(settings.state.url) as state:
        owner = lock_owner("a-sync-in-another-process")  # this test process: alive, so the lock holds
        assert state.try_lock("nw", owner, timedelta(minutes=5))
        out = cli("reindex", "--config", str(config), "--source", "nw", "--record", record)
        state.unlock("nw", owner)
        runs = state.list_runs(source="nw")
    assert_clean_failure(out, 1, "busy")
    assert not [r for r in runs if r["kind"] == "reindex_record" and r["status"] == "succeeded"]
