"""Releases of one month protected jointly (jobs/stats/sdc/revision.py): the issue's differencing cases.

Each case publishes a month, changes the passages as late data does, and publishes the month again with
the first release as an earlier served release. Two independent checks per pair of served releases: every
cell published in both either has the same counts or a difference population that passes the primary
rules on its own (counted from the records here, not by the code under test), and the joint audit passes.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from anpr.disclosure import AuditSettings, NoiseSettings, Rules
from anpr.stream_tables import PASSAGES
from jobs.stats.release import CELLS_SETTINGS_VERSION, cells_settings
from jobs.stats.revisions import SettingsChangedError, built_from, check_settings, served_against
from jobs.stats.sdc.audit import Attacker
from jobs.stats.sdc.cells import PUBLISHED, Part, build_registry, cell_reasons, primary_reasons
from jobs.stats.sdc.microdata import cells_from_records, difference_cells
from jobs.stats.sdc.noise import apply_noise
from jobs.stats.sdc.protect import Protection, audit, protect
from jobs.stats.sdc.revision import CARRIED, REVISION, Earlier, Revision
from jobs.stats.sdc.system import build_system
from jobs.stats.sdc.zone import fates, summarize

SETTINGS = AuditSettings()
RULES = Rules()
TABLES = {"4.8c": ("voertuig_type", "carrosserie"), "4.8b": ("voertuig_type", "emissieklasse"),
          "4.8d": ("bedrijfsgrootte", "voertuig_type"), "type": ("voertuig_type",), "body": ("carrosserie",),
          "euro": ("emissieklasse",), "size": ("bedrijfsgrootte",), "total": ()}
BODIES = {"Bestelauto": ["Gesloten", "Open laadbak"], "Vrachtauto": ["Bakwagen", "Trekker"], "Bus": ["Bus"]}


def fleet(n: int = 300, seed: int = 3) -> pd.DataFrame:
    """Company vehicles (fleets of about four), one record per vehicle: n passages, r trips."""
    rng = np.random.default_rng(seed)
    kind = rng.choice(list(BODIES), n, p=[0.6, 0.3, 0.1])
    owner = [f"k{o}" for o in rng.integers(0, n // 4, n)]
    size = {o: str(rng.choice(["Klein", "Midden", "Groot"])) for o in sorted(set(owner))}
    passages = rng.integers(1, 40, n)
    return pd.DataFrame({
        "vehicle": [f"v{i}" for i in range(n)], "owner": owner, "voertuig_type": kind,
        "carrosserie": [BODIES[k][int(rng.integers(len(BODIES[k])))] for k in kind],
        "emissieklasse": rng.choice(["4", "5", "6"], n), "bedrijfsgrootte": [size[o] for o in owner],
        "n": passages, "r": (passages + 1) // 2})


def parts(records: pd.DataFrame) -> list[Part]:
    return [Part(t, t, keys, ("P", "R", "V"), cells_from_records(records, keys), RULES) for t, keys in TABLES.items()]


def publish(records: pd.DataFrame, earlier: list[Earlier] | None = None) -> tuple[Protection, dict[str, pd.DataFrame]]:
    """Protect and audit one release (against the earlier ones): its protection and its cells' fates."""
    reg = build_registry(parts(records))
    prot = protect(reg, SETTINGS, revision=Revision(reg, earlier) if earlier else None)
    report = audit(prot, SETTINGS)
    assert report.ok, summarize(prot, report)
    return prot, fates(prot, report)


def earlier(release_id: str, cells: dict[str, pd.DataFrame], old: pd.DataFrame, new: pd.DataFrame) -> Earlier:
    return Earlier(release_id, cells, difference_cells(old, new, TABLES))


