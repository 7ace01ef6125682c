"""A request body as one envelope of the contract, or the 400/422 that names its first problem.

The body is parsed and validated in one pass by the `Envelope` model. pydantic reports every problem
at once; a supplier gets the envelope's first (400, in the order message_type, schema_version,
payload) and only when the envelope is sound the item fields (422): camera fields, and the types and
event_time of observations (the rules of anpr/contract.py, which the stream applies too). Numbers no
consumer could read (integers beyond 64 bits: 400; NaN or Infinity: 422) are refused in any item.
Problems are named as payload[<item>].<field>. No answer quotes input values, nor a key the contract
does not define (keys of extensions and attributes, unknown fields): they may hold plates. Such a key is
named by its position (`anpr.contract.key_at`).

A key repeated within one JSON object is refused (400) before anything else: parsers keep the last value
(pydantic's among them), so the first would be dropped without anyone knowing (RFC 8259 section 4: names
within an object should be unique; the behaviour of software that meets repeated ones is unpredictable).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from anpr.contract import (
    MESSAGE_TYPES,
    OBSERVATION_TYPES,
    TOO_BIG,
    event_time_problem,
    key_at,
    number_problems,
    type_problem,
)
from api.common.errors import ApiError
from api.ingest.models import CameraRegistration, CameraUpdate, Envelope, Message, ObservationBatch

ENVELOPE: TypeAdapter[Message] = TypeAdapter(Envelope)
NOT_AN_OBJECT = frozenset({"dict_type", "model_type", "model_attributes_type"})
# The names a path may spell out: the contract's fields (and the older spellings cameras are read under).
CAMERA_FIELDS = frozenset(
    name for model in (CameraRegistration, CameraUpdate) for field_name, f in model.model_fields.items()
    for name in (field_name, *(a for a in getattr(f.validation_alias, "choices", ()) if isinstance(a, str))))
OBSERVATION_FIELDS = frozenset(OBSERVATION_TYPES)
OUT_OF_CONTRACT = "is out of contract"


def parse_envelope(body: bytes) -> Message:
    """The validated message of a request body (UTF-8 JSON); ApiError 400 for envelope problems (not
    JSON, not an object, unknown message_type or schema_version, empty payload, an item not an object),
    else 400 or 422 `invalid_payload` naming up to ten invalid fields as payload[<item>].<field>."""
    repeated = repeated_key(body)
    if repeated is not None:
        raise ApiError(400, f"{repeated}; nothing of the message was published",
                       "send each key once per JSON object (RFC 8259 section 4)", code="repeated_key")
    try:
        message = ENVELOPE.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    else:
        _check_items(message)
        return message
    # pydantic lists the problems in field order (schema_version, then payload), so the first
    # envelope problem is the one the contract's order of checks finds first.
    for error in errors:
        problem = _envelope_problem(error)
        if problem is not None:
            raise ApiError(400, *problem) from None
    raise invalid_payload([(_where(e["loc"][2:]), _message(e)) for e in errors])


class _Object(dict):  # type: ignore[type-arg]
    """A JSON object as `repeated_key` reads it: `repeated` is its first key that comes twice, if any."""

    repeated: str | None = None


def _repeats(value: Any) -> _Object | None:
    """The first object within value (itself included) that repeats a key, depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Object):
            if item.repeated is not None:
                return item
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return None


