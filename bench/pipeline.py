"""End to end: synthetic detections through the whole stream against the national register,
and the same work by a plain Python consumer in the same run as the baseline.

Phases, each measured on its own:
- register (fresh process): `register_load.load_phase`, the synthetic register of N vehicles;
- publish: Utrecht's configured zone, one synthetic day after another until enough observations, through
  the feed publisher in simulated time (each message's delivery time is its Kafka timestamp), so the
  stream's lateness rules judge weeks of history as if it arrived live and the valid ones are known;
- spark (fresh process): `run_stream` until the topic is drained, with the project's stream settings;
- baseline (fresh process): bench/pipeline_baseline.py over the same topic, in batches of the same size.
Peak memory is the sum of the proportional set sizes (PSS) of a phase's process tree (driver, JVM, Python
workers) sampled every 0.5 s: ru_maxrss sees one process at a time, and resident sets would count the pages
the forked Python workers share once per worker.

- freshness (fresh process): the stream running with the project's trigger while detections are produced
  live at a steady rate by a process of their own (as a supplier's feed is; on the same 2 cores);
  seconds from produced (Kafka timestamp) to visible in passages, per passage, in all and per 30 s of
  production (a fresh JVM's JIT settles over the first minutes).

Sizes: ANPR_BENCH_PIPELINE_REGISTER (vehicles, default 10,000,000), ANPR_BENCH_PIPELINE_OBSERVATIONS
(default 2,000,000), ANPR_BENCH_PIPELINE_RATE (detections/s, default 5,000) and
ANPR_BENCH_PIPELINE_SECONDS (default 120). Run: python -m bench pipeline
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from anpr.progress import Counter, say, step
from bench.register_load import _in_fresh_process, _peaks, _settings, load_phase

REGISTER_SEED = 1  # the register synth_day draws vehicles from (its register_seed default)
FEED_SEED = 7
UTRECHT = "GM0344"
# Below Utrecht's mean (63,500 a working day, 60% of that at weekends): enough days are planned that the
# last one published is default_day(). A later day would deliver its late uploads in the future, which the
# broker refuses (log.message.timestamp.after.max.ms is one hour since Kafka 4.0).
MEAN_PER_DAY = 50_000
PAGE = os.sysconf("SC_PAGE_SIZE")


class TreeMemory:
    """Peak memory (MB) of this process and all its descendants, in total and by kind, as proportional set
    sizes (PSS): pages shared between processes (the Python workers forked from PySpark's daemon share
    its interpreter and libraries) count once in the total, not once per process as resident sets do."""

    # Every 2 s, not 0.5: a sample reads smaps_rollup, whose kernel walk over a 5 GB JVM takes about 0.1 s of
    # CPU; at 0.5 s the sampler took a tenth of the 2 cores the stream it measures runs on (25 s in a 2-minute
    # run). The JVM's heap grows and holds, so a peak lasts longer than 2 s.
    def __init__(self, every: float = 2.0) -> None:
        self.every, self.root = every, os.getpid()
        self.peaks = {"tree": 0, "driver": 0, "jvm": 0, "python_workers": 0, "python_worker_count": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        parent, kind = {}, {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    head, _, rest = f.read().rpartition(")")
            except OSError:  # the process ended meanwhile
                continue
            pid = int(entry.name)
            parent[pid] = int(rest.split()[1])
            kind[pid] = "driver" if pid == self.root else "jvm" if head.endswith("(java") else "python_workers"
        now = dict.fromkeys(self.peaks, 0)
        for pid in parent:
            ancestor = pid
            while ancestor > 1 and ancestor != self.root:
                ancestor = parent.get(ancestor, 0)
            if ancestor == self.root:
                size = _pss(pid)
                now[kind[pid]] += size
                now["tree"] += size
                now["python_worker_count"] += kind[pid] == "python_workers"
        self.peaks = {k: max(v, now[k] if k.endswith("count") else now[k] >> 20) for k, v in self.peaks.items()}

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> TreeMemory:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> dict[str, float]:
        return {f"peak_{k}" if k.endswith("count") else f"peak_{k}_mb": v for k, v in self.peaks.items()} | {
            "driver_maxrss_mb": _peaks()["peak_rss_mb"]}


def _pss(pid: int) -> int:
    """A process's proportional set size in bytes (0 when it ended meanwhile)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def throughput(rows: list[int], finished: list[float], batch_ms: list[float], started: float, ended: float) -> dict:
    """Overall rate (start to drained) and the sustained one: the batches after the first, which pays warm-up."""
    sustained = sum(rows[1:]) / (finished[-1] - finished[0]) if len(rows) > 1 else None
    return {"batches": len(rows), "rows_in": sum(rows), "seconds": round(ended - started, 2),
            "rows_per_s_overall": round(sum(rows) / (ended - started)),
            "rows_per_s_sustained": None if sustained is None else round(sustained),
            "batch_ms_p50": round(float(np.percentile(batch_ms, 50))),
            "batch_ms_p99": round(float(np.percentile(batch_ms, 99))), "batch_ms_max": round(max(batch_ms))}


