"""Example messages of the ingest contract, one per message type, as JSON text.

The OpenAPI document, docs/ingest.md and the tests all use these texts unchanged. The plates are
synthetic side-code patterns, not registrations. Camera ids are the Utrecht demo cameras
(conf/municipalities/utrecht.toml) plus one new camera on the zone boundary.
"""

from __future__ import annotations

import json
from typing import Any

OBSERVATION_BATCH = """{
  "message_type": "anpr_observation_batch",
  "schema_version": "anpr-2.0.0",
  "payload": [
    {
      "observation_id": "3f0c9a52-6b1e-4c1a-9f57-0d4c2b7e8a11",
      "camera_id": "bbfee791-71aa-57d8-b4b9-d6f0b5588753",
      "event_time": "2025-06-02T07:15:42.123Z",
      "plate_country": "NL",
      "plate_text": "VX-123-B",
      "read_confidence": 0.97,
      "detection_direction": "obverse",
      "lane": 1
    },
    {
      "observation_id": "8d2e4f10-3a7b-4e5c-b1d2-9e8f7a6b5c4d",
      "camera_id": "379a27b6-a2e8-5d56-830b-d7cdfe538cce",
      "event_time": "2025-06-02T07:16:05.480Z",
      "plate_country": "DE",
      "plate_text": "B XY 1234",
      "read_confidence": 0.88,
      "detection_direction": "reverse",
      "lane": 2,
      "notes": "rear plate partly dirty",
      "extensions": {"supplier_class": "P"}
    }
  ]
}"""

CAMERA_REGISTRATION = """{
  "message_type": "camera_registration",
  "schema_version": "anpr-2.0.0",
  "payload": [
    {
      "camera_id": "5b7e2c44-1d3f-4a8b-9c6d-2e1f0a9b8c7d",
      "location_lat": 52.0828,
      "location_lon": 5.1160,
      "address_formatted": "Tolsteegsingel 1, 3582 AA Utrecht",
      "camera_type": "enforcement",
      "supplier_camera_ref": "UTR-TOL-01",
      "location_crs_additional": "EPSG:28992",
      "mount_height_m": 5.5,
      "azimuth_deg": 180,
      "tilt_deg": -12,
      "fov_deg": 30,
      "active_from": "2025-05-01T00:00:00.000Z",
      "deployment_type": "fixed",
      "traffic_direction": "bidirectional",
      "camera_status": "active",
      "camera_status_updated_at": "2025-05-01T00:00:00.000Z"
    }
  ]
}"""

CAMERA_UPDATE = """{
  "message_type": "camera_update",
  "schema_version": "anpr-2.0.0",
  "payload": [
    {
      "camera_id": "5b7e2c44-1d3f-4a8b-9c6d-2e1f0a9b8c7d",
      "camera_status": "inactive",
      "camera_status_updated_at": "2025-06-10T09:30:00.000Z",
      "attributes": {"notes_maintenance": "lens replaced"}
    }
  ]
}"""

EXAMPLES: dict[str, str] = {
    "anpr_observation_batch": OBSERVATION_BATCH,
    "camera_registration": CAMERA_REGISTRATION,
    "camera_update": CAMERA_UPDATE,
}


def openapi_examples() -> dict[str, dict[str, Any]]:
    return {name: {"summary": name, "value": json.loads(text)} for name, text in EXAMPLES.items()}