def differenced(old: pd.DataFrame, new: pd.DataFrame, first: dict[str, pd.DataFrame],
                second: dict[str, pd.DataFrame]) -> list[tuple[str, tuple, int, int]]:
    """Cells published in both releases whose counts differ: (table, key, vehicles, owners of the vehicles
    whose records in the cell changed), counted from the records."""
    out = []
    for table, keys in TABLES.items():
        both = first[table].merge(second[table], on=list(keys), suffixes=("_1", "_2")) if keys else \
            pd.concat([first[table].add_suffix("_1"), second[table].add_suffix("_2")], axis=1)
        both = both[(both["status_1"] == PUBLISHED) & (both["status_2"] == PUBLISHED)]
        for _, cell in both.iterrows():
            if all(cell[f"{m}_1"] == cell[f"{m}_2"] for m in ("P", "R", "V")):
                continue
            key = tuple(cell[k] for k in keys)

            def inside(records: pd.DataFrame, key: tuple = key, keys: tuple = keys) -> pd.DataFrame:
                mask = np.ones(len(records), dtype=bool)
                for k, v in zip(keys, key, strict=True):
                    mask &= (records[k] == v).to_numpy()
                return records[mask].set_index("vehicle")[["owner", "n", "r"]]

            a, b = inside(old), inside(new)
            joined = a.join(b, how="outer", lsuffix="_1", rsuffix="_2")
            moved = joined[(joined["n_1"] != joined["n_2"]) | (joined["r_1"] != joined["r_2"])]
            owners = moved["owner_1"].fillna(moved["owner_2"]).nunique()
            out.append((table, key, len(moved), owners))
    return out


def safe(differences: list[tuple[str, tuple, int, int]]) -> list[tuple[str, tuple, int, int]]:
    """The differences that break the frequency rules (the dominance rule is moot at these sizes)."""
    return [d for d in differences if d[2] < RULES.min_vehicles or d[3] < RULES.min_owners]


LATE_VAN = {"vehicle": "late", "owner": "late-company", "voertuig_type": "Bestelauto",
            "carrosserie": "Open laadbak", "emissieklasse": "4", "bedrijfsgrootte": "Midden", "n": 36, "r": 18}


@pytest.fixture(scope="module")
def month() -> tuple[pd.DataFrame, Protection, dict[str, pd.DataFrame]]:
    records = fleet()
    return (records, *publish(records))


def test_the_late_van_isolates_nobody_across_the_two_releases(month):
    old, _, first = month
    new = pd.concat([old, pd.DataFrame([LATE_VAN])], ignore_index=True)
    # protected alone, the second release gives the van away: eight cells (seven populations), one vehicle each
    _, alone = publish(new)
    assert safe(differenced(old, new, first, alone)) == [
        ("4.8c", ("Bestelauto", "Open laadbak"), 1, 1), ("4.8b", ("Bestelauto", "4"), 1, 1),
        ("4.8d", ("Midden", "Bestelauto"), 1, 1), ("type", ("Bestelauto",), 1, 1), ("body", ("Open laadbak",), 1, 1),
        ("euro", ("4",), 1, 1), ("size", ("Midden",), 1, 1), ("total", (), 1, 1)]
    prot, second = publish(new, [earlier("r1", first, old, new)])
    assert safe(differenced(old, new, first, second)) == []
    # every cell the van changed is suppressed for its difference: one per table, the total included (4.8c's
    # Bestelauto/Open laadbak and body Open laadbak are one population, so one node)
    revised = [n for n in range(prot.registry.size) if REVISION in prot.reasons[n]]
    assert len(revised) == 7 and set().union(*(prot.registry.tables_of(n) for n in revised)) == set(TABLES)
    # whatever the first release hid stays hidden
    for table in TABLES:
        hidden = first[table]["status"] != PUBLISHED
        keys = list(TABLES[table])
        again = first[table][hidden].merge(second[table], on=keys, suffixes=("_1", "")) if keys else second[table]
        assert (again["status"] != PUBLISHED).all()


