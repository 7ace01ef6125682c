"""Response shapes for the OpenAPI document. Handlers return pre-serialized bytes, so these describe
the answers without validating each one (the API tests check the answers against the catalogue)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.common.errors import ErrorBody

EXPIRES_AT = ("when you must have destroyed data of this release: its creation plus your contract's export_days "
              "(ISO 8601, UTC); also the X-Data-Expires header of the answers that carry its data")
ROUNDED = ("counts (aantalPassages, aantalRitten, aantalUniekeVoertuigen) are rounded to the nearest multiple of "
           "this, halves up: the open layer's round_to (conf/vendors.toml) without a key, 1 (exact) with one; also the "
           "X-Counts-Rounded-To header")


class TableLoss(BaseModel):
    cells: int = Field(description="cells of the table in the vendor's municipalities in this release")
    cellsSuppressed: int = Field(description="of those, suppressed (primary or secondary): measures null")
    cellsSuppressedShare: float


class Release(BaseModel):
    releaseId: str = Field(examples=["2026-10-20261103T020000Z-1a2b3c4d"])
    month: str = Field(examples=["2026-10"])
    createdAt: str
    expiresAt: str = Field(description=EXPIRES_AT)
    tables: list[str]
    configHash: str
    sourceVersions: dict[str, int]
    informationLoss: dict[str, TableLoss] = Field(description="per table: how much disclosure control hides")
    recoded: dict[str, dict[str, str]] = Field(
        default_factory=dict, examples=[{"t4_6_bezoeker_sector": {"SBI08GroepCode": "sectie"}}],
        description="tables published one level up a classification in this release (global recoding before "
                    "suppression): column -> the level its codes are at, e.g. SBI 2008 sections (sectie) instead of "
                    "divisions (afdeling)")


class ReleaseList(BaseModel):
    releases: list[Release]


class Column(BaseModel):
    name: str = Field(description="the working group's field name (Dutch camelCase), as served by default")
    nameEn: str = Field(description="the data dictionary's English name (snake_case), as served with names=en")
    role: Literal["scope", "dimension", "label", "measure"]
    type: Literal["string", "int", "double"]
    nullable: bool
    definition: str


class TableInfo(BaseModel):
    table: str
    number: str
    title: str
    purpose: str
    kind: str
    unit: str
    dimensions: list[str]
    measures: list[str]
    characteristics: list[str]
    definitions: dict[str, str]
    protection: str = Field(description="what the disclosure control guarantees, as this caller reads the counts "
                                        "(rounded ones said so)")
    roundedTo: int = Field(description=ROUNDED)
    columns: list[Column]
    filters: list[str]
    access: str = Field(description="the least privileged layer that reads the table: open, vendor or municipality")
    population: str = Field(description="which vehicles the table counts: the in-scope vehicles of each municipality")
    suppressed: str
    releaseId: str | None = Field(None, description="with ?release= or ?month=: the release this definition is of")
    recoded: dict[str, str] | None = Field(
        None, examples=[{"SBI08GroepCode": "sectie"}],
        description="with ?release= or ?month=: the dimensions that release publishes one level up (global "
                    "recoding) and their level; the definitions and protection text are that level's")


class TableList(BaseModel):
    tables: list[TableInfo]


class Links(BaseModel):
    next: str | None


class RowsPage(BaseModel):
    releaseId: str
    month: str
    expiresAt: str = Field(description=EXPIRES_AT)
    table: str
    roundedTo: int = Field(description=ROUNDED)
    total: int = Field(description="rows matching the filters in the vendor's municipalities")
    offset: int
    limit: int
    rows: list[dict[str, Any]] = Field(description="fields as in /v1/tables/{table} columns; suppressed values null")
    nextCursor: str | None
    links: Links


class SeriesMonth(BaseModel):
    month: str = Field(examples=["2026-10"])
    releaseId: str | None = Field(description="the month's latest release, whose rows are served; null if missing")
    expiresAt: str | None = Field(description=EXPIRES_AT)
    rows: int = Field(description="rows of this month in the answer")
    missing: str | None = Field(description="why the month has no rows: no release, or its release lacks the table "
                                            "or a field; null when served")


class Series(BaseModel):
    table: str
    measure: str
    from_: str = Field(alias="from", examples=["2026-01"])
    to: str = Field(examples=["2026-12"])
    expiresAt: str = Field(description="the earliest expiresAt of the months' releases")
    roundedTo: int = Field(description=ROUNDED)
    months: list[SeriesMonth] = Field(description="every month of the range, oldest first, missing ones included")
    total: int
    rows: list[dict[str, Any]] = Field(description="rows of every served month in month order: the table's columns "
                                                   "with the chosen measure only; suppressed values null")


class ZoneRef(BaseModel):
    zoneId: int = Field(description="the zone's NDW code: the zoneId of the tables")
    zoneAanduiding: str = Field(description="the municipality's text id of the zone (e.g. GM0344-ZE1)")
    zoneNaam: str


class Municipality(BaseModel):
    gemeenteCode: str
    gemeente: str
    zones: list[ZoneRef]


class Municipalities(BaseModel):
    municipalities: list[Municipality]


class Feature(BaseModel):  # RFC 7946 3.2
    type: Literal["Feature"]
    id: str
    geometry: dict[str, Any] | None = Field(description="Polygon or MultiPolygon (zones), Point (cameras); lon, lat; "
                                                  "null for a camera without a position")
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    type: Literal["FeatureCollection"]
    features: list[Feature]


class CameraCollection(FeatureCollection):
    releaseId: str
    expiresAt: str = Field(description=EXPIRES_AT)


class Token(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class OAuthError(BaseModel):
    """An error of the token endpoint, shaped as RFC 6749 5.2 asks (OAuth2 client libraries read `error`)."""
    error: Literal["invalid_request", "invalid_client", "unsupported_grant_type"]
    error_description: str
    hint: str
    trace_id: str


class AccessLogPage(BaseModel):
    entries: list[dict[str, Any]]


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
ERROR_TEXTS = {
    400: "a parameter the operation cannot read: unknown filter field or measure, value of the wrong type, bad sort "
         "or cursor, a month range that is malformed, reversed or too long; or both an X-API-Key and an "
         "Authorization header",
    401: "missing, unknown or expired credentials", 403: "outside the vendor's contract",
    404: "unknown table, release or zone",
    429: "rate limit exceeded, or too many failed authentication attempts from this address",
    503: "the access audit log cannot be written: nothing is served unaudited"}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers `statuses` of an operation, all with the error body (and Retry-After for 429, 503)."""
    return {status: {"model": ErrorBody, "description": ERROR_TEXTS[status],
                     **({"headers": _RETRY_AFTER} if status in (429, 503) else {})} for status in statuses}


