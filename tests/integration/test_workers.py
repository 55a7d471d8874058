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

from tests.conftest import ROOT


def test_two_workers_split_work_without_double_firing(pg_url: str, tmp_path: Path) -> None:
    sources = []
    for n in range(4):
        folder = tmp_path / f"crm{n}"
        folder.mkdir()
        (folder / "n.jsonl").write_text(
            "".join(
                json.dumps(
                    {
                        "record_id": f"N-{n}-{i}",
                        "record_type": "note",
                        "updated_at": f"2026-10-01T10:0{i}:00+00:00",
                        "url": f"https://crm.example/{n}/{i}",
                        "owner_id": "u",
                        "consent": {"assistant_use": "granted"},
                        "body": f"Source {n} note {i} about the renewal.",
                    }
                )
                + "\n"
                for i in range(3)
            )
        )
        sources.append(
            {
                "kind": "file",
                "name": f"src-{n}",
                "tenant_id": "acme",
                "path": str(folder),
                "interval_seconds": 5,
            }
        )
    procs = []
    for w in ("a", "b"):
        cfg = tmp_path / f"worker-{w}.yaml"
        cfg.write_text(
            yaml.safe_dump(
                {
                    "data_dir": str(tmp_path / f"var-{w}"),
                    "sources": sources,
                    "state": {"url": pg_url},
                    # each worker keeps its own in-memory index; what is shared and tested is the schedule
                    "index": {"backend": "qdrant", "qdrant_url": ":memory:"},
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
    engine = sa.create_engine(pg_url)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # wait until both workers did some runs, then a bit more
            try:
                with engine.connect() as conn:
                    actors = {r.actor for r in conn.execute(sa.text("SELECT DISTINCT actor FROM job_runs"))}
            except sa.exc.ProgrammingError:
                actors = set()  # the workers are still starting (no tables yet)
            if {"worker:w-a", "worker:w-b"} <= actors:
                break
            time.sleep(0.5)
        time.sleep(12)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            assert p.wait(60) == 0, (p.stderr.read() if p.stderr else b"")[-2000:]
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
