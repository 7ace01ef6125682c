"""The reference dashboard in headless Chromium, over a real API process serving a sample release."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import uvicorn

from anpr.catalogue import TABLES
from anpr.delta_reader import DeltaReader
from anpr.lake import Lake
from anpr.settings import Settings
from api.releases import ReleaseStore
from api.vendor.contracts import parse_contracts
from api.vendor.main import create_app
from api.vendor.sample import publish_sample, synthetic_municipality
from tests.browser.cdp import CHROMIUM, Chromium

pytestmark = [pytest.mark.browser, pytest.mark.integration,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason=f"{CHROMIUM} is absent: apt-get install -y chromium")]
KEY = "key-dashboard-0123456789"
SHOTS = Path(os.environ.get("ANPR_SCREENSHOT_DIR", Path(__file__).parent / "screenshots"))
ZONE = "GM0344-ZE1"
VIEWS_JS = """[...document.querySelectorAll('section.view[data-table]')].map(s => ({
  view: s.dataset.view, table: s.dataset.table, state: s.dataset.state, note: s.querySelector('.note').textContent,
  cells: +s.dataset.cells, suppressed: +s.dataset.suppressed,
  marks: s.querySelectorAll('td.suppressed, text.secret, rect.secret').length,
  notCross: [...s.querySelectorAll('td.suppressed')].filter(td => td.textContent.trim() !== '×').length,
  picks: Object.fromEntries([...s.querySelectorAll('select[data-pick]')].map(x => [x.dataset.pick, x.value]))}))"""

TREND_JS = """[...document.querySelectorAll('section.trend figure')].map(f => ({kenmerk: f.dataset.kenmerk,
  points: [...f.querySelectorAll('circle.point')].map(c => [c.dataset.month, c.dataset.series, +c.dataset.value]),
  secret: [...f.querySelectorAll('text.secret')].map(t => [t.dataset.month, t.dataset.series]),
  months: [...f.querySelectorAll('text.month, text.missing')].map(t => t.dataset.month)}))"""


@contextmanager
def serve(app) -> Iterator[str]:  # noqa: ANN001 - a FastAPI app
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
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


def test_dashboard_draws_every_view_from_the_api(served):
    release = served.september.release_id
    with Chromium() as browser:
        browser.navigate(f"{served.base}/dashboard/?key={KEY}")
        browser.wait_for("document.getElementById('month').options.length === 2")
        assert "key" not in browser.evaluate("location.href")  # the key leaves the address bar at once
        assert browser.evaluate("document.getElementById('month').value") == served.october.release_id
        browser.evaluate(f"""(() => {{ document.getElementById('zone').value = '{ZONE}';
            document.getElementById('month').value = '{release}';
            document.getElementById('show').click(); }})()""")
        browser.wait_for("document.body.dataset.state === 'ready'", timeout=90)
        views = {v["table"]: v for v in browser.evaluate(VIEWS_JS)}

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
            browser.evaluate(f"""(() => {{ const s = document.querySelector(
                'section[data-table="t4_1_uur_camera"] select[data-pick="weekDag"]');
                s.value = '{weekday}'; s.dispatchEvent(new Event('change')); }})()""")
            shown = {v["table"]: v for v in browser.evaluate(VIEWS_JS)}["t4_1_uur_camera"]
            rows = api_rows(served.base, "t4_1_uur_camera", zoneId=ZONE, release=release, weekDag=weekday,
                            voertuigType=hourly["picks"]["voertuigType"])
            assert (shown["cells"], shown["suppressed"]) == (len(rows), sum(r["aantalPassages"] is None for r in rows))
        cameras = api_rows(served.base, "t4_12_camera", zoneId=ZONE, release=release)
        assert views["t4_12_camera"]["cells"] == len({r["cameraId"] for r in cameras})
        assert browser.errors() == []

        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.screenshot(SHOTS / "dashboard.png")
        for table, view in views.items():
            browser.screenshot(SHOTS / f"view-{view['view']}.png", f'section[data-table="{table}"]')
        (SHOTS / "views.json").write_text(json.dumps(list(views.values()), indent=1))
        assert (SHOTS / "dashboard.png").stat().st_size > 50_000

        browser.navigate(f"{served.base}/dashboard/#key=wrong-key")
        status = browser.wait_for("document.getElementById('status').className === 'error' && "
                                  "document.getElementById('status').textContent")
        assert "401" in status


def test_the_fleet_chart_shows_each_months_emission_classes_and_fuels(served):
    """Every point is the month's value in its release, read back through /rows; secret months are ×."""
    with Chromium() as browser:
        browser.navigate(f"{served.base}/dashboard/?key={KEY}&zone={ZONE}")
        browser.wait_for("document.body.dataset.state === 'ready'", timeout=90)
        trend = browser.evaluate("document.querySelector('section.trend').dataset.state")
        figures = {f["kenmerk"]: f for f in browser.evaluate(TREND_JS)}
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
            assert {m for m, _, _ in points} == {"2026-09", "2026-10"}
        assert sum(len(f["secret"]) for f in figures.values()) > 0  # the sample's rarest value is secret
        assert browser.errors() == []
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.screenshot(SHOTS / "view-trend.png", "section.trend")


def test_without_a_key_the_dashboard_shows_the_open_layer_only_with_rounded_counts(served):
    """No key given: the open layer's tables, each view and chart point as the API serves it without one."""
    open_tables = {t for t, spec in TABLES.items() if spec.access == "open"}
    with Chromium() as browser:
        browser.navigate(f"{served.base}/dashboard/")
        browser.wait_for("document.readyState === 'complete'")
        browser.evaluate("document.getElementById('show').click()")
        browser.wait_for("document.body.dataset.state === 'ready'", timeout=90)
        zone, release = browser.evaluate("[document.getElementById('zone').value, "
                                         "document.getElementById('month').value]")
        views = {v["table"]: v for v in browser.evaluate(VIEWS_JS)}
        assert set(views) == open_tables and release == served.october.release_id
        for table, view in views.items():
            rows = api_rows(served.base, table, key=None, zoneId=zone, release=release)
            measure = view["picks"].get("measure", TABLES[table].measures[0])
            assert view["state"] == "ready" and view["notCross"] == 0, table
            if set(view["picks"]) <= {"measure"}:
                assert (view["cells"], view["suppressed"]) == (len(rows), sum(r[measure] is None for r in rows))
        for figure in browser.evaluate(TREND_JS):
            served_points = {(release_.month, r["waarde"], r["aantalUniekeVoertuigen"])
                             for release_ in (served.september, served.october)
                             for r in api_rows(served.base, "t4_9_overzicht", key=None, zoneId=zone,
                                               release=release_.release_id, kenmerk=figure["kenmerk"])
                             if r["aantalUniekeVoertuigen"] is not None}
            assert {tuple(p) for p in figure["points"]} == served_points
            assert all(value % 10 == 0 for _, _, value in figure["points"])
        assert browser.errors() == []
