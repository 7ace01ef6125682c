"""What vendors read about the tables: fields with their role, type and definition, from the catalogue."""

from __future__ import annotations

from typing import Any, Literal

from anpr.catalogue import BUILT_IN, CATALOGUE, SCOPE, SCOPE_TYPES, TableSpec, measure_type
from anpr.disclosure import EXACT
from api.common.errors import ApiError

ColumnType = Literal["string", "int", "double"]
SCOPE_DEFINITIONS = {
    "gemeenteCode": "CBS code of the municipality that runs the zone (GMxxxx); vendors see their contracted "
                    "municipalities only.",
    "zoneId": "NDW code of the zero-emission zone (an integer, the working group's field spec; see /v1/zones).",
}
# What every table of vehicles counts (data minimization at the stream, docs/privacy.md and docs/statistics.md).
POPULATION = ("In-scope vehicles only: vans, trucks, buses and company-owned vehicles, plus foreign and "
              "unregistered plates the register cannot classify (each municipality's scope, "
              "conf/municipalities). Private passenger cars and other privately owned vehicles are in no table "
              "of vehicles: the stream drops them and keeps only an anonymous count (the tables of kind anonymous).")
# What the tables of kind "anonymous" count: that anonymous count.
ANONYMOUS_POPULATION = ("Out-of-scope detections only: the reads the stream dropped as outside the municipality's "
                        "scope (by default private passenger cars and other privately owned vehicles that are no "
                        "van, truck or bus), counted without any vehicle identity; the in-scope vehicles are in "
                        "the other tables.")
BUILT_IN_DEFINITIONS = {
    "maand": "Month (1-12) of the release.", "jaar": "Year of the release.",
    "kenmerk": "The vehicle characteristic a row totals (a field name of table 4.8), or totaal for the zone total.",
    "waarde": "The characteristic's value, or totaal.",
}


def column_type(spec: TableSpec, column: str) -> ColumnType:
    if column in SCOPE:
        return SCOPE_TYPES[column]
    if column in spec.measures:
        return measure_type(column)
    if column in ("maand", "jaar"):
        return "int"
    if column in BUILT_IN:
        return "string"
    return CATALOGUE.dimensions[column].type


def column_role(spec: TableSpec, column: str) -> str:
    dim = CATALOGUE.dimensions.get(column)
    if dim is not None and dim.label_of:
        return "label"
    if column in SCOPE:
        return "scope"
    if column in spec.measures:
        return "measure"
    return "dimension"


def column_definition(spec: TableSpec, column: str) -> str:
    if column in SCOPE_DEFINITIONS:
        return SCOPE_DEFINITIONS[column]
    if column in spec.definitions:
        return spec.definitions[column]
    if column in BUILT_IN_DEFINITIONS:
        return BUILT_IN_DEFINITIONS[column]
    dim = CATALOGUE.dimensions.get(column)
    if dim is not None and dim.definition:
        return dim.definition
    if dim is not None and dim.label_of:
        return f"Name of {dim.label_of}."
    return ""


def as_published(spec: TableSpec, recoded: dict[str, str]) -> TableSpec:
    """The table as a release whose `protection.recoded` gives it `recoded` (dimension -> level) publishes it:
    one level up, with that level's definitions and protection text. ApiError (500) if the catalogue can no
    longer build that level, rather than definitions that contradict the rows."""
    if not recoded:
        return spec
    variant = spec.recode([s for d, s in spec.keys.items() if d in recoded])
    if variant is None or variant.recoded != dict(recoded):
        raise ApiError(500, f"the release publishes {spec.name} recoded as {dict(recoded)}, which this catalogue "
                            "cannot describe", "the operator republishes the month under the current catalogue")
    return variant


def filterable(spec: TableSpec) -> list[str]:
    """Every field but the measures: scope, dimensions and their labels."""
    return [c for c in spec.columns if c not in spec.measures]


def rounded_protection(text: str, round_to: int) -> str:
    """The protection text as a caller whose counts are rounded to `round_to` (the open layer) reads it:
    the sentence saying values are exact would be false for it."""
    if round_to == 1:
        return text
    rounding = (f"Counts served to this caller (the open layer, without a key) are rounded to the nearest multiple "
                f"of {round_to}, halves up; the guarantee holds for the exact values.")
    return text.replace(EXACT, rounding) if EXACT in text else f"{text} {rounding}"


def table_info(spec: TableSpec, round_to: int = 1) -> dict[str, Any]:
    """A table's definition for /v1/tables; round_to: the caller's rounding of counts (1: exact), said in
    `protection` and `roundedTo` where the table publishes counts."""
    round_to = round_to if spec.counts else 1
    return {
        "table": spec.name, "number": spec.number, "title": spec.title, "purpose": spec.purpose,
        "kind": spec.kind, "unit": spec.unit, "dimensions": spec.dimensions, "measures": spec.measures,
        "characteristics": spec.characteristics, "definitions": spec.definitions,
        "protection": rounded_protection(spec.protection, round_to), "roundedTo": round_to,
        "columns": [{"name": c, "nameEn": spec.english[c], "role": column_role(spec, c),
                     "type": column_type(spec, c), "nullable": c in spec.measures,
                     "definition": column_definition(spec, c)} for c in spec.columns],
        "filters": filterable(spec), "access": spec.access,
        "population": ANONYMOUS_POPULATION if spec.kind == "anonymous" else POPULATION,
        "suppressed": "Suppressed measures are null in JSON and empty in CSV; the cell's dimensions are kept.",
    }
