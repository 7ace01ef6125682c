"""Offset planning of the anpr_kafka source, without a broker."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from pyspark.sql.datasource import CaseInsensitiveDict
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxBytes, ReadMaxRows

from streaming.kafka_offsets import (
    EARLIEST,
    LATEST,
    OffsetRange,
    cap_to_target,
    consumer_overrides,
    data_loss_message,
    max_rows_for,
    offset_ranges,
    offsets_from_json,
    offsets_to_json,
    parse_options,
    parse_starting_offsets,
    plan_end_offsets,
    resolve_starting_offsets,
    spread_limit,
)
from streaming.kafka_source import KafkaDataSource, _ColumnBuilder, kafka_schema
from streaming.source import read_kafka_stream

T = "anpr.observations"
BASE = {"kafka.bootstrap.servers": "127.0.0.1:9092", "subscribe": T}


def tp(partition: int, topic: str = T) -> tuple[str, int]:
    return (topic, partition)


# ---------------------------------------------------------------- options


def test_options_follow_spark_names_and_defaults() -> None:
    opts = parse_options(CaseInsensitiveDict(BASE))
    assert opts.topics == (T,)
    assert opts.starting_offsets == "latest"
    assert opts.max_offsets_per_trigger is None
    assert opts.fail_on_data_loss is True
    assert opts.include_headers is False


def test_options_are_case_insensitive() -> None:
    opts = parse_options({**BASE, "MAXOFFSETSPERTRIGGER": "500", "FailOnDataLoss": "False"})
    assert opts.max_offsets_per_trigger == 500
    assert opts.fail_on_data_loss is False


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"maxOffsetsPerTrigger": "0"}, "maxOffsetsPerTrigger"),
        ({"maxOffsetsPerTrigger": "many"}, "maxOffsetsPerTrigger"),
        ({"failOnDataLoss": "maybe"}, "failOnDataLoss"),
        ({"subscribe": " , "}, "subscribe"),
        ({"subscribePattern": "anpr.*"}, "subscribepattern"),
        ({"kafka.bootstrap.servers": ""}, "bootstrap"),
        ({"kafka.group.id": "mine"}, "managed"),
        ({"kafka.sasl.jaas.config": "x"}, "no kafka-python equivalent"),
    ],
)
def test_bad_options_are_rejected(extra: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_options({**BASE, **extra})


def test_kafka_prefixed_options_map_onto_kafka_python_settings() -> None:
    overrides = consumer_overrides({
        "kafka.bootstrap.servers": "x", "kafka.security.protocol": "SSL",
        "kafka.request.timeout.ms": "40000", "kafka.check.crcs": "true", "subscribe": T,
    })
    assert overrides == {"security_protocol": "SSL", "request_timeout_ms": 40000, "check_crcs": True}


def test_subscribe_splits_and_deduplicates_topics() -> None:
    assert parse_options({**BASE, "subscribe": " a, b ,a"}).topics == ("a", "b")


# ---------------------------------------------------------------- startingOffsets


def test_starting_offsets_keywords() -> None:
    assert parse_starting_offsets(" Earliest ", [T]) == "earliest"
    assert parse_starting_offsets("latest", [T]) == "latest"


def test_starting_offsets_json() -> None:
    spec = parse_starting_offsets(f'{{"{T}": {{"0": 23, "1": -2, "2": -1}}}}', [T])
    assert spec == {tp(0): 23, tp(1): EARLIEST, tp(2): LATEST}


@pytest.mark.parametrize(
    "text",
    [
        "newest",
        "[]",
        "{}",
        '{"other": {"0": 1}}',
        f'{{"{T}": {{}}}}',
        f'{{"{T}": [1, 2]}}',
        f'{{"{T}": {{"x": 1}}}}',
        f'{{"{T}": {{"-1": 1}}}}',
        f'{{"{T}": {{"0": -3}}}}',
        f'{{"{T}": {{"0": "5"}}}}',
        f'{{"{T}": {{"0": 1.5}}}}',
        f'{{"{T}": {{"0": true}}}}',
    ],
)
def test_bad_starting_offsets_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="startingOffsets"):
        parse_starting_offsets(text, [T])


EARLY = {tp(0): 0, tp(1): 5}
LATE = {tp(0): 100, tp(1): 50}


def test_resolve_keywords_to_broker_offsets() -> None:
    assert resolve_starting_offsets("earliest", EARLY, LATE) == EARLY
    assert resolve_starting_offsets("latest", EARLY, LATE) == LATE


def test_resolve_json_replaces_sentinels() -> None:
    assert resolve_starting_offsets({tp(0): LATEST, tp(1): EARLIEST}, EARLY, LATE) == {tp(0): 100, tp(1): 5}
    assert resolve_starting_offsets({tp(0): 42, tp(1): 7}, EARLY, LATE) == {tp(0): 42, tp(1): 7}


def test_resolve_json_must_name_every_partition_like_spark() -> None:
    with pytest.raises(ValueError, match="must specify all TopicPartitions"):
        resolve_starting_offsets({tp(0): 1}, EARLY, LATE)
    with pytest.raises(ValueError, match="must specify all TopicPartitions"):
        resolve_starting_offsets({tp(0): 1, tp(1): 1, tp(2): 1}, EARLY, LATE)


def test_offsets_json_round_trip_is_canonical() -> None:
    offsets = {("b", 10): 3, ("a", 2): 1, ("b", 9): 4}
    as_json = offsets_to_json(offsets)
    assert list(as_json) == ["a", "b"]
    assert list(as_json["b"]) == ["9", "10"]
    assert offsets_from_json(as_json) == offsets


# ---------------------------------------------------------------- limit spreading


@pytest.mark.parametrize(
    ("backlog", "limit"),
    [
        ({tp(0): 1000, tp(1): 1000, tp(2): 1}, 500),
        ({tp(0): 7, tp(1): 3, tp(2): 11, tp(3): 0}, 10),
        ({tp(0): 333, tp(1): 333, tp(2): 334}, 100),
        ({tp(p): p * 17 + 1 for p in range(12)}, 97),
        ({tp(0): 5, tp(1): 5, tp(2): 5}, 2),
        ({tp(0): 1, tp(1): 1}, 1),
    ],
)
def test_spread_limit_sums_to_limit_and_respects_backlog(backlog: dict, limit: int) -> None:
    shares = spread_limit(backlog, limit)
    assert sum(shares.values()) == limit
    assert all(0 <= shares[p] <= max(backlog[p], 0) for p in backlog)


def test_spread_limit_is_proportional_and_deterministic() -> None:
    backlog = {tp(0): 3000, tp(1): 1000, tp(2): 1000}
    assert spread_limit(backlog, 500) == {tp(0): 300, tp(1): 100, tp(2): 100}
    assert spread_limit(dict(reversed(list(backlog.items()))), 500) == spread_limit(backlog, 500)
    uneven = {tp(0): 10, tp(1): 10, tp(2): 10}
    assert spread_limit(uneven, 7) == {tp(0): 3, tp(1): 2, tp(2): 2}


def test_spread_limit_does_not_starve_small_partitions() -> None:
    shares = spread_limit({tp(0): 1_000_000, tp(1): 1_000_000, tp(2): 2}, 100)
    assert shares[tp(2)] >= 1


def test_spread_limit_takes_everything_under_the_limit() -> None:
    backlog = {tp(0): 10, tp(1): 0, tp(2): 5}
    assert spread_limit(backlog, 500) == backlog


def test_read_limits() -> None:
    assert max_rows_for(ReadAllAvailable()) is None
    assert max_rows_for(ReadMaxRows(500)) == 500
    with pytest.raises(ValueError, match="ReadMaxBytes"):
        max_rows_for(ReadMaxBytes(1))


# ---------------------------------------------------------------- end offsets


def test_plan_reads_everything_without_limit() -> None:
    plan = plan_end_offsets({tp(0): 10, tp(1): 20}, {tp(0): 0, tp(1): 0}, {tp(0): 50, tp(1): 20}, None)
    assert plan.end == {tp(0): 50, tp(1): 20}
    assert plan.data_loss == ()


def test_plan_honours_limit() -> None:
    start = {tp(0): 0, tp(1): 0, tp(2): 0}
    latest = {tp(0): 1000, tp(1): 1000, tp(2): 1000}
    plan = plan_end_offsets(start, dict.fromkeys(start, 0), latest, 300)
    assert plan.end == {tp(0): 100, tp(1): 100, tp(2): 100}


def test_new_partitions_are_recorded_at_earliest_then_read() -> None:
    start = {tp(0): 10}
    earliest = {tp(0): 0, tp(1): 4, ("other", 0): 0}
    latest = {tp(0): 10, tp(1): 40, ("other", 0): 7}
    first = plan_end_offsets(start, earliest, latest, None)
    assert first.end == {("other", 0): 0, tp(0): 10, tp(1): 4}
    assert offset_ranges(start, first.end) == []
    second = plan_end_offsets(first.end, earliest, latest, None)
    assert second.end == {("other", 0): 7, tp(0): 10, tp(1): 40}
    assert offset_ranges(first.end, second.end) == [OffsetRange(T, 1, 4, 40), OffsetRange("other", 0, 0, 7)]


def test_partition_behind_broker_end_is_data_loss_and_restarts_at_earliest() -> None:
    plan = plan_end_offsets({tp(0): 3000, tp(1): 10}, {tp(0): 0, tp(1): 0}, {tp(0): 200, tp(1): 20}, None)
    assert plan.end == {tp(0): 0, tp(1): 20}
    assert len(plan.data_loss) == 1 and "went back from offset 3000" in plan.data_loss[0]
    assert offset_ranges({tp(0): 3000, tp(1): 10}, plan.end) == [OffsetRange(T, 1, 10, 20)]
    assert plan_end_offsets(plan.end, {tp(0): 0, tp(1): 0}, {tp(0): 200, tp(1): 20}, None).end[tp(0)] == 200


def test_deleted_records_and_partitions_are_data_loss() -> None:
    plan = plan_end_offsets({tp(0): 5, tp(1): 9}, {tp(0): 50}, {tp(0): 80}, 10)
    assert plan.end == {tp(0): 60}
    assert any("deleted unread" in r for r in plan.data_loss)
    assert any("disappeared" in r for r in plan.data_loss)
    assert "failOnDataLoss=false" in data_loss_message(plan.data_loss)


def test_available_now_target_hides_later_data_and_partitions() -> None:
    target = {tp(0): 100}
    assert cap_to_target({tp(0): 150, tp(1): 10}, target) == {tp(0): 100}
    assert cap_to_target({tp(0): 150}, None) == {tp(0): 150}


# ---------------------------------------------------------------- input partitions


def test_offset_ranges_skip_empty_and_split_for_min_partitions() -> None:
    start = {tp(0): 0, tp(1): 100, tp(2): 7}
    end = {tp(0): 1000, tp(1): 100, tp(2): 7}
    assert offset_ranges(start, end) == [OffsetRange(T, 0, 0, 1000)]
    split = offset_ranges(start, end, min_partitions=4)
    assert [(r.start, r.end) for r in split] == [(0, 250), (250, 500), (500, 750), (750, 1000)]


def test_split_never_makes_empty_ranges() -> None:
    split = offset_ranges({tp(0): 0, tp(1): 0}, {tp(0): 2, tp(1): 1000}, min_partitions=50)
    assert all(r.size > 0 for r in split)
    assert sum(r.size for r in split) == 1002


# ---------------------------------------------------------------- schema


def test_schema_matches_spark_kafka_source() -> None:
    assert kafka_schema().simpleString() == (
        "struct<key:binary,value:binary,topic:string,partition:int,offset:bigint,"
        "timestamp:timestamp,timestampType:int>"
    )
    assert kafka_schema(True).fields[-1].simpleString() == "headers:array<struct<key:string,value:binary>>"


@pytest.mark.parametrize("include_headers", [False, True])
def test_arrow_batches_carry_the_schema_spark_expects(include_headers: bool) -> None:
    class Record:
        key, value, offset, timestamp, timestamp_type = None, b"v", 7, 1_700_000_000_123, 0
        headers = [("source", b"cam-1")]

    schema = to_arrow_schema(kafka_schema(include_headers), timezone="UTC")
    builder = _ColumnBuilder(schema, T, 3)
    builder.add(Record())
    batch = builder.flush()
    assert batch.schema.equals(schema)
    row = batch.to_pylist()[0]
    assert (row["partition"], row["offset"], row["timestamp"].timestamp()) == (3, 7, 1_700_000_000.123)
    if include_headers:
        assert row["headers"] == [{"key": "source", "value": b"cam-1"}]
    assert len(builder) == 0


def test_spread_limit_invariants_on_random_backlogs() -> None:
    rng = random.Random(20240611)
    for _ in range(500):
        backlog = {tp(p): rng.choice([0, 1, 2, rng.randint(0, 50), rng.randint(0, 10_000)]) for p in range(8)}
        limit = rng.randint(0, 2_000)
        shares = spread_limit(backlog, limit)
        waiting = [p for p, n in backlog.items() if n > 0]
        assert sum(shares.values()) == min(limit, sum(backlog.values()))
        assert all(0 <= shares[p] <= backlog[p] for p in backlog)
        if limit >= len(waiting):
            assert all(shares[p] >= 1 for p in waiting)
        assert spread_limit(dict(reversed(list(backlog.items()))), limit) == shares


# ---------------------------------------------------------------- backend selection


class _FakeStreamReader:
    def __init__(self) -> None:
        self.format_name: str | None = None
        self.options: dict[str, str] = {}

    def format(self, name: str) -> _FakeStreamReader:
        self.format_name = name
        return self

    def option(self, key: str, value: str) -> _FakeStreamReader:
        self.options[key] = value
        return self

    def load(self) -> _FakeStreamReader:
        return self


class _FakeSpark:
    def __init__(self) -> None:
        self.readStream = _FakeStreamReader()
        self.registered: list[type] = []
        self.dataSource = SimpleNamespace(register=self.registered.append)


def _settings(tmp_path, **kafka: object):
    from anpr.settings import Settings

    return Settings(data_dir=tmp_path, kafka=kafka)


@pytest.mark.parametrize(("backend", "fmt"), [("python", "anpr_kafka"), ("native", "kafka")])
def test_read_kafka_stream_picks_backend_with_same_options(tmp_path, backend: str, fmt: str) -> None:
    spark = _FakeSpark()
    settings = _settings(tmp_path, source=backend, bootstrap_servers="k1:9092,k2:9092",
                         max_offsets_per_trigger=7)
    reader = read_kafka_stream(spark, settings, ["a", "b"], starting_offsets="latest",
                               fail_on_data_loss=False)
    assert reader.format_name == fmt
    assert reader.options == {
        "kafka.bootstrap.servers": "k1:9092,k2:9092", "subscribe": "a,b", "startingOffsets": "latest",
        "maxOffsetsPerTrigger": "7", "failOnDataLoss": "false", "includeHeaders": "true",
    }
    assert spark.registered == ([KafkaDataSource] if backend == "python" else [])
    read_kafka_stream(spark, settings, "a")
    assert len(spark.registered) <= 1, "the source is registered once per session"


def test_read_kafka_stream_needs_bootstrap_servers(tmp_path) -> None:
    with pytest.raises(ValueError, match="bootstrap_servers"):
        read_kafka_stream(_FakeSpark(), _settings(tmp_path), "a")
