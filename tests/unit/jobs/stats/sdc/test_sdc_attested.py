"""The audit takes the last linked round's attack only where the attacker's feasible set is that round's."""

from __future__ import annotations

import numpy as np

from anpr.disclosure import AuditSettings
from jobs.stats.sdc.cells import build_registry
from jobs.stats.sdc.microdata import parts_from_records
from jobs.stats.sdc.protect import audit, protect
from tests.unit.jobs.stats.sdc.test_audit import TABLES, random_records

EXACT = AuditSettings(exact=True)


def verdicts(report) -> dict[tuple[int, str, str], tuple[bool, float, float]]:
    return {(a.node, a.measure, a.about): (a.ok, a.lo, a.hi) for a in report.attacks}


def test_the_attested_attack_gives_the_exact_intervals_an_audit_from_scratch_gives():
    attested = 0
    for seed in range(6):
        prot = protect(build_registry(parts_from_records(random_records(seed, 60), TABLES)), EXACT)
        taken = audit(prot, EXACT)
        fresh = audit(prot, EXACT.model_copy(update={"independent": True}))
        assert fresh.fresh and fresh.ok and taken.ok
        if taken.fresh:
            continue  # the last round added companions: nothing attested, the audit attacked afresh
        attested += 1
        assert len(taken.attacks) == len(fresh.attacks) > 0
        # exact mode: both are the exact LPs' min and max over one feasible set
        mine, theirs = verdicts(taken), verdicts(fresh)
        assert mine.keys() == theirs.keys()
        for key, (ok, lo, hi) in theirs.items():
            assert mine[key][0] == ok
            assert abs(mine[key][1] - lo) < 1e-6 and (abs(mine[key][2] - hi) < 1e-6 or mine[key][2] == hi)
    assert attested >= 2  # the case under test happened


def test_a_pattern_changed_after_protection_is_attacked_afresh():
    prot = protect(build_registry(parts_from_records(random_records(3, 60), TABLES)), EXACT)
    assert prot.attested is not None and not audit(prot, EXACT).fresh
    secondary = np.flatnonzero(prot.suppressed & ~prot.primary)
    published = np.flatnonzero(~prot.suppressed)
    changed = prot.suppressed.copy()
    # publishing a secondary cell the attack may need, or hiding one more cell, changes the feasible set
    for node, value in ([(int(secondary[0]), False)] if len(secondary) else []) + [(int(published[0]), True)]:
        prot.suppressed[node] = value
        assert audit(prot, EXACT).fresh
        prot.suppressed[:] = changed
    assert audit(prot, AuditSettings()).fresh  # attested in exact mode, audited in the fast one: afresh
