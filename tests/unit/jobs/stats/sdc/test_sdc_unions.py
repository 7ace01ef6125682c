"""The union rule counts the cells the published ones determine as known, in the audit and in the rounds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from anpr.disclosure import AuditSettings
from jobs.stats.sdc import small_sums
from jobs.stats.sdc import unions as unions_module
from jobs.stats.sdc.audit import Attacker
from jobs.stats.sdc.cells import build_registry
from jobs.stats.sdc.microdata import parts_from_records
from jobs.stats.sdc.protect import Protection, _Chooser, _costs, _for_unions, _rounds, audit, protect
from jobs.stats.sdc.small_sums import OWNERS, VEHICLES
from jobs.stats.sdc.system import build_system
from jobs.stats.sdc.unions import (
    _cancelling,
    _fixed_sums,
    _hidden,
    _quadruples,
    determined_vars,
    fixed_sums,
    unsafe_unions,
)
from jobs.stats.sdc.zone import summarize
from tests.unit.jobs.stats.sdc.test_audit import TABLES, random_records

SETTINGS = AuditSettings()
# 40 vehicles (random_records seed 6): 5 vans and 1 bus run on petrol, below the 10-vehicle rule together
UNION = {("Benzine", "Bestelauto"), ("Benzine", "Bus")}
# hidden with them: the bus's diesel cell, both fuel totals, two type totals and one hour cell. Both fuel
# totals and the bus's diesel cell are then fixed by the published cells, although no row has them as its
# only unknown: the petrol column's hidden cells give their sum away.
HIDDEN = UNION | {("Diesel", "Bus"), ("Bestelauto",), ("Bus",), ("Benzine",), ("Diesel",), (9, "Bestelauto")}


def planted() -> Protection:
    """HIDDEN suppressed; the two cells of UNION primary, the others secondary companions."""
    reg = build_registry(parts_from_records(random_records(6, 40), TABLES))
    hidden = np.array([reg.key[n] in HIDDEN for n in range(reg.size)])
    reasons = [["planted"] if reg.key[n] in UNION else [] for n in range(reg.size)]
    return Protection(reg, reasons, hidden, build_system(reg))


def fixed_exactly(attacker: Attacker, var: int) -> bool:
    """The oracle: var moves in no feasible point seen, and its two exact LPs agree."""
    if attacker.moved()[var]:
        return False
    lo, hi = attacker.interval(var)
    return hi - lo <= 1e-3


def keys(prot: Protection, unions: list) -> list[set[tuple]]:
    return [{prot.registry.key[n] for n in nodes} for nodes, *_ in unions]


def hidden_counts(prot: Protection) -> np.ndarray:
    return _hidden(Attacker(prot.system, prot.suppressed), None)


def test_a_row_whose_total_the_published_cells_determine_discloses_its_hidden_cells_sum():
    prot = planted()
    attacker = Attacker(prot.system, prot.suppressed)
    determined = determined_vars(attacker)
    fixed = {prot.registry.key[prot.system.var_node[v]] for v in np.flatnonzero(determined)}
    assert fixed == {("Benzine",), ("Diesel",), ("Diesel", "Bus")}
    assert not attacker.solved  # no row pins them on its own: the row-by-row check saw nothing
    assert UNION not in keys(prot, unsafe_unions(prot.system, attacker))
    assert UNION in keys(prot, unsafe_unions(prot.system, attacker, None, determined))
    report = audit(prot, SETTINGS)
    assert (UNION, "min_vehicles") in [({prot.registry.key[n] for n in nodes}, why)
                                       for nodes, why in report.union_failures]


def test_the_rounds_end_with_no_union_that_the_determined_cells_give_away():
    # As in the 5% month's zone GM9032-ZE1, the row's only published cell was published again earlier
    # (released: never a companion again). The rounds must still end with a pattern where no sum of hidden
    # cells that the exact LPs fix breaks a rule, with that cell still published.
    prot = planted()
    van_petrol = next(n for n in range(prot.registry.size) if prot.registry.key[n] == ("Benzine", "Vrachtauto"))
    prot.released.add(van_petrol)
    _rounds(prot, prot.system, SETTINGS, _costs(prot.registry), release=True)
    assert audit(prot, AuditSettings(independent=True)).ok and not prot.suppressed[van_petrol]
    attacker = Attacker(prot.system, prot.suppressed)
    hidden = np.flatnonzero(attacker.unknown)
    fixed = np.zeros(prot.system.size, dtype=bool)
    fixed[hidden] = [fixed_exactly(attacker, int(v)) for v in hidden]
    assert not unsafe_unions(prot.system, attacker, None, fixed)
    assert "union:min_vehicles" in prot.union_reasons.values()


def test_separating_points_leave_the_same_cells_determined_with_fewer_lps():
    from tests.unit.jobs.stats.sdc.sdc_zone import zone_parts, zone_records

    prot = protect(build_registry(zone_parts(zone_records(25, seed=5))), SETTINGS)
    exact, bulk = Attacker(prot.system, prot.suppressed), Attacker(prot.system, prot.suppressed)
    # the zone's linked component (2,283 unknowns); small ones get exact LPs either way
    sizes = np.bincount(exact.group[exact.group >= 0])
    hidden = [v for v in np.flatnonzero(exact.unknown).tolist() if sizes[exact.group[v]] > 200]
    bulk.separate(hidden)
    fixed = [fixed_exactly(exact, v) for v in hidden]
    assert fixed == [bulk.determined(v) for v in hidden]
    assert 0 < sum(fixed) < len(hidden) / 10
    # a few random-sign LPs move nearly all the others: what is left is about the fixed ones' exact LPs (62-93
    # LPs for 36-52 fixed over seeds 5-7 and two orders of the same variables, against 312-616; 93 against 352
    # once the vehicles of every per-vehicle level were split by visitor type)
    assert bulk.lp_solved < 3 * sum(fixed) + 20 and bulk.lp_solved < exact.lp_solved / 3


def test_the_audit_takes_the_last_release_steps_determined_cells_only_where_they_are_exact():
    """The release steps' determined_vars, kept across steps that only published determined cells and
    taken by the audit on that same pattern, are what a fresh attacker proves on the final pattern."""
    from tests.unit.jobs.stats.sdc.sdc_zone import zone_parts, zone_records

    prot = protect(build_registry(zone_parts(zone_records(25, seed=5))), SETTINGS)
    assert prot.attested is not None and prot.attested.step is not None
    pattern, kept = prot.attested.step.pattern, prot.attested.step.determined
    assert np.array_equal(pattern, prot.suppressed)
    fresh = Attacker(prot.system, prot.suppressed)
    hidden = fresh.unknown.copy()
    hidden[sorted(fresh.solved)] = False
    assert (kept & hidden).any()  # the case under test: hidden counts the published cells fix
    assert all(fixed_exactly(fresh, v) for v in np.flatnonzero(kept & hidden))
    assert not np.any(determined_vars(fresh) & hidden & ~kept)


def test_the_audit_takes_points_seen_only_from_a_pattern_the_final_one_hides_all_of(monkeypatch):
    """A release step's points are feasible on a pattern that hides more, not on one that publishes a cell
    that step hid (publish_trials may): there they could make a fixed count look free."""
    prot = protect(build_registry(parts_from_records(random_records(3, 60), TABLES)), SETTINGS)
    step = prot.attested.step
    absorbed: list[bool] = []
    monkeypatch.setattr(Attacker, "absorb", lambda self, lo, hi: absorbed.append(True))
    assert audit(prot, SETTINGS).ok and absorbed == [True]
    later = int(np.flatnonzero(~prot.suppressed & ~prot.primary)[0])  # as if hidden after the rounds attacked
    prot.attested.step = replace(step, pattern=step.pattern | (np.arange(len(step.pattern)) == later))
    absorbed.clear()
    report = audit(prot, SETTINGS)
    assert report.ok and not report.fresh and absorbed == []  # the attested attack, without those points


# A fifth review's cycle: sector x vehicle type (4.8a) with its 4.9 rows; six small cells form a cycle.
SBI, VT = "sbi_groep_code", "voertuig_type"
CYCLE_TABLES = {"4.8a": (SBI, VT), "4.9 sector": (SBI,), "4.9 type": (VT,), "4.9 total": ()}
PAIR = {("41", "Bestelauto"), ("49", "Bus")}
CYCLE = {("41", "Bestelauto"), ("41", "Vrachtauto"), ("49", "Vrachtauto"), ("49", "Bus"), ("47", "Bus"),
         ("47", "Bestelauto")}


def fleet(tag: str, count: int, owners: int, sbi: str, vehicle_type: str) -> list[dict]:
    return [{"vehicle": f"{tag}{i}", "owner": f"{tag}-o{i % owners}", "n": 2, "r": 1, SBI: sbi, VT: vehicle_type}
            for i in range(count)]


def cycle_registry():
    """One company's 3 vans in sector 41 and another's 4 buses in 49 (primary), 8 vehicles of 4 owners in
    the other cycle cells (primary), 20 of 10 owners in the three cells off the cycle."""
    records = (fleet("a", 3, 1, "41", "Bestelauto") + fleet("b", 8, 4, "41", "Vrachtauto")
               + fleet("c", 20, 10, "41", "Bus") + fleet("d", 20, 10, "49", "Bestelauto")
               + fleet("e", 8, 4, "49", "Vrachtauto") + fleet("f", 4, 1, "49", "Bus")
               + fleet("g", 8, 4, "47", "Bestelauto") + fleet("h", 20, 10, "47", "Vrachtauto")
               + fleet("k", 8, 4, "47", "Bus"))
    return build_registry(parts_from_records(pd.DataFrame(records), CYCLE_TABLES))


def test_rows_combine_to_give_away_two_cells_that_share_no_row_and_the_audit_finds_it():
    """Row 41 + row 49 - column Vrachtauto = (41, Bestelauto) + (49, Bus): 7 vehicles, 14 passages, 2 owners."""
    reg = cycle_registry()
    hidden = np.array([reg.key[n] in CYCLE for n in range(reg.size)])
    prot = Protection(reg, [["planted"] if h else [] for h in hidden], hidden, build_system(reg))
    report = audit(prot, SETTINGS)
    assert all(a.ok for a in report.attacks)  # each cell alone still moves by its margin
    assert {"min_vehicles"} == {problem for nodes, problem in report.union_failures
                                if {reg.key[n] for n in nodes} == PAIR}
    assert not report.ok


def test_protection_leaves_no_pair_of_cells_whose_sum_the_rows_fix():
    reg = cycle_registry()
    prot = protect(reg, SETTINGS)
    report = audit(prot, SETTINGS)
    assert report.ok
    assert all(prot.suppressed[n] for n in range(reg.size) if reg.key[n] in PAIR)
    attacker = Attacker(prot.system, prot.suppressed)
    hidden = attacker.unknown.copy()
    hidden[list(attacker.solved)] = False
    fixed = [{reg.key[prot.system.var_node[v]] for v in pair} for pair in fixed_sums(prot.system, hidden)]
    assert PAIR not in fixed


# A sixth review's 3 x 4 table: vehicle types (rows 1-3) x sectors (columns a-d), with its 4.9 rows. Row 1 +
# row 2 - column a fixes 1b + 2c + 2d, one company's 3 + 3 + 3 vehicles, and no pair of them.
TYPES, SECTORS = ["Bestelauto", "Vrachtauto", "Bus"], ["41", "47", "49", "45"]
TRIPLE_HIDDEN = {(0, 0), (0, 1), (1, 0), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)}
TRIPLE = {(0, 1), (1, 2), (1, 3)}


def company_registry(sectors: list[str], company: set[tuple[int, int]], per_cell: int):
    """TYPES x sectors: one company's per_cell vehicles in each cell of company, 20 of 10 owners elsewhere."""
    records = []
    for i, vehicle_type in enumerate(TYPES):
        for j, sector in enumerate(sectors):
            if (i, j) in company:
                records += [{"vehicle": f"x{i}{j}-{v}", "owner": "X", "n": 2, "r": 1, SBI: sector, VT: vehicle_type}
                            for v in range(per_cell)]
            else:
                records += fleet(f"g{i}{j}-", 20, 10, sector, vehicle_type)
    return build_registry(parts_from_records(pd.DataFrame(records), CYCLE_TABLES))


