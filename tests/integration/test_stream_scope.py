"""Data minimization through the real stream (issue 14): a private passenger car and a company van pass
one camera; the van becomes a passage, the car only increments the anonymous count, and no key or token
of the car exists anywhere the platform writes under its data directory."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from anpr.broker import create_topics, produce_all, reliable_producer
from anpr.pseudonym import period_token, vehicle_key
from anpr.stream_tables import OUT_OF_SCOPE, PASSAGES, STREAM_METRICS
from anpr.zones import municipality_by_code
from jobs.register import load_register_files
from tests.integration.test_register_load import PEPPER, write_samples
from tests.privacy import find_strings

pytestmark = pytest.mark.integration
TOPIC = "anpr.observations"
CAR, VAN = "12-DFG-3", "VZ-456-D"  # the register samples' private Toyota and a company's Renault van


def observation(camera_id: str, plate: str, when: datetime) -> dict:
    return {"observation_id": str(uuid.uuid4()), "camera_id": camera_id,
            "event_time": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
            "plate_country": "NL", "plate_text": plate, "read_confidence": 0.95, "detection_direction": "obverse",
            "lane": 1}


@pytest.mark.timeout(600)
def test_a_private_car_is_only_counted_and_leaves_no_key_or_token(spark, settings, broker, tmp_path):
    from anpr.lake import make_lake
    from streaming.job import run_stream

    local = settings.model_copy(update={
        "data_dir": tmp_path / "data", "pepper": SecretStr(PEPPER),
        "kafka": settings.kafka.model_copy(update={"bootstrap_servers": broker.bootstrap})})
    lake = make_lake(local, spark)
    when = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    load_register_files(lake, local, write_samples(tmp_path / "register"), when.date() - timedelta(days=1))
    camera = next(c for c in municipality_by_code("GM0344").cameras if c.obverse_direction is not None)
    car, van = observation(camera.camera_id, CAR, when), observation(camera.camera_id, VAN, when)
    create_topics(broker.bootstrap, {TOPIC: 1})
    with reliable_producer(broker.bootstrap) as producer:
        produce_all(producer, TOPIC, [(camera.camera_id.encode(), json.dumps(o).encode(), []) for o in (car, van)])

    run_stream(spark, local, lake, until_idle=True)

    passages = lake.read_arrow(PASSAGES).to_pylist()
    assert [(p["observation_id"], p["voertuig_type"], p["eigenaar_type"]) for p in passages] == [
        (van["observation_id"], "Bestelauto", "Bedrijf")]
    local_time = when.astimezone(ZoneInfo("Europe/Amsterdam"))
    [count] = lake.read_arrow(OUT_OF_SCOPE).to_pylist()
    assert count == {"municipality": "GM0344", "zone_id": camera.zone_id, "camera_id": camera.camera_id,
                     "rij_richting_zone": camera.obverse_direction, "event_date": local_time.date(),
                     "uur": local_time.hour, "detections": 1}
    metrics = lake.read_arrow(STREAM_METRICS).to_pylist()
    assert sum(m["out_of_scope"] for m in metrics) == 1 and sum(m["passages_written"] for m in metrics) == 1
    for m in metrics:
        assert m["rows_in"] == (m["passages_written"] + m["duplicates"] + m["double_reads"] + m["quarantined"]
                                + m["out_of_scope"]), m["batch_id"]

    pepper = PEPPER.encode()
    key = vehicle_key(pepper, CAR, "NL")
    token = period_token(pepper, local_time.strftime("%Y-%m"), key)
    data = local.data_dir
    # The register holds every Dutch vehicle's key by design (it is the enrichment's input): the scan finds
    # the car's key there, which shows it would find it anywhere else.
    assert any(f.startswith("lake/register") for f in find_strings(data, [key]))
    assert find_strings(data, [key, key[:16], token], exclude=["lake/register"]) == []
    van_token = period_token(pepper, local_time.strftime("%Y-%m"), vehicle_key(pepper, VAN, "NL"))
    assert find_strings(data, [van_token], exclude=["lake/register"])  # the van's passage holds its token
