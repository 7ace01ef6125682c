"""Exactly once across crashes: kill the streaming driver at random points, restart, compare."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from deltalake import DeltaTable

from anpr.broker import create_topics, produce_all, reliable_producer
from anpr.stream_tables import OUT_OF_SCOPE, PASSAGES, QUARANTINE, STREAM_METRICS
from anpr.synth.detections import synth_day
from anpr.zones import municipality_by_code
from cli.demo import default_day
from streaming.sink import PassageSink
from tests.privacy import find_plates

pytestmark = pytest.mark.integration
TOPIC = "anpr.observations"


def stream_process(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    # A session of its own, so a kill takes the Spark JVM down with the driver, as a crash would. The CLI's
    # one-line errors go to stream.err beside the data dir, for a failure's message (`errors`).
    with open(Path(env["ANPR_DATA_DIR"]).parent / "stream.err", "ab") as err:
        return subprocess.Popen([sys.executable, "-m", "cli.main", "stream", *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)


def publish(broker, messages, partitions: int | None = None) -> None:
    """Produce a feed's messages to the test broker's observations topic (created first with partitions)."""
    if partitions is not None:
        create_topics(broker.bootstrap, {TOPIC: partitions})
    with reliable_producer(broker.bootstrap) as producer:
        produce_all(producer, TOPIC, messages)


def stream_env(broker, tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of an `anpr stream` on the test's broker and data directory, on local[2], plus
    ANPR_* settings."""
    return {**os.environ, "ANPR_DATA_DIR": str(tmp_path / "data"), "ANPR_KAFKA__BOOTSTRAP_SERVERS": broker.bootstrap,
            "ANPR_SPARK__MASTER": "local[2]", "ANPR_SPARK__SHUFFLE_PARTITIONS": "2", **settings}


def errors(env: dict[str, str]) -> str:
    path = Path(env["ANPR_DATA_DIR"]).parent / "stream.err"
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def delta_rows(path: Path, columns: list[str] | None = None) -> list[dict]:
    """Read without Spark (delta-rs), as an outside checker would; no rows until the first commit is in the log
    (the folder and its `_delta_log` appear before it)."""
    if not DeltaTable.is_deltatable(str(path)):
        return []
    return DeltaTable(str(path)).to_pyarrow_table(columns=columns).to_pylist()


@pytest.mark.timeout(1200)
def test_killed_stream_and_restarted_broker_write_each_valid_detection_once(broker, tmp_path):
    """Three SIGKILLs of the driver at random points and a broker restart between them; then a drain."""
    feed = synth_day(default_day(), municipality_by_code("GM0344").cameras, detections=5_000, seed=11)
    publish(broker, feed.messages, partitions=4)
    env = stream_env(broker, tmp_path, ANPR_KAFKA__MAX_OFFSETS_PER_TRIGGER="300", ANPR_STREAM__TRIGGER_SECONDS="0.2")
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    passages = tmp_path / "data" / "lake" / PASSAGES
    written_between_kills = []
    for kill in range(3):
        process = stream_process(env)
        time.sleep(rng.uniform(15, 30))  # Spark with its connectors starts in about 10 s
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        written_between_kills.append(len(delta_rows(passages, ["observation_id"])))
        if kill == 1:
            broker.stop()  # a controlled restart: the log and the committed offsets must survive it
            broker.start()
    final = stream_process(env, "--until-idle")
    assert final.wait(timeout=600) == 0, f"final drain failed (kill seed {seed}): {errors(env)}"

    ids = [r["observation_id"] for r in delta_rows(passages, ["observation_id"])]
    assert len(ids) == len(set(ids)), f"duplicated passages (kill seed {seed})"
    assert set(ids) == feed.valid_ids, f"passages differ from the valid input (kill seed {seed})"
    assert written_between_kills[-1] < len(ids) or written_between_kills[0] > 0, "kills missed the stream"
    quarantined = delta_rows(tmp_path / "data" / "lake" / QUARANTINE, ["kafka_partition", "kafka_offset"])
    assert len(quarantined) == len({(q["kafka_partition"], q["kafka_offset"]) for q in quarantined})
    # Every record read is accounted for, per batch and in all, across the kills and the replays they cause.
    metrics = delta_rows(tmp_path / "data" / "lake" / STREAM_METRICS)
    for m in metrics:
        assert m["rows_in"] == (m["passages_written"] + m["duplicates"] + m["double_reads"]
                                + m["quarantined"] + m["out_of_scope"]), m["batch_id"]
    assert sum(m["rows_in"] for m in metrics) == len(feed.messages), f"kill seed {seed}"
    assert sum(m["quarantined"] for m in metrics) == len(quarantined)
    assert len({(m["query_id"], m["batch_id"]) for m in metrics}) == len(metrics), f"kill seed {seed}"
    dropped = delta_rows(tmp_path / "data" / "lake" / OUT_OF_SCOPE, ["detections"])
    assert sum(d["detections"] for d in dropped) == sum(m["out_of_scope"] for m in metrics), f"kill seed {seed}"
    assert find_plates(tmp_path / "data", [v.plate for v in feed.fleet]) == []