def triple_registry():
    return company_registry(SECTORS, TRIPLE, 3)


def cell(reg, n) -> tuple[int, int] | None:
    key = reg.key[n]
    return (TYPES.index(key[1]), SECTORS.index(key[0])) if len(key) == 2 else None


def test_rows_combine_to_give_away_three_cells_no_two_of_which_are_fixed_and_the_audit_finds_it():
    reg = triple_registry()
    hidden = np.array([cell(reg, n) in TRIPLE_HIDDEN for n in range(reg.size)])
    prot = Protection(reg, [["planted"] if h else [] for h in hidden], hidden, build_system(reg))
    report = audit(prot, SETTINGS)
    assert all(a.ok for a in report.attacks)
    assert ("min_vehicles" in {problem for nodes, problem in report.union_failures
                               if {cell(reg, n) for n in nodes} == TRIPLE})
    assert not report.ok


def test_protection_leaves_no_three_cells_whose_sum_the_rows_fix():
    reg = triple_registry()
    prot = protect(reg, SETTINGS)
    assert audit(prot, SETTINGS).ok
    attacker = Attacker(prot.system, prot.suppressed)
    hidden = attacker.unknown.copy()
    hidden[list(attacker.solved)] = False
    sums = [{cell(reg, prot.system.var_node[v]) for v in found} for found in fixed_sums(prot.system, hidden)]
    assert TRIPLE not in sums


