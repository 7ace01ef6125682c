"""The reference dashboard in headless Chromium, over a real API process serving a sample release."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from playwright.sync_api import Page

from anpr.catalogue import TABLES
from anpr.delta_reader import DeltaReader
from anpr.lake import Lake
from anpr.settings import Settings
from api.releases import ReleaseStore
from api.vendor.contracts import parse_contracts
from api.vendor.main import create_app
from api.vendor.sample import publish_sample, synthetic_municipality
from cli.serve import in_thread, server_config
from tests.browser.tab import Tab

pytestmark = [pytest.mark.browser, pytest.mark.integration]
KEY = "key-dashboard-0123456789"
SHOTS = Path(os.environ.get("ANPR_SCREENSHOT_DIR", Path(__file__).parent / "screenshots"))
ZONE = "344001"  # the demo zone's NDW code, its published zoneId (zoneAanduiding GM0344-ZE1)
# What a chart shows, read from Chart.js itself: per figure (a panel of small multiples, else null) the
# values drawn as [panel, x label, series, value] and the × marks of secret cells as [panel, x, series];
# `zeroed` counts secret cells whose own dataset draws a value there (a zero or an interpolation).
CHARTS_JS = """(root => [...root.querySelectorAll('canvas')].map(canvas => {
  const chart = Chart.getChart(canvas), labels = chart.data.labels;
  const panel = canvas.closest('figure[data-panel]')?.dataset.panel ?? null;
  const values = chart.data.datasets.filter(d => !d.secret), marks = chart.data.datasets.filter(d => d.secret);
  const horizontal = chart.options.indexAxis === 'y';
  const secret = marks.flatMap(d => d.data.map(p => [panel, horizontal ? p.y : p.x, p.series]));
  return {panel, labels, secret,
    points: values.flatMap(d => d.data.map((v, i) => v === null ? null : [panel, labels[i], d.label, v]))
      .filter(p => p),
    zeroed: secret.filter(([, x, series]) => values.some(d => (d.label === series || values.length === 1)
      && d.data[labels.indexOf(x)] !== null)).length};
}))"""
VIEWS_JS = """[...document.querySelectorAll('section.view[data-table]')].map(s => {
  const charts = (CHARTS)(s);
  return {view: s.dataset.view, table: s.dataset.table, state: s.dataset.state,
    note: s.querySelector('.note').textContent, cells: +s.dataset.cells, suppressed: +s.dataset.suppressed,
    marks: s.querySelectorAll('td.suppressed, .kpi b.secret').length + charts.reduce((n, c) => n + c.secret.length, 0),
    notCross: [...s.querySelectorAll('td.suppressed')].filter(td => td.textContent.trim() !== '×').length
      + charts.reduce((n, c) => n + c.zeroed, 0),
    picks: Object.fromEntries([...s.querySelectorAll('select[data-pick]')].map(x => [x.dataset.pick, x.value]))};
})""".replace("CHARTS", CHARTS_JS)

TREND_JS = """[...document.querySelectorAll('section.trend figure')].map(f => {
  const [chart] = (CHARTS)(f);
  return {kenmerk: f.dataset.kenmerk, points: chart.points.map(([, month, series, value]) => [month, series, value]),
    secret: chart.secret.map(([, month, series]) => [month, series]), months: chart.labels, zeroed: chart.zeroed};
})""".replace("CHARTS", CHARTS_JS)


# The panels of tables 5.2-5.4 (issue 14) and the fields on their charts: (a chart per value of, x, series).
PANELS = {"t5_2_ontheffing": ("dagType", "typeVoertuig", "typeOntheffing"),
          "t5_3_naleving": (None, "weekVanMaand", "tijdVak"),
          "t5_4_toegang_tot": ("typeVoertuig", "zeToegangTot", "emissieklasse")}


@contextmanager
def serve(app) -> Iterator[str]:  # noqa: ANN001 - a FastAPI app
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        with in_thread(server_config(app, None, lifespan="on"), sockets=[sock]):
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture(scope="module")
def served(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    lake = Lake(str(root / "lake"), spark)
    places = [synthetic_municipality("GM0344", "Utrecht", 52.09, 5.12, cameras=8), synthetic_municipality()]
    september = publish_sample(spark, lake, "2026-09", places, seed=11)
    october = publish_sample(spark, lake, "2026-10", places, seed=12)
    settings = Settings(data_dir=root / "data", vendor_keys={"esri": KEY})
    contracts = parse_contracts('[layers.open]\nmunicipalities = ["GM0344"]\nround_to = 10\n'
                                '[vendors.esri]\nmunicipalities = ["GM0344", "GM0599"]\n'
                                'layer = "municipality"\n')  # every table: a view for each
    app = create_app(settings, ReleaseStore(DeltaReader(str(root / "lake"))), contracts=contracts,
                     municipalities=places)
    with serve(app) as base:
        yield SimpleNamespace(base=base, september=september, october=october)


def api_rows(base: str, table: str, key: str | None = KEY, **params: object) -> list[dict]:
    answer = httpx.get(f"{base}/v1/tables/{table}/rows", headers={"X-API-Key": key} if key else {},
                       params={**params, "limit": 10_000}, timeout=30)
    answer.raise_for_status()
    assert answer.json()["nextCursor"] is None
    return answer.json()["rows"]


def views_of(page: Page) -> dict[str, dict]:
    return {v["table"]: v for v in page.evaluate(VIEWS_JS)}


def choose(page: Page, table: str, pick: str, value: str) -> None:
    page.select_option(f'section[data-table="{table}"] select[data-pick="{pick}"]', value)


def test_dashboard_draws_every_view_from_the_api(served, tab: Tab):
    release = served.september.release_id
    page = tab.page
    page.goto(f"{served.base}/dashboard/?key={KEY}")
    tab.wait_for("document.getElementById('month').options.length === 2")
    assert "key" not in page.evaluate("location.href")  # the key leaves the address bar at once
    assert page.evaluate("document.getElementById('month').value") == served.october.release_id
    page.select_option("#zone", ZONE)
    page.select_option("#month", release)
    page.click("#show")
    tab.wait_for("document.body.dataset.state === 'ready'", timeout=90)
    views = views_of(page)

    assert set(views) == set(TABLES)
    for table, view in views.items():
        assert view["state"] == "ready" and view["cells"] > 0, (table, view["note"])
        assert view["notCross"] == 0  # a suppressed cell shows the secret sign, never a number
        assert view["marks"] >= view["suppressed"]  # each secret cell carries a visible mark
    assert sum(v["suppressed"] for v in views.values()) > 0

    # Where a view shows a whole table, it shows exactly what the API publishes, secret cells included.
    whole = [t for t, v in views.items() if set(v["picks"]) <= {"measure"} and TABLES[t].kind == "cells"]
    assert len(whole) >= 4
    for table in whole:
        rows = api_rows(served.base, table, zoneId=ZONE, release=release)
        measure = views[table]["picks"].get("measure", TABLES[table].measures[0])
        assert (views[table]["cells"], views[table]["suppressed"]) == (
            len(rows), sum(r[measure] is None for r in rows)), table
    hourly = views["t4_1_uur_camera"]
    for weekday in (hourly["picks"]["weekDag"], "7"):
        choose(page, "t4_1_uur_camera", "weekDag", weekday)
        shown = views_of(page)["t4_1_uur_camera"]
        rows = api_rows(served.base, "t4_1_uur_camera", zoneId=ZONE, release=release, weekDag=weekday,
                        voertuigType=hourly["picks"]["voertuigType"])
        assert (shown["cells"], shown["suppressed"]) == (len(rows), sum(r["aantalPassages"] is None for r in rows))
        assert shown["notCross"] == 0 and shown["marks"] == shown["suppressed"]
    cameras = api_rows(served.base, "t4_12_camera", zoneId=ZONE, release=release)
    assert views["t4_12_camera"]["cells"] == len({r["cameraId"] for r in cameras})
    # The map (Leaflet, no tiles): the zone's polygon and a dot per camera, nothing loaded from elsewhere.
    on_map = page.evaluate("""(m => [m.querySelectorAll('path.zone').length, m.querySelectorAll('path.camera').length,
        m.querySelectorAll('img').length])(document.querySelector('section[data-table="t4_12_camera"] .map'))""")
    assert on_map == [1, len({r["cameraId"] for r in cameras}), 0]
    assert tab.errors == []

    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(SHOTS / "dashboard.png")
    for table, view in views.items():
        tab.screenshot(SHOTS / f"view-{view['view']}.png", f'section[data-table="{table}"]')
    (SHOTS / "views.json").write_text(json.dumps(list(views.values()), indent=1))
    assert (SHOTS / "dashboard.png").stat().st_size > 50_000

    page.goto(f"{served.base}/dashboard/#key=wrong-key")
    status = tab.wait_for("document.getElementById('status').className === 'error' && "
                          "document.getElementById('status').textContent")
    assert "401" in status


def charts_of(page: Page, table: str) -> tuple[list[tuple], list[tuple], int]:
    """The values a view's charts draw, their × marks and the secret cells drawn as a value."""
    charts = page.evaluate(f"({CHARTS_JS})(document.querySelector('section[data-table=\"{table}\"]'))")
    return ([tuple(p) for c in charts for p in c["points"]], [tuple(p) for c in charts for p in c["secret"]],
            sum(c["zeroed"] for c in charts))


