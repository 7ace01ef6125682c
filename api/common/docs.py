"""Swagger UI at /docs from assets the service serves itself, so the page works without internet.

FastAPI's own /docs loads Swagger UI from a CDN; this is its documented self-hosting pattern
(fastapi.tiangolo.com/how-to/custom-docs-ui-assets) over the npm package swagger-ui-dist, pinned in
api/static/package-lock.json and installed by `make install` (`npm ci` in api/static).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from api.common.errors import ApiError
from api.common.static import INSTALL_HINT, NODE_MODULES, missing_files, static_files

log = logging.getLogger(__name__)

SWAGGER_UI_DIST = NODE_MODULES / "swagger-ui-dist"
ASSETS_PATH = "/docs/assets"
# The files get_swagger_ui_html's page loads: script, stylesheet and favicon.
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


def missing_assets(dist: Path) -> list[str]:
    """The Swagger UI files absent from `dist` (empty when it is installed)."""
    return missing_files(dist, ASSETS)


def install_docs(app: FastAPI, dist: Path = SWAGGER_UI_DIST) -> None:
    """Route GET /docs, its OAuth2 redirect page and its assets under /docs/assets/ on `app`, which must
    be built with docs_url=None and redoc_url=None.

    Without the assets the service still starts: it logs one warning and /docs answers 503 saying how
    to install them (/openapi.json is unaffected).
    """
    title = f"{app.title} - Swagger UI"
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"
    missing = missing_assets(dist)
    if missing:
        log.warning("Swagger UI assets missing (%s in %s): /docs answers 503 until `make install` installs "
                    "them", ", ".join(missing), dist)
    else:
        app.mount(ASSETS_PATH, static_files(dist), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        if missing:
            raise ApiError(503, f"Swagger UI is not installed: {', '.join(missing)} missing in {dist}",
                           f"{INSTALL_HINT}; the OpenAPI document is at /openapi.json")
        # Behind a proxy's path prefix, as FastAPI's own /docs does.
        root = request.scope.get("root_path", "").rstrip("/")
        assets = root + ASSETS_PATH
        return get_swagger_ui_html(openapi_url=root + (app.openapi_url or "/openapi.json"), title=title,
                                   oauth2_redirect_url=root + redirect, init_oauth=app.swagger_ui_init_oauth,
                                   swagger_ui_parameters=app.swagger_ui_parameters,
                                   swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{assets}/swagger-ui.css",
                                   swagger_favicon_url=f"{assets}/favicon-32x32.png")

    @app.get(redirect, include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
