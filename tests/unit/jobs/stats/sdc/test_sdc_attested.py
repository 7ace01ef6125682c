"""The audit takes the linked rounds' passes only where the attacker's feasible set holds each of their rounds'."""

from __future__ import annotations

import numpy as np
import pytest

from anpr.disclosure import AuditSettings
from jobs.stats.sdc.cells import build_registry
from jobs.stats.sdc.microdata import parts_from_records
from jobs.stats.sdc.protect import Attested, _costs, _rounds, audit, protect
from tests.unit.jobs.stats.sdc.test_audit import TABLES, random_records

EXACT = AuditSettings(exact=True)


def verdicts(report) -> dict[tuple[int, str, str], tuple[bool, float, float]]:
    return {(a.node, a.measure, a.about): (a.ok, a.lo, a.hi) for a in report.attacks}


def test_the_attested_attack_gives_the_exact_intervals_an_audit_from_scratch_gives(monkeypatch):
    """Every target's kept pass agrees with an attack from scratch on the final pattern: the same verdict
    and, where all passed in one round on the final feasible set, the same exact interval."""
    rounds: list[int] = []
    record = Attested.record
    monkeypatch.setattr(Attested, "record", lambda self, *a: (rounds.append(1), record(self, *a))[1])
    for seed in range(6):
        rounds.clear()
        prot = protect(build_registry(parts_from_records(random_records(seed, 60), TABLES)), EXACT)
        taken = audit(prot, EXACT)
        fresh = audit(prot, EXACT.model_copy(update={"independent": True}))
        assert fresh.fresh and fresh.ok and taken.ok and not taken.fresh  # every target's pass kept
        same_set = len(rounds) == 1 and np.array_equal(prot.suppressed, attested_pattern(prot))
        assert_inside(verdicts(taken), verdicts(fresh), exactly=same_set)


def test_passes_of_several_linked_rounds_are_kept_while_the_pattern_only_grew():
    """Targets that passed in different linked rounds (companions came between) keep their passes: the
    audit takes them all, each inside the fresh attack's interval; publishing a cell those rounds hid
    (not determined) makes it attack afresh."""
    from tests.unit.jobs.stats.sdc.test_sdc_unions import SETTINGS, planted

    prot = planted()
    patterns: list[int] = []
    record = Attested.record
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Attested, "record", lambda self, pattern, *a: (patterns.append(int(pattern.sum())),
                                                                   record(self, pattern, *a))[1])
        _rounds(prot, prot.system, SETTINGS, _costs(prot.registry), release=True)
    assert len(patterns) == 2 and patterns[0] < patterns[1]  # the case under test: two attacking rounds
    # the rounds attacked in the fast mode, whose intervals are inner bounds: compare with exact ones (two
    # fast attacks' inner bounds come from different points and need not nest)
    taken = audit(prot, SETTINGS)
    fresh = audit(prot, SETTINGS.model_copy(update={"independent": True, "exact": True}))
    assert taken.ok and fresh.ok and not taken.fresh
    assert_inside(verdicts(taken), verdicts(fresh), exactly=False)
    needed = np.flatnonzero(attested_pattern(prot) & ~prot.primary)
    prot.suppressed[int(needed[0])] = False
    assert audit(prot, SETTINGS).fresh


def attested_pattern(prot) -> np.ndarray:
    """The nodes the kept rounds hid, but those published again as determined."""
    expected = prot.attested.hidden.copy()
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
    """Hiding cells after the rounds attacked (the union rule's companions do) only widens intervals: the
    audit keeps the attested passes, each interval inside the one a fresh attack finds."""
    checked = 0
    for seed in (3, 4, 5):
        prot = protect(build_registry(parts_from_records(random_records(seed, 60), TABLES)), EXACT)
        published = np.flatnonzero(~prot.suppressed)
        prot.suppressed[published[:: max(1, len(published) // 3)]] = True
        taken, fresh = audit(prot, EXACT), audit(prot, EXACT.model_copy(update={"independent": True}))
        assert not taken.fresh and taken.ok and fresh.ok
        assert_inside(verdicts(taken), verdicts(fresh), exactly=False)
        checked += 1
    assert checked >= 2
