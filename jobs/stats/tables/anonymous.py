"""Table 5.5 (kind "anonymous"): the stream's anonymous counts of out-of-scope detections, per camera,
direction, weekday and hour of one month.

The stream table out_of_scope (anpr/stream_tables.py) holds one row per micro-batch and cell, without any
token, so there is no vehicle to protect: the month's rows are summed and published as is, like 4.12.
Its rows are few (cells x batches of a month), so they are read with pyarrow and summed in pandas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from anpr.catalogue import Dimension, TableSpec
from anpr.lake import Lake
from anpr.months import month_bounds
from anpr.stream_tables import OUT_OF_SCOPE, OUT_OF_SCOPE_SCHEMA
from anpr.zones import Municipality, camera_rows, zone_codes

_CELL = ["municipality", "zone_id", "camera_id", "rij_richting_zone", "week_dag", "uur"]


def read_month(lake: Lake, jaar: int, maand: int, version: int | None = None) -> pd.DataFrame:
    """The out_of_scope rows of the month's local days (columns OUT_OF_SCOPE_SCHEMA); empty, with those
    columns, when the table does not exist yet (no detection was ever dropped)."""
    columns = [f.name for f in OUT_OF_SCOPE_SCHEMA.fields]
    if not lake.exists(OUT_OF_SCOPE):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    first, after = month_bounds(jaar, maand)
    table = lake.read_arrow(OUT_OF_SCOPE, version=version, columns=columns,
                            filters=[("event_date", ">=", first), ("event_date", "<", after)])
    return table.to_pandas()


def anonymous_rows(spec: TableSpec, dimensions: Mapping[str, Dimension], counts: pd.DataFrame,
                   municipalities: Sequence[Municipality], jaar: int, maand: int) -> pd.DataFrame:
    """The published rows (spec.columns) of an anonymous table from out_of_scope rows (OUT_OF_SCOPE_SCHEMA).

    Sums `detections` per municipality, zone, camera, direction, ISO weekday (1 = Monday, of the local
    event_date) and hour over the local days of month jaar-maand; rows of other days are left out, as
    are rows of municipalities or zones not configured in `municipalities` (the rows a release covers).
    zoneId is the zone's NDW code, zoneAanduiding its text id; labels (camera and zone names) come from
    `municipalities`; a missing direction takes its dimension's fill. `dimensions` are the catalogue's.
    Rows are sorted by every column but the measure; no rows give an empty frame with those columns.
    """
    first, after = month_bounds(jaar, maand)
    days = pd.to_datetime(counts["event_date"])
    zones = {(m.code, z.zone_id) for m in municipalities for z in m.zones}
    keep = (days >= pd.Timestamp(first)) & (days < pd.Timestamp(after))
    keep &= pd.Series([(g, z) in zones for g, z in zip(counts["municipality"], counts["zone_id"], strict=True)],
                      index=counts.index, dtype=bool)
    fill = next((d.fill for d in dimensions.values() if d.source == "rij_richting_zone" and d.fill), None)
    rows = counts[keep].assign(week_dag=days[keep].dt.isocalendar().day.astype("int64"),
                               rij_richting_zone=counts.loc[keep, "rij_richting_zone"].fillna(fill))
    cells = rows.groupby(_CELL, sort=True)["detections"].sum().reset_index()
    cameras = {str(c["camera_id"]): c["camera_name"] for c in camera_rows(list(municipalities))}
    zone_names = {z.zone_id: z.name for m in municipalities for z in m.zones}
    by_source = {**{s: cells[s] for s in _CELL if s in cells}, "camera_name": cells["camera_id"].map(cameras),
                 "zone_name": cells["zone_id"].map(zone_names)}
    out = pd.DataFrame({"gemeenteCode": cells["municipality"], "zoneId": cells["zone_id"].map(zone_codes(
        list(municipalities))), "zoneAanduiding": cells["zone_id"]})
    for name in spec.dimensions:
        out[name] = {"maand": maand, "jaar": jaar}[name] if name in ("maand", "jaar") else \
            by_source[dimensions[name].source]
    for measure in spec.measures:
        out[measure] = cells["detections"]
    order = [c for c in spec.columns if c not in spec.measures]
    return out.reindex(columns=spec.columns).sort_values(order, kind="mergesort").reset_index(drop=True)
