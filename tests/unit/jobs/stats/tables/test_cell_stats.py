"""The cells' disclosure statistics against a direct computation from the prepared passages, and the coding of
label and hidden columns that keeps the build's aggregates hash-based (jobs/stats/tables/cells.py)."""

from __future__ import annotations

import random

import pytest
from pyspark.sql import functions as F

from anpr.catalogue import TABLES
from jobs.stats.tables.build import build_month
from jobs.stats.tables.cells import CellPart, Sizes, extra_coding, parts_of, smallest, smallest_of_lists
from jobs.stats.tables.enrich import prepare
from tests.unit.jobs.stats.tables.test_tables import CAT, COMPANY, VAN, month, passage

SIZES = Sizes(top=3, vehicles=4, owners=2)  # small, so the cuts bite on a few dozen vehicles


def fleet(seed: int = 7) -> list[tuple]:
    """40 synthetic vehicles in one zone: companies K0-K3 with several vans each, the rest private cars."""
    rng, rows, n = random.Random(seed), [], 0
    for v in range(40):
        owner = f"K{v % 4}" if v < 16 else f"p{v}"
        attributes = ({**VAN, **COMPANY} if owner.startswith("K")
                      else {"voertuig_type": "Personenauto", "eigenaar_type": "Particulier"})
        for _ in range(rng.randint(1, 5)):
            n += 1
            at = f"03-{rng.randint(2, 27):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
            rows.append(passage(n, f"v{v:02d}", at, rng.choice(["Inbound", "Outbound"]), owner=owner,
                                camera=rng.choice(["c1", "c2"]), **attributes))
    return rows


@pytest.fixture(scope="module")
def built(spark):
    passages = month(spark, fleet())
    specs = [TABLES["t4_9_overzicht"], TABLES["t4_8a_sector_voertuig"], TABLES["t4_1_uur_camera"]]
    cells = build_month(passages, CAT, specs, SIZES)
    return {part.part: frame for part, frame in cells.parts}, prepare(passages, CAT).toPandas()


def expected(rows) -> dict[str, object]:
    """One cell's statistics computed directly: each vehicle's owner is `owner` (a private car its own)."""
    by_owner = rows.groupby("oh").agg(n=("n", "sum"), v=("vh", "nunique"))
    top_p = sorted((-int(r.n), int(oh)) for oh, r in by_owner.iterrows())[:SIZES.top]
    top_v = sorted((-int(r.v), int(oh)) for oh, r in by_owner.iterrows())[:SIZES.top]
    return {"P": int(rows["n"].sum()), "V": rows["vh"].nunique(), "O": rows["oh"].nunique(), "top_p": top_p,
            "top_v": top_v, "vsample": sorted(int(h) for h in rows["vh"].unique())[:SIZES.vehicles],
            "osample": sorted(int(h) for h in rows["oh"].unique())[:SIZES.owners]}


def actual(cell) -> dict[str, object]:
    return {"P": int(cell.P), "V": int(cell.V), "O": int(cell.O),
            "top_p": [(int(a), int(h)) for a, h in cell.top_p], "top_v": [(int(a), int(h)) for a, h in cell.top_v],
            "vsample": [int(h) for h in cell.vsample], "osample": [int(h) for h in cell.osample]}


def test_every_cell_of_a_vehicle_table_has_the_statistics_of_its_vehicles_and_owners(built):
    parts, prepared = built
    prepared = prepared.assign(n=1)
    total = parts["totaal"]
    assert len(total) == 1
    assert actual(total.iloc[0]) == expected(prepared)
    assert int(total.iloc[0].O) == 4 + 24  # four companies, 24 private cars
    by_type = parts["t4_8a_sector_voertuig"]
    assert len(by_type) == 2
    for cell in by_type.itertuples():
        rows = prepared[prepared["voertuig_type"] == cell.voertuig_type]
        assert actual(cell) == expected(rows), cell.voertuig_type


def test_every_cell_of_a_passage_table_has_the_statistics_of_its_vehicles_and_owners(built):
    parts, prepared = built
    hourly = parts["t4_1_uur_camera"]
    keys = ["camera_id", "rij_richting_zone", "voertuig_type", "week_dag", "uur"]
    groups = prepared.assign(n=1).groupby(keys)
    assert len(hourly) == groups.ngroups
    for cell in hourly.itertuples():
        assert actual(cell) == expected(groups.get_group(tuple(getattr(cell, k) for k in keys)))
        assert cell.tijd_vak == ("Nacht" if cell.uur < 7 else "Dag")  # a hidden key, one value per cell


