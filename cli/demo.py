"""`anpr run`: the whole embedded platform on one machine, from a synthetic feed to the vendor API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from anpr.broker import create_topics, embedded_broker, produce_all, reliable_producer
from anpr.kafka_security import client_config
from anpr.progress import Counter, say, step
from anpr.settings import Settings
from anpr.synth.detections import SynthDay, synth_day
from anpr.zones import municipality_by_code

PUBLISH_CHUNK = 5_000
# A city-sized register keeps `make run` quick; `anpr register synth` loads the national 10 million.
DEMO_REGISTER_SIZE = 200_000
DEMO_REGISTER_SEED = 1


@dataclass
class DemoSummary:
    day: date
    published: int
    expected_valid: int
    quarantined_expected: int
    duplicates_sent: int
    passages_for_feed: int
    passages_written_now: int
    release_id: str
    rows_published: int
    engine: str  # the engine named by the passages table's last commit


def default_day() -> date:
    # Two days back keeps every synthetic event (stays run past midnight) in the past, and well
    # inside the 7-day lateness window.
    return datetime.now(UTC).date() - timedelta(days=2)


def with_bootstrap(settings: Settings, bootstrap: str) -> Settings:
    kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    return settings.model_copy(update={"kafka": kafka})


def publish_feed(bootstrap: str, topic: str, feed: SynthDay, client: dict[str, object] | None = None) -> int:
    counter = Counter("detections published", feed.published)
    sent = 0
    with reliable_producer(bootstrap, client) as producer:
        for start in range(0, feed.published, PUBLISH_CHUNK):
            sent += produce_all(producer, topic, feed.messages[start:start + PUBLISH_CHUNK])
            counter.add(min(PUBLISH_CHUNK, feed.published - start))
    return sent


def count_feed_passages(lake, feed: SynthDay, municipality: str) -> int:  # noqa: ANN001 - a Lake
    from anpr.stream_tables import PASSAGES

    days = [feed.day, feed.day + timedelta(days=1)]
    table = lake.read_arrow(PASSAGES, columns=["observation_id"],
                            filters=[("municipality", "=", municipality), ("event_date", "in", days)])
    return len(set(table.column("observation_id").to_pylist()) & feed.valid_ids)


def run_demo(settings: Settings, day: date, detections: int, seed: int, spark=None) -> DemoSummary:  # noqa: ANN001
    """Runs everything; a given Spark session is used and left running, otherwise one is made and stopped."""
    from anpr.lake import make_lake
    from anpr.spark import get_spark
    from anpr.stream_tables import PASSAGES
    from jobs.register import load_synthetic_register
    from jobs.stats import run_monthly_stats
    from streaming.job import run_stream

    municipality = municipality_by_code("GM0344")
    say("==> starting the embedded broker ...")
    with embedded_broker(settings) as broker:
        settings = with_bootstrap(settings, broker.bootstrap)
        say(f"    Apache Kafka {broker.version} (cluster {broker.cluster_id}) at {broker.bootstrap}")
        create_topics(broker.bootstrap, {settings.kafka.observations_topic: settings.kafka.partitions,
                                         settings.kafka.cameras_topic: 1}, compacted=[settings.kafka.cameras_topic],
                      client=broker.admin_client)
        with step(f"generating one synthetic day ({day}) for {municipality.municipality}"):
            feed = synth_day(day, municipality.cameras, detections, seed, municipality=municipality.code,
                             min_confidence=settings.stream.min_read_confidence,
                             register_size=DEMO_REGISTER_SIZE, register_seed=DEMO_REGISTER_SEED)
        own_spark = spark is None
        with step("starting Spark"):
            spark = spark or get_spark(settings)
            lake = make_lake(settings, spark)
        try:
            with step(f"loading the synthetic register of {DEMO_REGISTER_SIZE:,} vehicles (pseudonymized)"):
                counts = load_synthetic_register(lake, settings, DEMO_REGISTER_SIZE, DEMO_REGISTER_SEED)
                say("    " + ", ".join(f"{name}: {n:,}" for name, n in counts.items()))
            with step(f"publishing {feed.published:,} detections to {settings.kafka.observations_topic}"):
                publish_feed(broker.bootstrap, settings.kafka.observations_topic, feed,
                             client_config(settings, "producer"))
            written = 0

            def on_batch(report) -> None:  # noqa: ANN001 - a BatchReport
                nonlocal written
                written += report.passages_written
                say(f"    batch {report.batch_id}: {report.rows_in:,} in, {report.passages_written:,} passages, "
                    f"{report.duplicates:,} duplicates, {sum(report.quarantined.values()):,} quarantined")

            with step("streaming until the topic is drained"):
                # The broker keeps its log across runs, so the stream resumes from its checkpoint.
                run_stream(spark, settings, lake, until_idle=True, on_batch=on_batch)
            month = day.strftime("%Y-%m")
            with step(f"building and publishing table 4.1 for {month}"):
                release = run_monthly_stats(spark, settings, lake, month)
            return DemoSummary(
                day=day, published=feed.published, expected_valid=feed.expected_valid,
                quarantined_expected=feed.low_confidence + feed.poison, duplicates_sent=feed.duplicates,
                passages_for_feed=count_feed_passages(lake, feed, municipality.code),
                passages_written_now=written, release_id=release.release_id,
                rows_published=sum(release.row_counts.values()),
                engine=str(lake.history(PASSAGES, 1)[0]["engine"]),
            )
        finally:
            if own_spark:
                spark.stop()