def test_two_late_passages_of_a_private_car_isolate_nobody(month):
    old, _, first = month
    car = {**LATE_VAN, "vehicle": "car", "owner": "car", "voertuig_type": "Vrachtauto", "carrosserie": "Bakwagen",
           "emissieklasse": "6", "bedrijfsgrootte": "Klein", "n": 5, "r": 3}
    before = pd.concat([old, pd.DataFrame([car])], ignore_index=True)
    _, first = publish(before)
    after = pd.concat([old, pd.DataFrame([{**car, "n": 7, "r": 4}])], ignore_index=True)
    _, alone = publish(after)
    assert safe(differenced(before, after, first, alone))  # alone, the car's two passages show
    prot, second = publish(after, [earlier("r1", first, before, after)])
    assert safe(differenced(before, after, first, second)) == []
    assert summarize(prot, audit(prot, SETTINGS))["revision"]["differences_attacked"] > 0


def test_unchanged_passages_give_an_identical_release(month):
    old, _, first = month
    prot, second = publish(old, [earlier("r1", first, old, old)])
    for table in TABLES:
        columns = [*TABLES[table], "P", "R", "V", "vkey", "pkey", "rkey", "status"]
        pd.testing.assert_frame_equal(first[table][columns], second[table][columns])
        # cell-key noise: the same population has the same keys, so the same published value in both
        noisy = [apply_noise("cellkey", cells["V"].to_numpy(), cells["vkey"].to_numpy(), NoiseSettings(), 10)
                 for cells in (first[table], second[table])]
        np.testing.assert_array_equal(*noisy)
    assert not any(REVISION in r for r in prot.reasons)
    # the shortcut (the latest release's pattern, attacked alone) gives what the joint attack gives
    reg = build_registry(parts(old))
    revision = Revision(reg, [earlier("r1", first, old, old)])
    assert revision.repeat
    revision.repeat = False
    joint = protect(reg, SETTINGS, revision=revision)
    assert audit(joint, SETTINGS).ok and (joint.suppressed == prot.suppressed).all()


def grid_records() -> pd.DataFrame:
    """A 3x3 table of a and b whose cell (a1, b1) holds 4 vehicles (primary) and the others 30 each."""
    rows = []
    for a in ("a1", "a2", "a3"):
        for b in ("b1", "b2", "b3"):
            count = 4 if (a, b) == ("a1", "b1") else 30
            rows += [{"vehicle": f"{a}{b}-{i}", "owner": f"{a}{b}-{i}", "a": a, "b": b, "n": 3, "r": 1}
                     for i in range(count)]
    return pd.DataFrame(rows)


def grid_protection(records: pd.DataFrame, hidden: list[tuple[str, str]], revision_of=None) -> Protection:
    """A hand-set pattern: the cells of table ab in hidden suppressed, the rest published (in the joint system
    against the earlier releases revision_of gives, if any)."""
    tables = {"ab": ("a", "b"), "a": ("a",), "b": ("b",), "total": ()}
    reg = build_registry([Part(t, t, k, ("P", "R", "V"), cells_from_records(records, k), RULES)
                          for t, k in tables.items()])
    system = build_system(reg)
    suppressed = np.zeros(reg.size, dtype=bool)
    for r, key in enumerate(reg.parts[0].cells[["a", "b"]].itertuples(index=False, name=None)):
        suppressed[reg.node_of[0][r]] = key in hidden
    return Protection(reg, primary_reasons(reg), suppressed, revision_of(reg).join(system) if revision_of else system)


