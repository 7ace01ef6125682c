"""The ingest contract's messages, receipts and reports as pydantic models (and so the OpenAPI document).

`Envelope` is what the service validates each request body with. Observation content (uuids, time
window, plates, confidence) is checked downstream by the stream with reason codes, so an observation
batch's payload items only have to be JSON objects here (api/ingest/envelope.py then checks their
types and event_time) and `Observation` documents the contract; camera payloads are enforced, they
feed the registry. Field rules come from anpr/contract.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictFloat,
    StrictInt,
    model_validator,
)
from pydantic_core import PydanticCustomError

from anpr.contract import (
    COUNTRY_PATTERN,
    COUNTRY_RULE,
    EVENT_TIME_PATTERN,
    EVENT_TIME_RULE,
    SCHEMA_VERSION_PATTERN,
    UUID_PATTERN,
    is_country,
)
from api.ingest.geojson import AREA_RULE, GeoJsonProblem, check_area

Uuid = Annotated[str, Field(pattern=UUID_PATTERN)]


def _assigned_country(code: str) -> str:
    if not is_country(code):
        # The message names the rule, not the code sent: no answer of the service quotes input.
        raise PydanticCustomError("country", "is not an assigned country code: " + COUNTRY_RULE)
    return code


Country = Annotated[str, Field(pattern=COUNTRY_PATTERN), AfterValidator(_assigned_country)]


def _has_text(text: str) -> str:
    if not text.strip():
        raise PydanticCustomError("blank", "holds only spaces; it must hold text")
    return text


def _area(value: dict[str, Any]) -> dict[str, Any]:
    try:
        return check_area(value)
    except GeoJsonProblem as exc:
        raise PydanticCustomError("geojson", "{problem}; it must be " + AREA_RULE, {"problem": str(exc)}) from None


Text = Annotated[str, AfterValidator(_has_text)]
Area = Annotated[dict[str, Any], AfterValidator(_area)]


class Observation(BaseModel):
    # Fields beyond these pass the service and the stream ignores them (docs/ingest.md); they live in Kafka
    # only, within its retention. A supplier's own belong in `extensions`.
    model_config = ConfigDict(extra="allow", json_schema_extra={
        "description": "One plate detection. Fields not named here are passed on and ignored by the platform; "
                       "put your own in extensions."})

    observation_id: Uuid = Field(description="Unique id of the detection (uuid); a resend keeps it.")
    camera_id: Uuid = Field(description="The registered camera (uuid).")
    event_time: str = Field(pattern=EVENT_TIME_PATTERN, description=EVENT_TIME_RULE + ".")
    plate_country: Country = Field(description=COUNTRY_RULE + ".")
    plate_text: str = Field(min_length=1, description="The plate as read. Pseudonymized on arrival.")
    read_confidence: StrictFloat | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    detection_direction: Literal["obverse", "reverse"] | None = Field(
        default=None, description="obverse: front plate (vehicle approaching), reverse: rear plate.")
    lane: StrictInt | None = Field(default=None, ge=1)
    notes: str | None = None
    extensions: dict[str, Any] | None = None


class CameraFields(BaseModel):
    """Optional camera attributes, shared by registration and update. Strict, as the contract is typed: no
    number as a string, no boolean for a number, no NaN or Infinity, no field the contract does not name
    (a supplier's own go in `attributes`). A camera is kept for good, beyond the 24 hours raw plate data may
    live, so nothing free-form is taken but `attributes`: the areas must be GeoJSON (api/ingest/geojson.py)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, populate_by_name=True)

    supplier_camera_ref: str | None = Field(default=None, max_length=200)
    location_crs_additional: Literal["EPSG:28992"] | None = Field(
        default=None, description="The additional coordinate reference system; the contract allows only EPSG:28992.")
    address_street: str | None = Field(default=None, max_length=200)
    # The working group's spelling; address_number and address_postcode, this service's first
    # spelling, are read as aliases and stored under the contract's names.
    address_house_number: str | None = Field(
        default=None, max_length=20, validation_alias=AliasChoices("address_house_number", "address_number"))
    address_postal_code: str | None = Field(
        default=None, max_length=10, validation_alias=AliasChoices("address_postal_code", "address_postcode"))
    address_city: str | None = Field(default=None, max_length=100)
    address_country: Country | None = Field(default=None, description=COUNTRY_RULE + ".")
    mount_height_m: float | None = Field(default=None, ge=0, le=100)
    azimuth_deg: float | None = Field(default=None, ge=0, le=360, description="Viewing direction, degrees from north.")
    tilt_deg: float | None = Field(default=None, ge=-90, le=90)
    fov_deg: float | None = Field(default=None, ge=0, le=180, description="Field of view, degrees.")
    view_polygon_geojson: Area | None = Field(default=None, description="What the camera sees: " + AREA_RULE + ".")
    privacy_masks_geojson: Area | None = Field(default=None, description="Masked areas: " + AREA_RULE + ".")
    active_from: AwareDatetime | None = None
    active_to: AwareDatetime | None = None
    attributes: dict[str, Any] | None = None
    deployment_type: Literal["fixed", "mobile_scanauto", "portable", "temporary"] | None = None
    traffic_direction: Literal["obverse", "reverse", "bidirectional"] | None = None
    camera_status: Literal["active", "inactive"] | None = None
    camera_status_updated_at: AwareDatetime | None = None
    zone_id: str | None = Field(default=None, description="Omit to have the camera assigned by location; in an "
                                "update, null returns a camera to assignment by location.")

    @model_validator(mode="after")
    def _active_period(self) -> CameraFields:
        if self.active_from is not None and self.active_to is not None and self.active_from >= self.active_to:
            raise PydanticCustomError("active_period", "active_from must be before active_to")
        return self