def feed_batch(spark, settings, feed):
    """A feed's messages as the checked streaming frame one micro-batch would hand the sink."""
    from streaming.job import checked_stream
    from tests.unit.streaming.test_pipeline import KAFKA_SCHEMA

    now = datetime.now(UTC)
    rows = [(key, value, TOPIC, 0, i, now, 0) for i, (key, value, _) in enumerate(feed.messages)]
    return checked_stream(spark, settings, spark.createDataFrame(rows, KAFKA_SCHEMA))


@pytest.fixture
def sink_lake(spark, settings, tmp_path):
    from anpr.lake import make_lake
    from streaming.job import ensure_tables

    local = settings.model_copy(update={"data_dir": tmp_path / "data"})
    lake = make_lake(local, spark)
    ensure_tables(lake)
    spark.sparkContext.setLocalProperty("sql.streaming.queryId", "sink-test")
    yield local, lake
    spark.sparkContext.setLocalProperty("sql.streaming.queryId", None)


def test_a_replayed_batch_writes_nothing_twice(spark, sink_lake):
    local, lake = sink_lake
    feed = synth_day(default_day(), municipality_by_code("GM0344").cameras, detections=400, seed=5)
    batch = feed_batch(spark, local, feed)
    sink = PassageSink.open(spark, local, lake)
    sink(batch, 0)
    counts = [lake.read_arrow(t).num_rows for t in (PASSAGES, QUARANTINE, STREAM_METRICS)]
    sink(batch, 0)  # the crash case: Delta committed, Spark's checkpoint did not
    assert [lake.read_arrow(t).num_rows for t in (PASSAGES, QUARANTINE, STREAM_METRICS)] == counts
    assert counts[0] == feed.expected_valid and counts[2] == 1


def test_a_batch_after_the_first_replayed_by_a_new_run_writes_what_its_first_attempt_did_not(spark, sink_lake,
                                                                                            monkeypatch):
    """After batch 0 the appends carry the batch in their commit's userMetadata, not a Delta transaction: the
    first batch of a new run of the query looks for them (sink.replayed). Batch 1's first attempt dies after
    quarantine and out_of_scope committed, before its metrics row; the run after it writes only that row."""
    local, lake = sink_lake
    tables = (PASSAGES, QUARANTINE, OUT_OF_SCOPE, STREAM_METRICS)
    feeds = [synth_day(default_day(), municipality_by_code("GM0344").cameras, detections=300, seed=s) for s in (6, 7)]
    batches = [feed_batch(spark, local, feed) for feed in feeds]
    PassageSink.open(spark, local, lake)(batches[0], 0)
    after_first = [lake.read_arrow(t).num_rows for t in tables]

    crashing = PassageSink.open(spark, local, lake)
    monkeypatch.setattr(crashing, "_record", lambda *args: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):
        crashing(batches[1], 1)
    partial = [lake.read_arrow(t).num_rows for t in tables]
    assert partial[0] > after_first[0] and partial[1] > after_first[1] and partial[3] == after_first[3]

    PassageSink.open(spark, local, lake)(batches[1], 1)  # the next run replays batch 1
    whole = [lake.read_arrow(t).num_rows for t in tables]
    assert whole == [partial[0], partial[1], partial[2], partial[3] + 1]
    assert whole[0] == feeds[0].expected_valid + feeds[1].expected_valid
    replay = [m for m in lake.read_arrow(STREAM_METRICS).to_pylist() if m["batch_id"] == 1]
    assert [m["passages_written"] for m in replay] == [partial[0] - after_first[0]]  # what its first attempt wrote
    PassageSink.open(spark, local, lake)(batches[1], 1)  # and once more after it committed in full
    assert [lake.read_arrow(t).num_rows for t in tables] == whole
    assert lake.transaction_version(QUARANTINE, "sink-test/quarantine") == 0  # batch 1 is marked only
    assert {c["user_metadata"] for c in lake.history(QUARANTINE, 2)} == {"txn sink-test/quarantine 0",
                                                                         "txn sink-test/quarantine 1"}