def test_a_hidden_key_of_two_values_in_one_cell_is_left_out_and_labels_keep_their_text(spark):
    rows = [passage(1, "a", "03-02 10:00", "Inbound", owner="K1", **VAN, **COMPANY),
            passage(2, "b", "03-02 10:30", "Inbound", owner="b", **VAN, **COMPANY),
            passage(3, "c", "03-02 11:00", "Inbound", owner="c", **VAN, **COMPANY)]
    frame = month(spark, rows)
    # a day part that cuts the hour 10: the cell (c1, Inbound, van, Monday, 10) holds two
    frame = frame.withColumn("tijd_vak", frame["observation_id"].substr(4, 1))
    specs = [TABLES["t4_1_uur_camera"], TABLES["t4_8a_sector_voertuig"]]
    parts = {p.part: f for p, f in build_month(frame, CAT, specs, Sizes()).parts}
    hourly = parts["t4_1_uur_camera"].set_index("uur")
    assert hourly.loc[10, "P"] == 2 and hourly.loc[10, "tijd_vak"] is None
    assert hourly.loc[11, "tijd_vak"] == "3"
    assert list(parts["t4_8a_sector_voertuig"]["sbi_groep_omschrijving"]) == ["Vervoer over land"]


def test_the_coding_lists_each_label_and_hidden_column_in_order(spark):
    rows = [passage(1, "a", "03-02 10:00", "Inbound", owner="K1", **VAN, **COMPANY),
            passage(2, "b", "03-03 05:00", "Inbound", **VAN, **(COMPANY | {"sbi_groep_omschrijving": "Bouw"})),
            passage(3, "c", "03-03 05:00", "Inbound", **VAN)]
    prepared = prepare(month(spark, rows), CAT)
    parts = [*parts_of(TABLES["t4_1_uur_camera"], CAT), *parts_of(TABLES["t4_8a_sector_voertuig"], CAT)]
    values = extra_coding(prepared, parts).values
    assert values == {"sbi_groep_omschrijving": ["Bouw", "Onbekend", "Vervoer over land"],  # c: the fill
                      "tijd_vak": ["Dag", "Nacht"], "dag_type": ["Werkdag"], "venster_tijd": ["Buiten venstertijden"]}


def test_codes_read_back_as_their_values_and_nulls_stay_null(spark):
    frame = spark.createDataFrame([("b", None), (None, None), ("a", None), ("b", None)], "y string, x string")
    coding = extra_coding(frame, [CellPart("t", "t", (), ("y",), ("x",))])
    assert coding.values == {"x": [], "y": ["a", "b"]} and coding.types == {"x": "string", "y": "string"}
    coded = frame.select(coding.code("y").alias("cy"), coding.code("x").alias("cx"))
    assert [tuple(r) for r in coded.collect()] == [(2, None), (None, None), (1, None), (2, None)]
    back = coded.select(coding.value("y", "cy").alias("y"), coding.value("x", "cx").alias("x"))
    assert [tuple(r) for r in back.collect()] == [tuple(r) for r in frame.collect()]


def test_the_smallest_values_of_a_group_and_of_its_lists_keep_ties_and_come_ascending(spark):
    """One list can hold every one of a group's smallest values; equal values are kept, as a sort would."""
    rows = [("a", [1, 2, 3, 4]), ("a", [5]), ("a", [0, 9]), ("a", [6, 7]), ("a", [8]),
            ("b", [3, 3]), ("b", [3]), ("b", [2, 5]), ("b", [7]), ("b", [1]),
            ("c", [4])]
    frame = spark.createDataFrame(rows, "g string, hs array<long>")
    got = {r.g: (list(r.lists), list(r.values), list(r.lists4), list(r.values4)) for r in frame.groupBy("g").agg(
        smallest_of_lists("hs", 3).alias("lists"), smallest(F.col("hs")[0], 3).alias("values"),
        smallest_of_lists("hs", 4).alias("lists4"), smallest(F.col("hs")[0], 4).alias("values4")).collect()}
    assert got == {"a": ([0, 1, 2], [0, 1, 5], [0, 1, 2, 3], [0, 1, 5, 6]),
                   "b": ([1, 2, 3], [1, 2, 3], [1, 2, 3, 3], [1, 2, 3, 3]),
                   "c": ([4], [4], [4], [4])}
