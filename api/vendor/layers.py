"""The access layers in the OpenAPI document: which layers serve each operation (`x-layers`), which
tables each layer reads (`info.x-layers` and the table operations' descriptions), and anonymous access
(an empty security requirement) where the open layer serves.

Layers and their tables: anpr.catalogue.LAYERS and each table's `access` (conf/tables.toml); who is in
which layer: api/vendor/contracts.py. docs/api.md "Layers" explains them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from anpr.catalogue import LAYERS, TABLES, layer_tables
from api.vendor.contracts import ANONYMOUS, KEYED_LAYERS, Contract

CAMERAS_PATH = "/v1/cameras"  # serves the catalogue's camera table, so only the layers that read it


def served_layers(contracts: Mapping[str, Contract]) -> tuple[str, ...]:
    """The layers this API serves: the keyed ones, and open when conf/vendors.toml opens a municipality."""
    return LAYERS if ANONYMOUS in contracts else KEYED_LAYERS


def layers_of(path: str, layers: tuple[str, ...]) -> list[str]:
    """The layers of `layers` that an operation on `path` serves (of those its caller authenticates for)."""
    if path == CAMERAS_PATH:
        return [layer for layer in layers if any(s.kind == "cameras" for s in TABLES.values() if s.served_to(layer))]
    parts = path.split("/")  # a table's own operation (api/vendor/table_docs.py): /v1/tables/<name>/rows
    if len(parts) == 5 and parts[1:3] == ["v1", "tables"] and parts[3] in TABLES:
        return [layer for layer in layers if TABLES[parts[3]].served_to(layer)]
    return list(layers)


def describe_layers(layers: tuple[str, ...], contracts: Mapping[str, Contract]) -> dict[str, Any]:
    """`info.x-layers`: per layer whether it needs a key, how its counts are rounded and its tables."""
    opened = contracts.get(ANONYMOUS)
    return {layer: {"key": layer != "open", "roundedTo": opened.round_to if layer == "open" and opened else 1,
                    **({"municipalities": sorted(opened.municipalities)} if layer == "open" and opened else {}),
                    "tables": layer_tables(layer)} for layer in layers}


def document_layers(app: FastAPI, contracts: Mapping[str, Contract]) -> None:
    """Make `app.openapi` state the layers; install before install_error_document, which wraps it."""
    build = app.openapi
    layers = served_layers(contracts)
    per_layer = "; ".join(f"{layer}: {', '.join(layer_tables(layer))}" for layer in layers)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()
            doc["info"]["x-layers"] = describe_layers(layers, contracts)
            for path, operations in doc["paths"].items():
                for op in operations.values():
                    if {"ApiKey": []} not in op.get("security", []):
                        continue  # not a vendor operation (operations, admin, token)
                    served = layers_of(path, layers)
                    op["x-layers"] = served
                    if "open" in served:
                        op["security"] = [*op["security"], {}]  # no key: the open layer
                    if "{table}" in path:
                        op["description"] = (op.get("description", "") + f"\n\nTables per layer: {per_layer}. "
                                             "Another table is 401 without a key, 403 with one.").strip()
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
