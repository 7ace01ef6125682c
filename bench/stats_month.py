"""A realistic synthetic month for the stats benchmark, written to the passages table city by city.

City sizes come from bench/stats_sizes.py. Vehicles are drawn from the synthetic register
(anpr/synth/register.py, through the RDW derivations of jobs/register/synthetic.py and conf/register.toml),
so types, fuels, Euro classes, bodies, company shares, sectors, company sizes and origin regions follow
its distributions; a vehicle visiting two cities is the same vehicle (one period token). A few vehicles
are foreign or unread (no register match). Rows are built with numpy per batch of vehicles and
appended, so memory holds one batch, never the month.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anpr import dimensions as D
from anpr.synth import register as S
from bench.stats_sizes import DAILY_DAYS, DAYS, EXIT_SEEN, INCIDENTAL_DAYS, INCIDENTAL_P, REENTRY, VISITORS, CitySize

if TYPE_CHECKING:
    from anpr.lake import Lake
    from anpr.zones import Municipality

FOREIGN, UNREAD = 0.04, 0.03  # shares of a city's vehicles without a register match, as in bench/stats.py
# a passage column bench/stats.py leaves out too: no table reads it
UNUSED = ("register_hit",)
BATCH_VEHICLES = 60_000  # about 450,000 passages a batch
LABELS = ("voertuig_type", "brandstof", "emissieklasse", "carrosserie", "sbi_sectie", "sbi_groep_code",
          "sbi_groep_omschrijving", "bedrijfsgrootte", "herkomst_nuts3", "herkomst_provincie", "ze_toegang_tot")


@dataclass
class Pool:
    """Register vehicles as small integer codes into labels (-1: none), one entry per vehicle index."""

    codes: dict[str, np.ndarray]
    labels: dict[str, list[str]]
    company: np.ndarray  # bool
    kvk: np.ndarray  # int64 KvK index of a company owner
    until: np.ndarray  # int32 ze_toegang_tot (anpr.dimensions days, ALWAYS, UNKNOWN)
    exemption: np.ndarray  # int8: 0 none, 1 day exemptions, 2 long-term

    def __len__(self) -> int:
        return len(self.company)


class _Coder:
    """Consistent integer codes for labels met chunk by chunk."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def codes(self, values: pa.Array | pa.ChunkedArray) -> np.ndarray:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        encoded = pc.dictionary_encode(values)
        mine = np.array([self.index.setdefault(str(v), len(self.index)) for v in encoded.dictionary.to_pylist()]
                        + [-1], dtype=np.int32)
        return mine[encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)]

    def labels(self) -> list[str]:
        return list(self.index)


def register_pool(size: int, seed: int = 1) -> Pool:
    """The first `size` vehicles (rounded up to whole register chunks) of a synthetic register of that size."""
    from anpr.register_conf import load_register_conf
    from anpr.synth.regions import synth_regions
    from jobs.register.synthetic import company_sizes, derived_vehicles

    conf = load_register_conf()
    size = max(size, S.CHUNK)
    coders = {k: _Coder() for k in LABELS}
    regions = synth_regions(datetime(2026, 1, 1, tzinfo=UTC)).to_pydict()
    nuts3, province = np.full(10_000, None, dtype=object), np.full(10_000, None, dtype=object)
    nuts3[regions["postcode4"]], province[regions["postcode4"]] = regions["nuts3_code"], regions["provincie_naam"]
    _, sector_of, employees = company_sizes(seed)
    codes_by_sector = [D.sbi_afdeling(s[0], conf) for s in S.SECTORS]
    section_by_sector = np.array([(D.sbi_sectie(s[0]) or (None,))[0] for s in S.SECTORS], dtype=object)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (*LABELS, "company", "kvk", "until", "exemption")}
    for chunk in range(S.chunk_count(size)):
        d = S.chunk_data(chunk, size, seed, cache=False)
        v = derived_vehicles(d, conf, "Europe/Amsterdam")
        until = D.ze_toegang_tot(v["voertuig_type"], v["emissieklasse"], v["datum_eerste_toelating"], v["carrosserie"],
                                 conf)
        groups = [codes_by_sector[s] for s in sector_of[d["kvk"]]]
        company = d["company"]
        sizes = [D.bedrijfsgrootte(int(e), conf) for e in employees[d["kvk"]]]
        columns = {
            "voertuig_type": v["voertuig_type"], "brandstof": v["brandstof"], "emissieklasse": v["emissieklasse"],
            "carrosserie": v["carrosserie"],
            "sbi_sectie": pa.array(np.where(company, section_by_sector[sector_of[d["kvk"]]], None), pa.string()),
            "sbi_groep_code": pa.array([g[0] if c and g else None for g, c in zip(groups, company, strict=True)]),
            "sbi_groep_omschrijving": pa.array([g[1] if c and g else None
                                                for g, c in zip(groups, company, strict=True)]),
            "bedrijfsgrootte": pa.array([s if c else None for s, c in zip(sizes, company, strict=True)], pa.string()),
            "herkomst_nuts3": pa.array(nuts3[d["postcode"]], pa.string()),
            "herkomst_provincie": pa.array(province[d["postcode"]], pa.string()),
            "ze_toegang_tot": D.ze_toegang_tot_labels(until),
        }
        for k, values in columns.items():
            parts[k].append(coders[k].codes(values))
        parts["company"].append(company)
        parts["kvk"].append(d["kvk"])
        parts["until"].append(until.astype(np.int32))
        parts["exemption"].append(d["exemption"].astype(np.int8))
    joined = {k: np.concatenate(p) for k, p in parts.items()}
    return Pool({k: joined[k] for k in LABELS}, {k: coders[k].labels() for k in LABELS}, joined["company"],
                joined["kvk"], joined["until"], joined["exemption"])