def publish(bootstrap: str, settings: Any, register_size: int, wanted: int) -> dict:
    from anpr.broker import create_topics
    from anpr.feeds.publisher import Publisher
    from anpr.zones import municipality_by_code
    from cli.demo import default_day
    from jobs.feeds.synth_feed import UTRECHT_PER_DAY, run_synth

    topic, utrecht = settings.kafka.observations_topic, municipality_by_code(UTRECHT)
    last = default_day()
    first = last - timedelta(days=math.ceil(wanted / MEAN_PER_DAY) - 1)
    # Simulated time stamps records weeks back; the broker's time-based retention (22 hours) would delete
    # them before the stream reads them, so this topic keeps everything.
    create_topics(bootstrap, {topic: settings.kafka.partitions}, configs={topic: {"retention.ms": "-1"}})
    publisher = Publisher(bootstrap, {topic: settings.kafka.partitions})
    counter = Counter("detections published", wanted, every=10.0)
    published = valid = days = 0
    started = time.perf_counter()
    try:
        while published < wanted and first + timedelta(days=days) <= last:
            run = run_synth([(utrecht, UTRECHT_PER_DAY)], first + timedelta(days=days), 1, seed=FEED_SEED,
                            supplier="bench-supplier", register_size=register_size, publisher=publisher, topic=topic,
                            sink=None, simulated_time=True, min_confidence=settings.stream.min_read_confidence,
                            on_city_day=lambda town, feed, sent: counter.add(sent))
            published, valid, days = published + run.published, valid + run.valid, days + 1
    finally:
        publisher.close()
    seconds = time.perf_counter() - started
    return {"published": published, "valid": valid, "days": days, "first_day": first.isoformat(),
            "seconds": round(seconds, 1), "rows_per_s": round(published / seconds)}


def spark_phase(root: Path, bootstrap: str) -> dict:
    from pyspark.sql.streaming import StreamingQueryListener

    from anpr.lake import make_lake
    from anpr.spark import get_spark
    from anpr.stream_tables import OUT_OF_SCOPE, PASSAGES
    from cli.demo import with_bootstrap
    from streaming.job import run_stream

    class QueryStart(StreamingQueryListener):
        # onQueryStarted runs synchronously with start(): after the register snapshot is built and broadcast.
        at: float | None = None

        def onQueryStarted(self, event: Any) -> None:
            self.at = time.perf_counter()

        def onQueryProgress(self, event: Any) -> None:
            pass

        def onQueryIdle(self, event: Any) -> None:
            pass

        def onQueryTerminated(self, event: Any) -> None:
            pass

    settings = with_bootstrap(_settings(root), bootstrap)
    rows: list[int] = []
    finished: list[float] = []
    batch_ms: list[float] = []
    written = 0

    def on_batch(report: Any) -> None:
        nonlocal written
        rows.append(report.rows_in)
        finished.append(time.perf_counter())
        batch_ms.append(report.duration_ms)
        written += report.passages_written
        say(f"    spark batch {report.batch_id}: {report.rows_in:,} in, {report.passages_written:,} passages, "
            f"{report.duration_ms:,} ms")

    steps = _StepLog()
    logging.getLogger("streaming.sink").addHandler(steps)
    logging.getLogger("streaming.sink").setLevel(logging.INFO)
    with TreeMemory() as memory:
        started = time.perf_counter()
        spark = get_spark(settings)
        session = time.perf_counter()
        listener = QueryStart()
        spark.streams.addListener(listener)
        lake = make_lake(settings, spark)
        run_stream(spark, settings, lake, until_idle=True, on_batch=on_batch)
        drained = time.perf_counter()
        passages = lake.read_arrow(PASSAGES, columns=["observation_id"]).num_rows
        dropped = lake.read_arrow(OUT_OF_SCOPE, columns=["detections"])["detections"].to_numpy().sum()
        spark.stop()
    query_start = listener.at or session
    return {**throughput(rows, finished, batch_ms, query_start, drained), "passages": passages,
            "out_of_scope": int(dropped), "passages_written": written,
            "spark_session_seconds": round(session - started, 1),
            "until_query_start_seconds": round(query_start - session, 1),
            "max_offsets_per_trigger": settings.kafka.max_offsets_per_trigger, "master": settings.spark.master,
            "batch_steps": steps.lines, **memory.report()}


