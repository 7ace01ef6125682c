"""Swagger UI at /docs of both services loads only from the service itself (a blank page without internet
otherwise), and says how to install its assets when they are missing."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from anpr.delta_reader import DeltaReader
from anpr.settings import Settings
from api.common.docs import install_docs
from api.common.errors import install_error_handlers
from api.ingest.main import create_ingest_app
from api.releases import ReleaseStore
from api.vendor.main import create_app
from tests.unit.api.ingest.test_ingest import make_services

# src="…", href="…" and the quoted URLs of the page's SwaggerUIBundle({url: '/openapi.json', …}) call.
URL = re.compile(r"""(?:src|href)="([^"]+)"|(?:url|oauth2RedirectUrl)['"]?:\s*(?:window\.location\.origin \+ )?"""
                 r"""['"]([^'"]+)['"]""")
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


def vendor_app(tmp: Path) -> FastAPI:
    return create_app(Settings(data_dir=tmp), ReleaseStore(DeltaReader(str(tmp / "lake"))), contracts={},
                      municipalities=[])


@pytest.mark.parametrize("make_app", [vendor_app, lambda tmp: create_ingest_app(make_services(tmp))],
                         ids=["vendor", "ingest"])
def test_docs_reference_only_the_services_own_urls_and_each_serves(tmp_path, make_app):
    client = TestClient(make_app(tmp_path))
    page = client.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert "http" not in page.text  # no absolute URL at all
    urls = {a or b for a, b in URL.findall(page.text)}
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/docs/assets/favicon-32x32.png",
            "/openapi.json", "/docs/oauth2-redirect"} <= urls
    assert [u for u in urls if not u.startswith("/") or u.startswith("//")] == []  # no host, so no CDN
    for url in urls:
        answer = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200, url
        kind = CONTENT_TYPES.get(Path(url).suffix)
        if kind:
            assert kind in answer.headers["content-type"], url
    bundle = client.get("/docs/assets/swagger-ui-bundle.js", headers={"Accept-Encoding": "gzip"})
    assert bundle.headers["content-encoding"] == "gzip" and "SwaggerUIBundle" in bundle.text
    assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN; not offered


def test_missing_assets_leave_the_service_up_and_docs_say_how_to_install(tmp_path, caplog):
    app = FastAPI(title="t", docs_url=None, redoc_url=None)
    install_error_handlers(app)
    with caplog.at_level(logging.WARNING, logger="api.common.docs"):
        install_docs(app, tmp_path / "swagger-ui-dist")
    assert [r.getMessage() for r in caplog.records] == [
        f"Swagger UI assets missing (swagger-ui-bundle.js, swagger-ui.css, favicon-32x32.png in "
        f"{tmp_path / 'swagger-ui-dist'}): /docs answers 503 until `make install` installs them"]
    client = TestClient(app)
    answer = client.get("/docs")
    assert answer.status_code == 503
    error = answer.json()["error"]
    assert error["code"] == "unavailable" and error["message"].startswith("Swagger UI is not installed: ")
    assert "make install" in error["hint"]
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs/assets/swagger-ui.css").status_code == 404
