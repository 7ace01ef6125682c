"""protect_zone's own paths (jobs/stats/sdc/zone.py). A quiet hour that 4.12 and 4.1 cap (Registry.ceilings) can
leave its cells too narrow whatever is hidden: the zone is then protected without the ceilings, 4.12 withholds its
full cameras' percentages, and every later release of the month keeps them withheld. A zone whose cells are the
latest release's, with nothing changed since, shows that release's pattern again without protecting anew."""

from __future__ import annotations

import pandas as pd

from anpr.catalogue import CATALOGUE
from anpr.disclosure import load_disclosure
from jobs.stats.sdc.cells import Part
from jobs.stats.sdc.microdata import cells_from_records
from jobs.stats.sdc.revision import Earlier
from jobs.stats.sdc.zone import _pinned_by_ceilings, protect_zone
from jobs.stats.tables.cells import CellPart

TABLE = "t4_1_uur_camera"
PART = CellPart(TABLE, TABLE, ("camera_id", "uur"), (), ())
QUIET = (("uur",), ("03",))


def frames(extra: int = 0) -> list[tuple[CellPart, pd.DataFrame]]:
    """Hour 03: six cameras with one passage of one vehicle each (6 passages, a ceiling of at least 6 fits);
    hour 01: 120 vehicles of 40 owners over the same cameras, enough for every cell there."""
    records = [{"vehicle": f"q{c}", "owner": f"q{c}", "n": 1, "r": 1, "camera_id": f"c{c}", "uur": "03"}
               for c in range(6)]
    records += [{"vehicle": f"b{i}", "owner": f"o{i % 40}", "n": 2, "r": 1, "camera_id": f"c{i % 6}", "uur": "01"}
                for i in range(120 + extra)]
    return [(PART, cells_from_records(pd.DataFrame(records), PART.keys))]


def run(ceiling: float, earlier: list[Earlier] | None = None, extra: int = 0):  # noqa: ANN201 - a ZoneResult
    return protect_zone("GM0001", "Z1", frames(extra), CATALOGUE.tables, load_disclosure(), CATALOGUE.definitions,
                        earlier or [], ceilings={QUIET: ceiling})


def test_a_quiet_hour_the_ceiling_pins_gets_its_cameras_availability_withheld():
    # under a ceiling of 8 each of the six cells of 03 lies in [1, 3]: width 2 against a margin of 3, with every
    # other cell hidden too
    result = run(8.0)
    assert result.summary["availability_withheld"] is True
    cells = result.cells[TABLE]
    quiet = cells[cells["uur"] == "03"]
    assert len(quiet) == 6 and (quiet["status"] == "primary").all()
    assert result.summary["too_narrow"] == 0 and result.summary["exact_disclosures"] == 0


def test_a_ceiling_that_certainly_pins_a_primary_cell_is_seen_before_any_try():
    # six cells of one passage under 8: each in [1, 3], width 2 < 3; under 9 the width would be 3
    [(part, cells)] = frames()
    rules = load_disclosure().rules_for(TABLE)
    parts = [Part(TABLE, TABLE, part.keys, ("P", "V"), cells, rules)]
    assert _pinned_by_ceilings(parts, {QUIET: 8.0}) and not _pinned_by_ceilings(parts, {QUIET: 9.0})
    assert not _pinned_by_ceilings(parts, {}) and not _pinned_by_ceilings(parts, {(("uur",), ("05",)): 8.0})


def test_a_ceiling_that_leaves_room_keeps_availability_published():
    result = run(40.0)
    assert result.summary["availability_withheld"] is False


def test_a_month_that_withheld_availability_keeps_it_withheld():
    first = run(8.0)
    earlier = Earlier("r1", {TABLE: first.cells[TABLE]}, {}, summary={"availability_withheld": True})
    # one more vehicle, so protected anew: the ceiling would leave room now, but the first release withheld
    again = run(40.0, [earlier], extra=1)
    assert "repeated_from" not in again.summary and again.summary["availability_withheld"] is True


def test_a_zone_published_again_unchanged_shows_the_latest_releases_pattern_as_it_was():
    first = run(40.0)
    latest = Earlier("r1", first.cells, {TABLE: first.cells[TABLE].iloc[:0]}, summary=first.summary)
    again = run(40.0, [latest])
    assert again.summary == {**first.summary, "repeated_from": "r1"}
    assert again.seconds == {"protection": 0.0, "audit": 0.0}
    pd.testing.assert_frame_equal(again.cells[TABLE], first.cells[TABLE], check_exact=True)
    # one more vehicle: other cells, so protected anew (against r1, whose pattern it carries)
    grown = run(40.0, [latest], extra=1)
    assert "repeated_from" not in grown.summary and grown.seconds["protection"] > 0
    # a release that recorded no summary for the zone is not repeated either
    assert "repeated_from" not in run(40.0, [Earlier("r0", first.cells, {})]).summary