# The same with four: a 3 x 5 table (vehicle types x sectors a-e) where row 1 + row 2 - column a fixes
# 1b + 1c + 2d + 2e, one company's 2 + 2 + 2 + 2 vehicles, and no pair or triple of them. It passed the audit
# before the union rule searched quadruples.
WIDE_SECTORS = [*SECTORS, "46"]
QUAD_HIDDEN = {(0, 0), (0, 1), (0, 2), (1, 0), (1, 3), (1, 4), (2, 1), (2, 2), (2, 3), (2, 4)}
QUAD = {(0, 1), (0, 2), (1, 3), (1, 4)}


def quad_registry():
    return company_registry(WIDE_SECTORS, QUAD, 2)


def wide_cell(reg, n) -> tuple[int, int] | None:
    key = reg.key[n]
    return (TYPES.index(key[1]), WIDE_SECTORS.index(key[0])) if len(key) == 2 else None


def quad_planted() -> Protection:
    reg = quad_registry()
    hidden = np.array([wide_cell(reg, n) in QUAD_HIDDEN for n in range(reg.size)])
    return Protection(reg, [["planted"] if h else [] for h in hidden], hidden, build_system(reg))


def sums_of(prot: Protection) -> list[set]:
    attacker = Attacker(prot.system, prot.suppressed)
    hidden = attacker.unknown.copy()
    hidden[list(attacker.solved)] = False
    return [{wide_cell(prot.registry, prot.system.var_node[v]) for v in found}
            for found in fixed_sums(prot.system, hidden)]


