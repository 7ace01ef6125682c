"""Idempotency keys of the ingest service, in SQLite under the data directory, so they survive restarts.

A request with a key first claims it; only after every message is acknowledged by Kafka is the
receipt stored and the claim turned into a completed entry. A replay within the window gets the
stored receipt and publishes nothing. A failed request releases its claim, so its retry publishes.
Claims carry a lease: a request that died without releasing (process killed) blocks its key only
until the lease runs out. Keys are per supplier: two suppliers may use the same key.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WINDOW_SECONDS = 7 * 24 * 3600
LEASE_SECONDS = 300.0
_PURGE_EVERY = 1000  # completions between purges of expired keys

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    supplier TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('claimed', 'done')),
    body_sha256 TEXT NOT NULL,
    receipt TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (supplier, key)
)
"""


@dataclass(frozen=True)
class Claim:
    """The outcome of `claim`: exactly one of the fields is set, or none for 'claimed, go ahead'."""

    receipt: dict[str, Any] | None = None  # a completed request: answer this, publish nothing
    busy_for: float | None = None  # another request holds the key: seconds its lease has left
    body_differs: bool = False  # the completed request had another body


class IdempotencyStore:
    def __init__(self, path: Path, window_seconds: float = WINDOW_SECONDS, lease_seconds: float = LEASE_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.window, self.lease, self._clock = path, window_seconds, lease_seconds, clock
        # One connection per process, guarded by a lock: the service's requests are short and SQLite
        # serializes writers anyway; WAL lets another process (a second worker) read meanwhile.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a receipt we answered with must survive a crash
        # the service's own purge of expired keys overwrites them too, as purge_older_than's does
        self._db.execute("PRAGMA secure_delete=ON")
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()
        self._completions = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def claim(self, supplier: str, key: str, body_sha256: str) -> Claim:
        now = self._clock()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT state, body_sha256, receipt, at FROM idempotency "
                                       "WHERE supplier = ? AND key = ?", (supplier, key)).fetchone()
                if row is not None:
                    state, digest, receipt, at = row
                    if state == "done" and now - at < self.window:
                        self._db.execute("COMMIT")
                        return Claim(receipt=json.loads(receipt), body_differs=digest != body_sha256)
                    if state == "claimed" and now - at < self.lease:
                        self._db.execute("COMMIT")
                        return Claim(busy_for=self.lease - (now - at))
                self._db.execute("INSERT OR REPLACE INTO idempotency (supplier, key, state, body_sha256, receipt, at) "
                                 "VALUES (?, ?, 'claimed', ?, NULL, ?)", (supplier, key, body_sha256, now))
                self._db.execute("COMMIT")
                return Claim()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def complete(self, supplier: str, key: str, receipt: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("UPDATE idempotency SET state = 'done', receipt = ?, at = ? "
                             "WHERE supplier = ? AND key = ?",
                             (json.dumps(receipt), self._clock(), supplier, key))
            self._completions += 1
            if self._completions % _PURGE_EVERY == 0:
                self._db.execute("DELETE FROM idempotency WHERE state = 'done' AND at < ?",
                                 (self._clock() - self.window,))

    def release(self, supplier: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM idempotency WHERE supplier = ? AND key = ? AND state = 'claimed'",
                             (supplier, key))


def store_path(data_dir: Path) -> Path:
    """Where the ingest service keeps its idempotency keys under a data directory."""
    return data_dir / "ingest" / "idempotency.sqlite"


def purge_older_than(path: Path, cutoff_epoch: float) -> int:
    """Delete completed keys and stale claims older than cutoff (epoch seconds) and reclaim their pages,
    so no deleted receipt stays in the file; returns the rows deleted. Safe beside a running service
    (SQLite serializes writers; the service's own connection waits up to 30 s)."""
    if not path.exists():
        return 0
    db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        db.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not left in free pages
        deleted = db.execute("DELETE FROM idempotency WHERE at < ?", (cutoff_epoch,)).rowcount
        db.execute("VACUUM")
        return int(deleted)
    finally:
        db.close()