def test_a_changed_suppression_pattern_pins_the_earlier_primary_cell_in_the_joint_audit():
    """Two rectangles around the same primary cell, each safe alone: together they pin it exactly."""
    records = grid_records()
    first = grid_protection(records, [("a1", "b1"), ("a1", "b2"), ("a2", "b1"), ("a2", "b2")])
    report = audit(first, SETTINGS)
    assert report.ok
    second_hidden = [("a1", "b1"), ("a1", "b3"), ("a3", "b1"), ("a3", "b3")]
    assert audit(grid_protection(records, second_hidden), SETTINGS).ok  # safe on its own
    served = Earlier("r1", fates(first, report), {})
    joint = grid_protection(records, second_hidden, lambda reg: Revision(reg, [served]))
    failed = audit(joint, SETTINGS).failures
    assert failed and all(a.exact for a in failed)
    assert {a.about for a in failed} == {"", "earlier r1"}  # the new primary cell and the earlier one
    # the policy carries the first pattern forward, and the joint audit then passes
    reg = joint.registry
    carried = protect(reg, SETTINGS, revision=Revision(reg, [served]))
    assert audit(carried, SETTINGS).ok
    assert {n for n in range(reg.size) if carried.suppressed[n]} >= \
        {n for n in range(reg.size) if first.suppressed[n]}
    assert carried.union_reasons[int(np.flatnonzero(first.suppressed & ~first.primary)[0])] == CARRIED


def test_the_difference_of_a_cell_is_judged_by_the_primary_rules():
    assert cell_reasons(RULES, 1, 1, 36, [[-36, 7]]) == ["min_vehicles", "min_owners", "dominance"]
    assert cell_reasons(RULES, 12, 4, 120, [[-30, 1], [-30, 2]]) == []


def test_each_municipality_of_an_earlier_release_was_built_from_the_version_that_rebuilt_it():
    by_id = {"r1": {"source_versions": json.dumps({PASSAGES: 3})},
             "r2": {"source_versions": json.dumps({PASSAGES: 5, "municipality": "GM1", "carried_from": "r1"})}}
    assert built_from(by_id["r2"], "GM1", by_id) == 5  # rebuilt by r2
    assert built_from(by_id["r2"], "GM2", by_id) == 3  # carried from r1
    assert built_from(by_id["r1"], "GM2", by_id) == 3


def test_a_zone_rebuilt_from_the_latest_releases_version_is_protected_against_that_release_alone():
    by_id = {"r1": {"source_versions": json.dumps({PASSAGES: 3})},
             "r2": {"source_versions": json.dumps({PASSAGES: 5, "municipality": "GM1", "carried_from": "r1"})}}
    releases = [by_id["r1"], by_id["r2"]]
    assert served_against(releases, "GM1", 5, by_id) == [by_id["r2"]]  # unchanged since r2: its pattern alone
    assert served_against(releases, "GM1", 6, by_id) == releases  # late data since: every release
    assert served_against(releases, "GM2", 5, by_id) == releases  # GM2's rows of r2 are r1's, from version 3
    assert served_against(releases, "GM2", 3, by_id) == [by_id["r2"]]
    assert served_against([], "GM1", 5, by_id) == []


def test_two_earlier_releases_are_tied_to_each_other_and_their_unsafe_differences_attacked_again():
    """Three releases of the grid, every cell grown by one vehicle, then by five: the third is audited against
    both earlier ones, which the attacker also subtracts from each other, and the second's unsafe
    differences from the first (one vehicle each, rule 2) are attacked again."""
    hidden = [("a1", "b1"), ("a1", "b2"), ("a2", "b1"), ("a2", "b2")]
    tables = {"ab": ("a", "b"), "a": ("a",), "b": ("b",), "total": ()}
    base = grid_records()
    builds = [base, *[pd.concat([base, *[base.groupby(["a", "b"]).head(1).assign(
        vehicle=lambda f, k=k, i=i: f["vehicle"] + f"-late{k}-{i}") for i in range(grown)]], ignore_index=True)
        for k, grown in ((1, 1), (2, 6))]]
    served: list[tuple[str, dict[str, pd.DataFrame], pd.DataFrame]] = []
    for k, records in enumerate(builds):
        earlier = [Earlier(rid, cells, difference_cells(old, records, tables)) for rid, cells, old in served]
        prot = grid_protection(records, hidden, (lambda reg, e=earlier: Revision(reg, e)) if earlier else None)
        report = audit(prot, SETTINGS)
        served.append((f"r{k + 1}", fates(prot, report), records))
    # the second release found the one-vehicle differences of its hidden cells unsafe and recorded them
    second = served[1][1]["ab"]
    assert all("V difference r1" in json.loads(a) for a in second.loc[second["status"] != PUBLISHED, "audit"])
    # the third release attacks them again: per count, the 9 cells of ab, the 6 of a and b, and the total
    attacked = [a.value for a in report.attacks if a.about == "difference r1 r2" and a.measure == "V"]
    assert sorted(attacked) == [1.0] * 9 + [3.0] * 6 + [9.0]
    assert sum(a.about == "difference r1 r2" for a in report.attacks) == 16 * 3  # P, R and V