def test_rows_combine_to_give_away_four_cells_no_two_or_three_of_which_are_fixed_and_the_audit_finds_it():
    prot = quad_planted()
    sums = sums_of(prot)
    assert QUAD in sums
    assert not [found for found in sums if found < QUAD]  # no pair or triple of them is fixed
    report = audit(prot, SETTINGS)
    assert all(a.ok for a in report.attacks)
    assert {"min_vehicles"} == {problem for nodes, problem in report.union_failures
                                if {wide_cell(prot.registry, n) for n in nodes} == QUAD}
    assert not report.ok


def test_the_rounds_hide_a_cell_more_where_four_cells_sum_is_fixed():
    prot = quad_planted()
    _rounds(prot, prot.system, SETTINGS, _costs(prot.registry), release=True)
    assert audit(prot, AuditSettings(independent=True)).ok
    assert QUAD not in sums_of(prot)
    assert any(why.startswith("union:") for why in prot.union_reasons.values())


def test_quadruples_are_two_disjoint_pairs_that_cancel_and_none_holds_a_cancelling_pair():
    # rows 0 + 1 + 2 + 3 cancel; so do rows 4 + 5 and rows 6 + 7, which make 4 + 5 + 6 + 7 no quadruple of its own
    probe = np.array([[1.0, 2.0], [-3.0, 0.5], [0.5, -4.0], [1.5, 1.5], [0.7, -0.2], [-0.7, 0.2], [2.5, 3.0],
                      [-2.5, -3.0]])
    assert _quadruples(probe, 1e-9, {(4, 5), (6, 7)}) == [(0, 1, 2, 3)]
    assert _quadruples(probe[:3], 1e-9, set()) == []


def _cancelling_by_enumeration(probe: np.ndarray, scale: float) -> list[tuple[int, ...]]:
    """Every set of two to four rows checked on every probe: the reference the binned search must equal."""
    from itertools import combinations

    def cancels(rows: tuple[int, ...]) -> bool:
        return bool(np.all(np.abs(probe[list(rows)].sum(axis=0)) <= len(rows) * scale))

    pairs = [c for c in combinations(range(len(probe)), 2) if cancels(c)]
    triples = [c for c in combinations(range(len(probe)), 3) if cancels(c)]
    quads = [c for c in combinations(range(len(probe)), 4) if cancels(c)
             and not any(p in set(pairs) for p in combinations(c, 2))]
    return pairs + triples + quads


@pytest.mark.parametrize("seed", range(6))
def test_the_binned_search_finds_every_cancelling_set_that_enumeration_finds(seed):
    # Sums crowd near zero and many cancel exactly (values on a 0.1 grid), with numerical noise of 1e-12 on
    # planted sets: the bins of the first two probes (_PairSums) must not lose one at a bin's edge.
    rng = np.random.default_rng(seed)
    width = 2 + seed % 2
    probe = rng.integers(-4, 5, (26, width)) / 10.0
    for a, b, c, d in rng.choice(26, (3, 4)):  # plant quadruples and triples
        probe[d] = -(probe[a] + probe[b] + probe[c]) + rng.normal(0, 1e-12, width)
    probe = probe[np.abs(probe).sum(axis=1) > 1e-9]  # the caller's: no zero row
    found = _cancelling(probe, 1e-9)
    assert sorted(found) == sorted(_cancelling_by_enumeration(probe, 1e-9))
    assert len(found) >= 5


@pytest.mark.parametrize("seed", range(8))
def test_sets_whose_sum_is_exactly_at_the_tolerance_are_found(seed):
    # values on the grid of a power-of-two scale, so planted pairs, triples and quadruples sum to exactly
    # +-k scale on the first probe: the searches' windows must hold their edges (a review found pairs missed)
    scale = 2.0 ** -20
    rng = np.random.default_rng(seed)
    probe = rng.integers(-2 ** 16, 2 ** 16, (12, 1 + seed % 2)).astype(float) * scale
    a, b, c, d, e, f, g, h, i = rng.choice(12, 9, replace=False)
    probe[b] = -probe[a] + rng.choice([2, -2]) * scale
    probe[e] = -(probe[c] + probe[d]) + rng.choice([3, -3]) * scale
    probe[i] = -(probe[f] + probe[g] + probe[h]) + rng.choice([4, -4]) * scale
    assert sorted(_cancelling(probe, scale)) == sorted(_cancelling_by_enumeration(probe, scale))


