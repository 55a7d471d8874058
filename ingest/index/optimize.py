"""Build the HNSW index of an edge shard (qdrant-edge `optimize()`), in its own process.

`optimize()` holds the GIL for the whole build (minutes at 100k+ points, see DESIGN.md), so a
serving process never calls it: a fold-in optimizes a copy of the live shard in a child process
(ingest/index/fold_in.py), a rebuild its new generation, and `crm-rag optimize` the live shard
while nothing serves. The child runs at a lower CPU priority (`nice`), so queries in the parent
come first. Without it, new points stay in plain segments (exact search: fine at thousands of
chunks, tens of milliseconds at 100k).

    python -m ingest.index.optimize <shard-dir>
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from ingest.errors import StoreError
from ingest.index.shard_lock import ShardLock


def optimize_shard(path: Path) -> dict[str, float | int]:
    """Open, optimize, flush and close the shard at `path` in this process."""
    import qdrant_edge as qe

    t0 = time.perf_counter()
    owner = ShardLock(path)  # never touch a shard another process owns
    owner.acquire()
    try:
        shard = qe.EdgeShard.load(str(path))
        try:
            shard.optimize()
            shard.flush()
            info = shard.info()
            return {
                "points": int(info.points_count),
                "indexed_vectors": int(info.indexed_vectors_count),
                "segments": int(info.segments_count),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        finally:
            shard.close()
    finally:
        owner.release()


CHILD_NICENESS = 10


def optimize_in_subprocess(
    path: Path, cancel: threading.Event | None = None, *, timeout_seconds: float = 7200
) -> dict[str, float | int]:
    """The same, in a child process at a lower priority: the caller's threads keep running.
    `cancel` set (the store is closing) stops the child; so does the timeout."""
    proc = subprocess.Popen(  # noqa: S603 - our own module, argv list, no shell
        [sys.executable, "-m", "ingest.index.optimize", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + timeout_seconds
    try:
        while proc.poll() is None:
            if (cancel is not None and cancel.wait(0.2)) or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise StoreError("optimizing the shard was stopped (closing, or over its time limit)")
            if cancel is None:
                time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = proc.stdout.read() if proc.stdout is not None else ""
    if proc.returncode != 0 or not out.strip():
        raise StoreError(f"optimizing the shard failed (exit {proc.returncode})")
    result: dict[str, float | int] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    os.nice(CHILD_NICENESS)  # queries in the serving process come first
    print(json.dumps(optimize_shard(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