def test_a_month_is_published_again_only_under_the_settings_of_its_served_releases():
    """Rebuilt under another double-read window or threshold, an earlier release's cells are not those it
    published: the joint audit would judge cells nobody served, so the job refuses in one line."""
    config = {"disclosure": {"rules": {"min_vehicles": 10}, "audit": {"exact": False}, "recoding": {}},
              "passages": {"double_read_seconds": 3.0}, "municipalities": [{"code": "GM1"}]}
    now = cells_settings(config)
    # the audit's effort, the recoding policy and the municipalities joining leave the cells as they were
    assert now == cells_settings({**config, "municipalities": [{"code": "GM1"}, {"code": "GM2"}],
                                  "disclosure": {**config["disclosure"], "audit": {"exact": True},
                                                 "recoding": {"max_primary_share": 0.3}}})
    wider = cells_settings({**config, "passages": {"double_read_seconds": 5.0}})
    raised = cells_settings({**config, "disclosure": {**config["disclosure"], "rules": {"min_vehicles": 15}}})
    assert len({now, wider, raised}) == 3

    def served(rid: str, settings: str | None, version: int | None = CELLS_SETTINGS_VERSION) -> dict[str, object]:
        recorded = {"cells_settings": settings, "cells_settings_version": version} if settings else {}
        return {"release_id": rid, "protection": json.dumps(recorded)}

    check_settings([served("r0", None), served("r1", now)], "2026-10", now)  # r0 predates the digest
    for other in (wider, raised):
        with pytest.raises(SettingsChangedError, match=r"^release r1 of 2026-10 was built under other table, "
                                                       r"disclosure or passage settings \(conf/\) than now"):
            check_settings([served("r1", other)], "2026-10", now)
    # a digest of the form before stop 49 (it hashed the tables' texts too) cannot be checked: refused, saying so
    with pytest.raises(SettingsChangedError, match=r"^release r1 of 2026-10 recorded its settings in an earlier "
                                                   r"form, which this version cannot check"):
        check_settings([served("r1", now, None)], "2026-10", now)