class _StepLog(logging.Handler):
    """Keeps and shows the sink's per-batch step timings ("batch N steps: summary 812 ms, ..."): where a
    batch's time goes is the first question about a throughput figure."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if " steps: " in message:
            self.lines.append(message)
            say(f"      {message}")


def _produce_steadily(bootstrap: str, topic: str, messages: list, rate: int) -> dict:
    """Send `messages` at `rate` per second in 0.1 s slices, each slice's delivery reports checked."""
    from anpr.broker import produce_all, reliable_producer

    per_slice, sent, behind = max(1, rate // 10), 0, 0.0
    started = time.perf_counter()
    with reliable_producer(bootstrap) as producer:
        while sent < len(messages):
            due = started + sent / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                behind = max(behind, -delay)
            sent += produce_all(producer, topic, messages[sent:sent + per_slice])
    seconds = time.perf_counter() - started
    return {"sent": sent, "seconds": round(seconds, 1), "offered_rows_per_s": round(sent / seconds),
            "max_seconds_behind_schedule": round(behind, 2)}


def _producer_process(conn: Any, bootstrap: str, topic: str, rate: int, duration: int, register_size: int,
                      min_confidence: float) -> None:
    """The freshness phase's producer, in a process of its own as a supplier's feed is: makes `duration` s
    of detections, says "ready", waits for "go", sends them at `rate`/s and replies with `_produce_steadily`'s
    figures. In the stream's driver process its Python would share the driver's interpreter lock (the sink
    runs there) on top of the 2 cores."""
    from anpr.synth.detections import synth_day
    from anpr.zones import municipality_by_code
    from cli.demo import default_day

    try:
        # A weekend day holds 60% of a working day's detections: ask for twice the load, send `duration` s of it.
        feed = synth_day(default_day(), municipality_by_code(UTRECHT).cameras, 2 * rate * duration,
                         seed=FEED_SEED + 1, register_size=register_size, min_confidence=min_confidence)
        conn.send("ready")
        conn.recv()
        conn.send(_produce_steadily(bootstrap, topic, feed.messages[:rate * duration], rate))
    except Exception as exc:  # noqa: BLE001 - the type only, no traceback: the feed holds (synthetic) plates
        conn.send(f"failed: {type(exc).__name__}")


def _receive(conn: Any, producer: Any, seconds: float, what: str) -> Any:
    """The producer's next message; RuntimeError when it ended, failed or sent nothing for `seconds`."""
    deadline = time.monotonic() + seconds
    try:
        while not conn.poll(1):
            if not producer.is_alive():
                raise EOFError
            if time.monotonic() > deadline:
                raise RuntimeError(f"the freshness producer sent nothing for {seconds:.0f} s, waiting for {what}")
        message = conn.recv()
    except EOFError:
        producer.join(10)
        raise RuntimeError(f"the freshness producer ended (exit code {producer.exitcode}) before {what}") from None
    if isinstance(message, str) and message.startswith("failed"):
        raise RuntimeError(f"the freshness producer {message}, before {what}")
    return message


def passages_visible_at(table: Path) -> dict[tuple[str, int], float]:
    """(query id, micro-batch id) -> when the batch's passages became visible (epoch seconds): the timestamp
    of the Delta commit of `table` that recorded the batch's transaction (a `txn` action whose appId is
    "<query id>/passages" and whose version is the batch id, streaming/sink.py)."""
    import json as _json

    visible: dict[tuple[str, int], float] = {}
    for commit in sorted((table / "_delta_log").glob("*.json")):
        actions = [_json.loads(line) for line in commit.read_text().splitlines() if line.strip()]
        txn = next((a["txn"] for a in actions if "txn" in a), None)
        info = next((a["commitInfo"] for a in actions if "commitInfo" in a), None)
        if txn is not None and info is not None:
            visible[(txn["appId"].rpartition("/")[0], int(txn["version"]))] = info["timestamp"] / 1000
    return visible


def freshness(passages: Any, metrics: Any, visible_at: dict[tuple[str, int], float]) -> tuple[np.ndarray, np.ndarray]:
    """(produced, age) in seconds for each passage: produced is the Kafka timestamp (`ingested_at`, epoch
    seconds), age the time from it to visible (the commit of the batch's passages), matched to its batch by
    the batch's offset ranges in the metrics."""
    import json as _json

    import pandas as pd

    spans = pd.DataFrame([(int(part), low, high, visible_at[(batch["query_id"], batch["batch_id"])])
                          for batch in metrics.to_pylist() if (batch["query_id"], batch["batch_id"]) in visible_at
                          for part, (low, high) in _json.loads(batch["offsets"]).items()],
                         columns=["kafka_partition", "low", "high", "visible_at"])
    rows = passages.to_pandas()
    produced_at: list[np.ndarray] = []
    ages: list[np.ndarray] = []
    for part, group in rows.groupby("kafka_partition"):
        own = spans[spans["kafka_partition"] == part].sort_values("low")
        if own.empty:
            continue
        at = np.searchsorted(own["low"].to_numpy(), group["kafka_offset"].to_numpy(), side="right") - 1
        inside = (at >= 0) & (group["kafka_offset"].to_numpy() <= own["high"].to_numpy()[np.maximum(at, 0)])
        visible = own["visible_at"].to_numpy()[np.maximum(at, 0)][inside]
        produced = pd.to_datetime(group["ingested_at"].to_numpy()[inside], utc=True).astype("int64").to_numpy() / 1e9
        produced_at.append(produced)
        ages.append(visible - produced)
    if not ages:
        return np.empty(0), np.empty(0)
    return np.concatenate(produced_at), np.concatenate(ages)


def by_window(produced: np.ndarray, ages: np.ndarray, since: float, seconds: float = 30) -> list[dict]:
    """Freshness p50/p99 of the passages produced in each `seconds`-long window from `since` (epoch seconds):
    how a fresh JVM's stream settles (its JIT compiles the hot code in the first minutes, docs/benchmarks.md)."""
    windows = np.floor((produced - since) / seconds).astype(int)
    out = []
    for w in np.unique(windows):
        own = ages[windows == w]
        out.append({"from_s": int(w * seconds), "passages": len(own), "p50_s": round(float(np.percentile(own, 50)), 2),
                    "p99_s": round(float(np.percentile(own, 99)), 2)})
    return out


def consumed(end_offset: str | dict) -> int:
    """Records read so far from a Kafka source's endOffset ({topic: {partition: offset}}, JSON text in pyspark 4)."""
    import json as _json

    offsets = _json.loads(end_offset) if isinstance(end_offset, str) else end_offset
    return sum(int(v) for partitions in offsets.values() for v in partitions.values())


def freshness_phase(root: Path, bootstrap: str, rate: int, duration: int, warmup: int = 30) -> dict:
    """The stream at a steady offered load: detections produced live at `rate`/s for `duration` s, the
    stream running with the project's trigger; how long each took to become a passage. Detections of the
    first `warmup` seconds are not timed: they pay the start of a stream (Python workers loading the
    register snapshot, JIT), which a stream that has been running has paid long before."""
    from cli.demo import with_bootstrap

    topic = "anpr.freshness"
    base = with_bootstrap(_settings(root), bootstrap)
    settings = base.model_copy(update={"kafka": base.kafka.model_copy(update={"observations_topic": topic})})
    from anpr.broker import create_topics

    create_topics(bootstrap, {topic: settings.kafka.partitions})
    context = multiprocessing.get_context("spawn")
    conn, child_conn = context.Pipe()
    producer = context.Process(target=_producer_process, daemon=True, args=(
        child_conn, bootstrap, topic, rate, duration, int(os.environ.get("ANPR_BENCH_PIPELINE_REGISTER", 10_000_000)),
        settings.stream.min_read_confidence))
    producer.start()
    child_conn.close()  # the child's end lives in the child only: its exit is then seen here
    try:
        return _timed_stream(root, settings, bootstrap, topic, rate, duration, warmup, conn, producer)
    finally:
        producer.terminate()


def _timed_stream(root: Path, settings: Any, bootstrap: str, topic: str, rate: int, duration: int, warmup: int,
                  conn: Any, producer: Any) -> dict:
    """`freshness_phase` once its producer is started: the stream up, the producer let go, the ages read."""
    from anpr.lake import make_lake
    from anpr.spark import get_spark
    from anpr.stream_tables import PASSAGES, STREAM_METRICS
    from cli.demo import default_day
    from streaming.job import run_stream

    steps = _StepLog()
    logging.getLogger("streaming.sink").addHandler(steps)
    logging.getLogger("streaming.sink").setLevel(logging.INFO)
    spark = get_spark(settings)
    lake = make_lake(settings, spark)
    streamer = threading.Thread(target=run_stream, args=(spark, settings, lake),
                                kwargs={"until_idle": False, "checkpoint": root / "checkpoints" / "freshness"},
                                daemon=True)
    streamer.start()
    try:
        while not spark.streams.active:  # the query is up once the register snapshot is broadcast
            if not streamer.is_alive():
                raise RuntimeError("the stream ended before its query started (its log: <data dir>/logs)")
            time.sleep(0.5)
        query_id = str(spark.streams.active[0].id)  # the lake also holds the throughput phase's batches
        _receive(conn, producer, 600, "its feed was ready")
        produced_from = datetime.now(UTC)
        time.sleep(5)  # a first empty batch or two, as a stream that has been running
        conn.send("go")
        produced = _receive(conn, producer, duration + 120, "it had sent the feed")
        producer.join(60)
        from anpr.broker import high_watermarks

        ends, deadline, drained = sum(high_watermarks(bootstrap, topic).values()), time.monotonic() + 120, False
        while not drained and time.monotonic() < deadline:
            progress = spark.streams.active[0].lastProgress if spark.streams.active else None
            drained = bool(progress and progress["sources"]
                           and consumed(progress["sources"][0]["endOffset"]) >= ends)
            time.sleep(0 if drained else 1)
        if not drained:
            say("    the stream had not read every detection 120 s after the last was sent: the figures leave "
                "the rest out")
    finally:
        for query in spark.streams.active:
            query.stop()
        streamer.join(60)
    rows = lake.read_arrow(PASSAGES, columns=["kafka_partition", "kafka_offset", "ingested_at"],
                           filters=[("event_date", "in", [default_day(), default_day() + timedelta(days=1)]),
                                    ("ingested_at", ">=", produced_from + timedelta(seconds=warmup))])
    metrics = lake.read_arrow(STREAM_METRICS, columns=["query_id", "batch_id", "offsets"],
                              filters=[("query_id", "==", query_id)])
    spark.stop()
    sent_at, ages = freshness(rows, metrics, passages_visible_at(Path(lake.path(PASSAGES))))
    timed = len(ages) > 0
    return {"rate": rate, "duration_s": duration, "warmup_s": warmup, **produced, "passages_timed": len(ages),
            "freshness_s_p50": round(float(np.percentile(ages, 50)), 2) if timed else None,
            "freshness_s_p99": round(float(np.percentile(ages, 99)), 2) if timed else None,
            "freshness_s_max": round(float(ages.max()), 2) if timed else None,
            "freshness_by_30_s": by_window(sent_at, ages, produced_from.timestamp()) if timed else [],
            "trigger_seconds": settings.stream.trigger_seconds, "batches": metrics.num_rows, "drained": drained,
            "batch_steps": steps.lines}


def _host() -> dict[str, object]:
    meminfo = Path("/proc/meminfo").read_text().split()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    return {"cpu": cpu, "memory_gb": round(int(meminfo[meminfo.index("MemTotal:") + 1]) / 2**20, 1)}


def _rss_mb(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[21]) * PAGE >> 20


def run() -> dict[str, object]:
    from anpr.broker import EmbeddedBroker, high_watermarks
    from bench.pipeline_baseline import baseline_phase

    size = int(os.environ.get("ANPR_BENCH_PIPELINE_REGISTER", 10_000_000))
    wanted = int(os.environ.get("ANPR_BENCH_PIPELINE_OBSERVATIONS", 2_000_000))
    rate = int(os.environ.get("ANPR_BENCH_PIPELINE_RATE", 5_000))
    duration = int(os.environ.get("ANPR_BENCH_PIPELINE_SECONDS", 120))
    with tempfile.TemporaryDirectory(prefix="anpr-bench-pipeline-") as tmp:
        root = Path(tmp)
        settings = _settings(root)
        with step(f"loading the synthetic register of {size:,} vehicles"):
            register = _in_fresh_process(load_phase, root, size, REGISTER_SEED)
        with step("starting the embedded broker"):
            broker = EmbeddedBroker(root / "broker").start()
        try:
            with step(f"publishing {wanted:,} synthetic detections (Utrecht, simulated time)"):
                fed = publish(broker.bootstrap, settings, size, wanted)
            ends = high_watermarks(broker.bootstrap, settings.kafka.observations_topic)
            if sum(ends.values()) != fed["published"]:
                raise RuntimeError(f"broker holds {sum(ends.values())} messages, {fed['published']} were published")
            assert broker.process is not None
            fed["broker_rss_mb"] = _rss_mb(broker.process.pid)
            with step("streaming with Spark until the topic is drained"):
                spark = _in_fresh_process(spark_phase, root, broker.bootstrap)
            with step("the same with the plain Python consumer"):
                baseline = _in_fresh_process(baseline_phase, root, broker.bootstrap, ends)
            with step(f"freshness at a steady {rate:,} detections/s for {duration} s"):
                fresh = _in_fresh_process(freshness_phase, root, broker.bootstrap, rate, duration)
        finally:
            broker.stop()
    # Each valid observation is a passage or an out-of-scope count (data minimization), in both pipelines.
    # The stream keeps nothing of a dropped observation, so a resent one that lands in another micro-batch
    # is counted again (docs/privacy.md); the baseline's in-memory id set does not, so it must be exact.
    counts = {"valid_observations": fed["valid"],
              "spark_passages_and_out_of_scope": spark["passages"] + spark["out_of_scope"],
              "baseline_passages_and_out_of_scope": baseline["passages"] + baseline["out_of_scope"]}
    recounted = counts["spark_passages_and_out_of_scope"] - fed["valid"]
    if counts["baseline_passages_and_out_of_scope"] != fed["valid"] or spark["passages"] != baseline["passages"] \
            or not 0 <= recounted <= fed["published"] - fed["valid"]:
        raise RuntimeError(f"passages and out-of-scope counts differ from the valid observations published: "
                           f"{counts}, passages {spark['passages']} (Spark) and {baseline['passages']} (baseline)")
    spark["out_of_scope_recounted_resends"] = recounted
    return {
        "register_vehicles": size, "observations": fed["published"], "valid_observations": fed["valid"],
        "host": _host(), "register": register, "publish": fed, "spark": spark, "baseline_plain_python": baseline,
        "freshness": fresh,
        "ratio_spark_to_baseline_rows_per_s": round(spark["rows_per_s_sustained"] / baseline["rows_per_s_sustained"], 2)
        if spark["rows_per_s_sustained"] and baseline["rows_per_s_sustained"] else None,
        "ratio_spark_to_baseline_rows_per_s_overall": round(
            spark["rows_per_s_overall"] / baseline["rows_per_s_overall"], 2),
        "ratio_spark_to_baseline_peak_memory": round(spark["peak_tree_mb"] / baseline["peak_tree_mb"], 2),
        "note": "rows_in: Kafka records after dropping resent duplicates; sustained = batches after the first; "
                "overall = query start (baseline: consumer start, after the register snapshot) to drained",
    }
