"""Vendor API: read-only, over published releases only (never passages)."""

from __future__ import annotations

import base64
import hmac
import math
from typing import Annotated, Any

import pandas as pd
from fastapi import Depends, FastAPI, Header, Query, Request

from anpr.catalogue import TABLES
from anpr.settings import Settings
from api.errors import ApiError, install_error_handlers
from api.releases import ReleaseStore

MAX_PAGE = 1000


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, value = base64.urlsafe_b64decode(cursor.encode()).decode().split(":", 1)
        if kind != "o" or int(value) < 0:
            raise ValueError(cursor)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid cursor", "pass the nextCursor value of the previous page unchanged") from exc


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def vendor(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> str:
    if not x_api_key:
        raise ApiError(401, "missing API key", "send your key in the X-API-Key header")
    for name, key in request.app.state.vendor_keys.items():
        if hmac.compare_digest(x_api_key.encode(), key.encode()):
            return str(name)
    raise ApiError(401, "unknown API key", "ask the platform team for a key")


Vendor = Annotated[str, Depends(vendor)]


def create_app(settings: Settings, store: ReleaseStore) -> FastAPI:
    app = FastAPI(title="ANPR zero-emission zone statistics: vendor API", version="1.0.0",
                  description="Disclosure-controlled monthly tables of the national statistics office. "
                              "Suppressed values are null.")
    install_error_handlers(app)
    app.state.vendor_keys = {vendor: key.get_secret_value() for vendor, key in settings.vendor_keys.items()}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> dict[str, str]:
        if not store.ready():
            raise ApiError(503, "no release published yet", "run `anpr stats` first")
        return {"status": "ready"}

    @app.get("/v1/releases")
    def releases(_: Vendor) -> dict[str, Any]:
        return {"releases": store.latest_per_month()}

    @app.get("/v1/tables")
    def tables(_: Vendor) -> dict[str, Any]:
        return {"tables": [
            {"table": s.name, "number": s.number, "title": s.title, "dimensions": s.dimensions,
             "measures": s.measures, "definitions": s.definitions, "protection": s.protection}
            for s in TABLES.values()]}

    @app.get("/v1/tables/{table}/rows")
    def rows(table: str, request: Request, _: Vendor, release: str | None = None,
             month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
             limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100, cursor: str | None = None) -> dict[str, Any]:
        spec = TABLES.get(table)
        if spec is None:
            raise ApiError(404, f"unknown table {table!r}", "list the tables at /v1/tables")
        found = store.find(release, month)
        if found is None:
            raise ApiError(404, "no such release", "list the releases at /v1/releases")
        frame = store.rows(found["release_id"], spec)
        reserved = {"release", "month", "limit", "cursor"}
        for name, value in request.query_params.items():
            if name in reserved:
                continue
            if name not in spec.columns[: len(spec.columns) - len(spec.measures)]:
                raise ApiError(400, f"cannot filter on {name!r}", f"filter on one of {', '.join(spec.columns)}")
            frame = frame[frame[name].astype(str) == value]
        start = _decode_cursor(cursor)
        page = frame.iloc[start:start + limit]
        end = start + len(page)
        return {
            "release": found["release_id"], "table": spec.name, "total": int(len(frame)),
            "rows": [{k: _json_value(v) for k, v in rec.items()} for rec in page.to_dict("records")],
            "nextCursor": _encode_cursor(end) if end < len(frame) else None,
        }

    return app