def test_an_earlier_releases_camera_floors_bound_its_cells_in_the_joint_audit():
    """The attacker's camera case (test_sdc_attacker.py) served first: its 4.12 gave camera Z's 50 worked
    hours away, which leaves the quiet camera Q's hour 1 at most 4 passages in that release, however the
    later release (one more passage on Z in hour 3, no floors of its own here) is judged."""
    def cameras(records: list[dict]) -> list[Part]:
        frame = pd.DataFrame(records)
        return [Part(t, t, k, ("P",), cells_from_records(frame, k), RULES)
                for t, k in {"4.1": ("camera_id", "uur"), "hour": ("uur",), "total": ()}.items()]

    def hand_set(reg, hidden: set[tuple], system) -> Protection:
        keys = reg.parts[0].cells[["camera_id", "uur"]].itertuples(index=False, name=None)
        suppressed = np.zeros(reg.size, dtype=bool)
        for r, key in enumerate(keys):
            suppressed[reg.node_of[0][r]] = key in hidden
        return Protection(reg, [["planted"] if s else [] for s in suppressed], suppressed, system)

    def one(tag: str, n: int, camera: str, hour: str) -> list[dict]:
        return [{"vehicle": f"{tag}{i}", "owner": f"{tag}{i}", "camera_id": camera, "uur": hour, "n": 1, "r": 1}
                for i in range(n)]

    old = one("q1", 3, "Q", "01") + one("q2", 2, "Q", "02") + one("z1", 20, "Z", "01") + one("z2", 30, "Z", "02")
    new = old + one("late", 1, "Z", "03")
    hidden = {("Q", "01"), ("Q", "02"), ("Z", "01"), ("Z", "02")}
    first_reg = build_registry(cameras(old))
    first = hand_set(first_reg, hidden, build_system(first_reg))
    served = fates(first, audit(first, SETTINGS))
    difference = difference_cells(pd.DataFrame(old), pd.DataFrame(new),
                                  {"4.1": ("camera_id", "uur"), "hour": ("uur",), "total": ()})

    def earlier_q1(floors: dict[tuple[str, object], float]) -> tuple[float, float]:
        """The exact interval of the first release's (Q, hour 1) in the joint system: the only earlier primary
        count of 3 passages."""
        reg = build_registry(cameras(new))
        joint = hand_set(reg, hidden, Revision(reg, [Earlier("r1", served, difference, floors)])
                         .join(build_system(reg)))
        var = next(v for v, t in joint.system.targets.items()
                   if t.about == "earlier r1" and joint.system.base[v] == 3.0)
        found = Attacker(joint.system, joint.suppressed, exact=True).attack(var)
        return found.lo, found.hi

    assert earlier_q1({}) == (1.0, 22.0)  # 3 + 20 = 23 in hour 1, each cell at least 1
    assert earlier_q1({("camera_id", "Z"): 50.0, ("camera_id", "Q"): 5.0}) == (1.0, 4.0)


def test_a_cell_of_the_middle_release_is_bounded_below_by_the_oldest_release_that_published_it(monkeypatch):
    """Rule 4's three releases: (a1, b1) published with 4 vehicles in the first, then one and two late vehicles,
    hidden in the second and third. Against the newest release alone the second's count could be 1; the
    first release's published 4 is its floor, since the attacker subtracts the two earlier releases too."""
    tables = {"ab": ("a", "b"), "a": ("a",), "b": ("b",), "total": ()}
    base = grid_records()
    late = [pd.concat([base, base[(base["a"] == "a1") & (base["b"] == "b1")].head(k).assign(
        vehicle=lambda f, k=k: f["vehicle"] + f"-late{k}")], ignore_index=True) for k in (1, 2)]
    builds = [(base, []), (late[0], [("a1", "b1"), ("a1", "b2"), ("a2", "b1"), ("a2", "b2")]),
              (late[1], [("a1", "b1"), ("a1", "b2"), ("a2", "b1"), ("a2", "b2")])]

    def middle(tied: bool) -> tuple[float, float]:
        if not tied:
            monkeypatch.setattr(Revision, "_tie_earlier", staticmethod(lambda *args: None))
        served: list[tuple[str, dict[str, pd.DataFrame], pd.DataFrame]] = []
        for k, (records, hidden) in enumerate(builds):
            earlier = [Earlier(rid, cells, difference_cells(old, records, tables)) for rid, cells, old in served]
            prot = grid_protection(records, hidden, (lambda reg, e=earlier: Revision(reg, e)) if earlier else None)
            served.append((f"r{k + 1}", fates(prot, audit(prot, SETTINGS)), records))
        var = next(v for v, t in prot.system.targets.items()
                   if t.about == "earlier r2" and prot.system.var_measure[v] == "V" and prot.system.base[v] == 5.0)
        found = Attacker(prot.system, prot.suppressed, exact=True).attack(var)
        return found.lo, found.hi

    # only the lower end comes from the tie between the two earlier releases
    assert middle(tied=True) == (4.0, 15.0)
    assert middle(tied=False) == (1.0, 15.0)


