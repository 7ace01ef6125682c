"""Monthly statistics for 45 cities from synthetic enriched passages: build, protection and audit.

The baseline, measured in the same run, is the unprotected build: the same tables' plain counts
(passages, trips, distinct vehicles) without disclosure-control statistics, suppression or audit.
Size: a realistic month (bench/stats_sizes.py, bench/stats_month.py) at ANPR_BENCH_STATS_SCALE times
the national volume (default 1.0: about 1.4 million detections a day over 45 zones, 39 million
passages in February; Utrecht-sized city 0 the largest, the rest on a rank-size law), vehicles from
the synthetic register, written city by city. ANPR_BENCH_STATS_VEHICLES=n instead gives the older
fixed size, n vehicles in every city built in memory (the tests' generator, `synthetic_passages`).

`stats_build` (run_build): the month's build alone, against the unprotected build of the same run.
`stats_cluster` (run_cluster): a reduced month on a standalone cluster of one worker, then two, and the
check that both give the same release.
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pyarrow as pa

from anpr.dimensions import sbi_afdeling, sbi_sectie
from anpr.register_conf import load_register_conf
from anpr.synth.register import SECTORS
from anpr.zones import Camera, Municipality, TimeWindow, Zone

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from anpr.lake import Lake
    from anpr.settings import Settings

CITIES = 45
MONTH = (2026, 2)  # February: no daylight-saving change, so local time is UTC+1 throughout
TYPES = [("Personenauto", 0.45), ("Bestelauto", 0.35), ("Vrachtauto", 0.07), ("Bus", 0.02), ("Overig", 0.04),
         ("Buitenlands", 0.04), ("Onbekend", 0.03)]
COMPANY_SHARE = {"Personenauto": 0.25, "Bestelauto": 0.9, "Vrachtauto": 0.97, "Bus": 0.97, "Overig": 0.5}
FUELS = [("Diesel", 0.55), ("Benzine", 0.25), ("Elektriciteit", 0.15), ("LPG", 0.03), ("Waterstof", 0.02)]
EURO = [("Euro 4", 0.1), ("Euro 5", 0.25), ("Euro 6", 0.5), ("Z", 0.15)]
BODIES = {"Personenauto": ["Sedan", "Stationwagen"], "Bestelauto": ["Gesloten opbouw", "Open laadbak"],
          "Vrachtauto": ["Bakwagen", "Trekker"], "Bus": ["Bus"], "Overig": ["Overig"]}
# The synthetic register's sectors as the enrichment publishes them: SBI 2008 afdeling (two digits) and its
# configured name (anpr/dimensions.py sbi_afdeling), each division once, in the register's order.
SBI = list(dict.fromkeys(a for code, *_ in SECTORS if (a := sbi_afdeling(code, load_register_conf())) is not None))
PROVINCES = ["Groningen", "Friesland", "Drenthe", "Overijssel", "Flevoland", "Gelderland", "Utrecht",
             "Noord-Holland", "Zuid-Holland", "Zeeland", "Noord-Brabant", "Limburg"]
HOURS = np.array([1, 1, 1, 1, 2, 4, 9, 16, 18, 14, 12, 12, 12, 12, 12, 13, 16, 17, 13, 9, 6, 4, 3, 2], float)
DAY_PARTS = [("Nacht", 0, 7), ("Ochtendspits", 7, 9), ("Dag", 9, 16), ("Avondspits", 16, 19), ("Avond", 19, 24)]
WINDOWS = [("Venstertijd ochtend", 7, 11, (1, 2, 3, 4, 5, 6)), ("Venstertijd avond", 18, 20, (1, 2, 3, 4, 5))]
SECTIONS = [(sbi_sectie(code) or ("Onbekend",))[0] for code, _ in SBI]  # as the stream derives them


def municipalities(cities: int = CITIES, cameras: int = 6) -> list[Municipality]:
    out = []
    for c in range(cities):
        code = f"GM{9000 + c:04d}"
        zone = Zone(zone_id=f"{code}-ZE1", ndw_code=int(code[2:]) * 1000 + 1, name=f"ZE-zone stad {c}",
                    polygon=[(5.0, 52.0), (5.1, 52.0), (5.0, 52.1)])
        cams = [Camera(camera_id=f"{code}-cam{k}", name=f"Camera {k} stad {c}", lat=52.0 + k / 100, lon=5.0,
                       azimuth_deg=float(45 * k % 360), zone_id=zone.zone_id, obverse_direction="Inbound")
                for k in range(cameras)]
        windows = [TimeWindow(name=n, start=f"{a:02d}:00", end=f"{b:02d}:00", weekdays=list(d))
                   for n, a, b, d in WINDOWS]
        out.append(Municipality(municipality=f"Stad {c}", code=code, zones=[zone], time_windows=windows, cameras=cams))
    return out


def _pick(rng: np.random.Generator, options: list[tuple[str, float]], n: int) -> np.ndarray:
    names, weights = zip(*options, strict=True)
    return rng.choice(np.array(names), n, p=np.array(weights) / sum(weights))


def _city_passages(rng: np.random.Generator, m: Municipality, vehicles: int, days: int) -> dict[str, np.ndarray]:
    kind = _pick(rng, TYPES, vehicles)
    companies = max(vehicles // 6, 3)
    fleet = rng.zipf(1.6, vehicles) % companies  # a few large fleets, many one-vehicle companies
    is_company = np.array([rng.random() < COMPANY_SHARE.get(k, 0.0) for k in kind])
    sbi = rng.integers(0, len(SBI), companies)
    province = rng.integers(0, len(PROVINCES), companies)
    size = rng.choice(np.array(["Klein", "Midden", "Groot"]), companies, p=[0.6, 0.3, 0.1])
    own_province = rng.integers(0, len(PROVINCES), vehicles)
    fuel, euro = _pick(rng, FUELS, vehicles), _pick(rng, EURO, vehicles)
    style = rng.choice(3, vehicles, p=[0.35, 0.45, 0.2])  # once, incidental, daily
    visits = np.where(style == 0, 1, np.where(style == 1, rng.integers(2, 10, vehicles),
                                              rng.integers(15, days + 1, vehicles)))
    rows: dict[str, list] = {k: [] for k in ("v", "ts", "cam", "dir")}
    start = datetime(*MONTH, 1, tzinfo=UTC) - timedelta(hours=1)  # local midnight (UTC+1)
    cams = [c.camera_id for c in m.cameras]
    for vehicle in range(vehicles):
        for day in rng.choice(days, visits[vehicle], replace=False):
            enter = float(day * 24 + rng.choice(24, p=HOURS / HOURS.sum()) + rng.random())
            stay = float(rng.exponential(3.0)) + 0.1  # some stays run past midnight
            seen = [(enter, "Inbound")] + [(enter + stay * rng.random(), "Inbound")] * int(rng.random() < 0.2)
            if rng.random() < 0.93:  # sometimes the way out is not seen: the gap closes the stay
                seen.append((enter + stay, "Outbound"))
            for hours, direction in seen:
                rows["v"].append(vehicle)
                rows["ts"].append(start + timedelta(hours=hours))
                rows["cam"].append(cams[rng.integers(len(cams))])
                rows["dir"].append(direction)
    v = np.array(rows["v"], dtype=np.int64)
    company = is_company[v]
    token = np.array([f"{m.code}-v{i}" for i in v])
    owner_company = np.array([f"{m.code}-k{fleet[i]}" for i in v])
    nl = ~np.isin(kind[v], ["Buitenlands", "Onbekend"])
    comp = company & nl
    local = [t + timedelta(hours=1) for t in rows["ts"]]
    hour = np.array([t.hour for t in local])
    weekday = np.array([t.isoweekday() for t in local])
    part = np.array([next(n for n, a, b in DAY_PARTS if a <= h < b) for h in hour])
    window = np.array([next((n for n, a, b, d in WINDOWS if a <= h < b and w in d), None)
                       for h, w in zip(hour, weekday, strict=True)], dtype=object)
    origin = np.where(comp, province[fleet[v]], own_province[v])
    exemption, access, access_until = _access(m, kind, euro, v, nl, np.array([t.date() for t in local]))
    return {
        "camera_id": np.array(rows["cam"]), "municipality": np.full(len(v), m.code),
        "zone_id": np.full(len(v), m.zones[0].zone_id), "event_ts": np.array(rows["ts"]),
        "event_date": np.array([t.date() for t in local]), "jaar": np.array([t.year for t in local]),
        "maand": np.array([t.month for t in local]), "week_dag": weekday, "uur": hour, "tijd_vak": part,
        "venster_tijd": window, "rij_richting_zone": np.array(rows["dir"]), "voertuig_type": kind[v],
        "brandstof": _only(nl, fuel[v]), "emissieklasse": _only(nl, euro[v]),
        "carrosserie": _only(nl, np.array([BODIES.get(k, ["Overig"])[i % len(BODIES.get(k, ["Overig"]))]
                                           for k, i in zip(kind[v], v, strict=True)])),
        "eigenaar_type": _only(nl, np.where(comp, "Bedrijf", "Particulier")),
        "sbi_groep_code": _only(comp, np.array([SBI[sbi[fleet[i]]][0] for i in v])),
        "sbi_groep_omschrijving": _only(comp, np.array([SBI[sbi[fleet[i]]][1] for i in v])),
        "sbi_sectie": _only(comp, np.array([SECTIONS[sbi[fleet[i]]] for i in v])),
        "bedrijfsgrootte": _only(comp, size[fleet[v]]),
        "herkomst_provincie": _only(nl, np.array(PROVINCES)[origin]),
        "herkomst_nuts3": _only(nl, np.array([f"NL{p:02d}{fleet[i] % 3}" for p, i in zip(origin, v, strict=True)])),
        "ontheffing": exemption, "ze_toegang": access, "ze_toegang_tot": access_until,
        "period_token": token,
        # the enrichment's rule: a company's token, a private owner's own token, null when unknown
        "company_token": _only(nl, np.where(comp, owner_company, token)),
    }


def _access(m: Municipality, kind: np.ndarray, euro: np.ndarray, v: np.ndarray, nl: np.ndarray,
            dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ontheffing and ze_toegang of each passage on its local date, and its vehicle's ze_toegang_tot, by the
    register's rules (anpr/dimensions.py):
    3% of the vehicles hold a long-term exemption, 5% a day exemption on the first day they are seen. A
    separate generator per city leaves the other columns as they were."""
    from datetime import date

    from anpr import dimensions as D
    from anpr.register_conf import load_register_conf

    rng = np.random.default_rng([int(m.code[2:]), 14])
    n = len(kind)
    admitted = pa.array([date(int(y), 7, 1) for y in rng.integers(2012, 2026, n)], pa.date32())
    bodies = pa.array([BODIES.get(k, ["Overig"])[i % len(BODIES.get(k, ["Overig"]))] for i, k in enumerate(kind)])
    until = D.ze_toegang_tot(pa.array(kind), pa.array(euro), admitted, bodies, load_register_conf())[v]
    until[~nl] = D.UNKNOWN  # no register match
    day = np.array([D.days(d) for d in dates], dtype=np.int32)
    first_day: dict[int, int] = {}
    for vehicle, d in zip(v, day, strict=True):
        first_day[vehicle] = min(first_day.get(vehicle, d), d)
    long_term, day_exempt = rng.random(n) < 0.03, rng.random(n) < 0.05
    level = np.where(long_term[v], 2, np.where(day_exempt[v] & (day == np.array([first_day[i] for i in v])), 1, 0))
    exemption = np.array(D.ONTHEFFING_LEVELS, dtype=object)[level]
    access = np.array(D.ZE_STATUSES, dtype=object)[D.ze_status(until, day, level.astype(np.int8))]
    return exemption, access, np.array(D.ze_toegang_tot_labels(until).to_pylist(), dtype=object)


