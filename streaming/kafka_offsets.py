"""Pure parts of the ``anpr_kafka`` source: option parsing and offset planning.

Kept apart from ``streaming.kafka_source`` (broker access, Arrow conversion, Spark reader) so the
planning can be read on its own and tested without a broker or a Spark session: every function
here works on plain ``{(topic, partition): offset}`` maps and strings.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer
from pyspark.sql.datasource import InputPartition
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxRows

SHORT_NAME = "anpr_kafka"
EARLIEST = -2  # as in Spark's per-partition startingOffsets JSON
LATEST = -1

Partition = tuple[str, int]
PartitionOffsets = dict[Partition, int]
JsonOffsets = dict[str, dict[str, int]]
StartingOffsets = str | PartitionOffsets

# Options the source owns: letting a user set them would break offset tracking or the schema.
_MANAGED_CONSUMER_KEYS = frozenset({
    "bootstrap_servers", "group_id", "auto_offset_reset", "enable_auto_commit",
    "key_deserializer", "value_deserializer", "allow_auto_create_topics",
})


class DataLossError(RuntimeError):
    """Offsets the checkpoint expects are gone from the broker."""


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class SourceOptions:
    bootstrap_servers: str
    topics: tuple[str, ...]
    starting_offsets: StartingOffsets = "latest"
    max_offsets_per_trigger: int | None = None
    fail_on_data_loss: bool = True
    include_headers: bool = False
    min_partitions: int | None = None
    poll_timeout_ms: int = 120_000
    consumer_config: tuple[tuple[str, Any], ...] = ()


def parse_options(options: Mapping[str, str]) -> SourceOptions:
    """Validate the reader options once, with the names and defaults of Spark's kafka source."""
    opts = {key.lower(): value for key, value in options.items()}
    for unsupported in ("assign", "subscribepattern", "endingoffsets"):
        if unsupported in opts:
            raise ValueError(f"option {unsupported!r} is not supported by {SHORT_NAME}; use 'subscribe'")
    servers = opts.get("kafka.bootstrap.servers", "").strip()
    if not servers:
        raise ValueError(f"{SHORT_NAME} needs the option 'kafka.bootstrap.servers'")
    topics = parse_topics(opts.get("subscribe", ""))
    limit = opts.get("maxoffsetspertrigger")
    min_partitions = opts.get("minpartitions")
    return SourceOptions(
        bootstrap_servers=servers,
        topics=topics,
        starting_offsets=parse_starting_offsets(opts.get("startingoffsets", "latest"), topics),
        max_offsets_per_trigger=None if limit is None else _positive_int("maxOffsetsPerTrigger", limit),
        fail_on_data_loss=_bool("failOnDataLoss", opts.get("failondataloss", "true")),
        include_headers=_bool("includeHeaders", opts.get("includeheaders", "false")),
        min_partitions=None if min_partitions is None else _positive_int("minPartitions", min_partitions),
        poll_timeout_ms=_positive_int(
            "kafkaConsumer.pollTimeoutMs", opts.get("kafkaconsumer.polltimeoutms", "120000")
        ),
        consumer_config=tuple(sorted(consumer_overrides(opts).items())),
    )


def parse_topics(subscribe: str) -> tuple[str, ...]:
    topics = tuple(dict.fromkeys(t.strip() for t in subscribe.split(",") if t.strip()))
    if not topics:
        raise ValueError(f"{SHORT_NAME} needs the option 'subscribe' (comma-separated topic names)")
    return topics


def parse_starting_offsets(text: str, topics: Sequence[str]) -> StartingOffsets:
    """'earliest', 'latest' or Spark's JSON {"topic": {"0": 23, "1": -2}} (-2 earliest, -1 latest)."""
    value = text.strip()
    if value.lower() in ("earliest", "latest"):
        return value.lower()
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(
            "startingOffsets must be 'earliest', 'latest' or JSON like "
            f'{{"topic": {{"0": 23, "1": -2}}}}; got {text!r}'
        ) from exc
    if not isinstance(parsed, dict) or not parsed:
        raise ValueError(f"startingOffsets JSON must be a non-empty object of topics; got {text!r}")
    spec: PartitionOffsets = {}
    for topic, partitions in parsed.items():
        if topic not in topics:
            raise ValueError(f"startingOffsets names topic {topic!r}, not one of subscribe {list(topics)}")
        if not isinstance(partitions, dict) or not partitions:
            raise ValueError(f"startingOffsets for topic {topic!r} must be a non-empty object of partitions")
        for partition, offset in partitions.items():
            spec[(topic, _partition_id(topic, partition))] = _start_offset(topic, partition, offset)
    return spec


