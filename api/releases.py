"""Read side of published releases. Releases are immutable, so a table of a release is read once."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pandas as pd
import pyarrow as pa
from cachetools import LRUCache

from anpr.catalogue import TABLES, TableSpec
from anpr.delta_reader import DeltaReader
from api.common.errors import ApiError
from jobs.stats.release import RELEASES, published_table

log = logging.getLogger(__name__)


def default_order(spec: TableSpec) -> list[str]:
    """Scope and dimensions: the key of a cell, so sorting on it gives one total order."""
    return [c for c in spec.columns if c not in spec.measures]


class LegacyRelease(ApiError):
    """A release published before the working group's field spec (zoneId the NDW code): not served."""

    def __init__(self, release: dict[str, Any], table: str) -> None:
        super().__init__(404, f"release {release['release_id']} was published before the field spec (zoneId as the "
                              f"NDW zone code, detectieRichting Voorzijde/Achterzijde): its {table} is not served",
                         f"the operator re-runs `anpr stats --month {release['month']}` to publish the month anew")


class ReleaseStore:
    """Reads with delta-rs (no JVM in the API); its reader also writes the API's access log.

    The list of releases is re-read at most every `refresh_seconds` (a new release shows up within
    that time); the rows of at most `max_tables` (release, table) pairs stay in memory."""

    def __init__(self, lake: DeltaReader, refresh_seconds: float = 5.0, max_tables: int = 64) -> None:
        self.lake = lake
        self.refresh_seconds = refresh_seconds
        self.max_tables = max_tables
        self._rows: LRUCache[tuple[str, str], pa.Table] = LRUCache(max_tables)
        self._releases: list[dict[str, Any]] = []
        self._version: int | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._rows_lock = threading.Lock()  # held only to look into or fill _rows and _reading, never over a read
        self._reading: dict[tuple[str, str], threading.Lock] = {}  # one per table being read

    def ready(self) -> bool:
        try:
            return self.lake.exists(RELEASES) and bool(self.releases())
        except Exception as exc:  # noqa: BLE001 - readiness reports any storage failure as not ready
            log.warning("release store not ready: %s", type(exc).__name__)
            return False

    def releases(self) -> list[dict[str, Any]]:
        """Every release, oldest first."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked < self.refresh_seconds:
                return self._releases
            if self.lake.exists(RELEASES):
                version = self.lake.version(RELEASES)
                if version != self._version:
                    self._releases, self._version = self._read_releases(), version
            self._checked = now
            return self._releases

    def _read_releases(self) -> list[dict[str, Any]]:
        frame = self.lake.read_arrow(RELEASES).to_pandas().sort_values(["created_at", "release_id"])
        out = []
        for row in frame.to_dict("records"):
            out.append({
                "release_id": row["release_id"], "month": row["month"],
                "created_at": pd.Timestamp(row["created_at"]).isoformat(),
                "tables": json.loads(row["tables"]), "row_counts": json.loads(row["row_counts"]),
                "source_versions": json.loads(row["source_versions"]), "config_hash": row["config_hash"],
                "protection": json.loads(row["protection"]) if row.get("protection") else {},
            })
        return out

    def latest_per_month(self) -> list[dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for release in self.releases():
            latest[release["month"]] = release  # oldest first: the last one of a month wins
        return [latest[m] for m in sorted(latest)]

    def find(self, release_id: str | None = None, month: str | None = None) -> dict[str, Any] | None:
        """A release by id; else the latest of `month`; else the latest of the newest month."""
        if release_id:
            return next((r for r in self.releases() if r["release_id"] == release_id), None)
        latest = self.latest_per_month()
        if month:
            return next((r for r in latest if r["month"] == month), None)
        return latest[-1] if latest else None

    def held(self, release_id: str, spec: TableSpec) -> pa.Table | None:
        """The table's rows if they are in memory already (see `rows`), else None; never reads."""
        with self._rows_lock:
            return self._rows.get((release_id, spec.name))

    def rows(self, release_id: str, spec: TableSpec) -> pa.Table:
        """The table's rows in the release, in default_order; columns as the catalogue declares them.

        Concurrent first requests of one table read it once: they wait on that table's own lock. A request
        for a table in memory (`held`, or this) or for another table never waits for a read: a page already
        cached was held up 1.4 s behind another table's 2 s first read (a review's measurement)."""
        key = (release_id, spec.name)
        with self._rows_lock:
            cached = self._rows.get(key)
            if cached is not None:
                return cached
            reading = self._reading.setdefault(key, threading.Lock())
        with reading:
            if (cached := self.held(release_id, spec)) is not None:
                return cached
            try:
                rows = self._read(release_id, spec)
                with self._rows_lock:  # in memory before the lock goes, so no later request reads it again
                    self._rows[key] = rows
                return rows
            finally:
                with self._rows_lock:
                    self._reading.pop(key, None)

    def _read(self, release_id: str, spec: TableSpec) -> pa.Table:
        path = published_table(spec.name)
        table = self.lake.read_arrow(path, filters=[("release_id", "=", release_id)]) \
            if self.lake.exists(path) else None
        release = self.find(release_id)
        legacy = table is None or (not table.num_rows and release is not None
                                   and release["row_counts"].get(spec.name))
        if release is not None and legacy:
            # Its rows are under jobs.stats.release.LEGACY_PUBLISHED, in the convention before the field spec.
            raise LegacyRelease(release, spec.name)
        if table is None:
            raise ApiError(404, f"release {release_id} has no table {spec.name}",
                           "list the releases at /v1/releases")
        present = [c for c in spec.columns if c in table.column_names]
        if len(present) < len(spec.columns):
            # A release published before a catalogue change keeps the fields it was published with.
            log.warning("release %s table %s lacks %s", release_id, spec.name, set(spec.columns) - set(present))
        order = [c for c in default_order(spec) if c in present]
        return table.select(present).sort_by([(c, "ascending") for c in order])


def spec_or_none(name: str) -> TableSpec | None:
    return TABLES.get(name)