def _only(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """values where mask holds, None (a missing register value) elsewhere."""
    out = np.full(len(mask), None, dtype=object)
    out[mask] = values[mask]
    return out


def synthetic_passages(cities: list[Municipality], vehicles: int, seed: int = 11) -> pa.Table:
    """Enriched passages of one month with every column the monthly build reads (see bench docstring)."""
    from anpr.lake import spark_to_arrow_schema
    from jobs.stats.tables.enrich import PASSAGE_TYPES, passages_schema

    rng = np.random.default_rng(seed)
    days = 28
    parts = [_city_passages(rng, m, vehicles, days) for m in cities]
    columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n = len(columns["camera_id"])
    columns["observation_id"] = np.array([f"obs-{i:09d}" for i in range(n)])
    names = [c for c in PASSAGE_TYPES if c in columns]
    schema = spark_to_arrow_schema(passages_schema(names))
    return pa.Table.from_arrays([pa.array(list(columns[c]), f.type) for c, f in zip(names, schema, strict=True)],
                                schema=schema)


def _lake(spark: SparkSession, root: Path, table: pa.Table) -> Lake:
    """A lake whose passages are table."""
    from anpr.lake import Lake
    from anpr.stream_tables import PASSAGES
    from jobs.stats.tables.enrich import passages_schema

    lake = Lake(str(root), spark)
    lake.create(PASSAGES, passages_schema(table.column_names), partition_by=["municipality"])
    lake.append(PASSAGES, table)
    return lake


def _cpu_seconds(pid: int) -> float:
    """CPU seconds of process pid and its live descendants (here: the Spark JVM and its Python workers),
    each with the children it has waited for; from Linux /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
    children: dict[int, list[int]] = {}
    for p, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(p)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        if p in stats:  # utime stime cutime cstime
            total += sum(int(x) for x in stats[p][11:15]) / tick
            todo.extend(children.get(p, []))
    return total


class _Marks:
    """CPU seconds at the progress lines that end the stats job's build and its protection and audit."""

    def __init__(self, pid: int) -> None:
        self.pid, self.at = pid, {"start": _cpu_seconds(pid)}

    def __call__(self, message: str) -> None:
        from anpr.progress import say

        if " passages in " in message and "build" not in self.at:
            self.at["build"] = _cpu_seconds(self.pid)
        elif message.startswith("==> publishing"):
            self.at["sdc"] = _cpu_seconds(self.pid)
        say(message)


def _local_settings(root: Path) -> Settings:
    """The benchmark's own data folder under root, on local[2] with a 3 GB driver."""
    from anpr.settings import Settings, SparkSettings

    return Settings(data_dir=root / "data", spark=SparkSettings(master="local[2]", shuffle_partitions=4,
                                                                driver_memory="3g"))


def _build(settings: Settings, lake: Lake, plain: bool) -> int:
    """The month's cells as `anpr stats` builds them at a month's first release (jobs/stats/job.py
    build_cells: every protected table and its recoded variants with the disclosure statistics, then the
    recoding chosen), or with plain only the published counts (the unprotected baseline); returns the
    number of cells."""
    from anpr.catalogue import CATALOGUE
    from anpr.disclosure import load_disclosure
    from anpr.stream_tables import PASSAGES
    from jobs.stats.job import build_cells, sizes_for
    from jobs.stats.tables.build import build_month
    from jobs.stats.tables.enrich import month_passages

    disclosure = load_disclosure().with_min_vehicles(settings.disclosure.min_vehicles)
    specs = [s for s in CATALOGUE.tables.values() if s.protected]
    rows = month_passages(lake.read(PASSAGES), *MONTH, double_read_seconds=settings.passages.double_read_seconds)
    if plain:
        cells = build_month(rows, CATALOGUE, specs, sizes_for(disclosure, specs), plain=True)
    else:
        cells, _, _ = build_cells(rows, lake, f"{MONTH[0]}-{MONTH[1]:02d}", CATALOGUE, specs, disclosure,
                               sizes_for(disclosure, list(CATALOGUE.tables.values())))
    return sum(len(frame) for _, frame in cells.parts)


def run_build() -> dict[str, object]:
    """`stats_build`: the month's build alone, against the unprotected build of the same run. Size: the
    realistic month at ANPR_BENCH_STATS_BUILD_SCALE times the national volume (default 0.02)."""
    from anpr.lake import Lake
    from anpr.progress import say
    from anpr.spark import get_spark
    from bench.stats_month import write_month
    from bench.stats_sizes import city_sizes

    scale = float(os.environ.get("ANPR_BENCH_STATS_BUILD_SCALE", "0.02"))
    with tempfile.TemporaryDirectory(prefix="anpr-bench-stats-build-") as tmp:
        settings = _local_settings(Path(tmp))
        spark = get_spark(settings)
        try:
            lake = Lake(str(Path(tmp) / "lake"), spark)
            passages = write_month(lake, municipalities(), city_sizes(scale))
            seconds, cells = {}, {}
            for name, plain in (("baseline_unprotected", True), ("build", False)):
                started = time.perf_counter()
                cells[name] = _build(settings, lake, plain)
                seconds[name] = time.perf_counter() - started
                say(f"    {name}: {seconds[name]:.0f}s, {cells[name]:,} cells")
        finally:
            spark.stop()
    return {"scale": scale, "passages": passages, "cells": cells["build"],
            "baseline_unprotected_build_seconds": round(seconds["baseline_unprotected"], 1),
            "build_seconds": round(seconds["build"], 1),
            "ratio_build_to_baseline": round(seconds["build"] / seconds["baseline_unprotected"], 2)}


def run() -> dict[str, object]:
    from anpr.progress import say
    from anpr.spark import get_spark
    from bench.stats_month import write_month
    from bench.stats_sizes import DAYS, NATIONAL_DAILY, SEED, UTRECHT_DAILY, city_sizes
    from jobs.stats.job import run_monthly_stats

    fixed = os.environ.get("ANPR_BENCH_STATS_VEHICLES")
    scale = float(os.environ.get("ANPR_BENCH_STATS_SCALE", "1.0"))
    cities = municipalities()
    sizes = None if fixed else city_sizes(scale)
    with tempfile.TemporaryDirectory(prefix="anpr-bench-stats-") as tmp:
        settings = _local_settings(Path(tmp))
        spark = get_spark(settings)
        try:
            started = time.perf_counter()
            if sizes is None:
                table = synthetic_passages(cities, int(str(fixed)))
                lake = _lake(spark, Path(tmp) / "lake", table)
                passages = table.num_rows
                del table
            else:
                from anpr.lake import Lake

                lake = Lake(str(Path(tmp) / "lake"), spark)
                passages = write_month(lake, cities, sizes)
            generated = time.perf_counter() - started
            tree = os.getpid()  # the JVM and its Python workers are this process's descendants
            cpu0, t0 = _cpu_seconds(tree), time.perf_counter()
            _build(settings, lake, plain=True)
            baseline, baseline_cpu = time.perf_counter() - t0, _cpu_seconds(tree) - cpu0
            say(f"    baseline (unprotected build): {baseline:.0f}s")
            marks = _Marks(tree)
            release = run_monthly_stats(spark, settings, lake, f"{MONTH[0]}-{MONTH[1]:02d}", municipalities=cities,
                                        progress=marks)
        finally:
            spark.stop()
    s, audit, cpu = release.seconds, release.audit, marks.at
    total = s["build"] + s["sdc_wall"] + s["publish"]
    size: dict[str, object] = {"vehicles_per_city": int(str(fixed))} if sizes is None else {
        "scale": scale, "seed": SEED, "days": DAYS, "national_daily_at_scale_1": NATIONAL_DAILY,
        "largest_daily_at_scale_1": UTRECHT_DAILY, "daily_per_city": [c.daily for c in sizes],
        "vehicles_per_city": [c.vehicles for c in sizes], "vehicles": sum(c.vehicles for c in sizes)}
    minutes = lambda x: round(x / 60, 2)  # noqa: E731
    return {
        "cities": len(cities), "zones": sum(len(m.zones) for m in cities), **size, "passages": passages,
        "generate_minutes": minutes(generated),
        "baseline_unprotected_build_minutes": minutes(baseline),
        "baseline_unprotected_build_minutes_cpu": minutes(baseline_cpu),
        "build_minutes": minutes(s["build"]),
        "build_minutes_cpu": minutes(cpu["build"] - cpu["start"]) if "build" in cpu else None,
        "protection_minutes_cpu": minutes(s["protection"]), "audit_minutes_cpu": minutes(s["audit"]),
        "protection_and_audit_minutes_wall": minutes(s["sdc_wall"]),
        # the process tree's CPU from the end of the build to publishing: protection, audit, table assembly
        "protection_and_audit_minutes_process_cpu": minutes(cpu["sdc"] - cpu["build"]) if "sdc" in cpu else None,
        "publish_minutes": minutes(s["publish"]),
        "total_minutes": minutes(total), "ratio_total_to_baseline": round(total / baseline, 2),
        "cells": audit["cells"], "primary": audit["primary"], "secondary": audit["secondary"],
        "attacked": audit["attacked"], "lp_solved": audit["lp_solved"], "narrowest": audit["narrowest"],
        "rows_published": sum(release.row_counts.values()),
        "information_loss": {name: {k: t[k] for k in ("suppressed_share", "passages_suppressed_share",
                                                       "vehicles_suppressed_share")}
                             for name, t in cast(dict[str, dict[str, float]], audit["tables"]).items()},
    }


def run_cluster() -> dict[str, object]:
    """A reduced month on a standalone cluster (anpr/standalone.py) of one worker, then of two (one core
    each): the protection step's wall time with each, and the check that both give the same release.
    Size: ANPR_BENCH_STATS_CLUSTER_CITIES cities (default 4) of ANPR_BENCH_STATS_CLUSTER_VEHICLES vehicles
    (default 150) each: about 7 minutes of protection on 2 cores. At 8 x 300 a zone of 300 vehicles (4,000-4,600
    cells, over 95% of them primary, about 3,000 LPs) took about 8 minutes on one worker, over an hour for the
    eight (stop 40, not finished).

    Raises RuntimeError when the two releases differ."""
    from anpr.progress import say
    from anpr.settings import Settings, SparkSettings
    from anpr.spark import get_spark
    from anpr.standalone import StandaloneCluster
    from jobs.stats.job import run_monthly_stats

    vehicles = int(os.environ.get("ANPR_BENCH_STATS_CLUSTER_VEHICLES", "150"))
    cities = municipalities(int(os.environ.get("ANPR_BENCH_STATS_CLUSTER_CITIES", "4")))
    table = synthetic_passages(cities, vehicles)
    runs: dict[int, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="anpr-bench-stats-cluster-") as tmp:
        for workers in (1, 2):
            home = Path(tmp) / f"workers-{workers}"
            say(f"==> {workers} worker(s)")
            with StandaloneCluster(home / "standalone", workers=workers, cores=1, memory="2g") as cluster:
                settings = Settings(data_dir=home / "data", spark=SparkSettings(
                    master=cluster.master_url, shuffle_partitions=4, driver_memory="2g",
                    extra={"spark.executor.memory": "1g"}))
                spark = get_spark(settings)
                try:
                    release = run_monthly_stats(spark, settings, _lake(spark, home / "lake", table),
                                                f"{MONTH[0]}-{MONTH[1]:02d}", municipalities=cities, progress=say)
                finally:
                    spark.stop()
            runs[workers] = {"protection_and_audit_minutes_wall": round(release.seconds["sdc_wall"] / 60, 2),
                             "build_minutes": round(release.seconds["build"] / 60, 2),
                             "content_sha256": release.content_sha256}
    if runs[1]["content_sha256"] != runs[2]["content_sha256"]:
        raise RuntimeError(f"one and two workers gave different releases: {runs[1]['content_sha256']} and "
                           f"{runs[2]['content_sha256']}")
    one, two = (cast(float, runs[w]["protection_and_audit_minutes_wall"]) for w in (1, 2))
    return {"cities": len(cities), "vehicles_per_city": vehicles, "passages": table.num_rows,
            "one_worker": runs[1], "two_workers": runs[2], "identical_release": True,
            "protection_speedup": round(one / two, 2) if two else None}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
