"""A synthetic sample release: every catalogue table filled with random but well-formed rows.

For the API tests, the dashboard's browser test and the load benchmark, which need every table of a
release without running the streaming and statistics jobs. The fields, types, label pairs (SBI code
and description, NUTS3 and province, camera and name) and suppression (null counts where fewer than 10
vehicles) are those of real releases; the numbers are not statistics. The release records
`source_versions = {"synthetic_sample": seed}` so it can never pass for a real one.

Kept in the package rather than under tests/ because the load benchmark (bench/api_load.py) uses it too.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from anpr.catalogue import BUILT_IN, CATALOGUE, COUNTS, DETECTION_COUNTS, DETECTION_NAMES, TABLES, TableSpec
from anpr.dimensions import sbi_afdeling
from anpr.lake import Lake
from anpr.register_conf import load_register_conf
from anpr.zones import Municipality, load_municipalities
from api.vendor.tables import column_type
from jobs.stats.release import publish

MIN_VEHICLES = 10
MEAN_VEHICLES = 60  # distinct vehicles of an average cell; skewed weights leave ~20-30% of cells below 10
ZONE_VEHICLES = 3000
RARE = 4  # expected vehicles of the rarest cell of a table
HOURS = [0.12, 0.08, 0.06, 0.06, 0.1, 0.3, 0.7, 1.0, 1.0, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.9, 1.0, 0.95, 0.7, 0.5,
         0.4, 0.3, 0.22, 0.16]
VEHICLES = {"Personenauto": 2.0, "Bestelauto": 1.2, "Vrachtauto": 0.35, "Bus": 0.12, "Buitenlands": 0.25,
            "Onbekend": 0.1}
DAY_PARTS = ["Nacht", "Ochtendspits", "Dag", "Avondspits", "Avond"]
DAY_PART_WEIGHTS = {"Nacht": 0.3, "Ochtendspits": 1.0, "Dag": 1.6, "Avondspits": 1.0, "Avond": 0.5}
# Values of each passage source; sources in one tuple vary together (a code and its label).
FACTORS: dict[tuple[str, ...], list[tuple[Any, ...]]] = {
    ("rij_richting_zone",): [("Inbound",), ("Outbound",)],
    ("voertuig_type",): [(v,) for v in ["Bestelauto", "Personenauto", "Vrachtauto", "Bus", "Buitenlands",
                                        "Onbekend"]],
    ("week_dag",): [(d,) for d in range(1, 8)],
    ("uur",): [(u,) for u in range(24)],
    ("tijd_vak",): [(p,) for p in DAY_PARTS],
    ("brandstof",): [(v,) for v in ["Diesel", "Elektriciteit", "Benzine", "LPG", "Onbekend"]],
    ("emissieklasse",): [(v,) for v in ["Euro 6", "Euro 5", "Z", "Euro 4", "Onbekend"]],
    ("carrosserie",): [(v,) for v in ["Gesloten opbouw", "Open laadvloer", "Bakwagen", "Stationwagen", "Onbekend"]],
    ("bedrijfsgrootte",): [(v,) for v in ["Klein", "Midden", "Groot", "Onbekend"]],
    ("type_bezoeker",): [(v,) for v in ["Eenmalig", "Incidenteel", "Dagelijks"]],
    ("eigenaar_type",): [(v,) for v in ["Particulier", "Rechtspersoon", "Buitenlands", "Onbekend"]],
    ("ontheffing",): [(v,) for v in ["Geen", "Tijdelijk", "Langdurig"]],
    ("ze_toegang",): [(v,) for v in ["Toegestaan", "Overgang", "Verboden", "Ontheffing", "Onbekend"]],
    ("ze_toegang_tot",): [(v,) for v in ["Altijd", "2025-01-01", "2027-01-01", "2028-01-01", "Onbekend"]],
    ("dag_type",): [(v,) for v in ["Werkdag", "Weekend"]],
    ("week_van_maand",): [(w,) for w in range(1, 6)],
    # the SBI 2008 afdeling and its name, as the register snapshot derives them (anpr/dimensions.py)
    ("sbi_groep_code", "sbi_groep_omschrijving"): [
        *(pair for code in ("46499", "49410", "47110", "43221", "56101")
          if (pair := sbi_afdeling(code, load_register_conf())) is not None),
        ("Onbekend", "Onbekend")],
    ("herkomst_nuts3", "herkomst_provincie"): [
        ("NL310", "Utrecht"), ("NL329", "Noord-Holland"), ("NL33C", "Zuid-Holland"), ("NL224", "Gelderland"),
        ("NL413", "Noord-Brabant"), ("NL230", "Flevoland"), ("Onbekend", "Onbekend")],
}
CAMERA_SOURCES = ("camera_id", "camera_name", "latitude", "longitude", "azimuth_deg")
ARROW = {"string": pa.string(), "int": pa.int32(), "double": pa.float64()}


def arrow_schema(spec: TableSpec) -> pa.Schema:
    whole = (*COUNTS, *DETECTION_COUNTS)  # Spark's LongType in real releases (jobs/stats/rows.py spec_schema)
    return pa.schema([(c, pa.int64() if c in whole else ARROW[column_type(spec, c)]) for c in spec.columns])


def _source(name: str) -> str:
    return CATALOGUE.dimensions[name].source


def _type_of(spec: TableSpec, source: str) -> str:
    return next(column_type(spec, d) for d in spec.dimensions if d in CATALOGUE.dimensions and _source(d) == source)


def _factors(spec: TableSpec, municipality: Municipality, zone_id: str,
             cap: int | None) -> list[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    needed = {_source(d) for d in spec.dimensions if d not in BUILT_IN}
    windows = ("venster_tijd",), [(w.name,) for w in municipality.time_windows] + [("Buiten venstertijden",)]
    cameras = CAMERA_SOURCES, [(c.camera_id, c.name, c.lat, c.lon, c.azimuth_deg)
                               for c in municipality.cameras if c.zone_id == zone_id]
    known = {s for sources in [*FACTORS, windows[0], cameras[0], ("zone_name",)] for s in sources}
    # A dimension added to the catalogue later still gets values, of its declared type.
    extra = [((s,), [(v,) for v in ([1, 2, 3] if _type_of(spec, s) == "int" else [f"{s} {c}" for c in "ABC"])])
             for s in sorted(needed - known)]
    out = []
    for sources, values in [*FACTORS.items(), windows, cameras, *extra]:
        used = [i for i, s in enumerate(sources) if s in needed]
        if used:
            projected = list(dict.fromkeys(tuple(v[i] for i in used) for v in values))
            out.append((tuple(sources[i] for i in used), projected[:cap] if cap else projected))
    return out


def _weight(sources: tuple[str, ...], value: tuple[Any, ...], index: int) -> float:
    """How common a value is: an hour-of-day profile, quiet weekends, mostly cars and vans; else the
    first values of a list are the common ones and "Onbekend" (last) the rare one."""
    first = value[0]
    if sources[0] == "uur":
        return HOURS[first]
    if sources[0] == "week_dag":
        return 1.0 if first <= 5 else 0.6 if first == 6 else 0.35
    if sources[0] in ("voertuig_type",) and first in VEHICLES:
        return VEHICLES[first]
    if sources[0] == "tijd_vak":
        return DAY_PART_WEIGHTS.get(first, 0.5)
    if sources[0] == "camera_id":
        return 0.6 + 0.8 * ((index * 37) % 10) / 10
    if sources[0] == "rij_richting_zone":
        return 1.0
    return 1.0 / (1.0 + 0.6 * index)


def _counts(spec: TableSpec, rng: random.Random, expected: float) -> dict[str, int | None]:
    vehicles = int(expected * rng.lognormvariate(0.0, 0.35))
    passages = int(vehicles * (1.5 + rng.random() * 2.5)) + 1
    values = {"aantalUniekeVoertuigen": vehicles, "aantalPassages": passages,
              "aantalRitten": max(1, int(passages * (0.3 + rng.random() * 0.5)))}
    suppressed = vehicles < MIN_VEHICLES
    if spec.kind == "anonymous":  # out-of-scope detections: private cars outnumber vans, and none is suppressed
        return {m: int(passages * (1.5 + rng.random())) for m in spec.measures if m in DETECTION_COUNTS}
    return {m: None if suppressed else values[m] for m in spec.measures if m in COUNTS}


def _cells(spec: TableSpec, municipality: Municipality, zone_id: str, jaar: int, maand: int, cap: int | None,
           rng: random.Random) -> list[dict[str, Any]]:
    names = [d for d in spec.dimensions if d not in BUILT_IN]
    factors = _factors(spec, municipality, zone_id, cap)
    combos = list(itertools.product(*[list(enumerate(values)) for _, values in factors]))
    weights = [math.prod(_weight(sources, value, i) for (sources, _), (i, value) in zip(factors, combo, strict=True))
               for combo in combos]
    mean = sum(weights) / len(weights)
    rarest = weights.index(min(weights))  # below the threshold in every table, so each shows suppression
    weights[rarest] = mean * RARE / MEAN_VEHICLES
    rows = []
    for combo, weight in zip(combos, weights, strict=True):
        by_source = {s: v for (sources, _), (_, value) in zip(factors, combo, strict=True)
                     for s, v in zip(sources, value, strict=True)}
        by_source["zone_name"] = municipality.zone(zone_id).name
        rows.append({**{n: by_source[_source(n)] for n in names}, "maand": maand, "jaar": jaar,
                     **_counts(spec, rng, MEAN_VEHICLES * weight / mean)})
    return rows


def _overview(spec: TableSpec, municipality: Municipality, zone_id: str, jaar: int, maand: int,
              cap: int | None, rng: random.Random) -> list[dict[str, Any]]:
    rows = [{"kenmerk": "totaal", "waarde": "totaal", **_counts(spec, rng, ZONE_VEHICLES)}]
    for characteristic in spec.characteristics:
        source = _source(characteristic)
        for sources, values in FACTORS.items():
            if source in sources:
                distinct = list(dict.fromkeys(v[sources.index(source)] for v in values[:cap]))
                shares = [_weight((source,), (v,), i) for i, v in enumerate(distinct)]
                for i, (value, share) in enumerate(zip(distinct, shares, strict=True)):
                    expected = RARE if i == len(distinct) - 1 else ZONE_VEHICLES * share / sum(shares)
                    rows.append({"kenmerk": characteristic, "waarde": str(value), **_counts(spec, rng, expected)})
    zone_name = municipality.zone(zone_id).name
    for row in rows:
        row.update({"zoneNaam": zone_name, "maand": maand, "jaar": jaar})
    return rows


def _cameras(spec: TableSpec, municipality: Municipality, zone_id: str, jaar: int, maand: int,
             rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for camera in (c for c in municipality.cameras if c.zone_id == zone_id):
        for detection, direction in (("obverse", camera.obverse_direction), ("reverse", camera.reverse_direction)):
            share = round(rng.uniform(70.0, 100.0), 1) if rng.random() > 0.08 else None
            rows.append({"cameraId": camera.camera_id, "cameraNaam": camera.name, "latitude": camera.lat,
                         "longitude": camera.lon, "kijkRichtingGraden": camera.azimuth_deg,
                         "detectieRichting": DETECTION_NAMES[detection], "rijRichtingZone": direction, "maand": maand,
                         "jaar": jaar, "beschikbaarheidsPercentage": share})
    return rows


def sample_rows(spec: TableSpec, municipalities: Sequence[Municipality], jaar: int, maand: int,
                cap: int | None = None, seed: int = 7) -> pa.Table:
    """The table's rows for every zone; `cap` keeps only the first values of each dimension (small tests)."""
    rng = random.Random(f"{seed}-{spec.name}-{jaar}-{maand}")
    rows: list[dict[str, Any]] = []
    for m in municipalities:
        for zone in m.zones:
            if spec.kind == "cameras":
                found = _cameras(spec, m, zone.zone_id, jaar, maand, rng)
            elif spec.kind == "overview":
                found = _overview(spec, m, zone.zone_id, jaar, maand, cap, rng)
            else:
                found = _cells(spec, m, zone.zone_id, jaar, maand, cap, rng)
            rows += [{**r, "gemeenteCode": m.code, "zoneId": zone.ndw_code, "zoneAanduiding": zone.zone_id}
                     for r in found]
    return pa.Table.from_pylist(rows, schema=arrow_schema(spec))