def test_a_run_looks_up_only_its_first_batch_and_a_checkpoint_behind_the_tables_writes_nothing_twice(
        spark, sink_lake, monkeypatch):
    """Within a run (Spark's run id, the job group) a batch after one whose metrics row the sink wrote is new
    to the tables. A new run of the query from a checkpoint restored behind the tables hands batches 1 and 2
    again: each is looked up, as the one before it was not written by this run, and each writes nothing."""
    import streaming.sink as sink_module

    local, lake = sink_lake
    looked_up: list[int] = []
    real = sink_module.replayed
    monkeypatch.setattr(sink_module, "replayed", lambda lk, q, b: looked_up.append(b) or real(lk, q, b))
    batches = [feed_batch(spark, local, synth_day(default_day(), municipality_by_code("GM0344").cameras,
                                                  detections=200, seed=s)) for s in (8, 9, 10)]
    tables = (PASSAGES, QUARANTINE, STREAM_METRICS)
    context = spark.sparkContext
    sink = PassageSink.open(spark, local, lake)
    try:
        context.setLocalProperty("spark.jobGroup.id", "run-a")
        for batch_id, batch in enumerate(batches):
            sink(batch, batch_id)
        assert looked_up == []
        counts = [lake.read_arrow(t).num_rows for t in tables]
        context.setLocalProperty("spark.jobGroup.id", "run-b")
        sink(batches[1], 1)
        sink(batches[2], 2)
        assert looked_up == [1, 2]
        assert [lake.read_arrow(t).num_rows for t in tables] == counts
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)


