"""Key rotation mid-stream on real Delta tables (issue 13): a batch under the old pepper, the register
re-keyed, the next batch refused by the running query and replayed under the new pepper; nothing lost,
nothing twice, no token links across the rotation, and the old pepper is destroyed only once its
passages are gone."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from pydantic import SecretStr

from anpr.keyring import KeyringError, Pepper, pepper_id
from anpr.lake import Lake, spark_to_arrow_schema
from anpr.pseudonym import period_token, vehicle_key
from anpr.register_tables import LOADS, LOADS_SCHEMA, OWNERS, OWNERS_SCHEMA, VEHICLES, VEHICLES_SCHEMA
from anpr.stream_tables import PASSAGES
from jobs.keys import destroy, passages_by_pepper, rotate
from streaming import pipeline as P
from streaming.job import ensure_tables
from streaming.sink import PassageSink, PepperRotated
from tests.unit.streaming.test_pipeline import cameras, kafka_rows, obs

pytestmark = pytest.mark.integration
OLD = b"key-rotation-test-old-pepper"
PLATES = ["VX-123-B", "TR-207-K"]  # synthetic, both in the register


def table(schema, dicts: list[dict]) -> pa.Table:
    arrow = spark_to_arrow_schema(schema)
    return pa.Table.from_pylist(dicts, schema=pa.schema([f for f in arrow if f.name in dicts[0]]))


def load_register(lake: Lake, pepper: Pepper) -> None:
    """Both vehicles keyed under `pepper`, and the load recorded as register loads record it."""
    value, since = pepper.read(), datetime(2026, 1, 1, tzinfo=UTC)
    keys = [vehicle_key(value, p, "NL") for p in PLATES]
    lake.append(VEHICLES, table(VEHICLES_SCHEMA, [{"vehicle_key": k, "valid_from": since,
                                                   "voertuig_type": "Bestelauto"} for k in keys]))
    lake.append(OWNERS, table(OWNERS_SCHEMA, [{"vehicle_key": k, "valid_from": since,
                                               "eigenaar_type": "Particulier"} for k in keys]))
    now = datetime.now(UTC)
    lake.append(LOADS, pa.Table.from_pylist([{
        "table_name": VEHICLES, "as_of": now.date(), "loaded_at": now, "source": "test", "pepper_id": pepper.id,
        "rows_in": 2, "rejected": 0, "inserted": 2, "closed": 0, "updated": 0}], spark_to_arrow_schema(LOADS_SCHEMA)))


def checked(spark, observations: list[dict], pepper: Pepper):
    """A checked micro-batch as the query's plan makes it, keys derived with `pepper`."""
    parsed = P.parse_observations(kafka_rows(spark, [json.dumps(o).encode() for o in observations]))
    return P.validate(P.attach_cameras(P.pseudonymize(parsed, pepper.path), cameras(spark)), 5, 7, 0.6)


def reads(first: int, last: int) -> list[dict]:
    return [obs(i, plate_text=PLATES[i % 2], event_time=f"2026-03-10T{i:02d}:00:00.000Z")
            for i in range(first, last + 1)]


