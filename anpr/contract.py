"""The ingest contract's field rules (CBS ingestion API v2), one definition for every stage that checks them.

The ingest service (api/ingest/) checks envelopes, camera payloads and the types and event_time of
observations with these at once; the stream (streaming/pipeline.py) checks observation content with
the same rules and quarantines with reason codes (its producers need not be the ingest service).
Patterns are plain strings because both Python's `re`/pydantic and Spark's `rlike` (Java regex) read
them: keep them to the syntax both share.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

import pycountry

MESSAGE_TYPES = ("anpr_observation_batch", "camera_registration", "camera_update")
SCHEMA_VERSION_PATTERN = r"^anpr-2\.\d+\.\d+$"  # this platform speaks major version 2

# The patterns are whole-string rules: Python's re.match and Java's find() (Spark's rlike) let `$` match before
# a final line break, so code matches them whole (re.fullmatch; streaming.pipeline.matches_whole), as
# pydantic's engine does.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_UUID = re.compile(UUID_PATTERN)
# The one event_time rule of door and stream: UTC, RFC 3339 with exactly milliseconds, e.g.
# 2025-06-02T07:15:42.123Z, and a real calendar moment. Other RFC 3339 forms (no fraction, a local
# offset) are refused rather than normalized: the contract asks for this form, and a supplier sending
# another is told at once (422) instead of losing its detections in quarantine. The lower-case t and z
# RFC 3339 allows (section 5.6) are the same moment and pass. A leap second (23:59:60) is refused: none
# is scheduled before the ITU ends them in 2035, and Spark's timestamps cannot hold one.
EVENT_TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}\.\d{3}([Zz]|[+-]00:00)$"
EVENT_TIME_RULE = "UTC, RFC 3339 with milliseconds, e.g. 2025-06-02T07:15:42.123Z"
COUNTRY_PATTERN = r"^[A-Z]{2}$"  # the shape of ISO 3166-1 alpha-2; is_country says whether a code is assigned
COUNTRY_RULE = "ISO 3166-1 alpha-2 as assigned, in upper case (e.g. NL, DE, BE; also XK and UK)"
# Not assigned by ISO but on plates on Dutch roads: XK, the code the EU and its vehicle registers use for
# Kosovo, and UK, reserved by ISO for the United Kingdom and its vehicles' sign since 2021 (GB before).
# Refusing them would quarantine real vehicles.
_USER_ASSIGNED = frozenset({"XK", "UK"})
# Normalized plate (upper case, letters and digits only): Dutch plates are always six characters;
# foreign formats vary within bounds.
NL_PLATE_PATTERN = r"^[0-9A-Z]{6}$"
OTHER_PLATE_PATTERN = r"^[0-9A-Z]{2,12}$"

MAX_BODY_BYTES = 50_000_000  # one request (envelope) to the ingest service: the contract's 50 MB
MAX_MESSAGE_BYTES = 64 * 1024  # one observation as the stream reads it from Kafka
MAX_CAMERA_BYTES = 1_000_000  # one camera record: under Kafka's default 1 MiB request, room for key and headers
# Integers beyond 64 bits: no consumer of the topics (the stream, Java clients) reads them.
MAX_INTEGER = 2**63 - 1

# JSON type of each observation field. The contract is typed: "1" is not a number, true is not a
# number, NaN and Infinity are not JSON; null counts as absent.
OBSERVATION_TYPES: dict[str, str] = {
    "observation_id": "string", "camera_id": "string", "event_time": "string", "plate_country": "string",
    "plate_text": "string", "read_confidence": "number", "detection_direction": "string", "lane": "integer",
    "notes": "string", "extensions": "object",
}
# The fields the stream reads from a message (the rest is only type-checked), and the SQL function that
# parses a message into them in one pass (nl.anpr.udf.ParseObservation, registered by anpr/spark.py).
STREAM_FIELDS = ("observation_id", "camera_id", "event_time", "plate_country", "plate_text", "read_confidence",
                 "detection_direction", "lane")
PARSE_FUNCTION = "anpr_parse_observation"
PARSE_CLASS = "nl.anpr.udf.ParseObservation"
_SQL_TYPES = {"string": "string", "integer": "int", "number": "double"}


@functools.cache
def country_codes() -> frozenset[str]:
    """The plate and address countries the contract accepts: ISO 3166-1 alpha-2 codes as assigned (249,
    pycountry's copy of the ISO list, read on first use), plus XK (Kosovo) and UK. Upper case only."""
    return frozenset(c.alpha_2 for c in pycountry.countries) | _USER_ASSIGNED


def is_uuid(text: str) -> bool:
    """Whether text is a whole uuid (UUID_PATTERN, any case). fullmatch: `$` also matches before a final newline."""
    return _UUID.fullmatch(text) is not None


def is_country(code: str) -> bool:
    """Whether code is a plate or address country the contract accepts (`country_codes`)."""
    return code in country_codes()


def parse_spec() -> str:
    """The contract as the parse function reads it: `name:kind:kept` per field, kept 1 for STREAM_FIELDS."""
    return ",".join(f"{name}:{kind}:{int(name in STREAM_FIELDS)}" for name, kind in OBSERVATION_TYPES.items())


def parsed_type() -> str:
    """The parse function's result as a Spark SQL type: STREAM_FIELDS typed, then bad_type and not_json."""
    fields = [f"{name}:{_SQL_TYPES[kind]}" for name, kind in OBSERVATION_TYPES.items() if name in STREAM_FIELDS]
    return f"struct<{','.join([*fields, 'bad_type:boolean', 'not_json:boolean'])}>"


_EVENT_TIME = re.compile(EVENT_TIME_PATTERN)


def type_problem(value: Any, kind: str) -> str | None:
    """Why a parsed JSON value (None for null) is not of the contract's `kind` (string | integer |
    number | object), None when it is. Booleans are not numbers and numbers must be finite."""
    if value is None:
        return None
    ok = {"string": isinstance(value, str),
          "integer": isinstance(value, int) and not isinstance(value, bool),
          "number": isinstance(value, int | float) and not isinstance(value, bool),
          "object": isinstance(value, dict)}[kind]
    if not ok:
        return f"must be a JSON {kind}" + (", not a string" if isinstance(value, str) else "")
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number (NaN and Infinity are not JSON)"
    return None


def event_time_problem(text: str) -> str | None:
    """Why `text` breaks the event_time rule (`EVENT_TIME_RULE`), None when it keeps it."""
    if _EVENT_TIME.fullmatch(text):
        try:
            datetime.fromisoformat(text[:23].upper())
            return None
        except ValueError:
            if text[17:19] == "60":
                return "is a leap second, which timestamps here cannot hold; send 23:59:59.999 instead"
            return f"is not a calendar moment; must be {EVENT_TIME_RULE}"
    return f"must be {EVENT_TIME_RULE}"


NOT_FINITE = "NaN and Infinity are not JSON numbers"
TOO_BIG = "an integer beyond 64 bits"


def key_at(position: int | None) -> str:
    """How a path names a key it must not spell out: by its position in its object (0 for the first), or
    `[a key]` when the position is not known. Keys of free-form objects (extensions, attributes) and keys
    outside the contract are supplier text, and some ANPR systems put plates in them."""
    return "[a key]" if position is None else f"[key {position}]"


def number_problems(value: Any, path: str = "", fields: Collection[str] = (),
                    positions: bool = True) -> Iterator[tuple[str, str]]:
    """(path, NOT_FINITE or TOO_BIG) of every number in a parsed JSON value that no consumer could
    read: NaN or Infinity (which pydantic's parser admits) and integers beyond 64 bits (which Python
    reads whole). Paths like `.lane`, `.extensions[key 0][2]`; "" for `value` itself. Only the keys of
    `value` in `fields` (the contract's field names) are named; every other key, and every key further
    down, is `key_at` its position (`[a key]` at the top without `positions`, for an object whose order
    is not the one sent)."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path, NOT_FINITE
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        yield path, TOO_BIG
    elif isinstance(value, dict):
        for position, (key, inner) in enumerate(value.items()):
            where = f".{key}" if key in fields else key_at(position if positions else None)
            yield from number_problems(inner, path + where)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from number_problems(inner, f"{path}[{i}]")
