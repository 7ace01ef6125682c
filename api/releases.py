"""Read side of published releases. Releases are immutable, so a table of a release is read once."""

from __future__ import annotations

import json
import threading
from typing import Any

import pandas as pd

from anpr.catalogue import TABLES, TableSpec
from anpr.lake import Lake

RELEASES = "releases"


def published_table(spec_name: str) -> str:
    return f"published/{spec_name}"


class ReleaseStore:
    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._rows: dict[tuple[str, str], pd.DataFrame] = {}
        self._lock = threading.Lock()

    def ready(self) -> bool:
        return self.lake.exists(RELEASES)

    def releases(self) -> list[dict[str, Any]]:
        if not self.ready():
            return []
        frame = self.lake.read_arrow(RELEASES).to_pandas().sort_values("created_at")
        out = []
        for row in frame.to_dict("records"):
            row["created_at"] = pd.Timestamp(row["created_at"]).isoformat()
            row["tables"] = json.loads(row["tables"])
            row["row_counts"] = json.loads(row["row_counts"])
            out.append(row)
        return out

    def latest_per_month(self) -> list[dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for release in self.releases():
            latest[release["month"]] = release  # sorted by creation: the last one wins
        return [latest[m] for m in sorted(latest)]

    def find(self, release_id: str | None, month: str | None) -> dict[str, Any] | None:
        candidates = self.releases()
        if release_id:
            return next((r for r in candidates if r["release_id"] == release_id), None)
        if month:
            candidates = [r for r in candidates if r["month"] == month]
        return candidates[-1] if candidates else None

    def rows(self, release_id: str, spec: TableSpec) -> pd.DataFrame:
        key = (release_id, spec.name)
        with self._lock:
            if key not in self._rows:
                table = self.lake.read_arrow(published_table(spec.name), filters=[("release_id", "=", release_id)])
                frame = table.to_pandas(types_mapper=pd.ArrowDtype).drop(columns=["release_id"])
                # A stable order makes cursors valid across requests and processes.
                self._rows[key] = frame.sort_values(spec.columns[: len(spec.columns) - len(spec.measures)],
                                                    kind="mergesort").reset_index(drop=True)[spec.columns]
            return self._rows[key]


def spec_or_none(name: str) -> TableSpec | None:
    return TABLES.get(name)
