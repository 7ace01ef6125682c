"""The attack: planted disclosures are found, protected tables are accepted, cheap proofs agree with LPs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anpr.disclosure import AuditSettings
from jobs.stats.sdc.audit import Attacker
from jobs.stats.sdc.cells import build_registry, primary_reasons
from jobs.stats.sdc.microdata import parts_from_records
from jobs.stats.sdc.protect import Protection, audit, protect
from jobs.stats.sdc.system import build_system

SETTINGS = AuditSettings()
TABLES = {"type_fuel": ["voertuig_type", "brandstof"], "type": ["voertuig_type"], "fuel": ["brandstof"],
          "total": [], "type_hour": ["voertuig_type", "uur"]}
KINDS, FUELS, HOURS = ["Bestelauto", "Vrachtauto", "Bus"], ["Diesel", "Benzine", "LPG"], [7, 8, 9]


def random_records(seed: int, vehicles: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(vehicles):
        kind = KINDS[rng.choice(3, p=[0.6, 0.3, 0.1])]
        fuel = FUELS[rng.choice(3, p=[0.5, 0.35, 0.15])]
        owner = f"o{rng.integers(vehicles // 2)}" if rng.random() < 0.5 else f"v{v}"
        for hour in rng.choice(HOURS, int(rng.integers(1, 3)), replace=False):
            rows.append({"vehicle": f"v{v}", "owner": owner, "voertuig_type": kind, "brandstof": fuel,
                         "uur": int(hour), "n": int(rng.integers(1, 4)), "r": int(rng.integers(0, 2))})
    return pd.DataFrame(rows)


def pattern(recs: pd.DataFrame, suppress: set[tuple]) -> Protection:
    """A hand-made suppression pattern: exactly the cells (by key) in `suppress`, all treated as primary."""
    reg = build_registry(parts_from_records(recs, TABLES))
    hidden = np.array([reg.key[n] in suppress and len(reg.level[n]) == 2 for n in range(reg.size)])
    reasons = [["planted"] if h else [] for h in hidden]
    return Protection(reg, reasons, hidden, build_system(reg))


def grid(cells: dict[tuple[str, str], int]) -> pd.DataFrame:
    """cells: (voertuig_type, brandstof) -> value; cell keys elsewhere are (brandstof, voertuig_type)."""
    # One vehicle with one passage and one trip per unit: P, R and V of a cell are the value.
    rows = [{"vehicle": f"{k}{f}{i}", "owner": f"{k}{f}{i}", "voertuig_type": k, "brandstof": f, "uur": 8, "n": 1,
             "r": 1} for (k, f), n in cells.items() for i in range(n)]
    return pd.DataFrame(rows)


BASE = {(k, f): 20 + 3 * i + j for i, k in enumerate(KINDS) for j, f in enumerate(FUELS)}


def failures(prot: Protection) -> dict[tuple, set[str]]:
    report = audit(prot, SETTINGS)
    out: dict[tuple, set[str]] = {}
    for a in report.failures:
        out.setdefault(prot.registry.key[a.node], set()).add(a.measure)
    return out


def test_a_single_suppressed_cell_in_a_row_is_recovered_from_the_margin():
    prot = pattern(grid(BASE), {("Diesel", "Bestelauto")})
    assert failures(prot) == {("Diesel", "Bestelauto"): {"P", "R", "V"}}
    attack = next(a for a in audit(prot, SETTINGS).attacks if a.measure == "P")
    assert attack.exact and attack.method == "propagation"


def test_a_rectangle_of_suppressions_protects_large_cells():
    rect = {("Diesel", "Bestelauto"), ("Benzine", "Bestelauto"), ("Diesel", "Vrachtauto"), ("Benzine", "Vrachtauto")}
    assert failures(pattern(grid(BASE), rect)) == {}


def test_cells_pinned_by_their_lower_bounds_are_exact_disclosures_found_by_lp():
    cells = dict(BASE) | {("Bus", "Diesel"): 1, ("Bus", "Benzine"): 1, ("Vrachtauto", "Diesel"): 1,
                          ("Vrachtauto", "Benzine"): 1}
    # Each row and column holds two suppressed cells, but the Bus row total is 2: both must be 1.
    rect = {("Diesel", "Bus"), ("Benzine", "Bus"), ("Diesel", "Vrachtauto"), ("Benzine", "Vrachtauto")}
    report = audit(pattern(grid(cells), rect), SETTINGS)
    exact = {a.measure for a in report.attacks if a.exact and a.method == "lp"}
    # passages and vehicles are at least 1 in a cell that exists; trips <= passages then pins the trips
    # too (alone, trips could be 0: [0, 2])
    assert exact == {"P", "R", "V"}


def test_an_interval_narrower_than_the_margin_is_refused():
    cells = dict(BASE) | {("Bus", "Diesel"): 1, ("Bus", "Benzine"): 3, ("Vrachtauto", "Diesel"): 40,
                          ("Vrachtauto", "Benzine"): 40}
    rect = {("Diesel", "Bus"), ("Benzine", "Bus"), ("Diesel", "Vrachtauto"), ("Benzine", "Vrachtauto")}
    report = audit(pattern(grid(cells), rect), SETTINGS)
    narrow = [a for a in report.failures if a.measure == "P"]
    assert narrow and all(not a.exact and a.width < a.margin for a in narrow)  # [1, 3]: width 2 < 3


def test_unique_vehicles_are_not_additive_over_hours():
    recs = grid(BASE)
    twice = recs[recs["voertuig_type"] == "Bus"].assign(uur=9)
    recs = pd.concat([recs, twice], ignore_index=True)  # the Bus vehicles come back at nine
    reg = build_registry(parts_from_records(recs, {"type_hour": ["voertuig_type", "uur"], "type": ["voertuig_type"]}))
    node = next(n for n in range(reg.size) if reg.key[n] == (8, "Bus"))
    suppressed = np.zeros(reg.size, dtype=bool)
    suppressed[node] = True
    system = build_system(reg)
    attacker = Attacker(system, suppressed)
    passages, vehicles = attacker.attack(system.var_of(node, "P")), attacker.attack(system.var_of(node, "V"))
    assert passages.exact  # passages add up: the Bus total minus nine o'clock
    assert not vehicles.exact and vehicles.hi >= reg.stat("V")[node]  # vehicles may be in both hours


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), vehicles=st.integers(20, 120))
def test_protection_passes_audit_and_planted_disclosures_are_found(seed, vehicles):
    recs = random_records(seed, vehicles)
    prot = protect(build_registry(parts_from_records(recs, TABLES)), SETTINGS)
    reg = prot.registry
    shown = ~prot.suppressed
    assert (reg.stat("V")[shown] >= 10).all() and (reg.stat("O")[shown] >= 3).all()
    assert audit(prot, SETTINGS).ok
    # Plant: publish every other cell of one row whose total is published; the primary cell left is exposed.
    system = prot.system
    for margin, cells in system.margins:
        node_margin = system.var_node[margin]
        if system.var_measure[margin] != "P":
            continue
        targets = [c for c in cells if system.var_node[c] >= 0 and prot.reasons[system.var_node[c]]]
        if node_margin < 0 or prot.suppressed[node_margin] or not targets:
            continue
        planted = prot.suppressed.copy()
        victim = system.var_node[targets[0]]
        for c in cells:
            planted[system.var_node[c]] = system.var_node[c] == victim
        found = audit(Protection(reg, prot.reasons, planted, prot.system), SETTINGS)
        assert any(a.node == victim and a.exact for a in found.failures)
        break


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_cheap_proofs_never_claim_more_than_the_exact_lp(seed):
    recs = random_records(seed, 80)
    reg = build_registry(parts_from_records(recs, TABLES))
    suppressed = np.array([bool(r) for r in primary_reasons(reg)])
    system = build_system(reg)
    targets = [v for v, n in enumerate(system.var_node) if n >= 0 and suppressed[n]]
    cheap = Attacker(system, suppressed).attack_all(targets)
    exact = Attacker(system, suppressed, exact=True).attack_all(targets)
    for c, e in zip(cheap, exact, strict=True):
        assert c.lo >= e.lo - 1e-6 and c.hi <= e.hi + 1e-6
        assert c.ok == e.ok


def test_optima_that_meet_their_rows_only_within_the_solver_tolerance_do_not_stop_the_attack(monkeypatch):
    """HiGHS returns optima that meet each row within 1e-7. Held as the other measures' point of a smaller
    LP, hundreds of such misses in one margin made that LP infeasible and the whole release failed
    ("the true values must be feasible"), first seen on a 40,000-passage zone of the stats benchmark.
    Every optimum here is off by up to 1e-7 on purpose; the verdicts must still be the exact attack's."""
    import jobs.stats.sdc.lp as lp
    from tests.unit.jobs.stats.sdc.sdc_zone import zone_parts, zone_records

    reg = build_registry(zone_parts(zone_records(25, seed=3)))
    suppressed = np.array([bool(r) for r in primary_reasons(reg)])
    system = build_system(reg)
    targets = [v for v, n in enumerate(system.var_node) if n >= 0 and suppressed[n] and system.base[v] > 0]
    exact = Attacker(system, suppressed, exact=True).attack_all(targets)
    extreme = lp.ComponentLP.extreme

    def noisy(self: lp.ComponentLP, col: int, sign: float) -> float:
        value = extreme(self, col, sign)
        self.points = [p - 1e-7 * (p > 0.5) for p in self.points]
        return value

    monkeypatch.setattr(lp.ComponentLP, "extreme", noisy)
    cheap = Attacker(system, suppressed).attack_all(targets)
    assert [a.ok for a in cheap] == [a.ok for a in exact]
    assert sum(not a.ok for a in exact) > 0 and sum(a.ok for a in exact) > 0