def json_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """As `errors`, for a route whose answers are of another media type (GeoJSON): the errors keep the
    platform's error body as application/json."""
    answers = errors(*statuses)
    for answer in answers.values():
        answer.pop("model")
        answer["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return answers


_DATA_EXPIRES = {"X-Data-Expires": {
    "required": True, "schema": {"type": "string"},
    "description": "when you must have destroyed the release data of this answer: the release's creation plus "
                   "your contract's export_days (ISO 8601, UTC), as in the body's expiresAt"}}


_ROUNDED_TO = {"X-Counts-Rounded-To": {"required": True, "schema": {"type": "integer"}, "description": ROUNDED}}


def content(model: type[BaseModel], csv: bool = False, bad_request: bool = False,
            expires: bool = False, rounded: bool = False, geojson: bool = False) -> dict[int | str, dict[str, Any]]:
    """A 200 answer of `model` (and CSV), 304 on revalidation, and the errors of an audited data operation
    (400 too when it reads filters, a sort or a cursor); `expires`: the 200 carries X-Data-Expires,
    `rounded`: X-Counts-Rounded-To."""
    extra: dict[str, Any] = {"content": {"text/csv": {"schema": {"type": "string"}}}} if csv else {}
    headers = {**(_DATA_EXPIRES if expires else {}), **(_ROUNDED_TO if rounded else {})}
    if headers:
        extra["headers"] = headers
    return {200: {"model": model, "description": "the answer", **extra},
            304: {"description": "not modified (If-None-Match)"},
            **(json_errors if geojson else errors)(*(400,) * bad_request, 401, 403, 404, 429, 503)}