class CameraRegistration(CameraFields):
    camera_id: Uuid
    location_lat: float = Field(ge=-90, le=90, description="WGS84.")
    location_lon: float = Field(ge=-180, le=180, description="WGS84.")
    address_formatted: Text = Field(min_length=1, max_length=300)
    camera_type: Literal["monitoring", "enforcement", "hybrid"]


class CameraUpdate(CameraFields):
    """camera_id plus the fields that changed; the others keep their registered values. An optional field
    sent as null is cleared (zone_id: null returns the camera to assignment by location); the fields a
    registration requires cannot be."""

    camera_id: Uuid
    location_lat: float | None = Field(default=None, ge=-90, le=90)
    location_lon: float | None = Field(default=None, ge=-180, le=180)
    address_formatted: Text | None = Field(default=None, min_length=1, max_length=300)
    camera_type: Literal["monitoring", "enforcement", "hybrid"] | None = None


def _json_object(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise PydanticCustomError("dict_type", "Input should be an object")
    return item


# An observation as delivered: any JSON object passes here (the stream checks it), while the
# OpenAPI document shows the Observation schema.
RawObservation = Annotated[dict[str, Any], PlainValidator(_json_object, json_schema_input_type=Observation)]


class _Envelope(BaseModel):
    schema_version: str = Field(pattern=SCHEMA_VERSION_PATTERN, examples=["anpr-2.0.0"])


class ObservationBatch(_Envelope):
    message_type: Literal["anpr_observation_batch"]
    payload: list[RawObservation] = Field(min_length=1)


class CameraRegistrationMessage(_Envelope):
    message_type: Literal["camera_registration"]
    payload: list[CameraRegistration] = Field(min_length=1)


class CameraUpdateMessage(_Envelope):
    message_type: Literal["camera_update"]
    payload: list[CameraUpdate] = Field(min_length=1)


Message = ObservationBatch | CameraRegistrationMessage | CameraUpdateMessage
Envelope = Annotated[Message, Field(discriminator="message_type")]


class Receipt(BaseModel):
    status: Literal["accepted"]
    company: str
    requestId: str
    idempotencyKey: str | None
    timestamp: str = Field(description="UTC, RFC 3339 with milliseconds: when every message was acknowledged.")
    sizeBytes: int
    filename: str | None


# Rejected observations' ids listed per day and reason: enough to find a faulty camera or batch, and bounded.
MAX_REJECTED_IDS = 100


class RejectionCount(BaseModel):
    day: str = Field(description="Day the platform received the messages (UTC), YYYY-MM-DD.")
    reason: str = Field(description="Reason code of the stream, e.g. BAD_UUID, EVENT_IN_FUTURE, LOW_CONFIDENCE.")
    count: int
    observation_ids: list[str] = Field(
        default_factory=list, description=f"The observation_id of up to {MAX_REJECTED_IDS} of them, sorted, to find "
                                          "the detections again (none for a message that was no JSON or whose id "
                                          "is no uuid).")


class RejectionReport(BaseModel):
    supplier: str
    from_day: str
    to_day: str
    total: int
    rejections: list[RejectionCount]


class CameraState(BaseModel):
    camera_id: str
    source: Literal["configured", "registered"] = Field(
        description="configured: listed in the platform's conf/municipalities (changed by the platform team, "
                    "not by messages); registered: by your camera_registration, changed by camera_update")
    municipality: str | None
    zone_id: str | None
    obverse_direction: str | None
    reverse_direction: str | None
    direction_source: str
    problem: str | None
    valid_from: datetime | None = Field(description="when the current version took effect; null for a configured "
                                                    "camera (placed alike for all time)")
    camera_status: str | None