def test_a_search_is_answered_from_its_pattern_alone():
    prot = quad_planted()
    hidden = hidden_counts(prot)
    first = fixed_sums(prot.system, hidden)
    other = hidden.copy()
    other[np.flatnonzero(hidden)[0]] = False
    assert fixed_sums(prot.system, other) == _fixed_sums(prot.system, other, 4) != first
    assert fixed_sums(prot.system, hidden.copy()) == first


# A seventh review's 5 x 6 table (sectors x vehicle types, 4.8a with its 4.9 rows): rows 41 and 45 hold only
# five small cells and the Bus column, so the total minus the published rows minus the hidden Bus cells fixes
# the five at 8 vehicles of 5 owners. It passed the audit while only sets of two to four were searched.
FIVE_SECTORS = ["41", "45", "47", "49", "46"]
FIVE_TYPES = ["Bestelauto", "Vrachtauto", "Bus", "Personenauto", "Motorfiets", "Bromfiets"]
FIVE = {(0, 0): 2, (0, 1): 1, (1, 3): 2, (1, 4): 1, (1, 5): 2}
FIVE_BIG = {(0, 2), (1, 2), (2, 0), (2, 1), (2, 3), (3, 3), (3, 4), (3, 5)}  # hidden with them: 20 vehicles each


def five_registry(rng: np.random.Generator | None = None, measures: tuple[str, ...] = ("P", "R", "V"),
                  company: int = 0):
    """FIVE's counts one owner each, 20 of 10 owners elsewhere; with rng, rows 41 and 45 hold only their cells
    and Bus (structural zeros elsewhere) and the counts are drawn as the review drew them; measures: those
    every table publishes; company: instead, each of FIVE holds that many vehicles of one company."""
    records = []
    for i, sector in enumerate(FIVE_SECTORS):
        for j, vehicle_type in enumerate(FIVE_TYPES):
            if rng is not None and i < 2 and (i, j) not in FIVE and j != 2:
                continue
            if (i, j) in FIVE and company:
                records += [{"vehicle": f"c{i}{j}-{k}", "owner": "company", "n": 2, "r": 1, SBI: sector,
                             VT: vehicle_type} for k in range(company)]
                continue
            if (i, j) in FIVE:
                count, owners = (FIVE[(i, j)] if rng is None else int(rng.integers(1, 3))), 1
            else:
                big = (i, j) in FIVE_BIG
                count = 20 if rng is None else int(rng.integers(10, 16) if big else rng.integers(16, 60))
                owners = 5 if rng is not None and big else 10
            tag = f"{'s' if (i, j) in FIVE else 'g'}{i}{j}-"
            records += [{"vehicle": f"{tag}{k}", "owner": f"{tag}-o{k % owners}", "n": 2, "r": 1, SBI: sector,
                         VT: vehicle_type} for k in range(count)]
    return build_registry(parts_from_records(pd.DataFrame(records), CYCLE_TABLES, measures=measures))


def five_cell(reg, n) -> tuple[int, int] | None:
    key = reg.key[n]
    return (FIVE_SECTORS.index(key[0]), FIVE_TYPES.index(key[1])) if len(key) == 2 else None


def five_planted(reg) -> Protection:
    """FIVE primary, hidden with FIVE_BIG."""
    hidden = np.array([five_cell(reg, n) in set(FIVE) | FIVE_BIG for n in range(reg.size)])
    return Protection(reg, [["planted"] if five_cell(reg, n) in FIVE else [] for n in range(reg.size)], hidden,
                      build_system(reg))


def five_problems(reg, report) -> set[str]:
    """The rules the audit finds the union of FIVE breaking."""
    return {problem for nodes, problem in report.union_failures if {five_cell(reg, n) for n in nodes} == set(FIVE)}


def five_fixed(prot: Protection, measure: str) -> bool:
    """The oracle: whether the published cells fix the sum of FIVE's counts of measure, that is, whether its
    vector lies in the row space of the equality rows over the hidden counts (dense least squares, small zones)."""
    system, unknown = prot.system, Attacker(prot.system, prot.suppressed).unknown
    rows = system.eq[:, np.flatnonzero(unknown)].toarray()
    five = [system.node_var[(n, measure)] for n in range(prot.registry.size) if five_cell(prot.registry, n) in FIVE]
    target = np.isin(np.flatnonzero(unknown), five).astype(float)
    weights = np.linalg.lstsq(rows.T, target, rcond=None)[0]
    return bool(np.linalg.norm(rows.T @ weights - target) <= 1e-6)


