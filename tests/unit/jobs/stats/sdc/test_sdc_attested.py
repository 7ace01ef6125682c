"""The audit takes the first linked round's attack only where the attacker's feasible set holds that round's."""

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
        same_set = np.array_equal(prot.suppressed, attested_pattern(prot))
        assert_inside(verdicts(taken), verdicts(fresh), exactly=same_set)
    assert attested >= 2  # the case under test happened


def attested_pattern(prot) -> np.ndarray:
    expected = prot.attested.pattern.copy()
    expected[sorted(prot.attested.determined)] = False
    return expected


def assert_inside(mine, theirs, exactly: bool) -> None:
    """Same verdicts; each interval taken inside the fresh one (the same one if exactly)."""
    assert mine.keys() == theirs.keys()
    for key, (ok, lo, hi) in theirs.items():
        assert mine[key][0] == ok
        if exactly:
            assert abs(mine[key][1] - lo) < 1e-6 and (abs(mine[key][2] - hi) < 1e-6 or mine[key][2] == hi)
        else:
            assert mine[key][1] >= lo - 1e-6 and mine[key][2] <= hi + 1e-6


def test_a_pattern_that_published_an_attested_cell_is_attacked_afresh():
    prot = protect(build_registry(parts_from_records(random_records(3, 60), TABLES)), EXACT)
    assert prot.attested is not None and not audit(prot, EXACT).fresh
    secondary = np.flatnonzero(prot.suppressed & ~prot.primary & attested_pattern(prot))
    assert len(secondary)
    # publishing a secondary cell the attack may have needed shrinks the feasible set
    prot.suppressed[int(secondary[0])] = False
    assert audit(prot, EXACT).fresh
    prot.suppressed[int(secondary[0])] = True
    assert audit(prot, AuditSettings()).fresh  # attested in exact mode, audited in the fast one: afresh


def test_a_pattern_that_only_hid_more_keeps_the_attested_verdicts():
    """Hiding cells after the attested round (the union rule's companions do) only widens intervals: the
    audit keeps the attested passes, each interval inside the one a fresh attack finds."""
    checked = 0
    for seed in (3, 4, 5):
        prot = protect(build_registry(parts_from_records(random_records(seed, 60), TABLES)), EXACT)
        if prot.attested is None:
            continue
        published = np.flatnonzero(~prot.suppressed)
        prot.suppressed[published[:: max(1, len(published) // 3)]] = True
        taken, fresh = audit(prot, EXACT), audit(prot, EXACT.model_copy(update={"independent": True}))
        assert not taken.fresh and taken.ok and fresh.ok
        assert_inside(verdicts(taken), verdicts(fresh), exactly=False)
        checked += 1
    assert checked >= 2
