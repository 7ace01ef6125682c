"""Browser libraries the APIs serve themselves, so their pages work without internet: the npm packages
pinned in api/static/package-lock.json, installed into api/static/node_modules by `make install`
(`npm ci` in api/static). Swagger UI for /docs (api/common/docs.py), Chart.js and Leaflet for the vendor
API's dashboard (api/vendor/site.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

NODE_MODULES = Path(__file__).resolve().parents[1] / "static" / "node_modules"
INSTALL_HINT = "run `make install` (npm ci in api/static)"


def missing_files(root: Path, names: Iterable[str]) -> list[str]:
    """Those of `names` (paths relative to `root`) that are not files: empty when all are installed."""
    return [name for name in names if not (root / name).is_file()]


def static_files(directory: Path, *, html: bool = False) -> ASGIApp:
    """The files of `directory`, gzip-compressed for clients that accept it: the libraries are hundreds of
    kilobytes of JavaScript (Swagger UI's bundle 1.4 MB) and compress to a fifth."""
    return GZipMiddleware(StaticFiles(directory=directory, html=html), minimum_size=1024, compresslevel=6)
