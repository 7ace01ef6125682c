"""A synthetic zone-month as per-vehicle records, for disclosure-control tests on every declared table.

Shaped like bench/stats.py, with its vehicle mix, hours, day parts and time windows (a few large fleets,
many private cars, visitor styles), but small and built in pandas, so no Spark is needed. Trips and
visitor types follow the definitions in docs/statistics.md, so the links the audit assumes between
measures hold here too.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from anpr.catalogue import CATALOGUE
from anpr.dimensions import sbi_sectie
from anpr.disclosure import Rules
from bench.stats import BODIES, COMPANY_SHARE, DAY_PARTS, EURO, FUELS, HOURS, TYPES, WINDOWS
from bench.stats import SBI as STATS_SBI
from jobs.stats.sdc.cells import Part
from jobs.stats.sdc.microdata import catalogue_parts

# twelve of bench/stats.py's SBI afdelingen (two digits), as the register enrichment writes sbi_groep_code
SBI = [code for code, _ in STATS_SBI[:12]]
PROVINCES = ["Groningen", "Gelderland", "Utrecht", "Noord-Holland", "Zuid-Holland", "Noord-Brabant"]
MISSING = "Onbekend"


def _pick(rng: np.random.Generator, options: list[tuple[str, float]], n: int) -> np.ndarray:
    names, weights = zip(*options, strict=True)
    return rng.choice(np.array(names), n, p=np.array(weights) / sum(weights))


def _vehicles(rng: np.random.Generator, n: int) -> pd.DataFrame:
    kind = _pick(rng, TYPES, n)
    companies = max(n // 6, 3)
    fleet = rng.zipf(1.6, n) % companies
    registered = ~np.isin(kind, ["Buitenlands", "Onbekend"])
    company = registered & (rng.random(n) < np.array([COMPANY_SHARE.get(k, 0.0) for k in kind]))
    sbi, size = rng.integers(0, len(SBI), companies), rng.choice(["Klein", "Midden", "Groot"], companies,
                                                                   p=[0.6, 0.3, 0.1])
    province = np.where(company, rng.integers(0, len(PROVINCES), companies)[fleet],
                        rng.integers(0, len(PROVINCES), n))
    # as the register: zero-emission fuels make emission class Z, which is then one population with
    # Elektriciteit wherever no hydrogen vehicle passes (an identity the audit must find)
    fuel = _pick(rng, FUELS, n)
    euro = np.where(np.isin(fuel, ["Elektriciteit", "Waterstof"]), "Z",
                    _pick(rng, [e for e in EURO if e[0] != "Z"], n))
    body = [BODIES.get(k, ["Overig"])[i % len(BODIES.get(k, ["Overig"]))] for i, k in enumerate(kind)]

    def only(mask: np.ndarray, values: object) -> np.ndarray:
        return np.where(mask, np.asarray(values, dtype=object), MISSING)

    return pd.DataFrame({
        "vehicle": [f"v{i}" for i in range(n)],
        # a company's vehicles share its owner; a private or unknown owner is the vehicle itself
        "owner": np.where(company, [f"k{f}" for f in fleet], [f"v{i}" for i in range(n)]),
        "voertuig_type": kind, "brandstof": only(registered, fuel),
        "emissieklasse": only(registered, euro), "carrosserie": only(registered, body),
        "sbi_groep_code": only(company, np.array(SBI)[sbi[fleet]]), "bedrijfsgrootte": only(company, size[fleet]),
        "sbi_sectie": only(company, [sbi_sectie(c)[0] for c in np.array(SBI)[sbi[fleet]]]),  # type: ignore[index]
        "herkomst_provincie": only(registered, np.array(PROVINCES)[province]),
        "herkomst_nuts3": only(registered, [f"NL{p}{f % 2}" for p, f in zip(province, fleet, strict=True)]),
        "style": rng.choice(3, n, p=[0.35, 0.45, 0.2]),
    })


def _owner_types(fleet: pd.DataFrame) -> np.ndarray:
    """eigenaarType as jobs/stats/tables/enrich.py publishes it."""
    company = fleet["sbi_groep_code"] != MISSING
    kind = fleet["voertuig_type"]
    return np.where(company, "Rechtspersoon", np.where(kind == "Buitenlands", "Buitenlands",
                                                       np.where(kind == MISSING, MISSING, "Particulier")))


def _access(rng: np.random.Generator, passages: pd.DataFrame, fleet: pd.DataFrame,
            days: int) -> tuple[pd.DataFrame, dict[str, str]]:
    """ontheffing and ze_toegang on each passage's day: some vans and trucks lose access mid-month, a few
    vehicles hold a long-term exemption, a few a day exemption on one day they are seen. Also each
    vehicle's ze_toegang_tot: the day its access ends (the month starts on 2026-03-01), Altijd, Onbekend."""
    kind = dict(zip(fleet["vehicle"], fleet["voertuig_type"], strict=True))
    vehicles = fleet["vehicle"].to_numpy()
    # per vehicle: the day access ends (0 barred, days = all month), and a long-term exemption
    ends = dict(zip(vehicles, rng.choice([0, days // 2, days], len(vehicles), p=[0.2, 0.2, 0.6]), strict=True))
    long_term = dict(zip(vehicles, rng.random(len(vehicles)) < 0.05, strict=True))
    day_exempt = {v: int(rng.choice(grp)) for v, grp in passages.groupby("vehicle")["day"] if rng.random() < 0.05}
    euro = dict(zip(vehicles, fleet["emissieklasse"], strict=True))
    # as anpr/dimensions.py rules: zero emission and vehicles no rule bars are always admitted, so
    # Toegestaan on any day is exactly ze_toegang_tot Altijd (an identity the audit must find)
    always = {v: kind[v] not in ("Bestelauto", "Vrachtauto", "Buitenlands", MISSING) or euro[v] == "Z"
              for v in vehicles}
    exemption, access = [], []
    for v, day in zip(passages["vehicle"], passages["day"], strict=True):
        held = "Langdurig" if long_term[v] else "Tijdelijk" if day_exempt.get(v) == day else "Geen"
        if kind[v] in ("Buitenlands", MISSING):
            status = MISSING if held == "Geen" else "Ontheffing"
        elif always[v]:
            status = "Toegestaan"
        elif day < ends[v]:
            status = "Overgang"
        else:
            status = "Verboden" if held == "Geen" else "Ontheffing"
        exemption.append(held)
        access.append(status)
    until = {v: MISSING if kind[v] in ("Buitenlands", MISSING) else "Altijd" if always[v]
             else "2025-01-01" if ends[v] == 0
             else "2027-01-01" if ends[v] == days else f"2026-03-{ends[v] + 1:02d}" for v in vehicles}
    return passages.assign(ontheffing=exemption, ze_toegang=access), until


def _passages(rng: np.random.Generator, vehicles: pd.DataFrame, days: int, cameras: int) -> pd.DataFrame:
    rows = []
    for v, style in zip(vehicles["vehicle"], vehicles["style"], strict=True):
        visits = 1 if style == 0 else int(rng.integers(2, 10)) if style == 1 else int(rng.integers(15, days + 1))
        for day in sorted(rng.choice(days, visits, replace=False)):
            enter = day * 24 + rng.choice(24, p=HOURS / HOURS.sum()) + rng.random()
            seen = [(enter, "Inbound")] + [(enter + rng.random(), "Inbound")] * int(rng.random() < 0.2)
            if rng.random() < 0.9:
                seen.append((enter + rng.exponential(3.0) + 0.1, "Outbound"))
            if rng.random() < 0.05:
                seen.append((enter + rng.random(), None))  # a camera without a direction rule
            rows += [(v, t, int(rng.integers(cameras)), d) for t, d in seen]
    frame = pd.DataFrame(rows, columns=["vehicle", "t", "camera", "direction"]).sort_values(["vehicle", "t"])
    return frame[frame["t"] < days * 24].reset_index(drop=True)


def _trips(passages: pd.DataFrame, max_gap_hours: float = 12.0) -> np.ndarray:
    """trip_start as jobs/stats/tables/enrich.py marks it: an inbound passage that does not continue a stay.

    A stay ends at an outbound passage or when the vehicle is unseen for over max_gap_hours, counted from
    its previous passage of any kind (one without a direction too)."""
    out = np.zeros(len(passages), dtype=np.int64)
    seen: dict[str, float] = {}  # the vehicle's last passage
    last: dict[str, str] = {}  # its last direction since it was last unseen for over max_gap_hours
    for i, (v, t, d) in enumerate(zip(passages["vehicle"], passages["t"], passages["direction"], strict=True)):
        if v in seen and t - seen[v] > max_gap_hours:
            last.pop(v, None)
        seen[v] = t
        if d is None:
            continue
        out[i] = int(d == "Inbound" and last.get(v) in (None, "Outbound"))
        last[v] = d
    return out


def zone_records(vehicles: int, seed: int = 1, days: int = 28, cameras: int = 4) -> pd.DataFrame:
    """One row per vehicle and passage-level slot: n passages and r trips, with every table's key columns."""
    rng = np.random.default_rng(seed)
    fleet = _vehicles(rng, vehicles)
    passages = _passages(rng, fleet, days, cameras)
    hour = (passages["t"] % 24).astype(int)
    day = (passages["t"] // 24).astype(int)
    weekday = day % 7 + 1
    passages = passages.assign(
        r=_trips(passages), n=1, uur=hour, week_dag=weekday, day=day,
        camera_id=[f"cam{c}" for c in passages["camera"]],
        rij_richting_zone=passages["direction"].fillna(MISSING),
        tijd_vak=[next(n for n, a, b in DAY_PARTS if a <= h < b) for h in hour],
        venster_tijd=[next((n for n, a, b, d in WINDOWS if a <= h < b and w in d), "Buiten venstertijden")
                      for h, w in zip(hour, weekday, strict=True)])
    passages, until = _access(np.random.default_rng(seed + 1000), passages, fleet, days)
    passages = passages.assign(week_van_maand=day // 7 + 1, dag_type=np.where(weekday <= 5, "Werkdag", "Weekend"))
    fleet = fleet.assign(ze_toegang_tot=fleet["vehicle"].map(until))
    days_seen = passages.groupby("vehicle")["day"].nunique()
    visitor = days_seen.map(lambda d: "Dagelijks" if d >= 15 else "Incidenteel" if d >= 2 else "Eenmalig")
    fleet = fleet.assign(type_bezoeker=fleet["vehicle"].map(visitor), eigenaar_type=_owner_types(fleet)
                         ).dropna(subset=["type_bezoeker"])
    slots = ["camera_id", "rij_richting_zone", "week_dag", "uur", "tijd_vak", "venster_tijd", "ontheffing",
             "ze_toegang", "week_van_maand", "dag_type"]
    records = (passages.groupby(["vehicle", *slots], sort=True).agg(n=("n", "sum"), r=("r", "sum")).reset_index()
               .merge(fleet.drop(columns=["style"]), on="vehicle"))
    return records


def zone_parts(records: pd.DataFrame, rules: Rules | None = None) -> list[Part]:
    """Every declared count table of the catalogue over these records, as the Spark build cuts them."""
    return catalogue_parts(records, CATALOGUE, rules or Rules())