def repeated_key(body: bytes) -> str | None:
    """Where the body's JSON repeats a key within one object, as a phrase (`payload[3].plate_text is given
    twice`; a key outside the contract unnamed), or None when no object does or the body is no JSON (which
    the envelope's validation then reports). About 1.1 s for a 54 MB batch of 178,000 observations (each with an
    extensions object); the objects are walked to find the place only when some key did repeat."""
    repeats = 0

    def read(pairs: list[tuple[str, Any]]) -> _Object:
        nonlocal repeats
        found = _Object(pairs)
        if len(found) != len(pairs):
            repeats += 1
            seen: set[str] = set()
            found.repeated = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        return found

    try:
        parsed = json.loads(body, object_pairs_hook=read)
    except (ValueError, RecursionError):
        return None
    if not repeats or not isinstance(parsed, _Object):
        return None
    if parsed.repeated is not None:
        known = parsed.repeated in ("message_type", "schema_version", "payload")
        return f"the envelope gives {parsed.repeated} twice" if known else "the envelope repeats a key"
    payload = parsed.get("payload")
    for i, item in enumerate(payload if isinstance(payload, list) else []):
        found = _repeats(item)
        if found is None:
            continue
        if found is item and found.repeated in OBSERVATION_FIELDS | CAMERA_FIELDS:
            return f"payload[{i}].{found.repeated} is given twice"
        return f"payload[{i}] repeats a key" + ("" if found is item else " in a nested object")
    others = [v for k, v in parsed.items() if k != "payload"]
    return "the envelope repeats a key in a nested object" if _repeats(others) is not None else None


def invalid_payload(problems: Sequence[tuple[str, str]]) -> ApiError:
    """422 `invalid_payload` naming up to ten (where, problem) pairs."""
    shown = "; ".join(f"{where}: {problem}" for where, problem in problems[:10])
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    return ApiError(422, f"invalid payload: {shown}{more}; nothing of the message was published",
                    "see the schemas in the OpenAPI document", code="invalid_payload")


def _where(loc: Sequence[int | str]) -> str:
    """payload[<item>].<field>[<index>]... of a location inside the payload array; a key is named only
    when it is a camera field (pydantic's location of a key in a free-form object gives no position)."""
    return f"payload[{loc[0]}]" + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" if depth == 0 and p in CAMERA_FIELDS else key_at(None)
        for depth, p in enumerate(loc[1:]))


def _message(error: Any) -> str:
    """pydantic's text of a problem, or OUT_OF_CONTRACT when it quotes the value it was given: pydantic
    leaves input out of its messages, but a message of a custom or future validator might not."""
    if error["type"] == "extra_forbidden":
        return "is not a field of the contract (a supplier's own fields go in attributes)"
    if error["type"] == "literal_error":  # the allowed values come from the schema; "monitor" is in "monitoring"
        return f"Input should be {error['ctx']['expected']}"
    given, text = error.get("input"), str(error["msg"])
    if isinstance(given, str) and len(given.strip()) > 1 and given in text:
        return f"{OUT_OF_CONTRACT} ({error['type']})"
    return text


def observation_problems(item: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, problem) of one observation's types and event_time; other content is the stream's."""
    for name, kind in OBSERVATION_TYPES.items():
        problem = type_problem(item.get(name), kind)
        if problem is not None:
            yield name, problem
    event_time = item.get("event_time")
    if isinstance(event_time, str) and (problem := event_time_problem(event_time)) is not None:
        yield "event_time", problem


def _check_items(message: Message) -> None:
    """400 for integers beyond 64 bits, else 422 for NaN/Infinity or mistyped observation fields."""
    too_big: list[str] = []
    problems: list[tuple[str, str]] = []
    # An observation is checked as sent; a camera as pydantic holds it, its own fields first and the rest
    # after them, so a key outside the contract is not given a position there.
    if isinstance(message, ObservationBatch):
        items, observations, fields = message.payload, True, OBSERVATION_FIELDS
    else:
        items, observations, fields = [m.model_dump() for m in message.payload], False, CAMERA_FIELDS
    for i, raw in enumerate(items):
        found: dict[str, str] = {}
        if observations:
            found.update((f"payload[{i}].{name}", problem) for name, problem in observation_problems(raw))
        for path, problem in number_problems(raw, fields=fields, positions=observations):
            if problem == TOO_BIG:
                too_big.append(f"payload[{i}]{path}")
            else:
                found.setdefault(f"payload[{i}]{path}", problem)
        problems.extend(found.items())
    if too_big:
        raise ApiError(400, f"{too_big[0]}: {TOO_BIG}; nothing of the message was published",
                       "send integers within 64 bits")
    if problems:
        raise invalid_payload(problems)


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
