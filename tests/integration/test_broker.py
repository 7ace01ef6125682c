"""The embedded Apache Kafka broker: its log survives a restart, it stops cleanly on SIGTERM, it never
outlives a killed starter, a stale one is found and stopped, and missing parts read as one line."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from anpr.broker import (
    SEGMENT_MS,
    EmbeddedBroker,
    create_topics,
    high_watermarks,
    produce_all,
    reliable_producer,
    server_properties,
    serving_broker,
    set_retention,
)
from anpr.jvm import JvmError, jars, java_binary
from tests.polling import wait_until

pytestmark = pytest.mark.integration


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def cli_broker(data_dir: Path) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "ANPR_DATA_DIR": str(data_dir)}
    process = subprocess.Popen([sys.executable, "-m", "cli.main", "broker"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("Apache Kafka 4."), line
    port = int(line.split(" listening on 127.0.0.1:")[1].split(",")[0])
    return process, port


def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:  # {resource type: {resource name: {config key: config data}}}, only non-default keys
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    (by_name,) = described.values()
    return {key: data["value"] if isinstance(data, dict) else data for key, data in by_name[topic].items()}


def test_topics_and_offsets_survive_a_restart(tmp_path):
    broker = EmbeddedBroker(tmp_path / "broker").start()
    try:
        create_topics(broker.bootstrap, {"t": 3})
        with reliable_producer(broker.bootstrap) as producer:
            produce_all(producer, "t", [(None, b"m%d" % i, []) for i in range(300)])
        before, cluster, port = high_watermarks(broker.bootstrap, "t"), broker.cluster_id, broker.port
        broker.stop()
        assert not listening(port)
        broker.start()
        assert (broker.cluster_id, broker.port) == (cluster, port)
        assert high_watermarks(broker.bootstrap, "t") == before and sum(before.values()) == 300
        # Per-topic configs reach the broker; a compacted topic keeps its cleanup policy beside them.
        create_topics(broker.bootstrap, {"kept": 1, "cams": 1}, compacted=["cams"],
                      configs={"kept": {"retention.ms": "-1"}, "cams": {"retention.ms": "3600000"}})
        assert topic_config(broker.bootstrap, "kept")["retention.ms"] == "-1"
        assert topic_config(broker.bootstrap, "cams")["cleanup.policy"] == "compact"
        assert topic_config(broker.bootstrap, "cams")["retention.ms"] == "3600000"
        # Raw plates gone within 24 hours (the ingest contract): 22 h past hourly segments by default, and what
        # `anpr retention run` sets keeps the hourly segments and the topic's other configs.
        defaults = server_properties(tmp_path, 1, 2)
        assert (defaults["log.retention.hours"], defaults["log.roll.ms"]) == ("22", str(SEGMENT_MS))
        assert set_retention(broker.bootstrap, "cams", 5 * 3_600_000)
        cams = topic_config(broker.bootstrap, "cams")
        assert (cams["retention.ms"], cams["segment.ms"], cams["cleanup.policy"]) == ("18000000", "3600000", "compact")
        assert not set_retention(broker.bootstrap, "no-such-topic", 3_600_000)
    finally:
        broker.stop()


def test_sigterm_stops_the_cli_broker_cleanly(tmp_path):
    process, port = cli_broker(tmp_path)
    # a second `anpr broker` on the data directory says where the first listens, and leaves it running
    second = subprocess.run([sys.executable, "-m", "cli.main", "broker"], capture_output=True, text=True,
                            env={**os.environ, "ANPR_DATA_DIR": str(tmp_path)}, timeout=120, check=False)
    assert second.returncode == 1 and f"already serves {tmp_path / 'broker'} at 127.0.0.1:{port}" in second.stderr
    assert listening(port) and process.poll() is None
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0
    assert not listening(port)
    assert "shut down completed" in (tmp_path / "broker" / "broker.log").read_text()


def test_a_killed_starter_takes_its_broker_down(tmp_path):
    process, port = cli_broker(tmp_path)
    process.kill()
    process.wait()
    assert wait_until(lambda: not listening(port)), "the broker outlived the process that started it"


def test_a_stale_broker_of_an_earlier_run_is_reported_and_stopped(tmp_path, caplog):
    first = EmbeddedBroker(tmp_path / "broker").start()
    stale = first.process
    assert stale is not None
    first.process = None  # forgotten, as by a starter that died without stopping it
    try:
        with caplog.at_level(logging.WARNING, logger="anpr.broker"):
            second = EmbeddedBroker(tmp_path / "broker").start()
        try:
            assert stale.wait(timeout=30) is not None
            assert any("earlier run" in r.getMessage() for r in caplog.records)
            assert listening(second.port)
        finally:
            second.stop()
    finally:
        if stale.poll() is None:
            stale.kill()


def test_a_running_broker_of_the_data_directory_is_found_for_commands_without_one_configured(tmp_path):
    """`anpr feed` and `anpr stream` without a configured broker use this one instead of starting their own,
    which would stop it under whoever uses it (a review's case, stop 47); `anpr run` attaches to it, and
    leaves it running when it ends."""
    assert serving_broker(tmp_path / "broker") is None
    assert EmbeddedBroker(tmp_path / "broker").attach() is None
    broker = EmbeddedBroker(tmp_path / "broker").start()
    try:
        assert serving_broker(tmp_path / "broker") == broker.bootstrap
        user = EmbeddedBroker(tmp_path / "broker")
        assert broker.process is not None and user.attach() == broker.process.pid
        with user:
            assert user.process is None
            assert (user.bootstrap, user.cluster_id, user.version) == (broker.bootstrap, broker.cluster_id,
                                                                       broker.version)
        assert broker.process is not None and broker.process.poll() is None and listening(broker.port)
        # a broker whose starter is gone serves no one: stale, for the next start to stop
        gone = subprocess.Popen(["true"])
        gone.wait()
        (tmp_path / "broker" / "broker.pid").write_text(f"{broker.process.pid} {gone.pid}\n")
        assert serving_broker(tmp_path / "broker") is None
    finally:
        broker.stop()
    assert serving_broker(tmp_path / "broker") is None


def test_missing_jars_and_java_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("ANPR_JVM_DIR", str(tmp_path / "empty"))
    with pytest.raises(JvmError, match=r"no broker jars in .*: run `make install`"):
        jars("broker")
    done = subprocess.run([sys.executable, "-m", "cli.main", "broker"], capture_output=True, text=True,
                          env={**os.environ, "ANPR_JVM_DIR": str(tmp_path / "empty"),
                               "ANPR_DATA_DIR": str(tmp_path / "data")}, timeout=60, check=False)
    assert done.returncode == 1 and "run `make install`" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JvmError, match="Java 17 is not installed"):
        java_binary()