@pytest.mark.parametrize(("measures", "late", "moved"), [
    (("P", "R", "V"), {"Bus": 5}, 5),  # a seventh review's case: 5 late buses
    (("P",), {"Bus": 5}, 5),  # an eighth: the same where only passages are published (21 of 30 random months)
    (("P", "R", "V"), {}, 3)])  # and 2 late passages of each of 3 buses counted already (18 of 30)
def test_hidden_differences_whose_sum_the_published_cells_fix_isolate_nobody(measures, late, moved):
    """The total and the vans published in both releases, 10 late vans and a few late bus records between
    them, so the buses and trucks hidden in both differ by exactly the late bus records in all, held by
    fewer vehicles than the rule allows, although no one cell's difference is fixed."""
    tables = {"type": ("voertuig_type",), "total": ()}

    def records(counts: dict[str, int], tag: str = "") -> pd.DataFrame:
        return pd.DataFrame([{"vehicle": f"{kind}{tag}{i}", "owner": f"{kind}{tag}{i}", "voertuig_type": kind,
                              "n": 3, "r": 1} for kind, count in counts.items() for i in range(count)])

    def registry(frame: pd.DataFrame):
        return build_registry([Part(t, t, k, measures, cells_from_records(frame, k), RULES)
                               for t, k in tables.items()])

    def hand_set(reg, hidden: set[str], system) -> Protection:
        suppressed = np.zeros(reg.size, dtype=bool)
        for r, kind in enumerate(reg.parts[0].cells["voertuig_type"]):
            suppressed[reg.node_of[0][r]] = kind in hidden
        return Protection(reg, primary_reasons(reg), suppressed, system)

    def population(shown: set[str]) -> int:
        """The vehicles whose records changed in the types not shown in both releases: what the totals and
        the types shown in both give away a sum of (counted from the records)."""
        both = old.merge(new, on="vehicle", how="outer", suffixes=("_1", "_2"))
        changed = both[(both["n_1"] != both["n_2"]) | (both["r_1"] != both["r_2"])]
        return int((~changed["voertuig_type_2"].isin(shown)).sum())

    def shown(*releases: pd.DataFrame) -> set[str]:
        return set.intersection(*(set(r.loc[r["status"] == PUBLISHED, "voertuig_type"]) for r in releases))

    old = records({"Bestelauto": 30, "Bus": 4, "Vrachtauto": 30})
    again_seen = old[old["voertuig_type"] == "Bus"].head(0 if late else 3).assign(n=5, r=2)
    new = pd.concat([old[~old["vehicle"].isin(again_seen["vehicle"])], again_seen, records({"Bestelauto": 10}, "late"),
                     records(late, "late")], ignore_index=True)
    first_reg = registry(old)
    first = hand_set(first_reg, {"Bus", "Vrachtauto"}, build_system(first_reg))
    served = Earlier("r1", fates(first, audit(first, SETTINGS)), difference_cells(old, new, tables))
    # the same pattern again: every cell alone keeps its margin, but the two hidden differences sum to the
    # late bus records
    reg = registry(new)
    again = audit(hand_set(reg, {"Bus", "Vrachtauto"}, Revision(reg, [served]).join(build_system(reg))), SETTINGS)
    assert not again.failures and {problem for _, problem in again.union_failures} == {"min_vehicles"}
    assert population({"Bestelauto"}) == moved
    # protected jointly: the vans are hidden as well, and the three hidden types' changes are held by 10 or more
    prot = protect(reg, SETTINGS, revision=Revision(reg, [served]))
    report = audit(prot, SETTINGS)
    second = fates(prot, report)
    assert report.ok and shown(served.cells["type"], second["type"]) == set() and population(set()) == 10 + moved
    assert (second["total"]["status"] == PUBLISHED).all()


