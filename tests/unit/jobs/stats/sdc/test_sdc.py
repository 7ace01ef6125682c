"""Disclosure control on hand-made cells: primary rules, secondary suppression, shared cells, noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anpr.disclosure import AuditSettings, NoiseSettings, Rules, parse_disclosure
from jobs.stats.sdc.cells import InconsistentCellsError, Part, build_registry, primary_reasons
from jobs.stats.sdc.microdata import cells_from_records, parts_from_records
from jobs.stats.sdc.noise import perturbed, rounded
from jobs.stats.sdc.protect import audit, protect

SETTINGS = AuditSettings()


def records(rows: list[tuple[str, str, str, str, int]]) -> pd.DataFrame:
    """(vehicle, owner, voertuig_type, brandstof, passages) -> one record per vehicle."""
    return pd.DataFrame([{"vehicle": v, "owner": o, "voertuig_type": t, "brandstof": b, "n": n, "r": 1}
                         for v, o, t, b, n in rows])


def fleet(kind: str, fuel: str, vehicles: int, owners: int | None = None, passages: int = 2, tag: str = "") -> list:
    owners = owners or vehicles
    return [(f"{kind}{fuel}{tag}{i}", f"own-{kind}{fuel}{tag}{i % owners}", kind, fuel, passages)
            for i in range(vehicles)]


def reasons_by_key(parts: list[Part]) -> dict[tuple, list[str]]:
    reg = build_registry(parts)
    return {reg.key[n]: r for n, r in enumerate(primary_reasons(reg))}


def test_primary_rules_frequency_at_two_levels_and_dominance():
    rows = (fleet("Bestelauto", "Diesel", 12) + fleet("Bus", "Diesel", 9)
            + fleet("Vrachtauto", "Diesel", 12, owners=2)
            + fleet("Overig", "Diesel", 11) + [("big", "own-big", "Overig", "Diesel", 200)])
    got = reasons_by_key(parts_from_records(records(rows), {"t": ["voertuig_type"]}))
    assert got[("Bestelauto",)] == []
    assert got[("Bus",)] == ["min_vehicles"]
    assert got[("Vrachtauto",)] == ["min_owners", "dominance"]  # two owners hold everything
    assert got[("Overig",)] == ["dominance"]  # 12 vehicles, 12 owners, but one holds 200 of 222 passages


def test_a_private_vehicle_is_its_own_owner():
    rows = [(f"p{i}", f"p{i}", "Personenauto", "Benzine", 1) for i in range(10)]
    cells = cells_from_records(records(rows), ["voertuig_type"])
    assert (int(cells["V"].iat[0]), int(cells["O"].iat[0])) == (10, 10)


def test_per_table_rules_override_the_defaults():
    config = parse_disclosure("[rules]\nmin_vehicles = 10\n[tables.t]\nmin_vehicles = 15\n")
    assert config.rules_for("t").min_vehicles == 15
    assert config.rules_for("other").min_vehicles == 10
    assert config.with_min_vehicles(12).rules_for("other").min_vehicles == 12
    with pytest.raises(ValueError, match="min_owners"):
        parse_disclosure("[tables.t]\nmin_owners = 0\n")


def two_way() -> pd.DataFrame:
    rows = []
    for kind in ("Bestelauto", "Vrachtauto", "Personenauto", "Bus"):
        for fuel, size in (("Diesel", 30), ("Benzine", 14), ("Elektriciteit", 12), ("LPG", 4)):
            n = size if kind != "Bus" else 3
            rows += fleet(kind, fuel, n, passages=1 + len(rows) % 3)
    return records(rows)


def linked_parts(recs: pd.DataFrame) -> list[Part]:
    return parts_from_records(recs, {"type_fuel": ["voertuig_type", "brandstof"], "type": ["voertuig_type"],
                                     "fuel": ["brandstof"], "total": []})


def test_protected_tables_publish_no_small_cell_and_pass_the_audit():
    prot = protect(build_registry(linked_parts(two_way())), SETTINGS)
    reg = prot.registry
    vehicles, owners = reg.stat("V"), reg.stat("O")
    published = ~prot.suppressed
    assert (vehicles[published] >= 10).all() and (owners[published] >= 3).all()
    assert prot.primary.sum() > 0 and (prot.suppressed & ~prot.primary).sum() > 0
    assert audit(prot, SETTINGS).ok
    # no suppressed cell is alone in a row of the two-way table
    for part, nodes in zip(reg.parts, reg.node_of, strict=True):
        if part.part != "type_fuel":
            continue
        frame = part.cells.assign(s=prot.suppressed[nodes])
        for dim in ("voertuig_type", "brandstof"):
            assert not (frame.groupby(dim)["s"].sum() == 1).any()


def test_union_of_suppressed_cells_dominated_by_one_company_gets_a_third_cell():
    # Two cells of one row dominated by the same company: alone, their sum would show its passages.
    rows = [(f"k{i}", "own-k", "Bestelauto", fuel, 40) for i, fuel in enumerate(["Diesel", "Benzine"] * 4)]
    rows += fleet("Bestelauto", "Diesel", 11, passages=1, tag="d") + fleet("Bestelauto", "Benzine", 11, passages=1,
                                                                           tag="b")
    rows += fleet("Bestelauto", "LPG", 25, tag="l") + fleet("Bestelauto", "Elektriciteit", 30, tag="e")
    rows += fleet("Bus", "Diesel", 40, tag="x")
    prot = protect(build_registry(parts_from_records(records(rows), {"tf": ["voertuig_type", "brandstof"],
                                                                      "t": ["voertuig_type"]})), SETTINGS)
    reg = prot.registry
    suppressed = {reg.key[n] for n in np.flatnonzero(prot.suppressed)}
    assert {("Diesel", "Bestelauto"), ("Benzine", "Bestelauto")} <= suppressed
    assert any(k[1] == "Bestelauto" and k[0] in ("LPG", "Elektriciteit") for k in suppressed)
    assert any(v.startswith("union:dominance") for v in prot.union_reasons.values())
    assert audit(prot, SETTINGS).ok


def test_the_same_population_in_two_tables_is_one_cell_with_one_fate():
    recs = two_way()
    parts = [*linked_parts(recs), Part("overview", "typeVoertuig", ("voertuig_type",), ("P", "R", "V"),
                                       cells_from_records(recs, ["voertuig_type"]), Rules())]
    prot = protect(build_registry(parts), SETTINGS)
    reg = prot.registry
    type_nodes = {int(n) for n in reg.node_of[1]}
    assert type_nodes == {int(n) for n in reg.node_of[4]}
    assert sorted(reg.tables_of(next(iter(type_nodes)))) == ["overview", "type"]


def test_tables_that_disagree_about_a_cell_are_refused():
    recs = two_way()
    other = cells_from_records(recs, ["voertuig_type"])
    other.loc[0, "P"] += 1
    parts = [*linked_parts(recs), Part("copy", "copy", ("voertuig_type",), ("P",), other, Rules())]
    with pytest.raises(InconsistentCellsError, match="P of"):
        build_registry(parts)


def test_rounding_never_goes_below_the_threshold():
    assert rounded(np.array([10, 11, 12, 13, 27, 3]), 5, floor=10).tolist() == [10, 10, 10, 15, 25, 5]
    assert rounded(np.array([12]), 5, floor=12).tolist() == [15]


def test_cell_key_noise_is_a_function_of_the_cell_key_and_respects_the_threshold():
    noise = NoiseSettings()
    keys = np.array([0, 2**31, 2**32 - 1, 123456789])
    values = np.array([10, 50, 50, 10])
    first, again = perturbed(values, keys, noise, floor=10), perturbed(values, keys, noise, floor=10)
    assert first.tolist() == again.tolist()
    assert (first >= 10).all() and (np.abs(first - values) <= noise.cellkey_max).all()
    assert perturbed(np.array([50]), np.array([0]), noise)[0] == 48  # smallest key: largest negative step
    assert perturbed(np.array([50]), np.array([2**32 - 1]), noise)[0] == 52
