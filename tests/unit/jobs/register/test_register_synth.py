"""The synthetic register: realistic mixes, and the same vehicles the feeds regenerate by index."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anpr.pseudonym import company_key, vehicle_key
from anpr.register_conf import load_register_conf
from anpr.synth import register as S
from jobs.register.synthetic import company_table, vehicle_tables

PEPPER = b"unit-test-pepper"
SIZE = 200_000
CONF = load_register_conf()


@lru_cache(maxsize=4)
def tables(chunk: int = 1, size: int = SIZE):
    return vehicle_tables(chunk, size, 3, PEPPER, CONF, "Europe/Amsterdam")


def test_vehicles_a_feed_draws_by_index_are_in_the_register_with_their_attributes():
    vehicles = tables()["vehicles"]
    drawn = [S.vehicle_at(i, SIZE, 3) for i in (S.CHUNK, S.CHUNK + 1, S.type_ranges(SIZE)["Bestelauto"][0] + 5,
                                                 2 * S.CHUNK - 1)]
    keys = [vehicle_key(PEPPER, v.plate, v.country) for v in drawn]
    found = vehicles.filter(pc.is_in(vehicles["vehicle_key"], pa.array(keys)))
    by_key = {r["vehicle_key"]: r for r in found.to_pylist()}
    for v, key in zip(drawn, keys, strict=True):
        row = by_key[key]
        assert row["voertuig_type"] == v.voertuig_type
        assert row["datum_eerste_toelating"] == v.first_admission
        assert row["emissieklasse"] == ("Z" if v.euro is None else f"Euro {v.euro}")


def test_plates_are_unique_synthetic_side_codes_per_type():
    plates = np.concatenate([S.chunk_plates(c, SIZE, 3) for c in range(S.chunk_count(SIZE))])
    assert len(set(plates)) == SIZE
    vans = plates[slice(*S.type_ranges(SIZE)["Bestelauto"])]
    assert all(p.startswith("V") for p in vans)
    assert S.plate_of("Personenauto", 0) == "00-DDD-0"  # the bijection is stable across releases


def test_type_fuel_and_owner_mix_look_like_the_dutch_stock():
    vehicles, owners = tables(0)["vehicles"], tables(0)["owners"]
    kinds = Counter(vehicles["voertuig_type"].to_pylist())
    assert kinds == {"Personenauto": S.CHUNK}  # chunk 0 of the type ranges holds cars only
    fuels = Counter(vehicles["brandstof"].to_pylist())
    assert 0.65 < fuels["Benzine"] / S.CHUNK < 0.75 and 0.08 < fuels["Elektriciteit"] / S.CHUNK < 0.12
    private = pc.sum(pc.equal(owners["eigenaar_type"], "Particulier")).as_py() / owners.num_rows
    assert 0.8 < private < 0.95
    assert 0.15 < (owners.num_rows - S.CHUNK) / S.CHUNK < 0.25  # a quarter of older cars changed owner


def test_euro_class_rises_with_first_admission_and_electric_is_zero_emission():
    vehicles = tables(0)["vehicles"]
    year = pc.year(vehicles["datum_eerste_toelating"])
    for admitted, usual in ((2000, "Euro 2"), (2010, "Euro 4"), (2020, "Euro 6")):
        classes = vehicles.filter(pc.equal(year, admitted))["emissieklasse"].to_pylist()
        assert Counter(classes).most_common(1)[0][0] == usual
    electric = vehicles.filter(pc.equal(vehicles["brandstof"], "Elektriciteit"))
    assert set(electric["emissieklasse"].to_pylist()) == {"Z"}


def test_trucks_belong_mostly_to_road_transport_and_vans_hold_exemptions():
    big = 2_000_000
    first_truck = S.type_ranges(big)["Vrachtauto"][0]
    d = S.chunk_data(first_truck // S.CHUNK, big, 3)
    trucks = d["company"] & (d["kind"] == "Vrachtauto")
    assert trucks.sum() > 1000
    starts, sizes = S.sector_blocks()
    transport = [s[0] for s in S.SECTORS].index("49410")
    in_transport = (d["kvk"] >= starts[transport]) & (d["kvk"] < starts[transport] + sizes[transport])
    assert in_transport[trucks].mean() > 0.3
    exemptions = tables(S.type_ranges(big)["Bestelauto"][0] // S.CHUNK + 1, big)["exemptions"]
    assert set(exemptions["soort"].to_pylist()) == {"Tijdelijk", "Langdurig"}
    assert set(exemptions["municipality"].to_pylist()) <= {m for m, _ in S.EXEMPT_MUNICIPALITIES}


def test_companies_have_a_sector_size_and_some_moved_sector():
    companies = company_table(3, PEPPER, datetime(1900, 1, 1, tzinfo=UTC), "Europe/Amsterdam", np.arange(5000))
    rows = companies.to_pylist()
    assert {r["company_key"] for r in rows} == {company_key(PEPPER, S.kvk_number(i)) for i in range(5000)}
    moved = Counter(r["company_key"] for r in rows)
    assert 0 < sum(n == 2 for n in moved.values()) < 100
    assert all(r["werkzame_personen"] >= 1 and len(r["sbi_code"]) == 5 for r in rows)
