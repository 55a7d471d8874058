"""Build the HNSW index of an edge shard (qdrant-edge `optimize()`), in its own process.

`optimize()` holds the GIL for the whole build (minutes at 100k+ points, see DESIGN.md), so a
serving process never calls it: a rebuild optimizes the new generation in a child process before
verifying and swapping it in, and `crm-rag optimize` does the live shard while nothing serves.
Without it, new points stay in plain segments (exact search: fine at thousands of chunks, tens of
milliseconds at 100k).

    python -m ingest.index.optimize <shard-dir>
"""

from __future__ import annotations

import json
import subprocess
import sys
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


def optimize_in_subprocess(path: Path, timeout_seconds: float = 3600) -> dict[str, float | int]:
    """The same, in a child process: the caller's threads keep running meanwhile."""
    proc = subprocess.run(  # noqa: S603 - our own module, argv list, no shell
        [sys.executable, "-m", "ingest.index.optimize", str(path)],
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )
    if proc.returncode != 0:
        raise StoreError(f"optimizing the shard failed (exit {proc.returncode})")
    result: dict[str, float | int] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    print(json.dumps(optimize_shard(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
