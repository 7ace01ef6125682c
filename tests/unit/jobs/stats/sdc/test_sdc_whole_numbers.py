"""Counts are whole numbers, and an attacker who knows it rounds an LP's interval inward: the audit does too."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

from anpr.disclosure import AuditSettings, Rules
from jobs.stats.sdc.audit import Attack
from jobs.stats.sdc.cells import Part, build_registry
from jobs.stats.sdc.microdata import cells_from_records
from jobs.stats.sdc.protect import Protection, _targets, audit, protect
from jobs.stats.sdc.system import System, unknown_mask

SETTINGS = AuditSettings()
TB, SBI, SIZE, VT = "type_bezoeker", "sbi_groep_code", "bedrijfsgrootte", "voertuig_type"
# name -> (key columns, measures published)
TABLES = {"4.6": ((TB, SBI), "V"), "4.7": ((TB, VT, SIZE), "V"), "4.8a": ((SBI, VT), "PRV"),
          "4.8d": ((SIZE, VT), "PRV"), "sector": ((SBI,), "PRV"), "size": ((SIZE,), "PRV"), "type": ((VT,), "PRV"),
          "total": ((), "PRV")}
# A fifth review's zone (56 vehicles): per group its owners, characteristics, passages and trips per vehicle.
# Its 13 Incidenteel trucks of sector 47 (2 owners, 66 trips) had the LP interval [61.5, 75] for their trips
# (the half from at least 2 passages per Incidenteel vehicle): 13.5 wide against a margin of 13.2, but
# [62, 75] in whole numbers, 13 wide.
GROUPS = [
    (5, "Eenmalig", "47", "Midden", "Bestelauto", [3, 2, 2, 2, 1], [2, 1, 0, 0, 1]),
    (4, "Eenmalig", "49", "Groot", "Bestelauto", [1, 1, 1, 1], [0, 1, 1, 1]),
    (1, "Dagelijks", "41", "Klein", "Vrachtauto", [19, 17, 22, 19, 18, 15, 16, 21], [2, 5, 10, 4, 4, 12, 2, 14]),
    (5, "Incidenteel", "49", "Groot", "Bus", [3, 10, 11, 3, 20, 7], [2, 3, 0, 3, 8, 6]),
    (1, "Incidenteel", "47", "Midden", "Vrachtauto", [7, 12, 5], [5, 1, 3]),
    (2, "Eenmalig", "47", "Midden", "Bus", [3, 3, 2], [0, 0, 1]),
    (3, "Incidenteel", "41", "Klein", "Vrachtauto", [13, 4, 9], [13, 1, 3]),
    (1, "Eenmalig", "47", "Midden", "Bus", [2, 2, 2, 1], [0, 1, 2, 1]),
    (3, "Dagelijks", "41", "Klein", "Vrachtauto", [15, 22, 22, 17, 18, 15, 19, 18, 22, 19],
     [12, 7, 7, 17, 16, 15, 14, 15, 1, 1]),
    (1, "Incidenteel", "47", "Groot", "Vrachtauto", [2, 9, 12, 20, 3, 7, 13, 5, 2, 8],
     [1, 3, 12, 12, 1, 7, 8, 4, 2, 7]),
]


def review_zone() -> list[Part]:
    frame = pd.DataFrame([{"vehicle": f"g{g}v{i}", "owner": f"g{g}o{i % owners}", "n": n, "r": r, TB: tb, SBI: sbi,
                           SIZE: size, VT: vt}
                          for g, (owners, tb, sbi, size, vt, ns, rs) in enumerate(GROUPS, start=1)
                          for i, (n, r) in enumerate(zip(ns, rs, strict=True))])
    return [Part(name, name, keys, tuple(measures), cells_from_records(frame, keys), Rules())
            for name, (keys, measures) in TABLES.items()]


def whole_interval(system: System, unknown: np.ndarray, var: int) -> tuple[float, float]:
    """The attacker's min and max of var over whole-numbered solutions (a MILP, HiGHS through scipy)."""
    free, known = np.flatnonzero(unknown), ~unknown
    constraints = [LinearConstraint(system.eq[:, free], *(2 * [-(system.eq[:, known] @ system.base[known])]))]
    if system.ub.shape[0]:
        constraints.append(LinearConstraint(system.ub[:, free], -np.inf, -(system.ub[:, known] @ system.base[known])))
    out = []
    for sign in (1.0, -1.0):
        cost = np.zeros(len(free))
        cost[np.searchsorted(free, var)] = sign
        found = milp(cost, constraints=constraints, integrality=np.ones(len(free)),
                     bounds=Bounds(system.lower[free], np.full(len(free), 1e6)))
        assert found.status == 0
        out.append(sign * found.fun)
    return out[0], out[1]


def test_an_lp_interval_is_rounded_inward_before_its_margin():
    half = Attack(node=0, measure="R", value=66, margin=13.2, lo=61.5, hi=75.0, method="lp")
    assert half.width == 13 and not half.ok
    assert Attack(node=0, measure="R", value=66, margin=13.2, lo=61.0, hi=75.0, method="lp").ok


def test_the_audit_fails_the_review_zones_trips_on_whole_numbers():
    """The review's pattern: protection's, with the sector 47 and truck totals published again."""
    prot = protect(build_registry(review_zone()), SETTINGS)
    reg = prot.registry
    pattern = prot.suppressed & np.array([reg.key[n] not in {("47",), ("Vrachtauto",)} for n in range(reg.size)])
    report = audit(Protection(reg, prot.reasons, pattern, prot.system), SETTINGS)
    [trips] = [a for a in report.attacks if a.measure == "R" and a.value == 66]
    assert (trips.lo, trips.hi, trips.width, trips.ok) == (61.5, 75.0, 13.0, False)
    assert not report.ok


def test_protection_holds_against_an_attacker_who_knows_counts_are_whole():
    prot = protect(build_registry(review_zone()), SETTINGS)
    assert audit(prot, SETTINGS).ok
    system = prot.system
    unknown = unknown_mask(system, prot.suppressed)
    narrow = []
    for var in _targets(system, prot.reasons):
        if unknown[var]:
            lo, hi = whole_interval(system, unknown, var)
            if hi - lo < system.subject(var).rules.margin(float(system.base[var])) - 1e-6:
                narrow.append((system.var_measure[var], lo, hi))
    assert narrow == []