def publish_sample(spark: Any, lake: Lake, month: str, municipalities: Sequence[Municipality] | None = None,
                   cap: int | None = None, seed: int = 7, tables: Sequence[TableSpec] | None = None) -> Any:
    """Publish a sample release of `tables` (default: the whole catalogue) through jobs.stats.release."""
    jaar, maand = (int(p) for p in month.split("-"))
    chosen = list(TABLES.values()) if tables is None else list(tables)
    places = load_municipalities() if municipalities is None else list(municipalities)
    frames = [(spec, spark.createDataFrame(sample_rows(spec, places, jaar, maand, cap, seed))) for spec in chosen]
    return publish(spark, lake, month, frames, {"synthetic_sample": seed}, {"synthetic_sample": seed, "cap": cap})


def synthetic_municipality(code: str = "GM0599", name: str = "Rotterdam", lat: float = 51.92, lon: float = 4.48,
                           cameras: int = 3) -> Municipality:
    """A made-up municipality with one square zone and `cameras` cordon cameras on its edge, each looking
    into the zone (obverse reads enter it): tests of authorization across municipalities need more
    municipalities than the demo configures, and must not depend on how conf/ places its cameras."""
    d = 0.01
    ring = [[lon - d, lat + d], [lon + d, lat + d], [lon + d, lat - d], [lon - d, lat - d], [lon - d, lat + d]]
    spots = []
    for i in range(cameras):
        side, t = divmod(i * 4.0 / cameras, 1.0)
        (x0, y0), (x1, y1) = ring[int(side)], ring[int(side) + 1]
        azimuth = (180.0 + 90.0 * int(side)) % 360  # north edge looks south, east edge west, ...
        spots.append((round(y0 + (y1 - y0) * (t + 0.5 / cameras), 5), round(x0 + (x1 - x0) * (t + 0.5 / cameras), 5),
                      azimuth))
    return Municipality.model_validate({
        "municipality": name, "code": code,
        "zones": [{"zone_id": f"{code}-ZE1", "ndw_code": int(code[2:]) * 1000 + 1, "name": f"ZE-zone centrum {name}",
                   "polygon": ring}],
        "time_windows": [
            {"name": "Venstertijd ochtend", "start": "07:00", "end": "11:00", "weekdays": [1, 2, 3, 4, 5, 6]},
            {"name": "Venstertijd avond", "start": "18:00", "end": "20:00", "weekdays": [1, 2, 3, 4, 5]}],
        "cameras": [{"camera_id": f"{code.lower()}-cam-{i + 1}", "name": f"{name} camera {i + 1}", "lat": la,
                     "lon": lo, "azimuth_deg": az, "zone_id": f"{code}-ZE1", "obverse_direction": "Inbound"}
                    for i, (la, lo, az) in enumerate(spots)],
    })
