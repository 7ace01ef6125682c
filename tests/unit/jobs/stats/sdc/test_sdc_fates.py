"""One population, one fate; no secondary cell that protects nothing; the protection text says what holds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anpr.catalogue import TABLES
from anpr.disclosure import AuditSettings, DisclosureConfig, Rules
from jobs.stats.sdc.audit import Attacker
from jobs.stats.sdc.cells import Part, build_registry
from jobs.stats.sdc.levels import visitor_levels
from jobs.stats.sdc.microdata import cells_from_records
from jobs.stats.sdc.protect import Protection, audit, protect, release_determined

SETTINGS = AuditSettings()


@pytest.fixture(scope="module")
def zone_protection() -> Protection:
    """A synthetic zone-month of every declared table (tests/unit/jobs/stats/sdc/sdc_zone.py), protected."""
    from tests.unit.jobs.stats.sdc.sdc_zone import zone_parts, zone_records

    return protect(build_registry(zone_parts(zone_records(25, seed=5))), SETTINGS)


@pytest.fixture(scope="module")
def zone_audit(zone_protection):
    return audit(zone_protection, SETTINGS)


def records() -> pd.DataFrame:
    """Vans of two body types, trucks of two, and three buses: the only vehicles with body Bus."""
    rows = []
    for kind, body, count in (("Bestelauto", "Gesloten", 30), ("Bestelauto", "Open", 20),
                              ("Vrachtauto", "Bakwagen", 14), ("Vrachtauto", "Trekker", 12), ("Bus", "Bus", 3)):
        rows += [{"vehicle": f"{body}{i}", "owner": f"{body}{i}", "voertuig_type": kind, "carrosserie": body,
                  "n": 2, "r": 1} for i in range(count)]
    return pd.DataFrame(rows)


def parts() -> list[Part]:
    recs = records()
    tables = {"4.8c": ("voertuig_type", "carrosserie"), "type": ("voertuig_type",), "body": ("carrosserie",),
              "total": ()}
    return [Part(name, name, keys, ("P", "R", "V"), cells_from_records(recs, keys), Rules())
            for name, keys in tables.items()]


def node_of(reg, table: str, key: tuple) -> int:
    p = next(i for i, part in enumerate(reg.parts) if part.table == table)
    level = reg.parts[p].level()
    keys = list(reg.parts[p].cells[list(level)].itertuples(index=False, name=None))
    return int(reg.node_of[p][keys.index(key)])


def test_the_same_population_under_three_names_is_one_node():
    reg = build_registry(parts())
    bus = {node_of(reg, "4.8c", ("Bus", "Bus")), node_of(reg, "type", ("Bus",)), node_of(reg, "body", ("Bus",))}
    assert len(bus) == 1
    prot = protect(reg, SETTINGS)
    assert prot.suppressed[bus.pop()]  # 3 buses: suppressed in all three tables, never shown in one of them
    assert audit(prot, SETTINGS).ok


def test_a_secondary_cell_the_published_cells_determine_is_published_again():
    reg = build_registry(parts())
    prot = protect(reg, SETTINGS)
    # Hide the van total as if it were a companion: its two body cells are published, so it protects nothing
    vans = node_of(reg, "type", ("Bestelauto",))
    assert not prot.suppressed[vans]
    prot.suppressed[vans] = True
    assert vans in release_determined(prot)
    assert not prot.suppressed[vans] and vans in prot.released
    # A companion that does protect something stays
    assert not release_determined(prot)


def test_no_secondary_cell_of_a_protected_zone_is_determined_by_the_published_ones(zone_protection):
    prot = zone_protection
    attacker = Attacker(prot.system, prot.suppressed, exact=True)
    secondary = np.flatnonzero(prot.suppressed & ~prot.primary)
    assert len(secondary)
    for node in secondary:
        variables = [v for v, n in enumerate(prot.system.var_node) if n == node]
        assert not all(attacker.determined(v) for v in variables)


def test_every_cell_of_a_population_has_its_fate(zone_protection):
    prot = zone_protection
    reg = prot.registry
    seen: dict[tuple, bool] = {}
    for node, aliases in enumerate(reg.aliases):
        for alias in aliases:
            assert seen.setdefault(alias, bool(prot.suppressed[node])) == bool(prot.suppressed[node])
    # cells that hold the same records are one node, however the tables name them
    signature = ["P", "R", "V", "O", "vkey", "pkey", "rkey"]
    owner: dict[tuple, int] = {}
    for p, part in enumerate(reg.parts):
        for r, row in enumerate(part.cells[signature].itertuples(index=False, name=None)):
            assert owner.setdefault(tuple(int(x) for x in row), int(reg.node_of[p][r])) == int(reg.node_of[p][r])


def described(table: str) -> str:
    return DisclosureConfig().describe(table, TABLES[table].counts)


def test_the_protection_text_claims_what_the_audit_guarantees_and_no_more():
    text = described("t4_8a_sector_voertuig")
    assert "at least 20% of the count (at least 3)" in text and "of its passages" in text
    assert "no such guarantee" in text and "can be recalculated, exactly" in text
    assert "no suppressed cell can be recalculated" not in text
    # the limits of the audit: zero trip counts, the LP relaxation; its reach: every served release of the month
    assert "a zero trip count excepted" in text and "whole numbers may narrow" in text
    assert "this release on its own" not in text and "all releases of the same month served so far" in text
    assert "shows the same vehicles' passages" in described("t4_7_bezoeker_grootte")
    assert described("t4_12_camera").startswith("No data about vehicles")
    assert "withheld (null)" in described("t4_12_camera")


def test_a_protected_synthetic_zone_passes_the_audit(zone_audit):
    assert zone_audit.ok and len(zone_audit.attacks) > 100


def test_the_catalogue_cycles_get_their_joint_tables(zone_protection):
    model = zone_protection.system.model
    joints = model.joints
    owners = ("eigenaar_type", "sbi_groep_code", "voertuig_type")  # 5.1, 5.1b and 4.8a
    # 5.4 (access end x type x Euro class) and 5.4b (access end x sector) close a cycle with 4.8a, 4.8b and
    # 4.8e: the sector-fuel joint takes the Euro class, and access end joins sector, type and Euro class.
    cycles = {("herkomst_provincie", "type_bezoeker", "voertuig_type"),
              ("brandstof", "emissieklasse", "sbi_groep_code", "voertuig_type"),
              ("emissieklasse", "sbi_groep_code", "voertuig_type", "ze_toegang_tot"),
              ("sbi_groep_code", "type_bezoeker", "voertuig_type"), owners}
    # and every per-vehicle level of vehicles is split by visitor type (levels.py visitor_levels), 4.8b's too
    split = set(visitor_levels({lv: c for lv, c in model.levels["V"].items() if lv not in joints["V"]}))
    assert set(joints["V"]) == cycles | split
    assert ("brandstof", "emissieklasse", "type_bezoeker", "voertuig_type") in split
    # the day type is a function of the weekday: 4.1-4.3 carry it as a hidden key, which links them to 5.2
    assert set(joints["P"]) == {*cycles, ("dag_type", "sbi_groep_code", "tijd_vak", "venster_tijd", "voertuig_type",
                                          "week_dag")}
    assert joints["R"] == [("brandstof", "sbi_groep_code", "voertuig_type"), owners]
    assert not any(zone_protection.system.model.skipped.values())
    # the attacker's reading of the definitions: companies are the owners with a sector, so SBI Onbekend per
    # vehicle type is the private, foreign and unknown owners of 5.1; 5.1b's absent cells give the audit that
    cells = zone_protection.system.model.levels["V"][owners]
    assert all(sector == "Onbekend" for owner, sector, _ in cells if owner != "Rechtspersoon")
    assert all(sector != "Onbekend" for owner, sector, _ in cells if owner == "Rechtspersoon")


def test_the_audit_summary_counts_the_released_cells(zone_protection, zone_audit):
    from jobs.stats.sdc.zone import summarize

    summary = summarize(zone_protection, zone_audit)
    assert summary["released"] == len(zone_protection.released)
    assert summary["identities"] >= 1 and summary["joint_levels"] >= 1


def test_without_its_companions_the_zone_gives_primary_cells_away(zone_protection):
    prot = zone_protection
    bare = Attacker(prot.system, prot.primary.copy(), exact=True)
    targets = [v for v, n in enumerate(prot.system.var_node) if n >= 0 and prot.reasons[n] and prot.system.base[v] > 0]
    assert any(bare.attack(var).exact for var in targets)  # some primary count follows exactly


def test_a_joint_cell_inside_an_empty_cell_of_an_identical_population_is_a_known_zero():
    """Zero-emission fuels make class Z: where no hydrogen vehicle passes, Z and Elektriciteit are one
    population. 5.4 x 4.8a then offers the joint cell (Z, sector, type, Altijd) for a sector whose
    4.8e cell (Elektriciteit, sector) is absent: an attacker knows it is empty, so the joint has no such
    cell (it used to stop the audit's system: 'no P cell ... although its sub-cells exist')."""
    from jobs.stats.sdc.levels import build_model
    from jobs.stats.sdc.system import build_system
    from tests.unit.jobs.stats.sdc.sdc_zone import zone_parts, zone_records

    reg = build_registry(zone_parts(zone_records(25, seed=2)))
    assert (("brandstof", "Elektriciteit"), ("emissieklasse", "Z")) in reg.identities.classes
    fuel_sector = {k for lv, cells in build_model(reg, ("P",)).levels["P"].items()
                   if lv == ("brandstof", "sbi_groep_code") for k in cells}
    joint = build_model(reg, ("P",)).levels["P"][("emissieklasse", "sbi_groep_code", "voertuig_type", "ze_toegang_tot")]
    sectors_z = {sector for klasse, sector, _, _ in joint if klasse == "Z"}
    assert sectors_z and sectors_z == {s for f, s in fuel_sector if f == "Elektriciteit"}
    assert build_system(reg).size > 0


def test_a_joint_support_holds_only_keys_every_level_shows_and_stops_at_its_cap():
    """Three tables over (a, b), (b, c) and (a, c): the joint (a, b, c) is the join of two of them, less
    every key whose projection the third lacks; more keys than the cap give None."""
    from jobs.stats.sdc.cells import Registry
    from jobs.stats.sdc.levels import joint_support

    levels = {("a", "b"): {("a1", 1): 5, ("a2", 1): 4, ("a3", 9): 2},
              ("b", "c"): {(1, "c1"): 6, (1, "c2"): 3, (2, "c1"): 3},
              ("a", "c"): {("a1", "c1"): 8, ("a2", "c2"): 4}}
    reg = Registry(parts=[])
    # The smallest levels join first: (a, c) with (b, c) on c gives (a1, 1, c1), (a1, 2, c1) and (a2, 1, c2);
    # (a1, 2) is no (a, b) cell, so (a1, 2, c1) goes.
    assert joint_support(("a", "b", "c"), levels, reg, cap=10) == [("a1", 1, "c1"), ("a2", 1, "c2")]
    assert joint_support(("a", "b", "c"), levels, reg, cap=2) is None  # the join before the filter has 3