@pytest.mark.parametrize("measures", [("P", "R", "V"), ("P",)], ids=["all measures", "passages only"])
def test_rows_combine_to_give_away_five_small_cells_and_the_audit_finds_it(measures):
    """Where only passages are published, the same five fix their 16 passages: that passed the audit while
    sets of five or more were searched on vehicle counts only."""
    reg = five_registry(measures=measures)  # 8 vehicles in the five
    report = audit(five_planted(reg), SETTINGS)
    assert all(a.ok for a in report.attacks) and not report.ok
    assert five_problems(reg, report) == {"min_vehicles"}


@pytest.mark.parametrize("measure, published", [("V", "PRV"), ("P", "PRV"), ("P", "P")])
def test_protection_leaves_no_small_sum_of_five_cells_that_the_rows_fix(measure, published):
    reg = five_registry(np.random.default_rng(3), tuple(published))  # the review's seed 3: 8 vehicles in the five
    five = [n for n in range(reg.size) if five_cell(reg, n) in FIVE]
    assert sum(reg.values("V")[n] for n in five) == 8
    prot = protect(reg, SETTINGS)
    assert audit(prot, SETTINGS).ok
    assert all(prot.suppressed[n] for n in five)  # all primary
    assert not five_fixed(prot, measure)


def test_one_companys_vehicles_over_five_cells_whose_sum_the_rows_fix_break_the_owner_rule():
    """Each of the five holds 3 vehicles of one company (15 vehicles, above the vehicle rule): their sum was
    judged on sets of two to four only, and the protection left it fixed in 13 of 18 seeded zones."""
    reg = five_registry(company=3)
    assert five_problems(reg, audit(five_planted(reg), SETTINGS)) == {"min_owners"}
    protected = protect(reg, SETTINGS)
    assert audit(protected, SETTINGS).ok
    assert not any(five_fixed(protected, measure) for measure in "PRV")


def searched(monkeypatch) -> list[str]:
    """The rules of the small_sums searches run from now on."""
    rules: list[str] = []
    real = unions_module.small_sums

    def spy(system, members, counts, rule, at_least, limit):
        rules.append(rule)
        return real(system, members, counts, rule, at_least, limit)

    monkeypatch.setattr(unions_module, "small_sums", spy)
    return rules


def test_a_count_below_the_rule_that_joins_the_hidden_ones_is_searched_again(monkeypatch):
    """The five hidden but one, then all five: the second search must find the five's 8 vehicles, though
    the first found no set of five or more in the same group (a sum hidden only since was never searched)."""
    reg = five_registry(np.random.default_rng(3))
    prot = five_planted(reg)
    last = next(n for n in range(reg.size) if five_cell(reg, n) == (1, 5))
    prot.suppressed[last] = False
    before = fixed_sums(prot.system, hidden_counts(prot))
    prot.suppressed[last] = True
    hidden = hidden_counts(prot)
    rules = searched(monkeypatch)
    after = fixed_sums(prot.system, hidden)
    assert VEHICLES in rules
    five = sorted(prot.system.node_var[(n, "V")] for n in range(reg.size) if five_cell(reg, n) in FIVE)
    assert tuple(five) in after and tuple(five) not in before
    prot.system.small_sums_memo = None
    assert _fixed_sums(prot.system, hidden, 4) == after


def test_a_search_that_found_nothing_is_not_run_again_when_only_large_cells_joined(monkeypatch):
    """After a protection, hiding one more cell of 16 vehicles or more of 10 owners: no vehicle or owner search is run
    again (no set could pick it, and none of the counts hidden before made one), and the answer is a fresh
    search's."""
    reg = five_registry(np.random.default_rng(3))
    prot = protect(reg, SETTINGS)
    first = hidden_counts(prot)
    fixed_sums(prot.system, first)
    for big in [n for n in range(reg.size) if not prot.suppressed[n] and reg.stat("V")[n] >= 16
                and reg.stat("O")[n] >= 10 and len(reg.key[n]) == 2]:
        prot.suppressed[big] = True
        hidden = hidden_counts(prot)
        if np.any(hidden & ~first):  # not pinned by a row at once
            break
        prot.suppressed[big] = False
    assert not np.any(first & ~hidden) and np.any(hidden & ~first)
    rules = searched(monkeypatch)
    after = fixed_sums(prot.system, hidden)
    assert VEHICLES not in rules and OWNERS not in rules
    prot.system.small_sums_memo = None
    assert _fixed_sums(prot.system, hidden, 4) == after