def test_the_exemption_non_compliance_and_ze_impact_panels_show_the_apis_rows(served, tab: Tab):
    """Tables 5.2-5.4 on charts: every value drawn is the API's, every secret cell a ×, never a 0 or a gap
    without a mark; for each measure, and for the non-compliance panel also beyond its default Verboden."""
    release = served.october.release_id
    page = tab.page
    page.goto(f"{served.base}/dashboard/?key={KEY}&zone={ZONE}")
    tab.wait_for("document.body.dataset.state === 'ready'", timeout=90)
    assert page.evaluate("document.getElementById('month').value") == release
    assert views_of(page)["t5_3_naleving"]["picks"]["zeToegang"] == "Verboden"  # non-compliance first
    checked, secrets = 0, 0
    choices = [(t, "measure", m) for t in PANELS for m in TABLES[t].measures]
    choices += [("t5_3_naleving", "zeToegang", "Toegestaan"), ("t5_3_naleving", "zeToegang", "Verboden")]
    for table, pick, value in choices:
        choose(page, table, pick, value)
        view = views_of(page)[table]
        assert view["state"] == "ready" and view["picks"][pick] == value
        measure = view["picks"]["measure"]
        fixed = {f: v for f, v in view["picks"].items() if f != "measure"}
        rows = [r for r in api_rows(served.base, table, zoneId=ZONE, release=release)
                if all(str(r[f]) == v for f, v in fixed.items())]
        panel, x, series = PANELS[table]

        def cell(r: dict) -> tuple:
            return None if panel is None else str(r[panel]), str(r[x]), str(r[series])  # noqa: B023

        points, marks, zeroed = charts_of(page, table)
        assert len(points) == len(set(points)) and len(marks) == len(set(marks)), table
        assert set(points) == {(*cell(r), r[measure]) for r in rows if r[measure] is not None}, (table, measure)
        assert set(marks) == {cell(r) for r in rows if r[measure] is None}, (table, measure)
        assert zeroed == 0 and view["notCross"] == 0
        assert (view["cells"], view["suppressed"]) == (len(rows), len(marks))
        checked += len(points)
        secrets += len(marks)
    assert checked > 0 and secrets > 0  # the sample suppresses the rare cells
    assert tab.errors == []
    for table in PANELS:
        tab.screenshot(SHOTS / f"view-{table}.png", f'section[data-table="{table}"]')


