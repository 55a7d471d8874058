"""Background HNSW fold-in for an edge shard: what, when, and where its directories live.

New points land in the shard's plain (appendable) segment, searched exactly: cheap at thousands
of points, tens of milliseconds at 100k. A fold-in builds the vector index of everything written
so far without stopping reads or writes (ingest/index/edge.py `EdgeIndexStore.fold_in`):

1. copy the active shard directory to a sibling `<slot>.f<n>` while writes go on, in rounds that
   copy only the files changed since the round before (`FileStats`), then under the write lock
   (reads go on) flush, copy what changed last, and start journalling every write;
2. optimize the copy in a child process (`optimize()` holds the GIL; ingest/index/optimize.py);
3. open the copy and replay the journal into it in rounds while writes go on;
4. under the write lock: replay the rest, flush, point `<slot>.active` at the copy (atomic
   rename), swap it in; the old shard closes once its last read has finished, and is deleted.

Every write made during the build (upserts, deletes, suppressions, payload changes) reaches the
swapped-in shard through the journal, in order; a crash at any step leaves the pointer on a
complete shard, and the leftovers are removed at the next open.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ingest.errors import StoreError

POINTER_SUFFIX = ".active"


def pointer_file(slot: Path) -> Path:
    return slot.with_name(slot.name + POINTER_SUFFIX)


class MissingShardError(StoreError):
    """The pointer names a shard directory that is not there (deleted or not restored)."""


def active_dir(slot: Path) -> Path:
    """The shard directory a slot currently uses: the one its pointer names, else the slot itself
    (every shard before fold-ins, and every shard never folded). A pointer naming a directory that
    is missing is an error, never a reason to start empty or to remove the others."""
    pointer = pointer_file(slot)
    if not pointer.is_file():
        return slot
    name = pointer.read_text().strip()
    if _fold_index(slot, name) is None:
        raise StoreError(f"{pointer} does not name a shard directory of {slot.name} ({name!r})")
    target = slot.with_name(name)
    if not target.is_dir():
        raise MissingShardError(
            f"{pointer} names {target}, which is missing; restore it (the whole index folder of a "
            f"backup), or remove the pointer to use {slot} if that is the shard to keep"
        )
    return target


def _fold_index(slot: Path, name: str) -> int | None:
    found = re.fullmatch(re.escape(slot.name) + r"\.f(\d+)", name)
    return int(found.group(1)) if found else None


def fold_dirs(slot: Path) -> list[Path]:
    """Every `<slot>.f<n>` directory beside the slot, oldest first."""
    if not slot.parent.is_dir():
        return []
    found = [(i, p) for p in slot.parent.iterdir() if (i := _fold_index(slot, p.name)) is not None]
    return [p for _, p in sorted(found) if p.is_dir()]


def next_fold_dir(slot: Path) -> Path:
    taken = [_fold_index(slot, p.name) or 0 for p in fold_dirs(slot)]
    return slot.with_name(f"{slot.name}.f{max(taken, default=0) + 1}")


def write_pointer(slot: Path, target: Path) -> None:
    """Point the slot at `target`, atomically and durably (a crash leaves the old or the new)."""
    pointer = pointer_file(slot)
    tmp = pointer.with_name(pointer.name + ".tmp")
    with tmp.open("w") as fh:
        fh.write(target.name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, pointer)
    fd = os.open(slot.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_leftovers(slot: Path) -> list[Path]:
    """Shard directories of the slot that are not active: an interrupted fold-in's copy, or the
    shard a finished one replaced (and their lock files). Called while owning the slot."""
    active = active_dir(slot)
    gone: list[Path] = []
    for candidate in [slot, *fold_dirs(slot)]:
        if candidate != active and candidate.is_dir():
            shutil.rmtree(candidate, ignore_errors=True)
            gone.append(candidate)
        lock = candidate.with_name(candidate.name + ".lock")
        if candidate != active and candidate != slot and lock.exists():
            lock.unlink(missing_ok=True)
    return gone


FileStats = dict[str, tuple[int, int]]  # relative path -> (size, mtime in ns)

# How a copy round finds what changed: the engine writes its files with write(2) or through shared
# memory maps. Stats are taken right after a flush (every mapped page clean and write-protected),
# so any later write bumps the file's mtime: write(2) always, a mapped page at its first write
# fault. The kernel's mtime clock is coarse (a few ms), so the writer waits MTIME_TICK after
# taking stats before writes resume: every later write lands on a strictly later mtime.
MTIME_TICK = 0.025


def file_stats(root: Path) -> FileStats:
    stats: FileStats = {}
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            stats[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return stats


BLOCK = 1 << 20


def sync_files(source: Path, target: Path, now: FileStats, before: FileStats | None) -> int:
    """Make `target` a copy of `source` as of the stats `now`, given that it already is one as of
    `before` (None: target is empty). New files are copied whole; a changed file only in the
    1 MiB blocks that differ (the engine's page files are tens of MiB and change a few KiB at a
    time); files that are gone are deleted. Returns the bytes written."""
    written = 0
    for rel, stat in now.items():
        if before is not None and before.get(rel) == stat:
            continue
        dest = target / rel
        with contextlib.suppress(FileNotFoundError):  # deleted meanwhile: the next round says so
            if before is not None and rel in before and dest.is_file():
                written += _sync_blocks(source / rel, dest)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / rel, dest)
                written += stat[0]
    for rel in set(before or {}) - set(now):
        (target / rel).unlink(missing_ok=True)
    return written


def _sync_blocks(src: Path, dest: Path) -> int:
    written = 0
    with src.open("rb") as fin, dest.open("r+b") as fout:
        offset = 0
        while block := fin.read(BLOCK):
            if fout.read(len(block)) != block:
                fout.seek(offset)
                fout.write(block)
                written += len(block)
            offset += len(block)
            fout.seek(offset)
        fout.truncate(offset)
    return written


class FoldInReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    shard: str  # the directory swapped in
    points: int  # in the shard after the swap
    folded_points: int  # new points the build indexed
    replayed_writes: int  # writes made during the build, replayed into the new shard
    copied_bytes: int
    copy_rounds: int  # copies of what changed, the last one under the write lock
    copy_pause_seconds: float  # writes waited this long for the last round (reads never wait)
    swap_pause_seconds: float  # and this long for the last replay, flush and swap
    build_seconds: float  # the child process's HNSW build
    total_seconds: float
    segments: int
    finished_at: datetime


class MaintenanceStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    backend: str
    unfolded_points: int  # upserted since the last fold-in started (since this process opened it)
    unfolded_since: datetime | None  # the first of those
    running: bool
    last: FoldInReport | None = None
    last_error: str | None = None


def fold_in_due(
    status: MaintenanceStatus, *, points: int, min_points: int, after_seconds: int, now: datetime
) -> str | None:
    """Why a fold-in should start now, or None: enough new points, or new points waiting too long."""
    if status.running:
        return None
    if status.unfolded_points >= points:
        return f"{status.unfolded_points} new points (threshold {points})"
    if (
        status.unfolded_since is not None
        and status.unfolded_points >= min_points
        and (now - status.unfolded_since).total_seconds() >= after_seconds
    ):
        return f"{status.unfolded_points} new points waiting over {after_seconds} s"
    return None
