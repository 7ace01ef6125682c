"""What reading an export keeps about all of its rows, held off the heap: a file may have a million of them.

BadRows: the bad rows for the report, in memory up to 1 MiB and in a temporary file beyond (reasons never hold a
plate, as the report they go to). FirstLines: the line each delivered observation id was first seen on, in a
temporary SQLite database whose page cache is bounded; a set of a million ids would take about 100 MB.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

_IN_MEMORY = 1 << 20  # bytes of bad rows kept in memory before they go to disk
_CACHE_KIB = 4096  # SQLite's page cache for the ids


@dataclass(frozen=True)
class BadRow:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class BadRows:
    """The bad rows of one file in the order they were added; sized, and iterable until closed (its length stays)."""

    def __init__(self, file: str) -> None:
        self.file = file
        # Open for as long as the file's reading and report need it: close() ends it.
        self._spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=_IN_MEMORY, mode="w+", encoding="utf-8", newline="\n")
        self._count = 0
        self.first: BadRow | None = None

    def append(self, bad: BadRow) -> None:
        self._spool.seek(0, 2)  # an iteration may have left the position anywhere
        self._spool.write(json.dumps([bad.line, bad.reason]) + "\n")
        self._count += 1
        self.first = self.first or bad

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[BadRow]:
        self._spool.seek(0)
        for text in self._spool:
            line, reason = json.loads(text)
            yield BadRow(self.file, line, reason)

    def close(self) -> None:
        self._spool.close()


class FirstLines:
    """The line each key was first given on."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")  # "": a private temporary database, deleted when closed
        self._db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("CREATE TABLE first (key TEXT PRIMARY KEY, line INTEGER) WITHOUT ROWID")
        self._cursor = self._db.cursor()

    def first(self, key: str, line: int) -> int:
        """The line `key` was first given on: `line` when it is new."""
        if self._cursor.execute("INSERT OR IGNORE INTO first VALUES (?, ?)", (key, line)).rowcount:
            return line
        found: int = self._cursor.execute("SELECT line FROM first WHERE key = ?", (key,)).fetchone()[0]
        return found

    def close(self) -> None:
        self._db.close()