def test_the_fleet_chart_shows_each_months_emission_classes_and_fuels(served, tab: Tab):
    """Every point is the month's value in its release, read back through /rows; secret months are ×."""
    page = tab.page
    page.goto(f"{served.base}/dashboard/?key={KEY}&zone={ZONE}")
    tab.wait_for("document.body.dataset.state === 'ready'", timeout=90)
    trend = page.evaluate("document.querySelector('section.trend').dataset.state")
    figures = {f["kenmerk"]: f for f in page.evaluate(TREND_JS)}
    assert trend == "ready" and set(figures) == {"emissieklasse", "typeBrandstof"}
    for kenmerk, figure in figures.items():
        points, secret = set(), set()
        for release in (served.september, served.october):
            for r in api_rows(served.base, "t4_9_overzicht", zoneId=ZONE, release=release.release_id,
                              kenmerk=kenmerk):
                value = r["aantalUniekeVoertuigen"]
                if value is None:
                    secret.add((release.month, r["waarde"]))
                else:
                    points.add((release.month, r["waarde"], value))
        assert figure["months"] == ["2026-09", "2026-10"]
        assert {tuple(p) for p in figure["points"]} == points and len(figure["points"]) == len(points)
        assert {tuple(p) for p in figure["secret"]} == secret, kenmerk
        assert figure["zeroed"] == 0  # a secret month is a gap with ×, not a point
        assert {m for m, _, _ in points} == {"2026-09", "2026-10"}
    assert sum(len(f["secret"]) for f in figures.values()) > 0  # the sample's rarest value is secret
    assert tab.errors == []
    tab.screenshot(SHOTS / "view-trend.png", "section.trend")


def test_without_a_key_the_dashboard_shows_the_open_layer_only_with_rounded_counts(served, tab: Tab):
    """No key given: the open layer's tables, each view and chart point as the API serves it without one."""
    open_tables = {t for t, spec in TABLES.items() if spec.access == "open"}
    page = tab.page
    page.goto(f"{served.base}/dashboard/")
    page.click("#show")
    tab.wait_for("document.body.dataset.state === 'ready'", timeout=90)
    zone, release = page.evaluate("[document.getElementById('zone').value, "
                                  "document.getElementById('month').value]")
    views = views_of(page)
    assert set(views) == open_tables and release == served.october.release_id
    assert set(PANELS).isdisjoint(views) and set(PANELS).isdisjoint(open_tables)  # 5.2-5.4 need a key
    for table, view in views.items():
        rows = api_rows(served.base, table, key=None, zoneId=zone, release=release)
        measure = view["picks"].get("measure", TABLES[table].measures[0])
        assert view["state"] == "ready" and view["notCross"] == 0, table
        if set(view["picks"]) <= {"measure"}:
            assert (view["cells"], view["suppressed"]) == (len(rows), sum(r[measure] is None for r in rows))
    for figure in page.evaluate(TREND_JS):
        served_points = {(release_.month, r["waarde"], r["aantalUniekeVoertuigen"])
                         for release_ in (served.september, served.october)
                         for r in api_rows(served.base, "t4_9_overzicht", key=None, zoneId=zone,
                                           release=release_.release_id, kenmerk=figure["kenmerk"])
                         if r["aantalUniekeVoertuigen"] is not None}
        assert {tuple(p) for p in figure["points"]} == served_points
        assert all(value % 10 == 0 for _, _, value in figure["points"])
    assert tab.errors == []