def test_the_base_point_holds_the_unpublished_counts_as_high_as_the_rows_allow():
    """The attack's cheap proofs move from the base point, so its unpublished totals are as large as the rows
    allow (room for the cells below them). Margins that only another measure's links name sit in no row of a
    one-measure system; maximised too, they made that LP unbounded and the base fell back to any vertex (on a
    national-volume zone after 10 s of HiGHS)."""
    from scipy.optimize import linprog

    from tests.unit.jobs.stats.sdc.sdc_zone import zone_parts, zone_records

    reg = build_registry(zone_parts(zone_records(60)))
    for measures in (("P",), ("V",), ("P", "R", "V")):
        system = build_system(reg, measures)
        in_rows = np.zeros(system.size, dtype=bool)
        in_rows[system.eq.indices] = in_rows[system.ub.indices] = True
        free = np.array([n < 0 for n in system.var_node]) & in_rows
        assert (~in_rows).any() and (system.base[~in_rows] == 0).all()
        held = np.where(free, 0.0, system.base)
        best = linprog(-np.ones(int(free.sum())), A_eq=system.eq[:, free], b_eq=-(system.eq @ held),
                       A_ub=system.ub[:, free] if system.ub.shape[0] else None,
                       b_ub=-(system.ub @ held) if system.ub.shape[0] else None, bounds=(0, None), method="highs")
        assert best.status == 0
        assert system.base[free].sum() == pytest.approx(-best.fun, rel=1e-9)
        assert np.abs(system.eq @ system.base).max() < 1e-6