def merging_registry():
    """A sector x type and a fuel x type table over the same vehicles: sector 41 holds 2 + 1 small vehicles and
    Diesel 2 + 1 + 2, all else 12 vehicles of 6 owners a cell."""
    small = {("41", "LPG", "Bestelauto"): 2, ("41", "LPG", "Vrachtauto"): 1, ("47", "Diesel", "Bus"): 2,
             ("47", "Diesel", "Personenauto"): 1, ("47", "Diesel", "Motorfiets"): 2}
    types = ["Bestelauto", "Vrachtauto", "Bus", "Personenauto", "Motorfiets"]
    records = []
    for sector in ["41", "45", "47"]:
        for fuel in ["Diesel", "Benzine", "LPG"]:
            for vehicle_type in types:
                key = (sector, fuel, vehicle_type)
                if key not in small and ((sector == "41" and vehicle_type in types[:2]) or
                                         (fuel == "Diesel" and vehicle_type in types[2:])):
                    continue
                count, owners = (small[key], 1) if key in small else (12, 6)
                tag = "".join(key)
                records += [{"vehicle": f"{tag}{k}", "owner": f"{tag}o{k % owners}", "n": 2, "r": 1, SBI: sector,
                             "brandstof": fuel, VT: vehicle_type} for k in range(count)]
    tables = {"st": (SBI, VT), "ft": ("brandstof", VT), "s": (SBI,), "f": ("brandstof",), "t": (VT,), "total": ()}
    return build_registry(parts_from_records(pd.DataFrame(records), tables))


def test_groups_that_merge_are_searched_again_for_sums_across_them():
    """A review's zone: hidden with the cells below them, sector 41's pair and Diesel's triple are fixed sums in
    two groups (the type totals published), so no group holds five small counts. Hiding two type totals and
    two large cells merges the groups, and the five (8 vehicles) are a fixed sum of one group: the memo skipped
    that search, though no count it could pick had joined."""
    reg = merging_registry()
    prot = Protection(reg, [[] for _ in range(reg.size)], np.zeros(reg.size, dtype=bool), build_system(reg))
    where = {reg.key[n]: n for n in range(reg.size)}
    prot.suppressed[[where[k] for k in [("41", "Bestelauto"), ("41", "Vrachtauto"), ("45", "Bestelauto"),
                                        ("45", "Vrachtauto"), ("Diesel", "Bus"), ("Diesel", "Personenauto"),
                                        ("Diesel", "Motorfiets"), ("Benzine", "Bus"), ("Benzine", "Personenauto"),
                                        ("Benzine", "Motorfiets")]]] = True
    first = hidden_counts(prot)
    assert not [s for s in fixed_sums(prot.system, first) if len(s) >= 5]
    prot.suppressed[[where[k] for k in [("Bus",), ("Personenauto",), ("45", "Bus"), ("45", "Personenauto")]]] = True
    hidden = hidden_counts(prot)
    assert not np.any(first & ~hidden)
    after = fixed_sums(prot.system, hidden)
    five = {tuple(sorted(prot.system.node_var[(where[k], m)] for k in [
        ("41", "Bestelauto"), ("41", "Vrachtauto"), ("Diesel", "Bus"), ("Diesel", "Personenauto"),
        ("Diesel", "Motorfiets")])) for m in "PRV"}
    assert five <= set(after)
    prot.system.small_sums_memo = None
    assert _fixed_sums(prot.system, hidden, 4) == after


def dominated_registry(measures: tuple[str, ...] = ("P", "R", "V")):
    """FIVE's layout; (41, Bestelauto) holds one company's 10 vehicles of 6 passages each, the other four of
    FIVE one vehicle of an owner of its own with 2 passages: the five hold 14 vehicles of 5 owners (both
    frequency rules pass) and the company 60 of their 68 passages, with any second owner 62 (91%, over 85%)."""
    records = []
    for i, sector in enumerate(FIVE_SECTORS):
        for j, vehicle_type in enumerate(FIVE_TYPES):
            tag = f"{'s' if (i, j) in FIVE else 'g'}{i}{j}-"
            if (i, j) == (0, 0):
                records += [{"vehicle": f"{tag}{k}", "owner": "company", "n": 6, "r": 1, SBI: sector, VT: vehicle_type}
                            for k in range(10)]
            elif (i, j) in FIVE:
                records.append({"vehicle": f"{tag}0", "owner": f"{tag}o", "n": 2, "r": 1, SBI: sector,
                                VT: vehicle_type})
            else:
                records += [{"vehicle": f"{tag}{k}", "owner": f"{tag}-o{k % 10}", "n": 2, "r": 1, SBI: sector,
                             VT: vehicle_type} for k in range(20)]
    return build_registry(parts_from_records(pd.DataFrame(records), CYCLE_TABLES, measures=measures))


@pytest.mark.parametrize("measures", [("P", "R", "V"), ("P",)], ids=["all measures", "passages only"])
def test_one_company_dominating_five_cells_whose_sum_the_rows_fix_breaks_the_dominance_rule(measures):
    """Sets of five or more were searched for the frequency rules only: the five's 68 passages, 60 of them the
    company's, passed the audit though each rule judges a union as it judges a cell."""
    reg = dominated_registry(measures)
    five = [n for n in range(reg.size) if five_cell(reg, n) in FIVE]
    assert sum(reg.values("V")[n] for n in five) == 14 and sum(reg.values("P")[n] for n in five) == 68
    report = audit(five_planted(reg), SETTINGS)
    assert all(a.ok for a in report.attacks) and not report.ok
    assert five_problems(reg, report) == {"dominance"}
    protected = protect(reg, SETTINGS)
    assert audit(protected, SETTINGS).ok
    assert not any(five_fixed(protected, measure) for measure in measures)


