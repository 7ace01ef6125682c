"""The ingest contract's field rules (CBS ingestion API v2), one definition for every stage that checks them.

The ingest service (api/ingest/) checks envelopes and camera payloads with these at once; the stream
(streaming/pipeline.py) checks observation content with the same rules and quarantines with reason
codes. Patterns are plain strings because both Python's `re`/pydantic and Spark's `rlike` (Java
regex) read them: keep them to the syntax both share.
"""

from __future__ import annotations

MESSAGE_TYPES = ("anpr_observation_batch", "camera_registration", "camera_update")
SCHEMA_VERSION_PATTERN = r"^anpr-2\.\d+\.\d+$"  # this platform speaks major version 2

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# UTC, RFC 3339 with exactly milliseconds, e.g. 2025-06-02T07:15:42.123Z
EVENT_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]00:00)$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"  # ISO 3166-1 alpha-2
# Normalized plate (upper case, letters and digits only): Dutch plates are always six characters;
# foreign formats vary within bounds.
NL_PLATE_PATTERN = r"^[0-9A-Z]{6}$"
OTHER_PLATE_PATTERN = r"^[0-9A-Z]{2,12}$"

MAX_BODY_BYTES = 50 * 1024 * 1024  # one request (envelope) to the ingest service
MAX_MESSAGE_BYTES = 64 * 1024  # one observation as the stream reads it from Kafka