def _partition_id(topic: str, partition: str) -> int:
    try:
        pid = int(partition)
    except ValueError:
        pid = -1
    if pid < 0:
        raise ValueError(f"startingOffsets: {partition!r} of topic {topic!r} is not a partition number")
    return pid


def _start_offset(topic: str, partition: str, offset: object) -> int:
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < EARLIEST:
        raise ValueError(
            f"startingOffsets: offset {offset!r} for {topic}-{partition} must be an integer >= 0, "
            "-2 (earliest) or -1 (latest)"
        )
    return offset


def consumer_overrides(opts: Mapping[str, str]) -> dict[str, Any]:
    """Map Spark-style ``kafka.<java.name>`` options onto kafka-python's ``<java_name>`` settings."""
    overrides: dict[str, Any] = {}
    for key, value in opts.items():
        if not key.startswith("kafka.") or key == "kafka.bootstrap.servers":
            continue
        name = key.removeprefix("kafka.").replace(".", "_")
        if name in _MANAGED_CONSUMER_KEYS:
            raise ValueError(f"option {key!r} is managed by {SHORT_NAME} and cannot be set")
        if name not in KafkaConsumer.DEFAULT_CONFIG:
            raise ValueError(f"option {key!r} has no kafka-python equivalent ({name!r})")
        overrides[name] = _coerce(key, value, KafkaConsumer.DEFAULT_CONFIG[name])
    return overrides


def _coerce(key: str, value: str, default: object) -> Any:
    if isinstance(default, bool):
        return _bool(key, value)
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def _bool(name: str, value: str) -> bool:
    lowered = str(value).strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"option {name} must be true or false; got {value!r}")
    return lowered == "true"


