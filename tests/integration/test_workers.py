"""Two worker processes sharing the PostgreSQL state: each due run fires exactly once, runs of a
source never overlap, and the sources spread over both workers."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from ingest.partition import bucket
from ingest.store.state import StateStore
from tests.conftest import ROOT
from tests.integration.helpers import wait_for


def note_lines(prefix: str, n: int) -> str:
    return "".join(
        json.dumps(
            {
                "record_id": f"{prefix}-{i}",
                "record_type": "note",
                "updated_at": f"2026-10-01T10:{i // 60:02d}:{i % 60:02d}+00:00",
                "url": f"https://crm.example/{prefix}/{i}",
                "owner_id": "u",
                "consent": {"assistant_use": "granted"},
                "body": f"Note {i} of {prefix} about the renewal.",
            }
        )
        + "\n"
        for i in range(n)
    )


def start_workers(
    tmp_path: Path,
    pg_url: str,
    sources: list[dict[str, object]],
    names: tuple[str, ...] = ("a", "b"),
    **extra: object,
) -> list[subprocess.Popen[bytes]]:
    """Two `crm-rag worker` processes named w-<name> (the PostgreSQL database is shared by the
    tests of this session: the names of the workers and sources here are used nowhere else)."""
    procs = []
    for w in names:
        cfg = tmp_path / f"worker-{w}.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "data_dir": str(tmp_path / f"var-{w}"),
                    "sources": sources,
                    "state": {"url": pg_url},
                    # each worker keeps its own embedded index (its data_dir); what is shared and
                    # tested is the schedule and the state (no Qdrant server runs on these machines;
                    # a per-process ":memory:" Qdrant would be refused: the state store names a
                    # live generation whose alias that process's engine cannot hold)
                    **extra,
                }
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rag_service.cli",
                    "--config",
                    str(cfg),
                    "worker",
                    "--name",
                    f"w-{w}",
                    "--tick",
                    "1",
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        assert p.wait(60) == 0, (p.stderr.read() if p.stderr else b"")[-2000:]


INTERVAL = 5
SMALL = 4  # sources of 3 records each
PARTITIONS = 4  # of one source of 80 records
# the runs of this module's sources
SETTLED = "SELECT source, actor, status, finished_at FROM job_runs WHERE source ~ '^(big#|src-)'"
RUNS = (
    "SELECT source, actor, status, error, started_at, finished_at FROM job_runs "
    "WHERE source ~ '^(big#|src-)' ORDER BY started_at"
)


def file_source(tmp: Path, name: str, lines: str, **extra: object) -> dict[str, object]:
    folder = tmp / name
    folder.mkdir()
    (folder / "n.jsonl").write_text(lines)
    return {"kind": "file", "name": name, "tenant_id": "acme", "path": str(folder)} | {
        "interval_seconds": INTERVAL,
        **extra,
    }


def settled(rows: list[Any]) -> bool:
    """Both workers wrote partitions of `big`; every partition ran again after the round that
    wrote it (nothing changed: nothing may be processed again), and every small source finished
    three runs (two intervals: enough rounds to see a source fire twice)."""
    finished: dict[str, int] = {}
    for r in rows:
        if r.finished_at is not None:
            finished[r.source] = finished.get(r.source, 0) + 1
    big = {f"big#{p}" for p in range(PARTITIONS)}
    return (
        {r.actor for r in rows if r.source in big and r.status == "succeeded"} == {"worker:w-a", "worker:w-b"}
        and all(finished.get(s, 0) >= 2 for s in big)
        and all(finished.get(f"src-{n}", 0) >= 3 for n in range(SMALL))
    )


@pytest.fixture(scope="module")
def workers_ran(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> sa.Engine:
    """One pair of workers for the module (each loads its models once) on a source of 80 records
    in 4 partitions and 4 small sources, polled until `settled`, then stopped: the tests read what
    they left in PostgreSQL."""
    tmp = tmp_path_factory.mktemp("workers")
    sources = [file_source(tmp, "big", note_lines("BIG", 80), partitions=PARTITIONS)]
    sources += [file_source(tmp, f"src-{n}", note_lines(f"N-{n}", 3)) for n in range(SMALL)]
    procs = start_workers(tmp, pg_url, sources)
    engine = sa.create_engine(pg_url)
    try:
        # which worker writes the first round of `big` depends on which finished loading its
        # models first; later rounds spread over both
        wait_for(engine, SETTLED, settled, timeout=180)
    finally:
        stop_workers(procs)
    return engine


def test_one_large_source_split_across_two_workers(workers_ran: sa.Engine) -> None:
    """A source with 4 partitions: both workers take its partitions, and every record is processed
    (redacted, embedded, written) exactly once, by the run of the partition that owns it."""
    with workers_ran.connect() as conn:
        runs = {
            r.run_id: r
            for r in conn.execute(
                sa.text("SELECT run_id, source, actor FROM job_runs WHERE source LIKE 'big%'")
            )
        }
        writes = [
            (r.run_id, json.loads(r.details)["record_ids"])
            for r in conn.execute(
                sa.text(
                    "SELECT run_id, details FROM audit_events WHERE action = 'index_write' AND source = 'big'"
                )
            )
        ]
        cursors = {
            r.source for r in conn.execute(sa.text("SELECT source FROM cursors WHERE source LIKE 'big%'"))
        }
        ledger = list(
            conn.execute(sa.text("SELECT record_id, status FROM record_ledger WHERE source = 'big'"))
        )
    written = [rid for _, ids in writes for rid in ids]
    assert sorted(written) == sorted(f"BIG-{i}" for i in range(80)), "each record written exactly once"
    for run_id, ids in writes:  # by the run of the partition that owns it
        index = int(runs[run_id].source.split("#")[1])
        assert all(bucket(rid, PARTITIONS) == index for rid in ids)
    assert {r.actor for r in runs.values()} == {"worker:w-a", "worker:w-b"}, "both workers ran partitions"
    partitions = {f"big#{p}" for p in range(PARTITIONS)}
    assert {r.source for r in runs.values()} == partitions  # no whole-source runs
    assert cursors == partitions
    assert len(ledger) == 80 and {r.status for r in ledger} == {"indexed"}


def test_two_workers_split_work_without_double_firing(workers_ran: sa.Engine) -> None:
    with workers_ran.connect() as conn:
        runs = [dict(r._mapping) for r in conn.execute(sa.text(RUNS))]
    assert {"worker:w-a", "worker:w-b"} <= {r["actor"] for r in runs}, "both workers took work"
    assert not [r for r in runs if r["error"] and "running" in r["error"]], "no source fired twice at once"
    for name in [f"src-{n}" for n in range(SMALL)] + [f"big#{p}" for p in range(PARTITIONS)]:
        mine = [r for r in runs if r["source"] == name]
        assert mine, f"{name} never ran"
        for earlier, later in itertools.pairwise(mine):
            assert earlier["finished_at"] is not None
            assert later["started_at"] >= earlier["finished_at"], "runs of one source must not overlap"
        span = (mine[-1]["started_at"] - mine[0]["started_at"]).total_seconds()
        assert len(mine) <= span / INTERVAL + 2, "each due run fires once, not once per worker"
    assert all(isinstance(r["started_at"], datetime) for r in runs)


def test_the_audit_chain_holds_across_both_workers(workers_ran: sa.Engine) -> None:
    """Both processes appended to the hash-chained audit log at the same time; it still verifies
    (each append chains onto the last one under a lock, not onto what it read before the other's)."""
    with StateStore(workers_ran.url.render_as_string(hide_password=False)) as state:
        ok, checked, bad = state.verify_audit_chain()
    assert ok and bad is None and checked > 0, (ok, checked, bad)
