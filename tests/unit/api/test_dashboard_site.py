"""The dashboard's libraries (Chart.js, Leaflet) come from the API itself, at the versions of
api/static/package-lock.json; without them the page says how to install them instead of failing blank."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from anpr.delta_reader import DeltaReader
from anpr.settings import Settings
from api.common.errors import install_error_handlers
from api.common.static import NODE_MODULES
from api.releases import ReleaseStore
from api.vendor.main import create_app
from api.vendor.site import install_dashboard

LOCK = NODE_MODULES.parent / "package-lock.json"
LOADS = re.compile(r"""<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)\"""")
CONTENT_TYPES = {".js": "javascript", ".css": "text/css"}


def test_the_page_loads_only_files_the_api_serves_at_the_locked_versions(tmp_path):
    client = TestClient(create_app(Settings(data_dir=tmp_path), ReleaseStore(DeltaReader(str(tmp_path / "lake"))),
                                   contracts={}, municipalities=[]))
    page = client.get("/dashboard/")
    assert page.status_code == 200
    loads = set(LOADS.findall(page.text)) - {"data:,"}
    assert {"lib/chart.js/chart.umd.min.js", "lib/leaflet/leaflet.js", "lib/leaflet/leaflet.css", "panels.js",
            "dashboard.js", "dashboard.css"} == loads
    assert not [u for u in loads if ":" in u or u.startswith("/")]  # relative: this origin, under any prefix
    for url in loads:
        answer = client.get(f"/dashboard/{url}", headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200, url
        assert CONTENT_TYPES[Path(url).suffix] in answer.headers["content-type"], url
    locked = json.loads(LOCK.read_text())["packages"]
    chart = client.get("/dashboard/lib/chart.js/chart.umd.min.js", headers={"Accept-Encoding": "gzip"})
    assert chart.headers["content-encoding"] == "gzip"
    assert f"Chart.js v{locked['node_modules/chart.js']['version']}" in chart.text[:200]
    leaflet = client.get("/dashboard/lib/leaflet/leaflet.js")
    assert f"Leaflet {locked['node_modules/leaflet']['version']}," in leaflet.text[:200]


def test_missing_libraries_leave_the_api_up_and_the_page_says_how_to_install(tmp_path, caplog):
    app = FastAPI(title="t", docs_url=None, redoc_url=None)
    install_error_handlers(app)
    with caplog.at_level(logging.WARNING, logger="api.vendor.site"):
        install_dashboard(app, tmp_path / "node_modules")
    assert [r.getMessage() for r in caplog.records] == [
        f"dashboard libraries missing (chart.js/dist/chart.umd.min.js, leaflet/dist/leaflet.js, "
        f"leaflet/dist/leaflet.css in {tmp_path / 'node_modules'}): /dashboard/ answers 503 until `make install` "
        f"installs them"]
    client = TestClient(app)
    for url in ("/dashboard/", "/dashboard/index.html", "/dashboard/lib/chart.js/chart.umd.min.js"):
        answer = client.get(url)
        assert answer.status_code == 503, url
        error = answer.json()["error"]
        assert error["code"] == "unavailable" and "chart.js/dist/chart.umd.min.js" in error["message"]
        assert "make install" in error["hint"]
    assert client.get("/dashboard/dashboard.css").status_code == 200