def _positive_int(name: str, value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise ValueError(f"option {name} must be a positive integer; got {value!r}")
    return number


# ---------------------------------------------------------------- offset planning (pure)


def offsets_to_json(offsets: Mapping[Partition, int]) -> JsonOffsets:
    """Spark compares offsets as JSON text, so the key order must be canonical."""
    result: JsonOffsets = {}
    for (topic, partition), offset in sorted(offsets.items()):
        result.setdefault(topic, {})[str(partition)] = int(offset)
    return result


def offsets_from_json(offsets: Mapping[str, Mapping[str, int]]) -> PartitionOffsets:
    return {(topic, int(p)): int(o) for topic, parts in offsets.items() for p, o in parts.items()}


def resolve_starting_offsets(
    spec: StartingOffsets, earliest: Mapping[Partition, int], latest: Mapping[Partition, int]
) -> PartitionOffsets:
    """Concrete first offsets; ``earliest``/``latest`` hold every partition that exists now."""
    if spec == "earliest":
        return dict(sorted(earliest.items()))
    if spec == "latest":
        return dict(sorted(latest.items()))
    assert isinstance(spec, dict)
    if set(spec) != set(latest):
        raise ValueError(
            "If startingOffsets contains specific offsets, you must specify all TopicPartitions. "
            "Use -1 for latest, -2 for earliest. "
            f"Specified: {_names(spec)} Assigned: {_names(latest)}"
        )
    resolved = {tp: earliest[tp] if off == EARLIEST else latest[tp] if off == LATEST else off
                for tp, off in spec.items()}
    return dict(sorted(resolved.items()))


def spread_limit(backlog: Mapping[Partition, int], limit: int) -> dict[Partition, int]:
    """Rows each partition may admit: together min(limit, total backlog), none above its backlog.

    Shares follow the backlog by largest remainder with ties broken by partition, so a replanned
    batch gets the same split. Each waiting partition gets at least one row while the limit allows,
    so a quiet partition is not starved behind busy ones.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0; got {limit}")
    result = {tp: max(n, 0) for tp, n in sorted(backlog.items())}
    waiting = {tp: n for tp, n in result.items() if n > 0}
    total = sum(waiting.values())
    if total <= limit:
        return result
    result = dict.fromkeys(result, 0)
    if limit < len(waiting):
        for tp in sorted(waiting, key=lambda tp: (-waiting[tp], tp))[:limit]:
            result[tp] = 1
        return result
    remainders: dict[Partition, int] = {}
    for tp, n in waiting.items():
        result[tp], remainders[tp] = divmod(limit * n, total)
    left = limit - sum(result.values())
    # Fractions sum to `left` and each is below 1, so the first `left` all have a remainder.
    for tp in sorted(waiting, key=lambda tp: (-remainders[tp], tp))[:left]:
        result[tp] += 1
    # With limit >= len(waiting) a share of 0 implies another of >= 2 to take the row from.
    for tp in [tp for tp in waiting if result[tp] == 0]:
        donor = min(waiting, key=lambda p: (-result[p], p))
        result[donor] -= 1
        result[tp] = 1
    return result


@dataclass(frozen=True)
class OffsetPlan:
    end: PartitionOffsets
    data_loss: tuple[str, ...] = ()


def plan_end_offsets(
    start: Mapping[Partition, int],
    earliest: Mapping[Partition, int],
    latest: Mapping[Partition, int],
    max_rows: int | None,
) -> OffsetPlan:
    """End offsets of the next batch, and any data loss seen between the checkpoint and the broker.

    A partition that went backwards (broker restarted empty) ends at its earliest offset, so the
    batch after this one reads it again from the start. New partitions are first recorded at their
    earliest offset and read from the next batch on: the checkpoint then holds their start, which
    keeps a replanned batch identical even if the broker's earliest offset moves meanwhile.
    """
    end: PartitionOffsets = {}
    losses: list[str] = []
    readable_from: PartitionOffsets = {}
    for tp, offset in sorted(start.items()):
        if tp not in latest:
            losses.append(f"{_name(tp)} disappeared from the broker at offset {offset}")
        elif offset > latest[tp]:
            losses.append(f"{_name(tp)} went back from offset {offset} to end offset {latest[tp]}")
            end[tp] = earliest[tp]
        else:
            if offset < earliest[tp]:
                losses.append(f"{_name(tp)} offsets {offset} to {earliest[tp] - 1} were deleted unread")
            readable_from[tp] = max(offset, earliest[tp])
    for tp in latest.keys() - start.keys():
        end[tp] = earliest[tp]
    backlog = {tp: latest[tp] - offset for tp, offset in readable_from.items()}
    admitted = backlog if max_rows is None else spread_limit(backlog, max_rows)
    for tp, offset in readable_from.items():
        end[tp] = offset + admitted[tp]
    return OffsetPlan(dict(sorted(end.items())), tuple(losses))


def cap_to_target(
    offsets: Mapping[Partition, int], target: Mapping[Partition, int] | None
) -> PartitionOffsets:
    """Hide data past the Trigger.AvailableNow target, including partitions created after it."""
    if target is None:
        return dict(offsets)
    return {tp: min(offset, target[tp]) for tp, offset in offsets.items() if tp in target}


def max_rows_for(limit: ReadLimit) -> int | None:
    if isinstance(limit, ReadAllAvailable):
        return None
    if isinstance(limit, ReadMaxRows):
        return int(limit.max_rows)
    raise ValueError(f"{SHORT_NAME} supports ReadAllAvailable and ReadMaxRows, not {type(limit).__name__}")


@dataclass(frozen=True)
class OffsetRange(InputPartition):
    """Offsets [start, end) of one topic-partition: one Spark task."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def offset_ranges(
    start: Mapping[Partition, int], end: Mapping[Partition, int], min_partitions: int | None = None
) -> list[OffsetRange]:
    """Non-empty ranges of a batch; partitions absent from ``start`` were only just recorded."""
    ranges = [
        OffsetRange(topic, partition, start[(topic, partition)], until)
        for (topic, partition), until in sorted(end.items())
        if (topic, partition) in start and until > start[(topic, partition)]
    ]
    return split_ranges(ranges, min_partitions)


def split_ranges(ranges: Sequence[OffsetRange], min_partitions: int | None) -> list[OffsetRange]:
    """Split ranges in proportion to their size until there are about ``min_partitions`` tasks."""
    if min_partitions is None or len(ranges) >= min_partitions:
        return list(ranges)
    total = sum(r.size for r in ranges)
    result: list[OffsetRange] = []
    for r in ranges:
        parts = min(r.size, max(1, round(r.size * min_partitions / total)))
        bounds = [r.start + r.size * i // parts for i in range(parts + 1)]
        result.extend(OffsetRange(r.topic, r.partition, lo, hi) for lo, hi in itertools.pairwise(bounds))
    return result


def data_loss_message(reasons: Sequence[str]) -> str:
    return (
        "Kafka data loss: " + "; ".join(reasons) + ". The data is no longer in Kafka: it aged out, "
        "the topic was deleted, or the broker was reset (the embedded broker keeps messages in memory "
        "only). The query fails because failOnDataLoss is true; set the source option "
        "failOnDataLoss=false to accept the loss and restart such partitions from their earliest offset."
    )


def _name(tp: Partition) -> str:
    return f"{tp[0]}-{tp[1]}"


def _names(offsets: Mapping[Partition, int]) -> list[str]:
    return [_name(tp) for tp in sorted(offsets)]