def _visits(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Vehicle (0..n-1) and day (0..DAYS-1) of each visit: distinct days per vehicle, by visitor type."""
    style = rng.choice(3, n, p=list(VISITORS.values()))
    k = np.where(style == 0, 1, np.where(style == 1, rng.choice(INCIDENTAL_DAYS, n, p=INCIDENTAL_P),
                                         rng.choice(DAILY_DAYS, n)))
    order = np.argsort(rng.random((n, DAYS)), axis=1)
    return np.repeat(np.arange(n), k), order[np.arange(DAYS)[None, :] < k[:, None]]


def _labelled(labels: list[str], codes: np.ndarray) -> pa.Array:
    return pa.array(labels, pa.string()).take(pa.array(codes, pa.int32(), mask=codes < 0))


def _joined(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def _batch(rng: np.random.Generator, m: Municipality, pool: Pool, who: np.ndarray, first_row: int,
           schema: pa.Schema) -> pa.Table:
    """Passages of the vehicles `who` (pool indices; -1 foreign, -2 unread) in city m."""
    from bench.stats import DAY_PARTS, HOURS, MONTH, WINDOWS

    vehicle, day = _visits(rng, len(who))
    enter = day * 24 + rng.choice(24, len(day), p=HOURS / HOURS.sum()) + rng.random(len(day))
    stay = rng.exponential(3.0, len(day)) + 0.1  # some stays run past midnight
    again, out = rng.random(len(day)) < REENTRY, rng.random(len(day)) < EXIT_SEEN
    hours = np.concatenate([enter, (enter + stay * rng.random(len(day)))[again], (enter + stay)[out]])
    rows = np.concatenate([vehicle, vehicle[again], vehicle[out]])
    inbound = np.arange(len(rows)) < len(day) + again.sum()
    n, reg = len(rows), who[rows]
    idx, nl = np.maximum(reg, 0), reg >= 0
    local_day = np.floor(hours / 24).astype(np.int64)  # hours count from local midnight of the 1st
    first = D.days(date(*MONTH, 1))
    days_since_epoch = first + local_day
    hour = (np.floor(hours) % 24).astype(np.int64)
    weekday = (days_since_epoch + 3) % 7 + 1  # 1970-01-01 was a Thursday (ISO 4)
    as_dates = days_since_epoch.astype("datetime64[D]")
    part = np.array([next(i for i, (_, a, b) in enumerate(DAY_PARTS) if a <= h < b) for h in range(24)])
    window = np.full((24, 8), -1)
    for i, (_, a, b, wd) in enumerate(WINDOWS):
        for w in wd:
            window[a:b, w] = i
    start_us = int((datetime(*MONTH, 1, tzinfo=UTC) - timedelta(hours=1)).timestamp() * 1_000_000)
    # exemptions: long-term always; a day exemption on the first day the vehicle is seen here
    level = np.where(nl, pool.exemption[idx], 0)
    first_seen = np.full(len(who), np.iinfo(np.int64).max)
    np.minimum.at(first_seen, rows, local_day)
    level = np.where(level == 2, 2, np.where((level == 1) & (local_day == first_seen[rows]), 1, 0)).astype(np.int8)
    until = np.where(nl, pool.until[idx], D.UNKNOWN).astype(np.int32)
    company = nl & pool.company[idx]
    token = pc.if_else(pa.array(nl), _joined("r", idx), _joined(f"{m.code}-x", rows))
    labels = {k: _labelled(pool.labels[k], np.where(nl, pool.codes[k][idx], -1)) for k in LABELS}
    kind_code = np.where(reg == -1, 0, 1)
    labels["voertuig_type"] = pc.if_else(pa.array(nl), labels["voertuig_type"],
                                         pa.array(["Buitenlands", "Onbekend"]).take(pa.array(kind_code)))
    cams = pa.array([c.camera_id for c in m.cameras])
    columns: dict[str, pa.Array] = {
        "observation_id": _joined(f"{m.code}-", np.arange(first_row, first_row + n)),
        "camera_id": cams.take(pa.array(rng.integers(0, len(cams), n))),
        "municipality": pa.array(np.full(n, m.code)), "zone_id": pa.array(np.full(n, m.zones[0].zone_id)),
        "event_ts": pa.array(start_us + np.round(hours * 3_600_000_000).astype(np.int64), pa.timestamp("us", "UTC")),
        "event_date": pa.array(days_since_epoch.astype(np.int32), pa.int32()).cast(pa.date32()),
        "jaar": pa.array(as_dates.astype("datetime64[Y]").astype(np.int64) + 1970),
        "maand": pa.array(as_dates.astype("datetime64[M]").astype(np.int64) % 12 + 1),
        "week_dag": pa.array(weekday), "uur": pa.array(hour),
        "tijd_vak": _labelled([p[0] for p in DAY_PARTS], part[hour]),
        "venster_tijd": _labelled([w[0] for w in WINDOWS], window[hour, weekday]),
        "rij_richting_zone": pa.array(np.where(inbound, "Inbound", "Outbound")),
        **labels,
        "eigenaar_type": pc.if_else(pa.array(nl), pa.array(np.where(company, D.BEDRIJF, D.PARTICULIER)),
                                    pa.scalar(None, pa.string())),
        "ontheffing": _labelled(list(D.ONTHEFFING_LEVELS), level.astype(np.int32)),
        "ze_toegang": _labelled(list(D.ZE_STATUSES), D.ze_status(until, days_since_epoch.astype(np.int32),
                                                                 level).astype(np.int32)),
        "period_token": token,
        # the enrichment's rule: a company's token, a private owner's own token, null when unknown
        "company_token": pc.if_else(pa.array(nl), pc.if_else(pa.array(company), _joined("k", pool.kvk[idx]), token),
                                    pa.scalar(None, pa.string())),
    }
    return pa.table({f.name: columns[f.name].cast(f.type) for f in schema}, schema=schema)


def city_batches(rng: np.random.Generator, m: Municipality, size: CitySize, pool: Pool,
                 schema: pa.Schema) -> Iterator[pa.Table]:
    """One city's month in tables of at most BATCH_VEHICLES vehicles."""
    who = rng.choice(len(pool), min(size.vehicles, len(pool)), replace=False)
    u = rng.random(len(who))
    who = np.where(u < FOREIGN, -1, np.where(u < FOREIGN + UNREAD, -2, who))
    row = 0
    for start in range(0, len(who), BATCH_VEHICLES):
        table = _batch(rng, m, pool, who[start:start + BATCH_VEHICLES], row, schema)
        row += table.num_rows
        yield table


def write_month(lake: Lake, cities: list[Municipality], sizes: list[CitySize], seed: int = 11) -> int:
    """Create the passages table in lake and fill it with the month; returns the passages written."""
    from anpr.lake import spark_to_arrow_schema
    from anpr.progress import Counter, say
    from anpr.stream_tables import PASSAGES
    from bench.stats_sizes import DETECTIONS_PER_VISIT, mean_days
    from jobs.stats.tables.enrich import PASSAGE_TYPES, passages_schema

    needed = sum(s.vehicles for s in sizes)
    say(f"==> register pool of {max(S.CHUNK, needed):,} vehicles for {needed:,} city visitors")
    # a pool as large as the visitors of all cities together: big cities share few vehicles by chance
    pool = register_pool(min(needed, S.DEFAULT_SIZE))
    spark_schema = passages_schema([c for c in PASSAGE_TYPES if c not in UNUSED])
    schema = spark_to_arrow_schema(spark_schema)
    lake.create(PASSAGES, spark_schema, partition_by=["municipality"])
    expected = round(sum(s.vehicles for s in sizes) * mean_days() * DETECTIONS_PER_VISIT)
    counter = Counter("passages written (expected total)", expected, every=10.0)
    rng = np.random.default_rng(seed)
    written = 0
    for m, size in zip(cities, sizes, strict=True):
        for table in city_batches(rng, m, size, pool, schema):
            lake.append(PASSAGES, table)
            written += table.num_rows
            counter.add(table.num_rows)
    say(f"    {written:,} passages in {len(cities)} cities")
    return written
