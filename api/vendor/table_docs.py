"""The filter parameters of the rows and series operations in the OpenAPI document, typed per column.

One route serves every table (/v1/tables/{table}/rows, /series), so its operation lists the filters of
every table, each typed as its column (the catalogue gives a field one type in every table). A client or
contract test reading it cannot tell which filters and measures a table has, so the document also has
one operation per table at its concrete path (/v1/tables/t4_9_overzicht/series), answered by the same
route: its own filters only, typed, and its measures as the enum of `measure`. OpenAPI matches concrete
paths before templated ones (3.1, 4.8.8), and both answer alike.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI

from anpr.catalogue import TABLES, TableSpec
from api.vendor.tables import column_definition, column_type, filterable

TEMPLATES = {"rows": "/v1/tables/{table}/rows", "series": "/v1/tables/{table}/series"}
# A filter value per column type; integers are Arrow int32 in every release (a larger number is a 400, as
# a non-number is: api/vendor/queries.py _canonical).
SCHEMAS: dict[str, dict[str, Any]] = {
    "int": {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1},
    "double": {"type": "number"}, "string": {"type": "string"}}


def filter_parameters(specs: Iterable[TableSpec]) -> list[dict[str, Any]]:
    """Every filterable field of these tables as a repeatable query parameter typed as its column, by name;
    a field of several types (none in today's catalogue) as a string."""
    fields: dict[str, tuple[set[str], str]] = {}
    for spec in specs:
        for column in filterable(spec):
            kinds, definition = fields.setdefault(column, (set(), column_definition(spec, column)))
            kinds.add(column_type(spec, column))
    return [{"name": name, "in": "query", "required": False, "style": "form", "explode": True,
             "description": (definition or name) + " Repeat the parameter for several values.",
             "schema": {"type": "array", "items": SCHEMAS[kinds.pop() if len(kinds) == 1 else "string"]}}
            for name, (kinds, definition) in sorted(fields.items())]


def table_operation(operation: dict[str, Any], spec: TableSpec, kind: str) -> dict[str, Any]:
    """The `kind` ("rows" or "series") operation of every table narrowed to `spec`: no table parameter,
    its filters only, its measures as the enum of `measure`."""
    every = {p["name"] for p in filter_parameters(TABLES.values())}
    own = []
    for parameter in operation["parameters"]:
        if parameter["in"] == "path" or (parameter["in"] == "query" and parameter["name"] in every):
            continue
        if parameter["name"] == "measure":
            parameter = {**parameter, "schema": {"type": "string", "enum": list(spec.measures)}}
        own.append(parameter)
    narrowed = copy.deepcopy(operation)
    narrowed.update(operationId=f"{kind}_{spec.name}", summary=f"{spec.name}: {operation['summary']}",
                    parameters=copy.deepcopy(own) + filter_parameters([spec]))
    return narrowed


def document_tables(app: FastAPI) -> None:
    """Make `app.openapi` add the per-table operations; install before document_layers, which states
    the layers of each."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()
            for kind, template in TEMPLATES.items():
                operation = doc["paths"][template]["get"]
                for spec in TABLES.values():
                    doc["paths"][template.replace("{table}", spec.name)] = {
                        "get": table_operation(operation, spec, kind)}
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
