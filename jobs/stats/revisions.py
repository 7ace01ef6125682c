"""The month's earlier served releases, as the revision policy needs them (jobs/stats/sdc/revision.py).

For every release of the month in `releases` (all stay served), and each zone being protected now: the
cells that release was built from (rebuilt from the passages table at the version it records, by time
travel), the fate it gave each cell and what its audit attacked there (its rows in
`internal/suppressions`: the differences it found unsafe are attacked again; every other cell was
published), and the cells of the difference populations from that build to this one. A release whose
version is this build's needs no rebuild: its cells are this build's and nothing differs. When that
release is the latest, it is the only one a zone needs (served_against).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pandas as pd
from pyspark.sql import DataFrame

from anpr.catalogue import Catalogue, TableSpec
from anpr.lake import Lake
from anpr.stream_tables import PASSAGES
from jobs.stats.release import CELLS_SETTINGS_VERSION, RELEASES, SUPPRESSIONS, zone_summaries
from jobs.stats.rows import with_fates
from jobs.stats.sdc import Earlier
from jobs.stats.tables.build import MonthCells, build_month, difference_month
from jobs.stats.tables.cameras import hour_ceilings, worked_floors
from jobs.stats.tables.cells import Sizes
from jobs.stats.tables.enrich import month_passages

Zone = tuple[str, str]  # (municipality code, zone id)


class SettingsChangedError(RuntimeError):
    """An earlier served release of the month was built under other cell settings than this build."""


def check_settings(releases: Sequence[Mapping[str, object]], month: str, settings: str) -> None:
    """Raises SettingsChangedError when a served release of the month recorded another cells_settings
    digest (jobs/stats/release.py) than this build's: its cells, rebuilt under today's settings (another
    double-read window, a renamed category, a raised threshold), would not be the cells it published, so
    the joint audit could not see what the two releases give away together. Releases from before the
    digest was recorded are taken as built under these settings."""
    for release in releases:
        protection = json.loads(str(release.get("protection") or "{}"))
        recorded = protection.get("cells_settings")
        if recorded and protection.get("cells_settings_version") != CELLS_SETTINGS_VERSION:
            raise SettingsChangedError(
                f"release {release['release_id']} of {month} recorded its settings in an earlier form, which this "
                f"version cannot check: publish {month} again with the version that served it, or not at all")
        if recorded and recorded != settings:
            raise SettingsChangedError(
                f"release {release['release_id']} of {month} was built under other table, disclosure or passage "
                f"settings (conf/) than now: publish {month} again only under those settings")


def month_releases(lake: Lake, month: str) -> list[dict[str, object]]:
    """Every release of the month, oldest first."""
    if not lake.exists(RELEASES):
        return []
    frame = lake.read_arrow(RELEASES, filters=[("month", "=", month)]).to_pandas()
    return [dict(r) for _, r in frame.sort_values(["created_at", "release_id"], kind="mergesort").iterrows()]


def built_from(release: Mapping[str, object], municipality: str, by_id: Mapping[str, Mapping[str, object]]) -> int:
    """The passages version a release's rows of one municipality were built from: a municipality run
    (`--municipality`) rebuilt only its own and carried the others from the release it names."""
    sources = json.loads(str(release["source_versions"]))
    carried = sources.get("carried_from")
    if carried and sources.get("municipality") not in (None, municipality) and str(carried) in by_id:
        return built_from(by_id[str(carried)], municipality, by_id)
    return int(sources[PASSAGES])


def served_against(releases: Sequence[Mapping[str, object]], municipality: str, version: int,
                   by_id: Mapping[str, Mapping[str, object]]) -> Sequence[Mapping[str, object]]:
    """The releases (oldest first) a zone of municipality built from passages version is protected against:
    all of them, or only the latest when that one was built from this version too. Its pattern is then
    carried alone (jobs/stats/sdc/revision.py, Revision.repeat), so rebuilding the older ones would be wasted."""
    if releases and built_from(releases[-1], municipality, by_id) == version:
        return releases[-1:]
    return releases


def earlier_zones(lake: Lake, month: str, version: int, rows: DataFrame, cells: MonthCells, catalogue: Catalogue,
                  specs: Sequence[TableSpec], sizes: Sizes, code: str | None = None, *,
                  double_read_seconds: float, settings: str) -> dict[Zone, list[Earlier]]:
    """Per zone of this build (cells, from rows: the month's passages at version, of municipality code if
    given): its earlier releases, rebuilt with this build's double-read window (`month_passages`), which
    check_settings makes theirs too (settings: this build's cells_settings)."""
    releases = month_releases(lake, month)
    if not releases:
        return {}
    check_settings(releases, month, settings)
    by_id = {str(r["release_id"]): r for r in releases}
    internal = lake.read_arrow(SUPPRESSIONS, filters=[("release_id", "in", list(by_id))]).to_pandas() \
        if lake.exists(SUPPRESSIONS) else pd.DataFrame(columns=["release_id", "table", "gemeenteCode", "zoneId"])
    builds: dict[int, tuple[MonthCells, MonthCells]] = {}
    by_table = {s.name: s for s in specs}  # as this build publishes them (recoded where the month is)
    jaar, maand = (int(x) for x in month.split("-"))
    served = {g: {str(r["release_id"]) for r in served_against(releases, g, version, by_id)} for g, _ in cells.zones()}
    out: dict[Zone, list[Earlier]] = {}
    for release in releases:
        rid = str(release["release_id"])
        mine = internal[internal["release_id"] == rid]
        for g, z in cells.zones():
            if rid not in served[g]:
                continue
            old_version = built_from(release, g, by_id)
            if old_version == version:
                old, diff = cells, None
            else:
                if old_version not in builds:
                    old_rows = month_passages(lake.read(PASSAGES, version=old_version), jaar, maand, code,
                                              double_read_seconds=double_read_seconds)
                    builds[old_version] = (build_month(old_rows, catalogue, specs, sizes),
                                           difference_month(old_rows, rows, catalogue, specs, sizes))
                old, diff = builds[old_version]
            zone_cells = old.of_zone(g, z)
            if all(frame.empty for _, frame in zone_cells):
                continue  # the zone had no passages then: every cell of it is new
            here = mine[(mine["gemeenteCode"] == g) & (mine["zoneId"] == z)]
            fates = {cp.part: with_fates(by_table[cp.table], cp, frame, catalogue,
                                         {r["cell"]: r for r in here[here["table"] == cp.table].to_dict("records")})
                     for cp, frame in zone_cells}
            difference = {cp.part: frame for cp, frame in diff.of_zone(g, z)} if diff is not None else {}
            summary = zone_summaries(release).get(f"{g}/{z}", {})
            threshold = catalogue.definitions.beschikbaarheid_min_zone_passages
            ceilings = {} if summary.get("availability_withheld") else \
                hour_ceilings(old.camera_hours, old.slot_hours, zone_cells, z, threshold)
            out.setdefault((g, z), []).append(Earlier(rid, fates, difference, worked_floors(old.camera_hours, z),
                                                      ceilings, summary))
    return out
