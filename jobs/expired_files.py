"""Files on disk that have outlived their retention: the rules over listings (pure), the listings (I/O).

Used by `anpr retention run` to delete what it owns (logs, old checkpoint batches) and by `anpr privacy
check` to report every kind (jobs/privacy_check.py). An item names what, where (a folder relative to the
data dir, never a file name: Delta file names carry partition values), since when and how to remove it:
`{"what", "where", "since", "files", "bytes", "remove"}`.

| kind | expired when | removed by |
|---|---|---|
| Delta data files | removed by a commit, written before the time travel window (VACUUM's rule) | retention (VACUUM) |
| Kafka segments of the observations topic | closed, last written before `kafka_hours` | the broker (`retention.ms`) |
| stream checkpoint batches | before the newest `MIN_BATCHES_TO_RETAIN` and `kafka_hours` | retention |
| log files in `<data_dir>/logs` | last written before `log_days` | retention |
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

# Spark keeps this many batches of a query's offsets and commits (spark.sql.streaming.minBatchesToRetain,
# its default; anpr.spark does not change it) and deletes older ones as the query runs.
MIN_BATCHES_TO_RETAIN = 100


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the listed folder, "/"-separated
    size: int  # bytes
    mtime: datetime  # last write, UTC


def list_files(root: Path) -> list[FileEntry]:
    """Every file under root (none when root is not a local folder)."""
    if not root.is_dir():
        return []
    out = []
    for p in root.rglob("*"):
        if p.is_file():
            st = p.stat()
            out.append(FileEntry(p.relative_to(root).as_posix(), st.st_size, datetime.fromtimestamp(st.st_mtime, UTC)))
    return out


def item(what: str, where: str, files: Sequence[FileEntry], remove: str) -> dict[str, Any]:
    return {"what": what, "where": where, "since": min(f.mtime for f in files), "files": len(files),
            "bytes": sum(f.size for f in files), "remove": remove}


# -- Delta files removed from the log but not vacuumed ------------------------------------------------

def removed_at(log_lines: Iterable[str]) -> dict[str, datetime]:
    """Data file (relative path, decoded) -> when a commit removed it, from the `remove` actions of the
    Delta log's JSON commits (protocol: remove.path is URL-encoded, remove.deletionTimestamp in ms)."""
    out: dict[str, datetime] = {}
    for line in log_lines:
        remove = json.loads(line).get("remove") if line.strip() else None
        if remove and remove.get("deletionTimestamp") is not None:
            out[unquote(remove["path"])] = datetime.fromtimestamp(remove["deletionTimestamp"] / 1000, UTC)
    return out


def unvacuumed(files: Sequence[FileEntry], live: set[str], removed: Mapping[str, datetime],
               cutoff: datetime) -> list[FileEntry]:
    """The data files VACUUM would delete at `cutoff` (now minus the time-travel window): not in the
    current snapshot (`live`), removed by a commit before cutoff (a file the log no longer names counts
    as removed), and written before cutoff (Delta's VacuumCommand keeps files written since). Hidden
    paths (a part starting with "_" or ".": the log, checksum files) are not data files, as for VACUUM."""
    return [f for f in files if not any(part[0] in "_." for part in f.path.split("/")) and f.path not in live
            and removed.get(f.path, f.mtime) < cutoff and f.mtime < cutoff]


def delta_listing(table_dir: Path) -> tuple[list[FileEntry], set[str], dict[str, datetime]]:
    """A local Delta table's files, its snapshot's files and its log's removes (empty when not a table)."""
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(str(table_dir)):  # also a `_delta_log` still without its first commit
        return [], set(), {}
    import pyarrow as pa

    adds = pa.table(DeltaTable(str(table_dir)).get_add_actions(flatten=True))
    live = {unquote(p) for p in adds.column("path").to_pylist()}
    lines = [line for commit in sorted((table_dir / "_delta_log").glob("*.json"))
             for line in commit.read_text().splitlines()]
    return list_files(table_dir), live, removed_at(lines)


# -- Kafka segments ------------------------------------------------------------------------------------

def expired_segments(files: Sequence[FileEntry], topic: str, cutoff: datetime) -> list[FileEntry]:
    """Closed segments (`<topic>-<partition>/<base offset>.log`, all but each partition's newest, which
    the broker is still appending to) of `topic` last written before cutoff. Kafka's time retention
    uses a segment's newest record time; a closed segment's last write is that append."""
    segments: dict[str, list[FileEntry]] = {}
    for f in files:
        p = PurePosixPath(f.path)
        partition = p.parent.name
        if (len(p.parts) == 2 and p.suffix == ".log" and p.stem.isdigit()
                and partition.rpartition("-")[0] == topic and partition.rpartition("-")[2].isdigit()):
            segments.setdefault(partition, []).append(f)
    return [f for partition in sorted(segments) for f in sorted(segments[partition], key=lambda f: f.path)[:-1]
            if f.mtime < cutoff]


# -- stream checkpoint batches -------------------------------------------------------------------------

def expired_batches(files: Sequence[FileEntry], cutoff: datetime,
                    keep: int = MIN_BATCHES_TO_RETAIN) -> list[FileEntry]:
    """A query's offsets/N and commits/N files (and their .N.crc checksums) of batches older than its
    newest `keep` and written before cutoff. The stream is stateless (no state/ folder): these name
    Kafka offsets only, but they are what is left of batches whose data the topic has dropped."""
    batches: dict[tuple[str, str], list[tuple[int, FileEntry]]] = {}
    for f in files:
        p = PurePosixPath(f.path)
        name = p.name.removeprefix(".").removesuffix(".crc")
        if len(p.parts) == 3 and p.parts[1] in ("offsets", "commits") and name.isdigit():
            batches.setdefault((p.parts[0], p.parts[1]), []).append((int(name), f))
    out = []
    for key in sorted(batches):
        ids = sorted({b for b, _ in batches[key]})
        oldest_kept = ids[-keep] if len(ids) >= keep else ids[0]
        out += [f for b, f in sorted(batches[key], key=lambda x: (x[0], x[1].path)) if b < oldest_kept
                and f.mtime < cutoff]
    return out


# -- log files -----------------------------------------------------------------------------------------

def expired_logs(files: Sequence[FileEntry], cutoff: datetime) -> list[FileEntry]:
    """Log files (anpr.log, spark.log and rotated copies such as anpr.log.1) last written before cutoff.
    A log still written to is kept whole: its last write is recent."""
    return [f for f in files if ".log" in PurePosixPath(f.path).name and f.mtime < cutoff]


def delete(root: Path, files: Sequence[FileEntry]) -> int:
    """Delete the listed files under root; returns how many were deleted (a file already gone is skipped)."""
    deleted = 0
    for f in files:
        try:
            (root / f.path).unlink()
            deleted += 1
        except FileNotFoundError:
            pass
    return deleted
