"""`anpr feed csv` and `anpr feed synth` against a real ingest server (HTTPS on loopback) and the embedded broker."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest

from anpr.broker import free_port
from anpr.settings import CONF_DIR, ApiSettings, KafkaSettings, Settings
from anpr.tls import server_tls
from api.ingest.main import create_ingest_app
from api.ingest.services import build_services
from cli.main import parse
from cli.serve import base_url, in_thread, server_config
from tests.integration.api.ingest.test_ingest_broker import consume_committed
from tests.unit.jobs.feeds.test_feed_csv import BROKEN, PLATES, export

pytestmark = pytest.mark.integration
OBS = "anpr.observations"


@pytest.fixture
def ingest_settings(broker, tmp_path) -> Settings:
    # The exports are of March 2026: a lateness window of ten years lets them through as if read then.
    return Settings(data_dir=tmp_path / "data", kafka=KafkaSettings(bootstrap_servers=broker.bootstrap),
                    api=ApiSettings(ingest_port=free_port()), stream={"max_lateness_days": 3650})


@pytest.fixture
def ingest_server(ingest_settings, monkeypatch) -> Iterator[str]:
    services = build_services(ingest_settings, str(ingest_settings.kafka.bootstrap_servers))
    # over TLS as `anpr serve-ingest` serves it: the local profile's made certificate, which the feed
    # tools find through the same settings
    tls = server_tls(ingest_settings.api.ingest_tls, ingest_settings.data_dir, "ingest")
    config = server_config(create_ingest_app(services), tls, host="127.0.0.1", port=ingest_settings.api.ingest_port)
    monkeypatch.setenv("ANPR_FEED_API_KEY", "dev-ingest-key-demo-supplier")
    with in_thread(config):
        yield base_url("127.0.0.1", ingest_settings.api.ingest_port, tls is not None)
    services.publisher.close()


def cli(settings: Settings, argv: list[str]) -> int:
    args = parse(argv)
    return int(args.func(args, settings))


def test_a_dropped_csv_export_goes_through_the_ingest_endpoint_once(broker, ingest_server, ingest_settings, tmp_path,
                                                                     capsys):
    drop = tmp_path / "drop"
    drop.mkdir()
    export(drop, BROKEN, name="week-11.csv")
    assert cli(ingest_settings, ["feed", "csv", str(drop), "--url", ingest_server]) == 0
    published = consume_committed(broker.bootstrap, OBS)
    assert len(published) == 2
    assert {dict(r.headers)["supplier"] for r in published} == {b"demo-supplier"}
    assert {json.loads(r.value)["extensions"]["source_line"] for r in published} == {2, 11}
    report = json.loads((drop / "processed" / "week-11.csv.report.json").read_text())
    assert (report["bad"], [b["line"] for b in report["bad_rows"]]) == (8, [3, 4, 5, 6, 7, 8, 9, 12])
    assert not any(p in json.dumps(report) for p in PLATES)

    # The supplier drops the same export again: the same batches, the same keys, nothing new in Kafka.
    assert not (drop / "week-11.csv").exists() and not (drop / "processed" / "week-11.csv").exists()  # raw plates
    export(drop, BROKEN, name="week-11.csv")
    capsys.readouterr()
    assert cli(ingest_settings, ["feed", "csv", str(drop), "--url", ingest_server]) == 0
    assert len(consume_committed(broker.bootstrap, OBS)) == 2  # offsets also hold transaction markers
    assert "batches already delivered before 1" in capsys.readouterr().out

    # The mapping learns Locatie Neude (line 3) and the file is dropped again: its batch is new and reaches Kafka.
    mapping = tmp_path / "demo-supplier.toml"
    mapping.write_text((CONF_DIR / "feeds" / "demo-supplier.toml").read_text()
                       + '"Neude" = { camera_id = "83b6d668-bd12-54a9-981d-0071b5e90685" }\n')
    export(drop, BROKEN, name="week-11.csv")
    assert cli(ingest_settings, ["feed", "csv", str(drop), "--url", ingest_server, "--mapping", str(mapping)]) == 0
    assert len(consume_committed(broker.bootstrap, OBS)) == 5  # the batch of lines 2, 3 and 11
    assert "already delivered" not in capsys.readouterr().out
    lines = sorted(json.loads(r.value)["extensions"]["source_line"] for r in consume_committed(broker.bootstrap, OBS))
    assert lines == [2, 2, 3, 11, 11]  # the stream drops the repeated observation ids of lines 2 and 11


def test_synthetic_feeds_straight_to_kafka_and_through_the_endpoint(broker, ingest_server, ingest_settings,
                                                                      capsys):
    assert cli(ingest_settings, ["feed", "synth", "--via", "kafka", "--cities", "2", "--detections", "600",
                                 "--register-size", "200000"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["city_days"] == 2 and summary["non_json_left_out"] == 0
    records = consume_committed(broker.bootstrap, OBS)
    assert len(records) == summary["published"]
    assert set(Counter(dict(r.headers)["municipality"] for r in records)) == {b"GM0344", b"GM9001"}

    assert cli(ingest_settings, ["feed", "synth", "--via", "ingest", "--url", ingest_server, "--detections", "400",
                                 "--register-size", "200000", "--seed", "3"]) == 0
    through = json.loads(capsys.readouterr().out)
    assert through["non_json_left_out"] == 3  # the contract carries JSON only
    assert len(consume_committed(broker.bootstrap, OBS)) == summary["published"] + through["published"]

