"""Global recoding of fuels into fuel groups: table 4.8b by fuel group, built on inline passages.

A zone's one hydrogen bus and few hydrogen trucks are primary cells of 4.8b; by fuel group they count with the
electric buses and trucks (Emissievrij), so the electric cars no longer protect them (docs/statistics.md,
"Global recoding")."""

from __future__ import annotations

from anpr.catalogue import TABLES
from anpr.dimensions import FUEL_GROUP_ZERO_EMISSION, zero_emission_fuels
from anpr.register_conf import load_register_conf
from jobs.stats.tables.build import build_month
from jobs.stats.tables.cells import Sizes
from jobs.stats.tables.enrich import needed_columns
from tests.unit.jobs.stats.tables.test_tables import CAT, month, passage

FUEL_TABLE = TABLES["t4_8b_voertuig_brandstof_emissie"]
PRIVATE = {"eigenaar_type": "Particulier"}
ROWS = [
    # h: a hydrogen bus; e: an electric bus; c: an electric car, d: a diesel van
    passage(1, "h", "03-02 08:00", "Inbound", owner="K1", voertuig_type="Bus", brandstof="Waterstof",
            emissieklasse="Z", eigenaar_type="Bedrijf"),
    passage(2, "e", "03-02 09:00", "Inbound", owner="K2", voertuig_type="Bus", brandstof="Elektriciteit",
            emissieklasse="Z", eigenaar_type="Bedrijf"),
    passage(3, "e", "03-03 09:00", "Inbound", owner="K2", voertuig_type="Bus", brandstof="Elektriciteit",
            emissieklasse="Z", eigenaar_type="Bedrijf"),
    passage(4, "c", "03-04 10:00", "Inbound", voertuig_type="Personenauto", brandstof="Elektriciteit",
            emissieklasse="Z", **PRIVATE),
    passage(5, "d", "03-05 11:00", "Inbound", owner="K3", voertuig_type="Bestelauto", brandstof="Diesel",
            emissieklasse="Euro 6", eigenaar_type="Bedrijf"),
    # the register changed d's fuel mid-month: the vehicle keeps its first passage's fuel, and so its group
    passage(6, "d", "03-20 11:00", "Inbound", owner="K3", voertuig_type="Bestelauto", brandstof="Elektriciteit",
            emissieklasse="Z", eigenaar_type="Bedrijf"),
]


def test_the_zero_emission_fuels_are_the_registers():
    assert zero_emission_fuels(load_register_conf()) == ["Elektriciteit", "Waterstof"]


def test_a_fuel_group_variant_counts_hydrogen_and_electric_vehicles_together(spark):
    variant = FUEL_TABLE.recode(["brandstof"])
    assert variant is not None and variant.keys["typeBrandstof"] == "brandstof_groep"
    assert variant.recoded == {"typeBrandstof": "brandstofgroep"}
    assert variant.definitions["typeBrandstof"].startswith(f"Fuel group of the vehicle's main fuel: "
                                                           f"{FUEL_GROUP_ZERO_EMISSION} for the zero-emission")
    assert "brandstof_groep" not in needed_columns(CAT)  # derived in the build, never read from the passages
    built = {part.part: frame for part, frame in build_month(month(spark, ROWS), CAT, [FUEL_TABLE, variant],
                                                             Sizes()).parts}
    keys = ["voertuig_type", "brandstof_groep", "emissieklasse"]
    coarse = {tuple(r[k] for k in keys): (int(r["P"]), int(r["V"]))
              for r in built[variant.part_name].to_dict("records")}
    assert coarse == {("Bus", "Emissievrij", "Z"): (3, 2), ("Personenauto", "Emissievrij", "Z"): (1, 1),
                      ("Bestelauto", "Diesel", "Euro 6"): (2, 1)}
    fine = built[FUEL_TABLE.part_name]
    # the fine table carries its group as a hidden key, so the audit sums fuels into fuel groups
    assert {(r["brandstof"], r["brandstof_groep"]) for r in fine.to_dict("records")} == {
        ("Waterstof", "Emissievrij"), ("Elektriciteit", "Emissievrij"), ("Diesel", "Diesel")}
