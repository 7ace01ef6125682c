"""The reference dashboard at /dashboard/: its own files (api/vendor/dashboard/) and, under
/dashboard/lib/, the npm libraries it draws with (Chart.js for the charts, Leaflet for the zone map),
pinned in api/static/package-lock.json and served by this API: the page's CSP allows no other origin,
and there may be no internet where it runs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI

from api.common.errors import ApiError
from api.common.static import INSTALL_HINT, NODE_MODULES, missing_files, static_files

log = logging.getLogger(__name__)

DASHBOARD = Path(__file__).parent / "dashboard"
LIB_PATH = "/dashboard/lib"
# URL folder under LIB_PATH -> the package's folder of built files in node_modules.
LIBRARIES = {"chart.js": "chart.js/dist", "leaflet": "leaflet/dist"}
# The files index.html loads from those folders.
ASSETS = ("chart.js/dist/chart.umd.min.js", "leaflet/dist/leaflet.js", "leaflet/dist/leaflet.css")


def install_dashboard(app: FastAPI, node_modules: Path = NODE_MODULES) -> None:
    """Mount the dashboard on `app` (after its routers: the mount takes every path under /dashboard).

    Without the libraries the service still starts: it logs one warning, and the page and /dashboard/lib/
    answer 503 saying how to install them (a page without its charts would only fail in the browser).
    """
    missing = missing_files(node_modules, ASSETS)
    if missing:
        log.warning("dashboard libraries missing (%s in %s): /dashboard/ answers 503 until `make install` "
                    "installs them", ", ".join(missing), node_modules)

        def unavailable() -> None:
            raise ApiError(503, f"the dashboard's libraries are not installed: {', '.join(missing)} missing in "
                                f"{node_modules}", f"{INSTALL_HINT}; the API itself is up")

        for path in ("/dashboard/", "/dashboard/index.html", LIB_PATH + "/{path:path}"):
            app.add_api_route(path, unavailable, methods=["GET"], include_in_schema=False)
    else:
        for name, folder in LIBRARIES.items():
            app.mount(f"{LIB_PATH}/{name}", static_files(node_modules / folder), name=f"dashboard-{name}")
    app.mount("/dashboard", static_files(DASHBOARD, html=True), name="dashboard")