def test_an_earlier_releases_quiet_hour_ceilings_bound_its_cells_in_the_joint_audit():
    """The attacker's quiet-hour case (test_sdc_attacker.py) served first: its 4.12 and 4.1 gave away that hour 1
    held at most 19 passages, which leaves the hidden (Q, hour 1) at most 4 beside Y's published 15."""
    keys = {"4.1": ("camera_id", "uur")}

    def one(tag: str, n: int, camera: str, hour: str) -> list[dict]:
        return [{"vehicle": f"{tag}{i}", "owner": f"{tag}{i}", "camera_id": camera, "uur": hour, "n": 1, "r": 1}
                for i in range(n)]

    def protection(records: list[dict], system_of) -> Protection:  # noqa: ANN001 - registry -> System
        frame = pd.DataFrame(records)
        reg = build_registry([Part("4.1", "4.1", keys["4.1"], ("P",), cells_from_records(frame, keys["4.1"]),
                                   RULES)])
        rows = reg.parts[0].cells[list(keys["4.1"])].itertuples(index=False, name=None)
        suppressed = np.zeros(reg.size, dtype=bool)
        for r, key in enumerate(rows):
            suppressed[reg.node_of[0][r]] = key == ("Q", "01")
        return Protection(reg, [["planted"] if s else [] for s in suppressed], suppressed, system_of(reg))

    old = one("q", 3, "Q", "01") + one("y1", 15, "Y", "01") + one("y2", 30, "Y", "02")
    new = old + one("late", 1, "Y", "03")
    first = protection(old, build_system)
    served = fates(first, audit(first, SETTINGS))
    difference = difference_cells(pd.DataFrame(old), pd.DataFrame(new), keys)

    def earlier_q1(ceilings: dict) -> tuple[float, float]:
        def joint(reg):  # noqa: ANN001, ANN202
            return Revision(reg, [Earlier("r1", served, difference, {}, ceilings)]).join(build_system(reg))

        prot = protection(new, joint)
        var = next(v for v, t in prot.system.targets.items()
                   if t.about == "earlier r1" and prot.system.base[v] == 3.0)
        found = Attacker(prot.system, prot.suppressed, exact=True).attack(var)
        return found.lo, found.hi

    assert earlier_q1({})[1] > 1e6  # nothing bounds hour 1 from above
    assert earlier_q1({(("uur",), ("01",)): 19.0}) == (1.0, 4.0)


def test_the_tables_texts_and_the_recoding_policy_leave_the_cells_settings_alone():
    """A review's case (stop 49): the tables' protection texts quote the recoding policy, so declaring a
    hierarchy or another max_passages_share changed the digest, and no month served before could be published
    again. Texts decide no cell; a table's keys do."""
    from dataclasses import replace

    from anpr.catalogue import parse_catalogue
    from anpr.disclosure import DisclosureConfig
    from anpr.settings import CONF_DIR, Settings
    from jobs.stats.job import _config

    text = (CONF_DIR / "tables.toml").read_text()

    def digest(catalogue) -> str:  # noqa: ANN001
        return cells_settings(_config(catalogue, DisclosureConfig(), Settings(), []))

    before = parse_catalogue(text, recoding=(["sbi_groep_code"], 0.5))
    after = parse_catalogue(text, protection=lambda name, counts: "Other words.",
                            recoding=(["sbi_groep_code", "brandstof"], 0.5, 0.05))
    assert before.tables["t4_8b_voertuig_brandstof_emissie"].protection != \
        after.tables["t4_8b_voertuig_brandstof_emissie"].protection
    assert digest(before) == digest(after)
    fewer = replace(before, tables={**before.tables, "t4_8b_voertuig_brandstof_emissie": replace(
        before.tables["t4_8b_voertuig_brandstof_emissie"], measures=["aantalPassages"])})
    assert digest(fewer) != digest(before)
