"""Two worker processes sharing the PostgreSQL state: each due run fires exactly once, runs of a
source never overlap, and the sources spread over both workers."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
import yaml

from ingest.partition import bucket
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
    tests of this session, so each test uses its own worker names and source names)."""
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


def test_one_large_source_split_across_two_workers(pg_url: str, tmp_path: Path) -> None:
    """A source with 4 partitions: both workers take its partitions, and every record is processed
    (redacted, embedded, written) exactly once, by the run of the partition that owns it. (Which
    worker writes the first round depends on which finished loading its models first; later rounds
    spread over both.)"""
    folder = tmp_path / "big"
    folder.mkdir()
    (folder / "n.jsonl").write_text(note_lines("BIG", 80))
    source = {"kind": "file", "name": "big", "tenant_id": "acme", "path": str(folder), "interval_seconds": 5}
    procs = start_workers(tmp_path, pg_url, [{**source, "partitions": 4}], names=("c", "d"))
    engine = sa.create_engine(pg_url)
    try:
        wait_for(
            engine,
            "SELECT source, actor FROM job_runs WHERE status = 'succeeded' AND source LIKE 'big#%'",
            lambda rows: (
                {r.source for r in rows} == {f"big#{p}" for p in range(4)}
                and {r.actor for r in rows} == {"worker:w-c", "worker:w-d"}
            ),
            timeout=150,
        )
        time.sleep(6)  # one more round: nothing changed, nothing may be processed again
    finally:
        stop_workers(procs)
    with engine.connect() as conn:
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
    engine.dispose()
    written = [rid for _, ids in writes for rid in ids]
    assert sorted(written) == sorted(f"BIG-{i}" for i in range(80)), "each record written exactly once"
    for run_id, ids in writes:  # by the run of the partition that owns it
        index = int(runs[run_id].source.split("#")[1])
        assert all(bucket(rid, 4) == index for rid in ids)
    assert {r.actor for r in runs.values()} == {"worker:w-c", "worker:w-d"}, "both workers ran partitions"
    assert {r.source for r in runs.values()} == {f"big#{p}" for p in range(4)}  # no whole-source runs
    assert cursors == {f"big#{p}" for p in range(4)}
    assert len(ledger) == 80 and {r.status for r in ledger} == {"indexed"}


def test_two_workers_split_work_without_double_firing(pg_url: str, tmp_path: Path) -> None:
    sources = []
    for n in range(4):
        folder = tmp_path / f"crm{n}"
        folder.mkdir()
        (folder / "n.jsonl").write_text(note_lines(f"N-{n}", 3))
        sources.append(
            {
                "kind": "file",
                "name": f"src-{n}",
                "tenant_id": "acme",
                "path": str(folder),
                "interval_seconds": 5,
            }
        )
    procs = start_workers(tmp_path, pg_url, sources)
    engine = sa.create_engine(pg_url)
    try:
        # wait until both workers did some runs, then a bit more
        wait_for(
            engine,
            "SELECT DISTINCT actor FROM job_runs",
            lambda rows: {"worker:w-a", "worker:w-b"} <= {r.actor for r in rows},
        )
        time.sleep(12)
    finally:
        stop_workers(procs)
    with engine.connect() as conn:
        runs = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "SELECT source, actor, status, error, started_at, finished_at FROM job_runs "
                    "ORDER BY started_at"
                )
            )
        ]
    engine.dispose()
    assert {"worker:w-a", "worker:w-b"} <= {r["actor"] for r in runs}, "both workers took work"
    assert not [r for r in runs if r["error"] and "running" in r["error"]], "no source fired twice at once"
    for n in range(4):
        mine = [r for r in runs if r["source"] == f"src-{n}"]
        assert mine, f"src-{n} never ran"
        for earlier, later in itertools.pairwise(mine):
            assert earlier["finished_at"] is not None
            assert later["started_at"] >= earlier["finished_at"], "runs of one source must not overlap"
        span = (mine[-1]["started_at"] - mine[0]["started_at"]).total_seconds()
        assert len(mine) <= span / 5 + 2, "each due run fires once, not once per worker"
    assert all(isinstance(r["started_at"], datetime) for r in runs)
