"""How long the stream waits for a broker that does not answer, and the one line it stops with."""

from __future__ import annotations

from streaming.source import BrokerUnreachableError, unreachable_error, wait_options

# The tail of a StreamingQueryException's message when the broker stopped (a real one, from `anpr stream`).
FAILED = (
    "[STREAM_FAILED] Query [id = 9231, runId = 1fa3] terminated with exception: "
    "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment. Call: listNodes "
    "SQLSTATE: XXKST\n=== Streaming Query ===\nIdentifier: passages\n"
    "Caused by: org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment. "
    "Call: listNodes\n"
)


def test_three_tries_of_a_third_of_the_wait_and_a_request_timeout_kafka_accepts():
    assert wait_options(180) == {"fetchOffset.numRetries": "3", "kafka.default.api.timeout.ms": "60000",
                                 "kafka.request.timeout.ms": "30000"}
    # Kafka's clients refuse an API timeout below the request timeout; a short wait lowers both.
    assert wait_options(15) == {"fetchOffset.numRetries": "3", "kafka.default.api.timeout.ms": "5000",
                                "kafka.request.timeout.ms": "5000"}
    assert wait_options(1)["kafka.default.api.timeout.ms"] == "1000"


def test_a_kafka_timeout_becomes_one_line_naming_the_broker_and_what_to_do():
    error = unreachable_error(RuntimeError(FAILED), "127.0.0.1:9092", 180.0)
    assert isinstance(error, BrokerUnreachableError)
    line = str(error)
    assert "\n" not in line
    assert line.startswith("Kafka at 127.0.0.1:9092 did not answer for 180 s (TimeoutException: Timed out waiting "
                           "for a node assignment. Call: listNodes): is the broker running, and do the address, "
                           "CA file and password match it? `anpr broker` starts")
    assert "SQLSTATE" not in line and "resumes from its checkpoint" in line


def test_other_query_failures_are_not_taken_for_an_unreachable_broker():
    other = "[STREAM_FAILED] terminated with exception: java.lang.IllegalStateException: Cannot fetch offset 7"
    assert unreachable_error(RuntimeError(other), "127.0.0.1:9092", 180.0) is None


def test_a_stream_started_without_a_broker_stops_in_one_line_before_its_query(spark, settings, tmp_path):
    import pytest

    from anpr.broker import free_port
    from anpr.lake import make_lake
    from streaming.job import run_stream

    servers = f"127.0.0.1:{free_port()}"  # nothing listens there
    local = settings.model_copy(update={"data_dir": tmp_path / "data", "kafka": settings.kafka.model_copy(
        update={"bootstrap_servers": servers})})
    with pytest.raises(BrokerUnreachableError) as raised:
        run_stream(spark, local, make_lake(local, spark), until_idle=True)
    line = str(raised.value)
    assert line.startswith(f"Kafka at {servers} did not answer at the start (KafkaTimeoutError: Unable to "
                           f"bootstrap from {servers}): is the broker running, and do the address, CA file and "
                           "password match it?"), line
    assert "KafkaTimeoutError: KafkaTimeoutError" not in line and "\n" not in line
    assert not spark.streams.active