def test_a_rotation_mid_stream_loses_nothing_doubles_nothing_and_links_no_token(spark, settings, tmp_path):
    own = settings.model_copy(update={
        "data_dir": tmp_path, "pepper": SecretStr(OLD.decode()),
        "stream": settings.stream.model_copy(update={"register_check_seconds": 0})})
    lake = Lake(str(tmp_path / "lake"), spark)
    ensure_tables(lake)
    load_register(lake, own.keyring().active(None))
    spark.sparkContext.setLocalProperty("sql.streaming.queryId", "rotation-query")
    try:
        running = PassageSink.open(spark, own, lake)
        assert running.pepper.id == pepper_id(OLD)
        running(checked(spark, reads(1, 4), running.pepper), 0)

        rotation = rotate(lake, own, lambda pepper: load_register(lake, pepper), synthetic=False)
        assert (rotation.old, rotation.abandoned) == (pepper_id(OLD), None)
        # The running query's plan still derives keys with the old pepper: its next batch writes nothing.
        with pytest.raises(PepperRotated):
            running(checked(spark, reads(5, 8), running.pepper), 1)
        assert running.rotated_to == rotation.new
        assert lake.read_arrow(PASSAGES).num_rows == 4

        restarted = PassageSink.open(spark, own, lake)  # run_stream restarts the query under the register's pepper
        assert restarted.pepper.id == rotation.new
        batch = checked(spark, reads(5, 8), restarted.pepper)
        restarted(batch, 1)
        restarted(batch, 1)  # replayed once more after a crash: insert-if-absent keeps it once
    finally:
        spark.sparkContext.setLocalProperty("sql.streaming.queryId", None)

    passages = lake.read_arrow(PASSAGES).to_pylist()
    assert sorted(p["observation_id"] for p in passages) == [o["observation_id"] for o in reads(1, 8)]
    assert all(p["register_hit"] and p["voertuig_type"] == "Bestelauto" for p in passages)
    new = Pepper(rotation.new, own.keyring().get(rotation.new).path, configured=False).read()
    by_id = {p["observation_id"]: p for p in passages}
    for o in reads(1, 8):
        pepper, pid = (OLD, pepper_id(OLD)) if int(o["observation_id"][-2:]) <= 4 else (new, rotation.new)
        token = period_token(pepper, "2026-03", vehicle_key(pepper, o["plate_text"], "NL"))
        assert (by_id[o["observation_id"]]["period_token"], by_id[o["observation_id"]]["pepper_id"]) == (token, pid)
    # Same vehicle, same month, both sides of the rotation: two tokens that share nothing.
    for plate in PLATES:
        tokens = {p["pepper_id"]: p["period_token"] for p in passages
                  if p["period_token"] in {period_token(x, "2026-03", vehicle_key(x, plate, "NL")) for x in (OLD, new)}}
        assert len(set(tokens.values())) == 2

    assert passages_by_pepper(lake) == {pepper_id(OLD): 4, rotation.new: 4}
    with pytest.raises(KeyringError, match="in use"):
        destroy(lake, own, rotation.new)
    with pytest.raises(KeyringError, match="still made 4 kept passages"):
        destroy(lake, own, pepper_id(OLD))
    lake.delete(PASSAGES, f"pepper_id = '{pepper_id(OLD)}'")  # what retention does once they expired
    with pytest.raises(KeyringError, match="configured pepper"):
        destroy(lake, own, pepper_id(OLD))

    # A rotated-in pepper, once rotated out again and its passages gone, is destroyed: its file too.
    second = rotate(lake, own, lambda pepper: load_register(lake, pepper), synthetic=False)
    assert second.old == rotation.new
    with pytest.raises(KeyringError, match="still made 4 kept passages"):
        destroy(lake, own, rotation.new)
    lake.delete(PASSAGES, f"pepper_id = '{rotation.new}'")
    path = own.keyring().get(rotation.new).path
    assert destroy(lake, own, rotation.new) == path
    assert rotation.new not in own.keyring().peppers()
    with pytest.raises(KeyringError, match="not held here"):
        destroy(lake, own, rotation.new)


@pytest.mark.timeout(900)
def test_the_running_stream_restarts_under_the_new_pepper_at_a_batch_boundary(spark, settings, broker, tmp_path):
    """`run_stream` itself: the register is re-keyed after the first batch; the query stops before the next
    one writes and starts again under the new pepper; every valid detection lands once."""
    from anpr.broker import create_topics, produce_all, reliable_producer
    from anpr.synth.detections import synth_day
    from anpr.zones import municipality_by_code
    from cli.demo import default_day
    from streaming.job import run_stream
    from tests.privacy import find_plates

    feed = synth_day(default_day(), municipality_by_code("GM0344").cameras, detections=600, seed=31)
    create_topics(broker.bootstrap, {"anpr.observations": 1})
    with reliable_producer(broker.bootstrap) as producer:
        produce_all(producer, "anpr.observations", feed.messages)
    own = settings.model_copy(update={
        "data_dir": tmp_path / "data", "pepper": SecretStr(OLD.decode()),
        "kafka": settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap,
                                                   "max_offsets_per_trigger": 200}),
        "stream": settings.stream.model_copy(update={"register_check_seconds": 0})})
    lake = Lake(str(tmp_path / "data" / "lake"), spark)
    rotations = []

    def rotate_after_first_batch(report) -> None:  # noqa: ANN001
        if not rotations:
            rotations.append(rotate(lake, own, lambda pepper: load_register(lake, pepper), synthetic=False))

    run_stream(spark, own, lake, until_idle=True, on_batch=rotate_after_first_batch)

    passages = lake.read_arrow(PASSAGES, columns=["observation_id", "pepper_id"]).to_pylist()
    ids = [p["observation_id"] for p in passages]
    assert len(ids) == len(set(ids)) and set(ids) == feed.valid_ids
    by_pepper = passages_by_pepper(lake)
    assert set(by_pepper) == {pepper_id(OLD), rotations[0].new}
    assert 0 < by_pepper[pepper_id(OLD)] < len(ids)
    assert find_plates(tmp_path / "data", [v.plate for v in feed.fleet]) == []
