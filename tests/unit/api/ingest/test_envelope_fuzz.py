"""Fuzzing the ingest envelope: whatever the bytes, a documented answer, never a 5xx or a crash.

`parse_envelope` gives a message or the 400/422 ApiError of the contract; POST / with the same body
answers a documented status with the error body (or, for a message that passes every check, the
broker-less 503 `unavailable` of these unit tests: Kafka at a closed port).
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from anpr.contract import MESSAGE_TYPES
from api.common.errors import ApiError
from api.ingest.envelope import parse_envelope
from api.ingest.examples import EXAMPLES
from api.ingest.main import create_ingest_app
from tests.unit.api.ingest.test_ingest import KEY, error_of, make_services

BOUNDED = settings(max_examples=300, derandomize=True, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
# Lone surrogates included: JSON escapes them (\\udc00) and the surrogatepass bodies below carry them raw.
TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT | st.integers(0, 4000).map(lambda n: -(10**n))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=12)
EXAMPLE_ITEMS = [item for text in EXAMPLES.values() for item in json.loads(text)["payload"]]


def mutated(draw: st.DrawFn, item: dict) -> dict:
    """`item` with up to three fields dropped or replaced by anything, and up to two added."""
    item = dict(item)
    for key in draw(st.lists(st.sampled_from(sorted(item)), max_size=3, unique=True)):
        if draw(st.booleans()):
            del item[key]
        else:
            item[key] = draw(JSON)
    item.update(draw(st.dictionaries(TEXT, JSON, max_size=2)))
    return item


@st.composite
def items(draw: st.DrawFn) -> object:
    """A payload item: anything, or an example item of any message type mutated."""
    return draw(JSON) if draw(st.booleans()) else mutated(draw, draw(st.sampled_from(EXAMPLE_ITEMS)))


@st.composite
def near_valid(draw: st.DrawFn) -> bytes:
    """An example message whose items are mutated: most pass the envelope and reach the camera checks
    or Kafka."""
    message = json.loads(draw(st.sampled_from(sorted(EXAMPLES.values()))))
    message["payload"] = [mutated(draw, item) for item in message["payload"]]
    return json.dumps(message, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")


ENVELOPES = st.fixed_dictionaries(
    {"message_type": st.sampled_from(MESSAGE_TYPES) | TEXT,
     "schema_version": st.sampled_from(["anpr-2.0.0", "anpr-2.13.4"]) | JSON,
     "payload": st.lists(items(), max_size=3) | JSON},
    optional={"extra": JSON})


def deep(depth: int, opener: str) -> str:
    """A JSON value nested `depth` times: arrays or objects."""
    return opener * depth + "1" + ("]" if opener == "[" else "}") * depth


# Raw JSON text the generators above cannot give (json.dumps refuses such numbers and recursion).
EDGES = st.one_of(
    st.integers(1, 6000).map(lambda n: "9" * n),  # Python reads ints of up to 4300 digits (sys.int_info)
    st.integers(1, 3000).map(lambda n: deep(n, "[")),
    st.integers(1, 3000).map(lambda n: deep(n, '{"a":')),
    st.sampled_from(['"\\ud800"', '"\\udfff\\ud800"', "1e400", "-1e400", "NaN", "Infinity"]),
)
PLACEHOLDER = "@edge@"


@st.composite
def edge_envelopes(draw: st.DrawFn) -> bytes:
    """An example message with one field of its first item, or a field added to it, set to an edge value."""
    message = json.loads(draw(st.sampled_from(sorted(EXAMPLES.values()))))
    item = message["payload"][0]
    item[draw(st.sampled_from([*sorted(item), "attributes", "extensions", "x_extra"]))] = PLACEHOLDER
    return json.dumps(message).replace(f'"{PLACEHOLDER}"', draw(EDGES)).encode()


BODIES = st.one_of(
    st.binary(max_size=200),
    JSON.map(lambda v: json.dumps(v).encode()),
    ENVELOPES.map(lambda v: json.dumps(v).encode()),
    ENVELOPES.map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    edge_envelopes(),
    near_valid(),
    # Cut short or with a byte changed: mostly not JSON any more.
    st.tuples(ENVELOPES.map(lambda v: json.dumps(v).encode()), st.integers(0, 300), st.integers(0, 255)).map(
        lambda t: t[0][:t[1]] + bytes([t[2]]) + t[0][t[1] + 1:]),
)


@BOUNDED
@given(body=BODIES)
def test_any_body_parses_or_gets_the_contracts_400_or_422(body):
    try:
        message = parse_envelope(body)
    except ApiError as exc:
        assert exc.status in (400, 422) and exc.code in ("bad_request", "invalid_payload") and exc.message
        return
    assert message.message_type in MESSAGE_TYPES and message.payload


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    services = make_services(tmp_path_factory.mktemp("fuzz"), messages_per_minute=1_000_000)
    return TestClient(create_ingest_app(services), raise_server_exceptions=False)


@BOUNDED
@given(body=BODIES)
def test_any_body_gets_a_documented_answer_never_a_5xx_but_kafkas_503(client, body):
    answer = client.post("/", content=body, headers={"Content-Type": "application/json", "X-API-Key": KEY})
    event(f"status {answer.status_code}")  # --hypothesis-show-statistics: how many got how far
    assert answer.status_code in (400, 403, 422, 503), answer.text
    error = error_of(answer)
    assert answer.status_code != 503 or error["code"] == "unavailable"
