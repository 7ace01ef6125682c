"""The ingest contract's messages, receipts and error bodies as pydantic models (and so the OpenAPI document).

Envelopes are checked by the service at once. Observation content (uuids, times, plates, confidence)
is checked downstream by the stream with reason codes, so the Observation model here documents the
contract and is not enforced on the request; camera payloads are enforced, they feed the registry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION_PATTERN = r"^anpr-2\.\d+\.\d+$"
MessageType = Literal["anpr_observation_batch", "camera_registration", "camera_update"]
Uuid = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]


class Observation(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"description": "One plate detection."})

    observation_id: Uuid = Field(description="Unique id of the detection (uuid); a resend keeps it.")
    camera_id: Uuid = Field(description="The registered camera (uuid).")
    event_time: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]00:00)$",
                            description="UTC, RFC 3339 with milliseconds, e.g. 2025-06-02T07:15:42.123Z.")
    plate_country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2.")
    plate_text: str = Field(min_length=1, description="The plate as read. Pseudonymized on arrival.")
    read_confidence: float | None = Field(default=None, ge=0, le=1)
    detection_direction: Literal["obverse", "reverse"] | None = Field(
        default=None, description="obverse: front plate (vehicle approaching), reverse: rear plate.")
    lane: int | None = Field(default=None, ge=1)
    notes: str | None = None
    extensions: dict[str, Any] | None = None


class CameraFields(BaseModel):
    """Optional camera attributes, shared by registration and update. Other fields (e.g. further address
    parts) are kept as delivered."""

    model_config = ConfigDict(extra="allow")

    supplier_camera_ref: str | None = Field(default=None, max_length=200)
    location_crs_additional: str | None = Field(default=None, description="e.g. EPSG:28992 coordinates as text.")
    address_street: str | None = Field(default=None, max_length=200)
    address_number: str | None = Field(default=None, max_length=20)
    address_postcode: str | None = Field(default=None, max_length=10)
    address_city: str | None = Field(default=None, max_length=100)
    mount_height_m: float | None = Field(default=None, ge=0, le=100)
    azimuth_deg: float | None = Field(default=None, ge=0, le=360, description="Viewing direction, degrees from north.")
    tilt_deg: float | None = Field(default=None, ge=-90, le=90)
    fov_deg: float | None = Field(default=None, gt=0, le=360)
    view_polygon_geojson: dict[str, Any] | None = None
    privacy_masks_geojson: dict[str, Any] | None = None
    active_from: AwareDatetime | None = None
    active_to: AwareDatetime | None = None
    attributes: dict[str, Any] | None = None
    deployment_type: Literal["fixed", "mobile_scanauto", "portable", "temporary"] | None = None
    traffic_direction: Literal["obverse", "reverse", "bidirectional"] | None = None
    camera_status: Literal["active", "inactive"] | None = None
    camera_status_updated_at: AwareDatetime | None = None
    zone_id: str | None = Field(default=None, description="Omit to have the camera assigned by location.")


class CameraRegistration(CameraFields):
    camera_id: Uuid
    location_lat: float = Field(ge=-90, le=90, description="WGS84.")
    location_lon: float = Field(ge=-180, le=180, description="WGS84.")
    address_formatted: str = Field(min_length=1, max_length=300)
    camera_type: Literal["monitoring", "enforcement", "hybrid"]


class CameraUpdate(CameraFields):
    """camera_id plus the fields that changed; the others keep their registered values."""

    camera_id: Uuid
    location_lat: float | None = Field(default=None, ge=-90, le=90)
    location_lon: float | None = Field(default=None, ge=-180, le=180)
    address_formatted: str | None = Field(default=None, min_length=1, max_length=300)
    camera_type: Literal["monitoring", "enforcement", "hybrid"] | None = None


class _Envelope(BaseModel):
    schema_version: str = Field(pattern=SCHEMA_VERSION_PATTERN, examples=["anpr-2.0.0"])


class ObservationBatch(_Envelope):
    message_type: Literal["anpr_observation_batch"]
    payload: list[Observation] = Field(min_length=1)


class CameraRegistrationMessage(_Envelope):
    message_type: Literal["camera_registration"]
    payload: list[CameraRegistration] = Field(min_length=1)


class CameraUpdateMessage(_Envelope):
    message_type: Literal["camera_update"]
    payload: list[CameraUpdate] = Field(min_length=1)


Envelope = Annotated[ObservationBatch | CameraRegistrationMessage | CameraUpdateMessage,
                     Field(discriminator="message_type")]


class Receipt(BaseModel):
    status: Literal["accepted"]
    company: str
    requestId: str
    idempotencyKey: str | None
    timestamp: str = Field(description="UTC, RFC 3339 with milliseconds: when every message was acknowledged.")
    sizeBytes: int
    filename: str | None


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str
    trace_id: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class RejectionCount(BaseModel):
    day: str = Field(description="Day the platform received the messages (UTC), YYYY-MM-DD.")
    reason: str = Field(description="Reason code of the stream, e.g. BAD_UUID, EVENT_IN_FUTURE, LOW_CONFIDENCE.")
    count: int


class RejectionReport(BaseModel):
    supplier: str
    from_day: str
    to_day: str
    total: int
    rejections: list[RejectionCount]


class CameraState(BaseModel):
    camera_id: str
    municipality: str | None
    zone_id: str | None
    obverse_direction: str | None
    reverse_direction: str | None
    direction_source: str
    problem: str | None
    valid_from: datetime
    camera_status: str | None
