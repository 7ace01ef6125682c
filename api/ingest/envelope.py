"""A request body as one envelope of the contract, or the 400/422 that names its first problem.

The body is parsed and validated in one pass by the `Envelope` model. pydantic reports every problem
at once; a supplier gets the envelope's first (400, in the order message_type, schema_version,
payload) and only when the envelope is sound the camera fields (422). No answer quotes input values:
they may hold plates.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from anpr.contract import MESSAGE_TYPES
from api.common.errors import ApiError
from api.ingest.models import Envelope, Message

ENVELOPE: TypeAdapter[Message] = TypeAdapter(Envelope)
NOT_AN_OBJECT = frozenset({"dict_type", "model_type", "model_attributes_type"})


def parse_envelope(body: bytes) -> Message:
    """The validated message of a request body (UTF-8 JSON); ApiError 400 for envelope problems (not
    JSON, not an object, unknown message_type or schema_version, empty payload, an item not an object),
    else 422 `invalid_payload` naming up to ten invalid camera fields as payload[<item>.<field>]."""
    try:
        return ENVELOPE.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
    # pydantic lists the problems in field order (schema_version, then payload), so the first
    # envelope problem is the one the contract's order of checks finds first.
    for error in errors:
        problem = _envelope_problem(error)
        if problem is not None:
            raise ApiError(400, *problem) from None
    fields = "; ".join(f"payload[{'.'.join(str(p) for p in e['loc'][2:])}]: {e['msg']}" for e in errors[:10])
    raise ApiError(422, f"invalid camera payload: {fields}", "see the camera schema in the OpenAPI document",
                   code="invalid_payload")


def _envelope_problem(error: Any) -> tuple[str, str] | None:
    """(message, hint) of a problem of the envelope; None for one inside a camera payload item."""
    kind, loc = error["type"], error["loc"]
    if kind == "json_invalid":  # pydantic's text names only the position, e.g. "... at line 1 column 17"
        return f"body is not JSON: {error['ctx']['error']}", "send one JSON envelope per request"
    if not loc and kind.startswith("union_tag"):
        return f"message_type must be one of {', '.join(MESSAGE_TYPES)}", "see the OpenAPI document"
    if not loc:
        return "body is not a JSON object", "send {message_type, schema_version, payload}"
    at = loc[1:]  # loc[0] is the message type the body named
    if at == ("schema_version",):
        return ("schema_version must be anpr-2.<minor>.<patch>, e.g. anpr-2.0.0",
                "this service speaks version 2 of the contract")
    if at == ("payload",):
        return "payload must be an array of at least one item", "send one item or more per message"
    if len(at) == 2 and kind in NOT_AN_OBJECT:
        return f"payload[{at[1]}] is not a JSON object", "every payload item is an object"
    return None