def test_two_streams_sinking_the_same_detections_at_once_write_each_passage_once(spark, sink_lake):
    """A second stream on its own checkpoint (or `anpr run` beside `anpr stream`): two sinks, two Spark
    sessions and query ids, the same micro-batch at the same moment. Each passage lands once, and each
    stream's metrics still add up: what the other wrote first is its duplicates."""
    import threading

    from anpr.lake import make_lake
    from anpr.spark import register_functions

    local, lake = sink_lake
    feed = synth_day(default_day(), municipality_by_code("GM0344").cameras, detections=400, seed=8)
    other = spark.newSession()
    register_functions(other)
    writers = [(spark, lake, "stream-a"), (other, make_lake(local, other), "stream-b")]
    sinks = [PassageSink.open(session, local, writer_lake) for session, writer_lake, _ in writers]
    batches = [feed_batch(session, local, feed) for session, _, _ in writers]
    start, errors = threading.Barrier(2), []

    def run(i: int) -> None:
        spark.sparkContext.setLocalProperty("sql.streaming.queryId", writers[i][2])  # per thread
        try:
            start.wait()
            sinks[i](batches[i], 0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors

    ids = lake.read_arrow(PASSAGES, columns=["observation_id"]).column("observation_id").to_pylist()
    assert len(ids) == len(set(ids)) == feed.expected_valid
    metrics = {m["query_id"]: m for m in lake.read_arrow(STREAM_METRICS).to_pylist()}
    assert sorted(metrics) == ["stream-a", "stream-b"]
    assert sum(m["passages_written"] for m in metrics.values()) == feed.expected_valid
    for m in metrics.values():
        assert m["rows_in"] == len(feed.messages)
        assert m["rows_in"] == (m["passages_written"] + m["duplicates"] + m["double_reads"] + m["quarantined"]
                                + m["out_of_scope"]), m


def test_a_running_stream_enriches_against_a_register_loaded_after_it_started(spark, sink_lake):
    from jobs.register import load_synthetic_register

    local, lake = sink_lake
    local = local.model_copy(update={"stream": local.stream.model_copy(update={"register_check_seconds": 0})})
    cameras = municipality_by_code("GM0344").cameras
    days = [synth_day(default_day() - timedelta(days=d), cameras, detections=300, seed=6, register_size=5_000,
                      register_seed=3) for d in (1, 0)]
    sink = PassageSink.open(spark, local, lake)  # no register yet: every passage is Onbekend or Buitenlands
    sink(feed_batch(spark, local, days[0]), 0)
    load_synthetic_register(lake, local, 5_000, 3)
    sink(feed_batch(spark, local, days[1]), 1)
    hits = {r["batch_id"]: r["register_hit_rate"] for r in lake.read_arrow(STREAM_METRICS).to_pylist()}
    assert hits[0] == 0.0
    assert hits[1] > 0.8  # the synthetic feed's Dutch plates come from that register
    vans = lake.read_arrow(PASSAGES, filters=[("voertuig_type", "=", "Bestelauto")]).num_rows
    assert vans > 0


def recreate_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Delete the topic and create it again under the same name: a new topic id, offsets from 0."""
    from kafka import KafkaAdminClient

    from anpr.broker import topic_ids

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([topic])
    finally:
        admin.close()
    deadline = time.monotonic() + 60
    while topic_ids(bootstrap, [topic])[topic] is not None:  # deletion completes asynchronously
        assert time.monotonic() < deadline, "topic deletion did not complete"
        time.sleep(0.5)
    create_topics(bootstrap, {topic: partitions})


@pytest.mark.timeout(900)
def test_a_recreated_topic_stops_the_stream_in_one_line_until_the_loss_is_accepted(broker, tmp_path):
    """Refilled past the checkpoint, a recreated topic would be read from the middle; it must stop instead."""
    first = synth_day(default_day(), municipality_by_code("GM0344").cameras, detections=300, seed=21)
    second = synth_day(default_day(), municipality_by_code("GM0344").cameras, detections=900, seed=22)
    publish(broker, first.messages, partitions=2)
    env = stream_env(broker, tmp_path)
    passages = tmp_path / "data" / "lake" / PASSAGES

    def stream(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", "stream", *args], env=env, capture_output=True,
                              text=True, timeout=300)

    assert stream("--until-idle").returncode == 0
    assert {r["observation_id"] for r in delta_rows(passages, ["observation_id"])} == first.valid_ids

    recreate_topic(broker.bootstrap, TOPIC, 2)
    publish(broker, second.messages)  # now past the old checkpoint's offsets

    refused = stream("--until-idle")
    assert refused.returncode == 1
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, refused.stderr[-2000:]
    assert lines[0].startswith("anpr stream: TopicIdentityError: topic anpr.observations (id ")
    assert "--accept-data-loss" in lines[0]
    assert {r["observation_id"] for r in delta_rows(passages, ["observation_id"])} == first.valid_ids

    status = subprocess.run([sys.executable, "-m", "cli.main", "stream", "status"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert "consumer lag: unknown (topic anpr.observations (id" in status.stdout

    assert stream("--until-idle", "--accept-data-loss").returncode == 0
    ids = [r["observation_id"] for r in delta_rows(passages, ["observation_id"])]
    assert len(ids) == len(set(ids))
    assert set(ids) == first.valid_ids | second.valid_ids
    assert list((tmp_path / "data").rglob("passages.lost-*")), "the old checkpoint is kept aside"


@pytest.mark.timeout(600)
def test_the_stream_stops_in_one_line_when_the_broker_goes_away_and_resumes_without_loss(broker, tmp_path):
    """Broker stopped under a running stream: exit 1 after kafka.broker_wait_seconds, one line that names the
    broker and what to do, the stack in the log file; started again, the stream loses nothing."""
    first = synth_day(default_day(), municipality_by_code("GM0344").cameras, detections=300, seed=31)
    second = synth_day(default_day(), municipality_by_code("GM0344").cameras, detections=300, seed=32)
    publish(broker, first.messages, partitions=2)
    env = stream_env(broker, tmp_path, ANPR_KAFKA__BROKER_WAIT_SECONDS="15", ANPR_STREAM__TRIGGER_SECONDS="1")
    lake = tmp_path / "data" / "lake"
    process = subprocess.Popen([sys.executable, "-m", "cli.main", "stream"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not delta_rows(lake / STREAM_METRICS, ["batch_id"]):  # the first batch is committed
        assert process.poll() is None and time.monotonic() < deadline, "the stream wrote no batch"
        time.sleep(1)
    broker.stop()
    stopped = time.monotonic()
    _, stderr = process.communicate(timeout=240)
    waited = time.monotonic() - stopped

    assert process.returncode == 1
    said = [line for line in stderr.splitlines() if line.strip()]
    failure = [line for line in said if line.startswith("anpr stream:")]
    assert len(failure) == 1 and said[-1] == failure[0], stderr[-3000:]
    assert failure[0].startswith(f"anpr stream: Kafka at {broker.bootstrap} did not answer for 15 s "
                                 "(TimeoutException: "), failure[0]
    assert "`anpr broker` starts the embedded one" in failure[0]
    assert "Traceback" not in stderr and "Caused by" not in stderr
    assert waited < 200, f"stopped {waited:.0f} s after the broker, not after its 15 s wait"
    log_file = tmp_path / "data" / "logs" / "anpr.log"
    assert failure[0].endswith(f"(details in {log_file})")
    logged = log_file.read_text()
    assert "Traceback" in logged and "org.apache.kafka.common.errors.TimeoutException" in logged

    broker.start()
    publish(broker, second.messages)
    drain = subprocess.run([sys.executable, "-m", "cli.main", "stream", "--until-idle"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert drain.returncode == 0, drain.stderr[-2000:]
    ids = [r["observation_id"] for r in delta_rows(lake / PASSAGES, ["observation_id"])]
    assert len(ids) == len(set(ids)) and set(ids) == first.valid_ids | second.valid_ids

