"""Protected cells -> published rows with the working group's field names; suppressed counts are null.

Also the internal rows (why each cell was suppressed, what the audit found), which never go to the API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pyspark.sql import types as T

from anpr.catalogue import COUNTS, OVERVIEW_TOTAL, RECODES, SCOPE, SCOPE_TYPES, Catalogue, TableSpec, measure_type
from anpr.disclosure import DisclosureConfig
from anpr.zones import Municipality, camera_rows, zone_codes
from jobs.stats.sdc import PUBLISHED, ZoneResult, apply_noise
from jobs.stats.tables.cells import CellPart

_SPARK_TYPES = {"string": T.StringType(), "int": T.IntegerType(), "double": T.DoubleType()}
_KEYS = {"P": "pkey", "R": "rkey", "V": "vkey"}
INTERNAL_SCHEMA = T.StructType([
    T.StructField("release_id", T.StringType(), False),
    T.StructField("table", T.StringType(), False),
    T.StructField("gemeenteCode", T.StringType(), False),
    T.StructField("zoneId", T.StringType(), False),
    T.StructField("cell", T.StringType(), False),  # JSON: field name -> value
    T.StructField("status", T.StringType(), False),  # primary | secondary
    T.StructField("reasons", T.StringType(), False),
    T.StructField("audit", T.StringType(), False),  # JSON: measure -> [lower, upper, margin, method]
])


def spec_schema(spec: TableSpec, catalogue: Catalogue) -> T.StructType:
    """maand and jaar are never null; everything else may be (suppressed counts, unknown labels)."""
    fields = [T.StructField(c, _SPARK_TYPES[SCOPE_TYPES[c]], True) for c in SCOPE]
    for name in spec.dimensions:
        dim = catalogue.dimensions.get(name)
        kind = "int" if name in ("maand", "jaar") else dim.type if dim else "string"
        fields.append(T.StructField(name, _SPARK_TYPES[kind], name not in ("maand", "jaar")))
    for name in spec.measures:
        fields.append(T.StructField(name, T.LongType() if measure_type(name) == "int" else T.DoubleType(), True))
    return T.StructType(fields)


def _labels(municipalities: Sequence[Municipality]) -> tuple[dict[str, str], dict[str, str]]:
    cameras = {str(c["camera_id"]): str(c["camera_name"]) for c in camera_rows(list(municipalities))}
    zones = {z.zone_id: z.name for m in municipalities for z in m.zones}
    return cameras, zones


def _published_counts(cells: pd.DataFrame, spec: TableSpec, disclosure: DisclosureConfig) -> dict[str, list]:
    rules = disclosure.rules_for(spec.name)
    shown = (cells["status"] == PUBLISHED).to_numpy()
    out = {}
    for name in spec.measures:
        code = COUNTS[name]
        floor = rules.min_vehicles if code in ("P", "V") else 0
        values = apply_noise(rules.noise, cells[code].to_numpy(dtype=np.int64),
                             cells[_KEYS[code]].to_numpy(dtype=np.int64) if _KEYS[code] in cells else
                             np.zeros(len(cells), dtype=np.int64), disclosure.noise, floor)
        out[name] = [int(v) if s else None for v, s in zip(values, shown, strict=True)]
    return out


def table_rows(spec: TableSpec, catalogue: Catalogue, results: Sequence[ZoneResult], parts: Sequence[CellPart],
               disclosure: DisclosureConfig, municipalities: Sequence[Municipality], jaar: int, maand: int
               ) -> pd.DataFrame:
    """The published rows of one count table over all zones, in a stable order."""
    cameras, zones = _labels(municipalities)
    codes = zone_codes(list(municipalities))
    dims = catalogue.dimensions
    columns: dict[str, list[object]] = {c: [] for c in spec.columns}
    for result in results:
        for part in parts:
            cells = result.cells[part.part]
            n = len(cells)
            values: dict[str, list[object]] = {"gemeenteCode": [result.gemeente] * n,
                                               "zoneId": [codes[result.zone]] * n, "zoneAanduiding": [result.zone] * n}
            if spec.kind == "overview":
                values["kenmerk"] = [part.part] * n
                values["waarde"] = cells[part.keys[0]].astype(str).tolist() if part.keys else [OVERVIEW_TOTAL] * n
            for name in spec.dimensions:
                dim = dims.get(name)
                if name in ("maand", "jaar"):
                    values[name] = [maand if name == "maand" else jaar] * n
                elif name == "zoneNaam":
                    values[name] = [zones.get(result.zone)] * n
                elif dim is not None and dim.source == "camera_name":
                    values[name] = [cameras.get(c) for c in cells["camera_id"]]
                elif dim is not None and dim.label_of in spec.recoded:
                    # the label of a recoded code: the coarse level's name (a section's, not an afdeling's)
                    named = RECODES[dims[dim.label_of].source].name
                    values[name] = [named(str(c)) or _plain(c) for c in cells[spec.keys[dim.label_of]]]
                elif dim is not None and spec.keys.get(name, dim.source) in cells:
                    values[name] = [_plain(v) for v in cells[spec.keys.get(name, dim.source)]]
            values.update(_published_counts(cells, spec, disclosure))
            for c in spec.columns:
                columns[c] += values[c]
    out = pd.DataFrame(columns, columns=spec.columns, dtype=object)
    order = [c for c in spec.columns if c not in spec.measures]
    return out.sort_values(order, kind="mergesort").reset_index(drop=True)


def internal_rows(spec: TableSpec, results: Sequence[ZoneResult], parts: Sequence[CellPart],
                  catalogue: Catalogue) -> pd.DataFrame:
    names = _names(spec, catalogue)
    rows = []
    for result in results:
        for part in parts:
            cells = result.cells[part.part]
            hidden = cells[cells["status"] != PUBLISHED]
            for rec in hidden.to_dict("records"):
                rows.append({"table": spec.name, "gemeenteCode": result.gemeente, "zoneId": result.zone,
                             "cell": _cell(spec, part, rec, names), "status": rec["status"],
                             "reasons": rec["reasons"], "audit": rec["audit"]})
    return pd.DataFrame(rows, columns=["table", "gemeenteCode", "zoneId", "cell", "status", "reasons", "audit"])


def with_fates(spec: TableSpec, part: CellPart, cells: pd.DataFrame, catalogue: Catalogue,
               recorded: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """A zone's cells of one part with the `status`, `reasons` and `audit` a release gave them, as
    jobs/stats/sdc/zone.py fates writes them: recorded maps the release's internal rows of this table and
    zone (their `cell`) to those rows; every other cell was published, and attacked for nothing."""
    names = _names(spec, catalogue)
    rows = [recorded.get(_cell(spec, part, rec, names), {}) for rec in cells.to_dict("records")]
    return cells.assign(status=[r.get("status", PUBLISHED) for r in rows], reasons=[r.get("reasons", "") for r in rows],
                        audit=[r.get("audit", "") for r in rows])


def _names(spec: TableSpec, catalogue: Catalogue) -> dict[str, str]:
    return {spec.keys.get(n, d.source): n for n, d in catalogue.dimensions.items()
            if n in spec.dimensions and not d.label_of}


def _cell(spec: TableSpec, part: CellPart, rec: Mapping[str, object], names: Mapping[str, str]) -> str:
    """A cell's key as the internal rows record it (published field names)."""
    key = {names.get(k, k): _plain(rec[k]) for k in part.keys}
    if spec.kind == "overview":
        key = {"kenmerk": part.part, "waarde": str(next(iter(key.values()), OVERVIEW_TOTAL))}
    return _json(key)


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


def _json(value: Mapping[str, object]) -> str:
    import json

    return json.dumps(value, sort_keys=True, ensure_ascii=False)