def test_a_group_too_large_to_search_for_dominance_is_named_in_the_audit_summary(monkeypatch):
    """Above small_sums._DOMINANCE_CANDIDATES the search is not run: the five go unjudged, and the summary says
    how many linked counts were left unsearched."""
    monkeypatch.setattr(small_sums, "_DOMINANCE_CANDIDATES", 3)
    reg = dominated_registry()
    prot = five_planted(reg)
    report = audit(prot, SETTINGS)
    assert not five_problems(reg, report)
    assert summarize(prot, report)["dominance_unsearched"] > 3


def hydrogen_two_rows():
    """The hydrogen row of a fuel x type table and of a fuel x Euro class table: the bus (1 vehicle) and the
    trucks (2) are the same populations in both (each alone in its Euro class), the cars split by class in one."""
    groups = [("bus", 1, "Bus", "Euro 5"), ("truck", 2, "Vrachtauto", "Euro 4"), ("car6", 12, "Personenauto", "Euro 6"),
              ("carz", 12, "Personenauto", "Z"), ("diesel", 40, "Personenauto", "Euro 6")]
    records = pd.DataFrame([{"vehicle": f"{tag}{i}", "owner": f"{tag}o{i}", "n": 3, "r": 1, "voertuig_type": vt,
                             "brandstof": "Diesel" if tag == "diesel" else "Waterstof", "emissieklasse": euro}
                            for tag, count, vt, euro in groups for i in range(count)])
    tables = {"fuel x type": ("brandstof", "voertuig_type"), "fuel x euro": ("brandstof", "emissieklasse"),
              "fuel": ("brandstof",), "total": ()}
    return build_registry(parts_from_records(records, tables))


def test_each_row_that_discloses_a_union_gets_a_companion_in_the_same_round():
    """The hydrogen bus and trucks (3 vehicles) are all each table's hydrogen row hides: both rows give their sum
    away, and so does the zone total's row through each. Reported once, GM9044-ZE1's hydrogen bus and trucks took
    a round of their own for each such row."""
    reg = hydrogen_two_rows()
    small = [n for n in range(reg.size) if reg.stat("V")[n] < 10 and reg.depth(n) == 2]
    assert len(small) == 2  # one node each, shown in both tables
    reasons = [["planted"] if n in small else [] for n in range(reg.size)]
    prot = Protection(reg, reasons, np.isin(np.arange(reg.size), small), build_system(reg))
    attacker = Attacker(prot.system, prot.suppressed)
    unions = unsafe_unions(prot.system, attacker)
    # each table's hydrogen row, and the zone total's row through each table (the diesel cars published)
    assert [(sorted(nodes), problem) for nodes, problem, _, _ in unions] == [(sorted(small), "min_vehicles")] * 4
    picks = _for_unions(prot, unions, _Chooser(prot.system, attacker, _costs(reg), set()), set())
    assert sorted(reg.tables_of(n)[0] for n in picks) == ["fuel x euro", "fuel x type"]


def test_a_companion_in_a_tables_row_serves_the_total_row_through_it_as_well():
    """A table's row (variables 1-3) and the zone total's row through it (1-8) give away the same two hidden
    cells. Shortest row first: its companion (3) also lies in the total's row, which then takes none of its own
    (one more hidden cell in a row and it no longer fixes the sum); a row holding a cell taken earlier in the
    round takes none either. Longest row first, the total took 8 and the table's row 3."""
    from types import SimpleNamespace

    hidden, node = {1, 2}, np.arange(20) + 100  # variables 1-19 are nodes 101-119
    chooser = SimpleNamespace(  # a row's best cell: its published variable of the highest index, as a node
        attacker=SimpleNamespace(solved={}), system=SimpleNamespace(var_node=node),
        best=lambda cells, taken=frozenset(): int(node[max(c for c in cells if c not in hidden)]))
    prot = SimpleNamespace(union_reasons={})
    total, row = ([101, 102], "min_vehicles", 0, list(range(1, 9))), ([101, 102], "min_vehicles", 10, [1, 2, 3])
    assert _for_unions(prot, [total, row], chooser, set()) == {103}
    assert prot.union_reasons == {103: "union:min_vehicles"}
    assert _for_unions(SimpleNamespace(union_reasons={}), [total], chooser, {105}) == set()
    other = ([111, 112], "min_vehicles", 19, [11, 12, 13])
    assert _for_unions(SimpleNamespace(union_reasons={}), [total, row, other], chooser, set()) == {103, 113}
