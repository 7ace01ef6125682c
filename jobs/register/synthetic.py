"""The synthetic register (anpr/synth/register.py) as pseudonymized register tables, chunk by chunk.

Vehicles go through the same derivations as RDW exports (jobs/register/csv_reader.derive_vehicles), so the
synthetic register tests them at national size. Chunks are independent: worker processes build them
in parallel (plates and HMACs are the cost) and hand back Arrow tables that hold keys, never plates.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anpr import dimensions as D
from anpr.lake import conform, spark_to_arrow_schema
from anpr.pseudonym import company_key, vehicle_key
from anpr.register_conf import RegisterConf
from anpr.register_tables import (
    COMPANIES_SCHEMA,
    EXEMPTIONS_SCHEMA,
    OWNERS_SCHEMA,
    UTC_US,
    VEHICLES_SCHEMA,
    local_midnight,
)
from anpr.synth import register as S
from jobs.register.csv_reader import derive_vehicles

VOERTUIGSOORT = {"Personenauto": "Personenauto", "Bestelauto": "Bedrijfsauto", "Vrachtauto": "Bedrijfsauto",
                 "Bus": "Bus", "Overig": "Motorfiets"}
# Permissible maximum mass (kg) ranges per type, light and heavy variant (N2/N3, M2/M3).
MASS = {"Personenauto": ((1300, 2500), (1300, 2500)), "Bestelauto": ((2000, 3500), (2000, 3500)),
        "Vrachtauto": ((7500, 12000), (18000, 44000)), "Bus": ((4000, 5000), (18000, 26000)),
        "Overig": ((250, 500), (250, 500))}
HEAVY_CATEGORY = {"Vrachtauto": ("N2", "N3"), "Bus": ("M2", "M3")}
LONG_TERM = (date(2025, 1, 1), date(2027, 1, 1))
DAY_EXEMPTION_YEAR = 2026
SECTOR_MOVE_SHARE, SECTOR_MOVE_DAY = 0.005, date(2026, 1, 1)
SMALL_CHUNKS = 3


def _dates(days_since_epoch: np.ndarray) -> pa.Array:
    return pa.array(days_since_epoch.astype(np.int32), pa.int32()).cast(pa.date32())


def derived_vehicles(d: dict[str, np.ndarray], conf: RegisterConf, timezone: str) -> pa.Table:
    """One chunk's vehicles (S.chunk_data) as RDW-shaped rows through the RDW derivations: one row per
    vehicle with voertuig_type, brandstof, emissieklasse, carrosserie, datum_eerste_toelating, first_from."""
    kinds, heavy, n = d["kind"], d["heavy"], len(d["index"])
    category = np.array([S.EU_CATEGORY[k] for k in kinds], dtype=object)
    mass = np.zeros(n, dtype=np.int64)
    u = (d["seed_days"] % 1000) / 1000
    for kind, ((lo, hi), (hlo, hhi)) in MASS.items():
        mask = kinds == kind
        mass[mask] = np.where(heavy[mask], hlo + u[mask] * (hhi - hlo), lo + u[mask] * (hi - lo)).astype(np.int64)
        if kind in HEAVY_CATEGORY:
            category[mask] = np.where(heavy[mask], HEAVY_CATEGORY[kind][1], HEAVY_CATEGORY[kind][0])
    admitted = D.days(S.NEWEST) - d["age_days"]
    euro = d["euro"]
    raw = pa.table({
        "europese_voertuigcategorie": pa.array(category, pa.string()),
        "voertuigsoort": pa.array([VOERTUIGSOORT[k] for k in kinds], pa.string()),
        "toegestane_maximum_massa_voertuig": pa.array(mass),
        "massa_rijklaar": pa.array((mass * 0.6).astype(np.int64)),
        "fuels": pa.array([S.FUEL_ROWS[f] for f in d["fuel"]], pa.string()),
        "euro": pa.array(euro, pa.int8(), mask=euro < 0),
        "code": pa.array(d["body"], pa.string()), "omschrijving": pa.nulls(n, pa.string()),
        "inrichting": pa.nulls(n, pa.string()), "merk": pa.nulls(n, pa.string()),
        "datum_eerste_toelating": _dates(admitted),
    })
    return derive_vehicles(raw, conf, timezone)


def vehicle_tables(chunk: int, size: int, seed: int, pepper: bytes, conf: RegisterConf,
                   timezone: str) -> dict[str, pa.Table]:
    """Vehicles, owners and exemptions rows of one chunk of the synthetic register."""
    d = S.chunk_data(chunk, size, seed, cache=False)
    plates = S.chunk_plates(chunk, size, seed, d)
    keys = pa.array([vehicle_key(pepper, p, "NL") for p in plates], pa.string())
    admitted = D.days(S.NEWEST) - d["age_days"]
    derived = derived_vehicles(d, conf, timezone)
    start = derived["first_from"]
    vehicles = derived.drop_columns(["first_from"]).add_column(0, "vehicle_key", keys)
    vehicles = vehicles.append_column("valid_from", start)
    return {"vehicles": conform(vehicles, spark_to_arrow_schema(VEHICLES_SCHEMA)),
            "owners": _owners(d, keys, admitted, pepper, timezone),
            "exemptions": _exemptions(d, keys),
            # the KvK indices this chunk's owners use, so only companies that own a vehicle are built
            "kvk": pa.table({"kvk": np.concatenate([d["kvk"][d["company"]],
                                                    d["new_kvk"][(d["change_after"] >= 0) & d["new_company"]]])})}


def _owners(d: dict[str, np.ndarray], keys: pa.Array, admitted: np.ndarray, pepper: bytes,
            timezone: str) -> pa.Table:
    changed = d["change_after"] >= 0
    change_day = _dates(np.where(changed, admitted + d["change_after"], 0))
    change_at = local_midnight(change_day, timezone)
    first_company = _company_keys(pepper, d["kvk"], d["company"])
    first = pa.table({
        "vehicle_key": keys, "valid_from": local_midnight(_dates(admitted), timezone),
        "valid_to": pc.if_else(pa.array(changed), change_at, pa.scalar(None, UTC_US)),
        "eigenaar_type": pa.array(np.where(d["company"], D.BEDRIJF, D.PARTICULIER), pa.string()),
        "company_key": first_company, "postcode4": pa.array(d["postcode"], pa.int32()),
    })
    idx = np.flatnonzero(changed)
    second = pa.table({
        "vehicle_key": keys.take(idx), "valid_from": change_at.take(idx), "valid_to": pa.nulls(len(idx), UTC_US),
        "eigenaar_type": pa.array(np.where(d["new_company"][idx], D.BEDRIJF, D.PARTICULIER), pa.string()),
        "company_key": _company_keys(pepper, d["new_kvk"][idx], d["new_company"][idx]),
        "postcode4": pa.array(d["new_postcode"][idx], pa.int32()),
    })
    schema = spark_to_arrow_schema(OWNERS_SCHEMA)
    return pa.concat_tables([conform(first, schema), conform(second, schema)])


def _company_keys(pepper: bytes, kvk: np.ndarray, owned: np.ndarray) -> pa.Array:
    """company_key of each owned row (null otherwise), one HMAC per distinct company."""
    distinct, which = np.unique(kvk[owned], return_inverse=True)
    keys = np.array([company_key(pepper, S.kvk_number(int(k))) for k in distinct], dtype=object)
    out = np.full(len(kvk), None, dtype=object)
    out[owned] = keys[which] if len(distinct) else []
    return pa.array(out, pa.string())


def _exemptions(d: dict[str, np.ndarray], keys: pa.Array) -> pa.Table:
    long_term = np.flatnonzero(d["exemption"] == 2)
    daily = np.flatnonzero(d["exemption"] == 1)
    counts = d["exempt_days"][daily]
    rows = np.repeat(daily, counts)
    nth = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    year_start = D.days(date(DAY_EXEMPTION_YEAR, 1, 1))
    day = year_start + (d["seed_days"][rows] + nth * 29) % 365  # distinct days: 29 and 365 are coprime
    who = np.concatenate([long_term, rows])
    starts = np.concatenate([np.full(len(long_term), D.days(LONG_TERM[0])), day])
    ends = np.concatenate([np.full(len(long_term), D.days(LONG_TERM[1])), day + 1])
    return conform(pa.table({
        "vehicle_key": keys.take(who), "municipality": pa.array(d["exempt_in"][who], pa.string()),
        "soort": pa.array([D.LANGDURIG] * len(long_term) + [D.TIJDELIJK] * len(rows), pa.string()),
        "valid_from": _dates(starts), "valid_to": _dates(ends),
    }), spark_to_arrow_schema(EXEMPTIONS_SCHEMA))


def company_sizes(seed: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    """Every synthetic company's sector (index into S.SECTORS) and employees, by KvK index, and the
    generator company_table draws its further columns from."""
    rng = np.random.default_rng([seed, 7_000_001])
    starts, sizes = S.sector_blocks()
    sector = np.repeat(np.arange(len(S.SECTORS)), sizes)
    rank = np.arange(S.COMPANIES) - np.repeat(starts, sizes)
    employees = np.maximum(1, 4000 * (rank + 1.0) ** -0.85 * rng.lognormal(0, 0.5, S.COMPANIES)).astype(np.int64)
    return rng, sector, employees


def company_table(seed: int, pepper: bytes, valid_from: datetime, timezone: str,
                  indices: np.ndarray | None = None) -> pa.Table:
    """Synthetic companies (all, or the given KvK indices): their sector block's SBI code, a size falling
    with the fleet rank, and a few that moved sector (two intervals)."""
    rng, sector, employees = company_sizes(seed)
    moves = rng.random(S.COMPANIES) < SECTOR_MOVE_SHARE
    new_sector = (sector + 1 + rng.integers(0, len(S.SECTORS) - 1, S.COMPANIES)) % len(S.SECTORS)
    chosen = np.arange(S.COMPANIES) if indices is None else np.unique(indices)
    codes = np.array([s[0] for s in S.SECTORS], dtype=object)
    keys = pa.array([company_key(pepper, S.kvk_number(int(i))) for i in chosen], pa.string())
    move_at = pa.scalar(local_midnight(_dates(np.array([D.days(SECTOR_MOVE_DAY)])), timezone)[0].as_py(), UTC_US)
    moved = moves[chosen]
    before = pa.table({"company_key": keys, "valid_from": pa.repeat(pa.scalar(valid_from, UTC_US), len(chosen)),
                       "valid_to": pc.if_else(pa.array(moved), move_at, pa.scalar(None, UTC_US)),
                       "sbi_code": pa.array(codes[sector[chosen]], pa.string()),
                       "werkzame_personen": pa.array(employees[chosen])})
    which = np.flatnonzero(moved)
    after = pa.table({"company_key": keys.take(which), "valid_from": pa.repeat(move_at, len(which)),
                      "valid_to": pa.nulls(len(which), UTC_US),
                      "sbi_code": pa.array(codes[new_sector[chosen[which]]], pa.string()),
                      "werkzame_personen": pa.array(employees[chosen[which]])})
    schema = spark_to_arrow_schema(COMPANIES_SCHEMA)
    return pa.concat_tables([conform(before, schema), conform(after, schema)])


def _build(args: tuple) -> dict[str, pa.Table]:
    return vehicle_tables(*args)


def chunk_tables(size: int, seed: int, pepper: bytes, conf: RegisterConf, timezone: str,
                 workers: int | None = None) -> Iterator[dict[str, pa.Table]]:
    """Every chunk's tables in order, built by worker processes with a bounded number in flight.

    Workers are spawned, so a script calling this must guard its entry point (`if __name__ == "__main__"`).
    A few chunks are built in this process: starting workers would cost more than it saves.
    """
    jobs = [(c, size, seed, pepper, conf, timezone) for c in range(S.chunk_count(size))]
    workers = workers or (1 if len(jobs) <= SMALL_CHUNKS else os.cpu_count() or 1)
    if workers == 1 or len(jobs) == 1:
        yield from map(_build, jobs)
        return
    # spawn: forking a process that runs a JVM (Spark) or Delta threads is unsafe.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque[Future] = deque()
        for job in jobs:
            pending.append(pool.submit(_build, job))
            if len(pending) > 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

